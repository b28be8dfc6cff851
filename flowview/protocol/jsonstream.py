"""Incremental decoder for Flowdock's ``application/json`` stream, and the one JSON parser of
the stream hot path (`loads`, also used for ``text/event-stream`` data).

Framing (api-docs ``docs/streaming.md``): a record is one JSON value terminated by ``\\r``; in
practice the server sends ``\\r\\n`` and bare ``\\n`` keep-alives between records. A record may
contain ``\\n`` (pretty-printed JSON) but never ``\\r``, so ``\\r`` is the *only* terminator: a
stream that separates records with ``\\n`` alone is read as one growing record, exactly as the
docs define it. We split on bytes before decoding, so multibyte characters split across chunks
survive and U+2028/U+2029/U+0085 are never treated as line breaks (unlike ``aiter_lines``).
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any, cast

import orjson

__all__ = [
    "JsonStreamDecoder",
    "excerpt",
    "loads",
    "loads_all",
    "loads_utf8",
    "may_hold_big_int",
    "may_nest_deeply",
]

log = logging.getLogger(__name__)

_CR = b"\r"
_JSON_WS = b" \t\n\r"  # RFC 8259 insignificant whitespace (bytes.strip() would also eat VT/FF)
_EXCERPT_CHARS = 60

# orjson is the fast path. It differs from the stdlib in two ways that matter here:
# - it rejects what the stdlib accepts: lone surrogates, NaN/Infinity, numbers that overflow a
#   double, invalid UTF-8 (which we decode with U+FFFD replacement), nesting past 1024;
# - it silently turns an integer outside [-2**63, 2**64) into a float, where the stdlib keeps an
#   exact int. Such an integer has at least 19 digits, so data without a run of 19 digits cannot
#   hold one (a run inside a string gives a harmless false alarm: the stdlib path is exact);
# - it accepts nesting up to 1024 levels, where the stdlib gives up (RecursionError, which we
#   report as invalid) somewhat below the recursion limit; consumers that recurse (json.dumps,
#   repr) would then fail on what we let through. Nesting that deep needs more than _DEEP
#   opening brackets, so text with fewer is decided by orjson alone.
# Everything orjson rejects or might have altered goes through the stdlib, so the accepted set
# and every value are exactly the stdlib's.
_orjson_loads = orjson.loads
_OrjsonError = orjson.JSONDecodeError
_DIGITS_TO_0 = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 19
_DEEP = 256  # opening brackets; well under any recursion limit the stdlib parser runs with


def may_hold_big_int(data: bytes | bytearray) -> bool:
    """False when ``data`` has no run of 19 ASCII digits, so no integer orjson could alter
    (one scan of a whole chunk costs much less than one per record)."""
    return _LONG_RUN in data.translate(_DIGITS_TO_0)


# Every byte but the opening brackets and one line end: translate(None, this) keeps only those.
_NOT_OPENER_OR_LF = bytes(b for b in range(256) if b not in b"[{\n")
_NOT_OPENER_OR_CR = bytes(b for b in range(256) if b not in b"[{\r")


def may_nest_deeply(data: bytes | bytearray, line_end: bytes = b"\n") -> bool:
    """False when no line of ``data`` (cut at ``line_end``, ``b"\\n"`` or ``b"\\r"``) holds
    more than _DEEP opening brackets, so no record within one line can nest deeper than
    orjson and the stdlib both parse: the nesting screen of :func:`loads_utf8` for a whole
    chunk at once. One pass keeps the brackets and line ends, a much shorter string that is
    cut into lines; counting per record costs two passes over each (a third more in all)."""
    kept = data.translate(None, _NOT_OPENER_OR_LF if line_end == b"\n" else _NOT_OPENER_OR_CR)
    return len(kept) > _DEEP and max(map(len, kept.split(line_end))) > _DEEP


def _stdlib_loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError as exc:  # "[[[[...": valid JSON we cannot hold; treat as invalid
        raise ValueError("JSON nested too deeply") from exc


def loads(data: str | bytes | bytearray | memoryview) -> Any:
    """Parse one JSON document, exactly as ``json.loads`` accepts and returns it.

    Bytes are UTF-8; invalid sequences become U+FFFD (as the stream decoders always did).
    Surrounding JSON whitespace is allowed. Raises ValueError (json.JSONDecodeError for
    syntax errors) on anything the stdlib rejects, including nesting too deep to parse.
    """
    if isinstance(data, str):
        try:
            value = _orjson_loads(data)
        except _OrjsonError:
            return _stdlib_loads(data)
        # The 19-digit screen (UTF-8 keeps ASCII digits as they are) and the nesting screen:
        # each level costs two characters, so short text is not even counted.
        raw = data.encode("utf-8", "surrogatepass")
        if _LONG_RUN in raw.translate(_DIGITS_TO_0) or (
            len(data) > 2 * _DEEP and data.count("[") + data.count("{") > _DEEP
        ):
            return _stdlib_loads(data)
        return value
    if isinstance(data, memoryview):
        data = data.tobytes()
    return loads_utf8(data)


def loads_utf8(data: bytes | bytearray, digits_possible: bool = True) -> Any:
    """``loads(data)`` for bytes known to be bytes (the hot path, one call per record or
    event; no wrapper around it, since a call costs about a tenth of orjson's own work on a
    typical record): UTF-8, invalid sequences read as U+FFFD. Parsing an event's data as the
    bytes received skips decoding it to a ``str`` (orjson would copy a non-ASCII one back to
    UTF-8, and the screens need bytes too), and the caller keeps the bytes as the record's
    text. ``digits_possible=False``: the caller knows ``data`` holds no run of 19 digits (the
    chunk it was cut from was screened with :func:`may_hold_big_int`)."""
    try:
        value = _orjson_loads(data)
    except _OrjsonError:
        return _stdlib_loads(data.decode("utf-8", "replace"))
    # The same screens as loads(), inlined.
    if (digits_possible and _LONG_RUN in data.translate(_DIGITS_TO_0)) or (
        len(data) > 2 * _DEEP and data.count(b"[") + data.count(b"{") > _DEEP
    ):
        return _stdlib_loads(data.decode("utf-8", "replace"))
    return value


_count = bytes.count
_add = operator.add
_TOO_DEEP = _DEEP.__lt__


def loads_all(
    datas: Sequence[bytes | str], digits_possible: bool = True, deep_possible: bool = True
) -> list[Any] | None:
    """``[loads_utf8(d) for d in datas]`` in one call, when every item is ``bytes`` and takes
    orjson's path (each parses, none could hold a big integer, none is nested deeply); else
    None, and the caller goes item by item (a malformed event, a 19-digit run: rare).

    One call per chunk instead of one per event: the per-item work is orjson's and a few
    tests run by ``map`` in C. ``digits_possible``: as for :func:`loads_utf8`, for the chunk
    the items were cut from (True: this path is not taken). ``deep_possible=False``: the
    caller screened that chunk with :func:`may_nest_deeply`, each item lying within one of
    its lines, so the per-item nesting screen is skipped."""
    if digits_possible or not all(map(isinstance, datas, repeat(bytes))):
        return None
    items = cast("Sequence[bytes]", datas)
    parse = _orjson_loads
    try:
        values = [parse(data) for data in items]
    except _OrjsonError:
        return None
    if not deep_possible:
        return values
    # The nesting screen of loads_utf8 for each item (len > 2 * _DEEP is implied).
    opening = map(_add, map(_count, items, repeat(b"[")), map(_count, items, repeat(b"{")))
    if any(map(_TOO_DEEP, opening)):
        return None
    return values


def excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    """A short, control-free rendering of untrusted text for log/skip messages."""
    # repr() escapes control, bidi and other non-printable characters.
    shown = repr(text[:limit])
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown


class JsonStreamDecoder:
    """Feed raw bytes, get back the parsed JSON value of every complete record.

    Memory stays bounded by about ``max_record_bytes`` plus the size of the chunk being fed:
    a record that grows past the cap is dropped on the spot and the decoder skips ahead to the
    next ``\\r`` without buffering anything in between.

    With ``keep_records=True`` the decoder also keeps each decoded record's bytes (stripped of
    surrounding whitespace), for consumers that pass the original text on: see take_records().
    """

    __slots__ = (
        "_buf",
        "_deep_possible",
        "_digits_possible",
        "_discarding",
        "_records",
        "keep_records",
        "max_record_bytes",
        "on_skip",
        "oversized",
        "skipped",
    )

    def __init__(
        self,
        max_record_bytes: int = 1 << 20,
        on_skip: Callable[[str], None] | None = None,
        keep_records: bool = False,
    ) -> None:
        if max_record_bytes < 1:
            raise ValueError("max_record_bytes must be positive")
        self.max_record_bytes = max_record_bytes
        self.on_skip = on_skip
        self.keep_records = keep_records
        self.skipped = 0  # malformed records
        self.oversized = 0  # records over the cap
        self._buf = bytearray()  # bytes of the record in progress (never holds a \r)
        self._discarding = False  # inside an oversized record: drop bytes up to the next \r
        self._digits_possible = True  # the region being decoded may hold a 19-digit run
        self._deep_possible = True  # ... or a record with more than _DEEP opening brackets
        # keep_records: bytes of the records decoded since the last take_records(), one per
        # value returned; None once a record was rejected in that span (alignment lost).
        self._records: list[bytes] | None = [] if keep_records else None

    @property
    def buffered(self) -> int:
        """Bytes currently held for an incomplete record (for tests and diagnostics)."""
        return len(self._buf)

    def take_records(self) -> list[bytes] | None:
        """The records behind the values feed() returned since the last call, in order.

        One ``bytes`` per value, or None when a malformed or oversized record was dropped in
        that span: the caller then cannot tell which text goes with which value.
        """
        if not self.keep_records:
            raise RuntimeError("take_records() needs JsonStreamDecoder(keep_records=True)")
        records, self._records = self._records, []
        return records

    def feed(self, data: bytes | bytearray | memoryview) -> list[Any]:
        if isinstance(data, memoryview):
            data = data.tobytes()
        if not data:
            return []
        if self._discarding:
            cut = data.find(_CR)
            if cut < 0:
                return []
            self._discarding = False
            data = data[cut + 1 :]
        last = data.rfind(_CR)
        if last < 0:
            self._stash(data)
            return []
        buf = self._buf
        if buf:
            buf += memoryview(data)[:last]
            region: bytes | bytearray = bytes(buf)  # records as bytes: the one-call path
        else:
            region = data[:last]
        # One scan of the whole region instead of one per record (see may_hold_big_int).
        self._digits_possible = may_hold_big_int(region)
        # The nesting screen too, when the one-call path can be taken (records = lines).
        self._deep_possible = self._digits_possible or may_nest_deeply(region, _CR)
        records = region.split(_CR)
        buf.clear()
        out = self._decode_records(records)
        if last + 1 < len(data):
            self._stash(data[last + 1 :])
        return out

    def reset(self) -> None:
        """Forget a partial record (call at end of connection)."""
        self._buf.clear()
        self._discarding = False

    def _stash(self, data: bytes | bytearray) -> None:
        buf = self._buf
        if not buf:
            # Keep-alive newlines before a record are not worth holding (or counting).
            data = data.lstrip(_JSON_WS)
            if not data:
                return
        if len(buf) + len(data) > self.max_record_bytes:
            size = len(buf) + len(data)
            buf.clear()
            self._discarding = True
            self._report_oversized(f"record exceeds {self.max_record_bytes} bytes ({size}+ seen)")
            return
        buf += data

    def _decode_records(self, records: list[bytes] | list[bytearray]) -> list[Any]:
        # (Signature kept while client.py's record-keeping subclass still overrides this.)
        digits_possible = self._digits_possible
        if not digits_possible and type(records[0]) is bytes:
            # The common case in one call (see loads_all): every record non-empty, under
            # the cap, parsing on orjson's path; anything else goes record by record.
            stripped = [raw.strip(_JSON_WS) for raw in records]
            if all(stripped) and max(map(len, stripped)) <= self.max_record_bytes:
                values = loads_all(stripped, False, self._deep_possible)
                if values is not None:
                    if self._records is not None:
                        self._records += stripped
                    return values
        out: list[Any] = []
        append = out.append
        parse = loads_utf8
        cap = self.max_record_bytes
        kept = self._records
        for raw in records:
            rec = raw.strip(_JSON_WS)
            if not rec:
                continue
            if len(rec) > cap:
                self._report_oversized(f"record exceeds {cap} bytes ({len(rec)} bytes)")
                kept = self._records
                continue
            try:
                value = parse(rec, digits_possible)
            except json.JSONDecodeError as exc:
                msg = exc.msg[:1].lower() + exc.msg[1:]
                self._report_malformed(f"malformed JSON record ({msg} at {exc.pos})", rec)
                kept = self._records
                continue
            except ValueError as exc:
                # e.g. integers over the str-digits limit, nesting too deep.
                self._report_malformed(f"malformed JSON record ({exc})", rec)
                kept = self._records
                continue
            append(value)
            if kept is not None:
                kept.append(bytes(rec))
        return out

    def _report_malformed(self, reason: str, rec: bytes | bytearray) -> None:
        self.skipped += 1
        self._records = None
        if self.on_skip is not None:
            text = bytes(rec[: _EXCERPT_CHARS * 4]).decode("utf-8", "replace")
            self.on_skip(f"{reason}: {excerpt(text)}")

    def _report_oversized(self, reason: str) -> None:
        self.oversized += 1
        self._records = None
        if self.on_skip is not None:
            self.on_skip(reason)
