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
from itertools import repeat
from operator import is_
from typing import NamedTuple

from flowview.protocol.jsonstream import excerpt, may_nest_deeply

__all__ = ["SSEDecoder", "SSEEvent"]

log = logging.getLogger(__name__)

# int() on a long digit string is slow and, past 4300 digits, raises; nobody means a delay that
# long, so absurd retry values are clamped instead (the reconnect policy caps delays anyway).
_MAX_RETRY_DIGITS = 15
MAX_RETRY_MS: int = 10**_MAX_RETRY_DIGITS - 1
_MAX_COMMENTS = 1024  # keep_comments: only the newest ones are kept; consumers should drain


class SSEEvent(NamedTuple):
    """One dispatched event (immutable; a named tuple: built once per event on the hot path,
    it costs a fraction of a frozen dataclass)."""

    type: str  # "message" unless an `event:` field set it
    data: str
    id: str  # the last event ID at dispatch time (persists across events)
    retry: int | None = None  # a valid `retry:` inside this event's own block, else None


# Applied by map() in _uniform_blocks: an unbound method costs no attribute lookup per call.
_REMOVEPREFIX = bytes.removeprefix


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
        # After feed_data: False when no line of the chunk held more than a few hundred
        # opening brackets (jsonstream.may_nest_deeply), so no ``bytes`` item it handed over
        # (each one line's data) needs the per-item nesting screen of jsonstream.loads_all.
        self.deep_possible = True

    def feed(self, data: bytes | bytearray | memoryview) -> list[SSEEvent]:
        return self._feed_text(self._utf8.decode(data))

    def feed_data(self, data: bytes) -> list[str | bytes]:
        """The data of each event :meth:`feed` would dispatch for ``data``, in order, with the
        same effect on the decoder; for a consumer that only needs the data (the stream
        client, which takes the resume point from :attr:`last_event_id`).

        The common blocks (see :meth:`_blocks`) come as the bytes received, not decoded: the
        UTF-8 encoding of what :meth:`feed` gives, when valid (``d.decode("utf-8",
        "replace")`` is that always); a JSON consumer parses them as they are, without a
        decode and a re-encode of each event. Everything else comes as ``str``.
        """
        first = data.find(b"\n\n")
        if (
            first < 0
            or b"\r" in data  # CR line ends: the general path normalises them
            or self._skip_lf
            or self._utf8.getstate() != (b"", 0)  # mid-character, or the BOM still undecided
        ):
            self.deep_possible = True  # (only str items: loads_all does not take them)
            return [ev.data for ev in self.feed(data)]
        self.deep_possible = may_nest_deeply(data)
        last = data.rfind(b"\n\n")
        out: list[str | bytes] = []
        # The head finishes the block in progress: afterwards the decoder is between blocks
        # and between characters (a newline is a whole character), so the middle can skip it.
        out.extend(ev.data for ev in self.feed(data[: first + 2]))
        if last > first:
            self._blocks_bytes(data, first + 2, last + 2, out)
        rest = data[last + 2 :]
        if rest:
            out.extend(ev.data for ev in self.feed(rest))
        return out

    def _blocks_bytes(self, data: bytes, start: int, stop: int, out: list[str | bytes]) -> None:
        """:meth:`_blocks` on the undecoded bytes (``data[start:stop]``: whole blocks, ending
        in a blank line, starting at a block boundary, no CR): the same shapes take the fast
        path, every other block is decoded (a block is whole lines, so its bytes decode alone
        as they would in the stream) and goes through the line loop.

        The region is cut at its blank lines in one call, and only the last fast block's id
        is decoded (the ids before it are overwritten unread): per event, a few searches and
        one slice of its data."""
        region = data[start:stop]
        if self._uniform_blocks(region, out):
            return
        cap = self.max_event_bytes  # in characters; a block's bytes are at least as many
        add = out.append
        blocks = region.split(b"\n\n")
        # What follows the last separator: b"" (the region ends in one), or the rest of a run
        # of blank lines ("\n"), which the line loop reads as the blank lines it is.
        last = blocks.pop()
        ident: bytes | None = None  # the latest fast block's id, not decoded yet
        for block in blocks:
            if len(block) <= cap:
                if block.startswith(b"data: "):
                    if b"\n" not in block:
                        add(block[6:])
                        continue
                elif block.startswith(b"id: "):
                    eol = block.find(b"\n")
                    if block.startswith(b"data: ", eol + 1) and block.find(b"\n", eol + 1) < 0:
                        name = block[4:eol]
                        if b"\0" not in name:
                            ident = name
                            add(block[eol + 7 :])
                            continue
            # Anything else: the line loop, with the block's own blank line.
            if ident is not None:
                self._id = self.last_event_id = ident.decode("utf-8", "replace")
                ident = None
            events: list[SSEEvent] = []
            self._process([*block.decode("utf-8", "replace").split("\n"), ""], events)
            out.extend(ev.data for ev in events)
        if ident is not None:
            self._id = self.last_event_id = ident.decode("utf-8", "replace")
        if last:
            events = []
            self._process(last.decode("utf-8", "replace").split("\n")[:-1], events)
            out.extend(ev.data for ev in events)

    def _uniform_blocks(self, region: bytes, out: list[str | bytes]) -> bool:
        """The region as a server writes a burst: every block ``id: X`` then ``data: Y``, no
        NUL in an id, none near the size cap. Then its events' data go to ``out`` with a
        handful of calls for the whole region (the per-element work runs in C), and the result
        is True; otherwise nothing is done and the result is False.

        Each pass over the ~640-byte data lines costs a few tenths of a microsecond per event
        on a busy box (their memory is touched again), so there are two: the split that cuts
        them and ``removeprefix``, which checks the prefix and cuts it off in one call; a line
        without it comes back as the very same object, which ``is_`` finds without reading it.
        The ids are checked on one joined string: its ``n - 1`` newlines are all followed by
        ``id: `` exactly when every id line after the first starts with it.
        """
        lines = region.split(b"\n")
        count = len(lines) // 3  # a block is three lines; the region's final "\n" adds a ""
        if len(lines) != 3 * count + 1 or any(lines[2::3]):
            return False
        ids = b"\n".join(lines[0:-1:3])
        if (
            not ids.startswith(b"id: ")
            or ids.count(b"\nid: ") != count - 1
            or b"\0" in ids
            # Every block's length is under twice its longest line's (plus its newline), and
            # no line is longer than the region (the cheap test first: reads are far smaller
            # than the cap).
            or (
                2 * len(region) + 1 > self.max_event_bytes
                and 2 * max(map(len, lines)) + 1 > self.max_event_bytes
            )
        ):
            return False
        datas = lines[1::3]
        cut = list(map(_REMOVEPREFIX, datas, repeat(b"data: ")))
        if any(map(is_, datas, cut)):
            return False
        out += cut
        self._id = self.last_event_id = lines[-4][4:].decode("utf-8", "replace")
        return True

    def _feed_text(self, text: str) -> list[SSEEvent]:
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
                self._blocks(text, first + 2, last + 2, events)
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

    def _blocks(self, text: str, start: int, stop: int, events: list[SSEEvent]) -> None:
        """``text[start:stop]``: whole lines (it ends in ``"\n"``), mostly whole blocks each
        ended by a blank line, starting at a block boundary.

        The hot path: a block that is exactly ``id: X`` then ``data: Y`` (or ``data: Y``
        alone), as servers write them, becomes its event with a few searches and one slice
        instead of a pass of the line loop per line. Every other block goes through the line
        loop, so the result is the same in every case (a differential test checks it).
        """
        cap = self.max_event_bytes  # a block under the cap has every line under it
        add = events.append
        find = text.find
        starts = text.startswith
        last_id = self._id
        pos = start
        while pos < stop:
            if starts("data: ", pos):
                end = find("\n", pos)
                if starts("\n", end + 1) and end - pos <= cap:
                    add(SSEEvent("message", text[pos + 6 : end], last_id))
                    pos = end + 2
                    continue
            elif starts("id: ", pos):
                eol = find("\n", pos)
                if starts("data: ", eol + 1):
                    end = find("\n", eol + 7)
                    if starts("\n", end + 1) and end - pos <= cap:
                        ident = text[pos + 4 : eol]
                        if "\0" not in ident:
                            last_id = ident
                            add(SSEEvent("message", text[eol + 7 : end], ident))
                            pos = end + 2
                            continue
            # Anything else: the line loop, up to the next blank line (or the region's end:
            # a run of blank lines can leave a lone "\n" there).
            end = find("\n\n", pos, stop)
            end = stop if end < 0 else end + 2
            self._id = self.last_event_id = last_id
            self._process(text[pos:end].split("\n")[:-1], events)
            last_id = self._id
            pos = end
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
