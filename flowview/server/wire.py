"""Wire encoding shared by the stream and REST: compact JSON, Flowdock timestamps, ids, frames.

Every emitted event is serialised once (``encode``) and the same bytes go to every connection,
as a JSON-stream record (``data`` + CR LF) or an event-stream frame (``id:`` + ``data:``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

_iso_cache: tuple[int, str] = (-1, "")


def iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds, as Flowdock's ``created_at``."""
    global _iso_cache
    if _iso_cache[0] == ms:
        return _iso_cache[1]
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
    _iso_cache = (ms, text)
    return text


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"))


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON. Lone surrogates (legal in JSON input) fall back to \\u escapes."""
    text = _ENCODER.encode(obj)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(obj).encode("ascii")


def wire_id(value: str) -> int | str:
    """A user id as Flowdock sent it: a number when it is one (ASCII digits only: ``'²'`` is
    ``isdigit()`` but not an int), else the string."""
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return value


def json_frame(data: bytes) -> bytes:
    """One JSON-stream record."""
    return data + b"\r\n"


def sse_frame(seq: int, data: bytes) -> bytes:
    """One event-stream event; ``seq`` becomes its ``id``."""
    return b"id: %d\ndata: %b\n\n" % (seq, data)


MAX_EVENT_ID_DIGITS = 19  # fits a signed 64-bit integer, as every client stores it


def parse_event_id(value: str) -> int | None:
    """A ``Last-Event-ID`` we issued (ASCII decimal digits, bounded length), else None."""
    text = value.strip()
    if not text or len(text) > MAX_EVENT_ID_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
