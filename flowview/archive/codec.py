"""JSON for stored raw events: orjson when it can, the stdlib when the input is too odd for
it (hostile events may carry integers beyond 64 bits, lone surrogates)."""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson

from flowview.protocol.jsonstream import loads as stream_loads

log = logging.getLogger(__name__)


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return _fallback(value).encode("ascii")


def dumps_text(value: Any) -> str:
    """`dumps` as a str (the writer binds a str faster than bytes, see rows.NO_TEXT)."""
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):
        return _fallback(value)


def _fallback(value: Any) -> str:
    # ASCII: a lone surrogate (which orjson refuses, and UTF-8 cannot hold) stays a \ud800
    # escape that json.loads reads back as it was.
    return json.dumps(value, ensure_ascii=True, default=str)


def loads(data: bytes | str) -> Any:
    """A stored raw event, read exactly as the stdlib reads it: the stream decoders' `loads`
    (orjson, with the stdlib for what orjson rejects or would alter: an integer beyond 64 bits
    it reads as a float without an error, a lone surrogate escape, deep nesting)."""
    return stream_loads(data)
