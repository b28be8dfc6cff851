"""Incremental decoder for Flowdock's ``application/json`` stream.

Framing (api-docs ``docs/streaming.md``): a record is one JSON value terminated by ``\\r``; in
practice the server sends ``\\r\\n`` and bare ``\\n`` keep-alives between records. A record may
contain ``\\n`` (pretty-printed JSON) but never ``\\r``, so ``\\r`` is the *only* terminator: a
stream that separates records with ``\\n`` alone is read as one growing record, exactly as the
docs define it. We split on bytes before decoding, so multibyte characters split across chunks
survive and U+2028/U+2029/U+0085 are never treated as line breaks (unlike ``aiter_lines``).
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable
from typing import Any

__all__ = ["JsonStreamDecoder"]

_CR = b"\r"
_JSON_WS = b" \t\n\r"  # RFC 8259 insignificant whitespace (bytes.strip() would also eat VT/FF)
# Calling the C scanner directly skips json.loads' per-call regex work (~2x faster on small
# records); we check for trailing garbage ourselves.
# (typeshed types the duck-typed context argument as make_scanner itself, hence the ignore.)
_scan_once: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)
_EXCERPT_CHARS = 60


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
    """

    __slots__ = ("_buf", "_discarding", "max_record_bytes", "on_skip", "oversized", "skipped")

    def __init__(
        self,
        max_record_bytes: int = 1 << 20,
        on_skip: Callable[[str], None] | None = None,
    ) -> None:
        if max_record_bytes < 1:
            raise ValueError("max_record_bytes must be positive")
        self.max_record_bytes = max_record_bytes
        self.on_skip = on_skip
        self.skipped = 0  # malformed records
        self.oversized = 0  # records over the cap
        self._buf = bytearray()  # bytes of the record in progress (never holds a \r)
        self._discarding = False  # inside an oversized record: drop bytes up to the next \r

    @property
    def buffered(self) -> int:
        """Bytes currently held for an incomplete record (for tests and diagnostics)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Any]:
        if isinstance(data, memoryview):
            data = bytes(data)
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
            region: bytes | bytearray = buf
        else:
            region = data[:last]
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
        out: list[Any] = []
        append = out.append
        scan = _scan_once
        cap = self.max_record_bytes
        for raw in records:
            rec = raw.strip(_JSON_WS)
            if not rec:
                continue
            if len(rec) > cap:
                self._report_oversized(f"record exceeds {cap} bytes ({len(rec)} bytes)")
                continue
            text = rec.decode("utf-8", "replace")
            try:
                value, end = scan(text, 0)
            except StopIteration:
                self._report_malformed("malformed JSON record (expecting value)", text)
                continue
            except json.JSONDecodeError as exc:
                self._report_malformed(f"malformed JSON record ({exc.msg} at {exc.pos})", text)
                continue
            except (ValueError, RecursionError) as exc:
                # ValueError: e.g. integers over the str-digits limit; RecursionError: "[[[[...".
                self._report_malformed(f"malformed JSON record ({type(exc).__name__})", text)
                continue
            if end != len(text):
                self._report_malformed(f"malformed JSON record (extra data at {end})", text)
                continue
            append(value)
        return out

    def _report_malformed(self, reason: str, text: str) -> None:
        self.skipped += 1
        if self.on_skip is not None:
            self.on_skip(f"{reason}: {excerpt(text)}")

    def _report_oversized(self, reason: str) -> None:
        self.oversized += 1
        if self.on_skip is not None:
            self.on_skip(reason)
