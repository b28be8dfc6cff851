"""WHATWG ``text/event-stream`` decoder (HTML §9.2.5–9.2.6), bytes in, events out.

Why not httpx-sse 0.4.3: it fails 28 of the 164 vectors in tests/protocol/sse-vectors.json. It keeps
a leading BOM (the BOM vectors), dispatches data-less retry/id/event-only blocks, cannot be seeded
with a last event ID after a reconnect, and parses ``retry`` with ``int()`` (authored retry
vectors).
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flowview.protocol.jsonstream import excerpt

__all__ = ["SSEDecoder", "SSEEvent"]

log = logging.getLogger(__name__)

# int() on a long digit string is slow and, past 4300 digits, raises; nobody means a delay that
# long, so absurd retry values are clamped instead (the reconnect policy caps delays anyway).
_MAX_RETRY_DIGITS = 15
MAX_RETRY_MS: int = 10**_MAX_RETRY_DIGITS - 1
_MAX_COMMENTS = 1024  # keep_comments: only the newest ones are kept; consumers should drain


@dataclass(frozen=True, slots=True)
class SSEEvent:
    type: str  # "message" unless an `event:` field set it
    data: str
    id: str  # the last event ID at dispatch time (persists across events)
    retry: int | None = None  # a valid `retry:` inside this event's own block, else None


def _parse_retry(value: str) -> int | None:
    # WHATWG: only ASCII digits, base ten. isdigit() alone would accept "５" or "²".
    if not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0")
    if len(digits) > _MAX_RETRY_DIGITS:
        return MAX_RETRY_MS
    return int(digits) if digits else 0


def _new_utf8_decoder() -> codecs.IncrementalDecoder:
    # "utf-8-sig" strips exactly one leading BOM, even when it arrives split across chunks.
    return codecs.getincrementaldecoder("utf-8-sig")(errors="replace")


class SSEDecoder:
    """Incremental event-stream decoder for one connection at a time.

    Call :meth:`end` when a connection closes; the decoder can then be reused for the next
    connection and keeps :attr:`last_event_id` and :attr:`reconnection_time_ms`.

    Memory is bounded: a line or an event's data larger than ``max_event_bytes`` (measured in
    decoded characters) is dropped without being accumulated, counted in :attr:`oversized`,
    reported through ``on_skip`` and decoding resumes at the next blank line.
    """

    def __init__(
        self,
        last_event_id: str = "",
        max_event_bytes: int = 1 << 20,
        on_skip: Callable[[str], None] | None = None,
        keep_comments: bool = False,
    ) -> None:
        if max_event_bytes < 1:
            raise ValueError("max_event_bytes must be positive")
        self.last_event_id = last_event_id
        self.reconnection_time_ms: int | None = None
        self.comments: list[str] = []
        self.keep_comments = keep_comments
        self.max_event_bytes = max_event_bytes
        self.on_skip = on_skip
        self.oversized = 0
        self._utf8 = _new_utf8_decoder()
        self._skip_lf = False  # last chunk ended in CR: a leading LF is the rest of a CRLF
        self._parts: list[str] = []  # pieces of the incomplete current line
        self._parts_len = 0
        self._dropping_line = False  # the current line went over the cap: ignore to its end
        # Per-block buffers (WHATWG names: event type, data, last event ID buffers).
        self._id = last_event_id
        self._type = ""
        self._data: list[str] = []
        self._data_len = 0
        self._retry: int | None = None
        self._discard_event = False  # the block's data went over the cap

    def feed(self, data: bytes | bytearray | memoryview) -> list[SSEEvent]:
        text = self._utf8.decode(data)
        if not text:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\r" in text:
            # A trailing CR already ends its line (so a blank line dispatches right away);
            # remember to swallow the LF that may follow in the next chunk.
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        events: list[SSEEvent] = []
        first = text.find("\n\n")
        if first >= 0:
            last = text.rfind("\n\n")
            if last > first:
                # Whole blocks between the first and the last blank line: the line loop
                # finishes the block in progress, then they go block by block (see _blocks).
                self._lines(text[: first + 2], events)
                self._blocks(text[first + 2 : last], events)
                text = text[last + 2 :]
        self._lines(text, events)
        return events

    def _lines(self, text: str, events: list[SSEEvent]) -> None:
        """Process ``text`` line by line (its last piece is an unfinished line)."""
        lines = text.split("\n")
        tail = lines.pop()
        if lines:
            if self._dropping_line:
                # The first line is the end of an over-long line: it is dropped, not parsed.
                self._dropping_line = False
                del lines[0]
            elif self._parts:
                self._parts.append(lines[0])
                lines[0] = "".join(self._parts)
                self._parts.clear()
                self._parts_len = 0
            if lines:
                self._process(lines, events)
        if tail:
            self._add_partial(tail)

    def _blocks(self, text: str, events: list[SSEEvent]) -> None:
        """Whole blocks, each followed by a blank line, starting at a block boundary.

        The hot path: a block that is exactly ``id: X`` then ``data: Y`` (or ``data: Y``
        alone), as servers write them, becomes its event with a few string operations instead
        of a pass of the line loop per line. Every other block goes through the line loop, so
        the result is the same in every case (a differential test feeds streams both whole and
        byte by byte).
        """
        cap = self.max_event_bytes  # a block under the cap has every line under it
        add = events.append
        last_id = self._id
        for block in text.split("\n\n"):
            if len(block) <= cap:
                if block.startswith("data: "):
                    if "\n" not in block:
                        add(SSEEvent("message", block[6:], last_id))
                        continue
                elif block.startswith("id: "):
                    head, sep, data = block.partition("\ndata: ")
                    if sep and "\n" not in data and "\n" not in head and "\0" not in head:
                        last_id = head[4:]
                        add(SSEEvent("message", data, last_id))
                        continue
            self._id = self.last_event_id = last_id
            self._process([*block.split("\n"), ""], events)
            last_id = self._id
        self._id = self.last_event_id = last_id

    def end(self) -> None:
        """End of the connection: discard any partial event (its id is not committed)."""
        self._utf8.reset()
        self._skip_lf = False
        self._parts.clear()
        self._parts_len = 0
        self._dropping_line = False
        self._id = self.last_event_id
        self._reset_block()

    def _reset_block(self) -> None:
        self._type = ""
        self._data = []
        self._data_len = 0
        self._retry = None
        self._discard_event = False

    def _add_partial(self, piece: str) -> None:
        if self._dropping_line:
            return
        self._parts.append(piece)
        self._parts_len += len(piece)
        if self._parts_len > self.max_event_bytes:
            # Only the head is needed to classify the line; don't join the whole thing.
            head = ""
            for part in self._parts:
                head += part[:32]
                if len(head) >= 32:
                    break
            self._parts.clear()
            self._parts_len = 0
            self._dropping_line = True
            self._drop_line(head)

    def _drop_line(self, line: str) -> None:
        """Drop an over-long line; ``line`` may be just its first few characters."""
        if line.startswith("data:"):
            self._drop_event_data(f"event data exceeds {self.max_event_bytes} bytes")
        else:
            self.oversized += 1
            self._skip(f"line exceeds {self.max_event_bytes} bytes: {excerpt(line, 24)}")

    def _drop_event_data(self, reason: str) -> None:
        # Other fields of the block (id, retry, event) still apply; only the data is lost.
        if not self._discard_event:
            self.oversized += 1
            self._skip(reason)
        self._discard_event = True
        self._data = []
        self._data_len = 0

    def _skip(self, reason: str) -> None:
        if self.on_skip is not None:
            self.on_skip(reason)

    def _process(self, lines: list[str], events: list[SSEEvent]) -> None:
        # The hot loop (one pass per line of the stream). The block state lives in locals and
        # is written back before anything else reads it: before _drop_line/_drop_event_data
        # (which update it themselves) and at the end.
        cap = self.max_event_bytes
        data = self._data
        data_len = self._data_len
        discard = self._discard_event
        last_id = self._id
        kind = self._type
        retry = self._retry
        add = events.append
        for line in lines:
            if not line:
                # Blank line: dispatch (WHATWG §9.2.6 "dispatch the event").
                self.last_event_id = last_id
                if data:
                    add(SSEEvent(kind or "message", "\n".join(data), last_id, retry))
                    data = self._data = []
                    data_len = 0
                kind = ""
                retry = None
                discard = False
                continue
            if len(line) > cap:
                self._data_len, self._discard_event = data_len, discard
                self._drop_line(line)
                data, data_len, discard = self._data, self._data_len, self._discard_event
                continue
            name, _, value = line.partition(":")
            if not name:  # a comment (keep-alive): the line starts with ":"
                if self.keep_comments:
                    self._keep_comment(value)
                continue
            if value and value[0] == " ":
                value = value[1:]
            if name == "data":
                if discard:
                    continue
                data_len += len(value) + 1
                if data_len > cap + 1:
                    self._discard_event = discard
                    self._drop_event_data(f"event data exceeds {cap} bytes")
                    data, data_len, discard = self._data, self._data_len, self._discard_event
                    continue
                data.append(value)
            else:
                last_id, kind, retry = self._field(name, value, last_id, kind, retry)
        self._data_len = data_len
        self._discard_event = discard
        self._id = last_id
        self._type = kind
        self._retry = retry

    def _field(
        self, name: str, value: str, last_id: str, kind: str, retry: int | None
    ) -> tuple[str, str, int | None]:
        """A field other than `data`: the block's (id, event type, retry) after it."""
        if name == "id":
            if "\0" not in value:
                last_id = value
        elif name == "event":
            kind = value
        elif name == "retry":
            parsed = _parse_retry(value)
            if parsed is not None:
                retry = parsed
                self.reconnection_time_ms = parsed
        # Any other field name (compared literally, case-sensitive) is ignored.
        return last_id, kind, retry

    def _keep_comment(self, text: str) -> None:
        comments = self.comments
        if len(comments) >= _MAX_COMMENTS:
            del comments[: len(comments) - _MAX_COMMENTS + 1]
        comments.append(text)
