"""The SSE decoder's whole-block fast path gives exactly what its line loop gives.

The blocks between a chunk's first and last blank line take the fast path
(`SSEDecoder._blocks`); the reference decoder sends them through the line loop instead, as the
decoder did before the fast path. Fed the same chunks, both must agree on every event, the
last event ID, the retry time, the skip notices and the comments, whatever the stream.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowview.protocol.sse import SSEDecoder, SSEEvent

# Pieces that make every kind of line likely: the fast path's own shapes, near misses
# ("id:" without a space, "data:x"), other fields, comments, CR/LF variants, NUL, a BOM,
# non-ASCII, long values (for the size cap).
_PIECES = [
    "id: ",
    "id:",
    "data: ",
    "data:",
    "event: ",
    "retry: ",
    ": ping",
    "\n",
    "\n\n",
    "\r",
    "\r\n",
    " ",
    "x",
    "7",
    "{}",
    "é😀",
    "\0",
    "\ufeff",
    "y" * 40,
]


def _stream() -> st.SearchStrategy[bytes]:
    blocks = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)
    with_id = st.tuples(st.text(max_size=8), st.text(max_size=40)).map(
        lambda iv: f"id: {iv[0]}\ndata: {iv[1]}\n\n"
    )
    data_only = st.text(max_size=60).map(lambda d: f"data: {d}\n\n")
    canonical = st.lists(st.one_of(with_id, data_only), max_size=8).map("".join)
    return st.lists(st.one_of(blocks, canonical), max_size=6).map(
        lambda parts: "".join(parts).encode("utf-8", "surrogatepass")
    )


class _LineLoopOnly(SSEDecoder):
    def _blocks(self, text: str, start: int, stop: int, events: list[SSEEvent]) -> None:
        self._process(text[start:stop].split("\n")[:-1], events)


def _run(cls: type[SSEDecoder], data: bytes, cuts: list[int], cap: int) -> dict[str, Any]:
    skips: list[str] = []
    dec = cls("seed", max_event_bytes=cap, on_skip=skips.append, keep_comments=True)
    events: list[SSEEvent] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        events.extend(dec.feed(data[start:cut]))
        start = max(start, cut)
    return {
        "events": events,
        "last_event_id": dec.last_event_id,
        "retry": dec.reconnection_time_ms,
        "oversized": dec.oversized,
        "skips": skips,
        "comments": dec.comments,
    }


@settings(max_examples=400, deadline=None)
@given(
    data=_stream(),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=4),
    cap=st.one_of(st.integers(min_value=1, max_value=60), st.just(1 << 20)),
)
def test_fast_path_decodes_like_the_line_loop(data: bytes, cuts: list[int], cap: int) -> None:
    chunkings = [[c for c in cuts if c <= len(data)], [], list(range(0, len(data), 3))]
    for chunks in chunkings:
        assert _run(SSEDecoder, data, chunks, cap) == _run(_LineLoopOnly, data, chunks, cap)


def test_the_fast_path_keeps_ids_across_blocks_and_chunks() -> None:
    dec = SSEDecoder()
    body = b"".join(b'id: %d\ndata: {"n": %d}\n\n' % (i, i) for i in range(5))
    events = dec.feed(body[:30]) + dec.feed(body[30:])
    assert [(e.id, e.data) for e in events] == [(str(i), f'{{"n": {i}}}') for i in range(5)]
    assert dec.last_event_id == "4"
    # A data-only block keeps the last id; an id with NUL is ignored (WHATWG).
    events = dec.feed(b"\n\ndata: a\n\nid: x\0y\ndata: b\n\ndata: c\n\n")
    assert [(e.id, e.data) for e in events] == [("4", "a"), ("4", "b"), ("4", "c")]


def _run_data(data: bytes, cuts: list[int], cap: int, *, by_data: bool) -> dict[str, Any]:
    skips: list[str] = []
    dec = SSEDecoder("seed", max_event_bytes=cap, on_skip=skips.append, keep_comments=True)
    got: list[str] = []
    raw: list[bytes] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        piece = data[start:cut]
        if by_data:
            for d in dec.feed_data(piece):
                if isinstance(d, bytes):
                    raw.append(d)
                    d = d.decode("utf-8", "replace")
                got.append(d)
        else:
            got.extend(ev.data for ev in dec.feed(piece))
        start = max(start, cut)
    return {
        "data": got,
        "last_event_id": dec.last_event_id,
        "retry": dec.reconnection_time_ms,
        "oversized": dec.oversized,
        "skips": skips,
        "comments": dec.comments,
        "bytes_are_the_encoding": all(
            r.decode("utf-8", "replace").encode() == r for r in raw if _valid_utf8(r)
        ),
    }


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


# Invalid UTF-8 too: the bytes path hands it over undecoded.
_BYTES = st.lists(
    st.one_of(_stream(), st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xef\xbb\xbf"])),
    max_size=6,
).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(
    data=_BYTES,
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=4),
    cap=st.one_of(st.integers(min_value=1, max_value=60), st.just(1 << 20)),
)
def test_feed_data_gives_the_data_feed_gives(data: bytes, cuts: list[int], cap: int) -> None:
    chunkings = [[c for c in cuts if c <= len(data)], [], list(range(0, len(data), 7))]
    for chunks in chunkings:
        want = _run_data(data, chunks, cap, by_data=False)
        got = _run_data(data, chunks, cap, by_data=True)
        assert got["bytes_are_the_encoding"]
        assert got == want


def test_feed_data_hands_common_blocks_over_as_received() -> None:
    dec = SSEDecoder()
    body = "".join(f'id: {i}\ndata: {{"n": "é{i}"}}\n\n' for i in range(6)).encode()
    first = dec.feed_data(body[:10])  # the first chunk settles the BOM: the general path
    rest = dec.feed_data(body[10:])
    assert first == []
    assert rest[0] == '{"n": "é0"}'  # the block in progress, finished by the line loop
    assert rest[1:] == [f'{{"n": "é{i}"}}'.encode() for i in range(1, 6)]
    assert dec.last_event_id == "5"


def _uniform(count: int) -> bytes:
    return b"".join(b'id: %d\ndata: {"n": %d, "t": "\xc3\xa9"}\n\n' % (i, i) for i in range(count))


@pytest.mark.parametrize(
    "odd",
    [
        b"",  # every block id + data: the whole-region path
        b"id: x\0y\ndata: nul\n\n",  # an id with NUL is ignored
        b"data: no id\n\n",
        b": keep-alive\n\n",
        b"id: 1\nevent: other\ndata: typed\n\n",
        b"id: \ndata: empty id\n\n",
        b"id: 9\ndata: two\ndata: lines\n\n",
        b"\n",  # a run of blank lines
        b"id: 9\ndata: " + b"y" * 5000 + b"\n\n",  # near the cap
        b"id: 9\ndata: bad \xff\n\n",  # invalid UTF-8, handed over as received
    ],
)
def test_a_chunk_of_server_blocks_gives_what_the_line_loop_gives(odd: bytes) -> None:
    # The odd block inside the chunk's region of whole blocks, then as its last block.
    for body in (_uniform(20) + odd + _uniform(20), _uniform(20) + odd + b"id: 99\ndata: {"):
        for cap in (1 << 20, 6000):
            want = _run_data(body, [7, len(body) - 5], cap, by_data=False)
            got = _run_data(body, [7, len(body) - 5], cap, by_data=True)
            assert got == want
            assert len(got["data"]) >= 19
