"""JSON for stored raw events: orjson when it can, the stdlib when the input is too odd for
it (hostile events may carry integers beyond 64 bits)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Final

import orjson

from flowview.protocol.jsonstream import may_hold_big_int

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


# orjson reads an integer beyond 64 bits as a float (no error): the stdlib keeps it exact.
_LONG_DIGITS: Final = re.compile(r"\d{19}")


def loads(data: bytes | str) -> Any:
    if may_hold_big_int(data) if isinstance(data, bytes) else _LONG_DIGITS.search(data):
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
