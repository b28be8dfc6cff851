"""JSON for stored raw events: orjson when it can, the stdlib when the input is too odd for
it (hostile events may carry integers beyond 64 bits)."""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson

log = logging.getLogger(__name__)


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
