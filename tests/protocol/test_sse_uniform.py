"""The SSE decoder's whole-region path (`SSEDecoder._uniform_blocks`), which cuts a chunk of
server-written ``id: X`` / ``data: Y`` blocks with a few C-level calls, against the line loop,
against the previous implementation of the same path, and under arbitrary chunking.

The streams are mostly server blocks with a few near misses mixed in, each one line away from
the accepted shape (a second ``id: `` inside an id, ``data:`` without its space, a data line
that is valid JSON but not a data field, an id with NUL...): the shapes a cheap test could
mistake for the common one.
"""

from __future__ import annotations

import operator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowview.protocol.sse import SSEDecoder

_IS_ID = operator.methodcaller("startswith", b"id: ")
_IS_DATA = operator.methodcaller("startswith", b"data: ")
_AFTER_DATA = operator.itemgetter(slice(6, None))


def _old_uniform_blocks(dec: SSEDecoder, region: bytes, out: list[str | bytes]) -> bool:
    """The path as it was before the tail3 pass (line tests by map, a slice per event)."""
    lines = region.split(b"\n")
    count = len(lines) // 3
    if len(lines) != 3 * count + 1 or b"\0" in region:
        return False
    ids = lines[0:-1:3]
    datas = lines[1::3]
    if (
        any(lines[2::3])
        or not all(map(_IS_ID, ids))
        or not all(map(_IS_DATA, datas))
        or 2 * max(map(len, lines)) + 1 > dec.max_event_bytes
    ):
        return False
    out.extend(map(_AFTER_DATA, datas))
    dec._id = dec.last_event_id = ids[-1][4:].decode("utf-8", "replace")
    return True


_ID = st.text(st.sampled_from("0123456789abé \0:"), max_size=6)
_DATA = st.text(st.sampled_from('{}[]"0123456789 :aé'), max_size=80)


def _server_block(ident: str, data: str) -> bytes:
    return f"id: {ident}\ndata: {data}\n\n".encode()


# Server-shaped, though odd: the region path takes them (data as received).
_ODD_BUT_SERVER_SHAPED = [
    b"id: 1id: 2\ndata: {}\n\n",
    b"id: 1\ndata: \n\n",
    b"id: \ndata: data: {}\n\n",
    b"id: 1\ndata: data: \n\n",
    b"id: 1\ndata: id: 2\n\n",
    b"id: 1\ndata: {}\x00\n\n",
    b"id: 1\ndata: \xff\xfe\n\n",
]

# One line away from a server block (each still a whole block, ending in a blank line).
_NEAR_MISSES = [
    b"id: 1\nid: 2\ndata: {}\n\n",
    b"id:1\ndata: {}\n\n",
    b"id: 1\ndata:{}\n\n",
    b"id: 1\ndata: {}\ndata: {}\n\n",
    b"id: 1\n{}\n\n",
    b"id: 1\ndatum: {}\n\n",
    b"id: 1\n data: {}\n\n",
    b"id: 1\nDATA: {}\n\n",
    b"data: {}\nid: 1\n\n",
    b"id: 1\nevent: x\n\n",
    b"id: x\0y\ndata: {}\n\n",
    b"id: 1\ndata: {}\n\n\n",
    b"retry: 5\ndata: {}\n\n",
    b": ping\ndata: {}\n\n",
    # No blank line: the block runs on into the next one.
    b"id: 1\ndata: {}\nevent: x\n",
    b"id: 1\ndata: {}\n: c\n",
    b"id: 1\ndata: {}\ndata: {}\n",
]

_BLOCK = st.one_of(
    st.builds(_server_block, _ID, _DATA),
    st.builds(_server_block, _ID, _DATA),
    st.builds(_server_block, _ID, _DATA),
    st.sampled_from(_NEAR_MISSES),
    st.sampled_from(_ODD_BUT_SERVER_SHAPED),
)
_BODY = st.lists(_BLOCK, min_size=1, max_size=12).map(b"".join)


def _decode(dec: SSEDecoder, body: bytes, cuts: list[int], *, by_data: bool) -> dict[str, Any]:
    got: list[str] = []
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(body)), len(body)]:
        piece = body[start:cut]
        start = max(start, cut)
        if by_data:
            for d in dec.feed_data(piece):
                got.append(d.decode("utf-8", "replace") if isinstance(d, bytes) else d)
        else:
            got.extend(ev.data for ev in dec.feed(piece))
    return {
        "data": got,
        "last_event_id": dec.last_event_id,
        "retry": dec.reconnection_time_ms,
        "oversized": dec.oversized,
    }


@settings(max_examples=600, deadline=None)
@given(
    body=_BODY,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=3),
    cap=st.sampled_from([1 << 20, 64, 30]),
)
def test_the_region_path_decodes_like_the_line_loop(body: bytes, cuts: list[int], cap: int) -> None:
    # A leading byte settles the BOM, so the whole body can take the bytes path.
    body = b"\n" + body
    want = _decode(SSEDecoder("seed", max_event_bytes=cap), body, cuts, by_data=False)
    got = _decode(SSEDecoder("seed", max_event_bytes=cap), body, cuts, by_data=True)
    assert got == want


@settings(max_examples=400, deadline=None)
@given(
    body=_BODY,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_any_chunking_gives_what_one_chunk_gives(body: bytes, cuts: list[int]) -> None:
    body = b"\n" + body
    whole = _decode(SSEDecoder("seed"), body, [], by_data=True)
    assert _decode(SSEDecoder("seed"), body, cuts, by_data=True) == whole
    assert _decode(SSEDecoder("seed"), body, list(range(0, len(body), 5)), by_data=True) == whole


@settings(max_examples=600, deadline=None)
@given(body=_BODY, cap=st.sampled_from([1 << 20, 64, 30]))
def test_the_region_path_agrees_with_the_previous_one(body: bytes, cap: int) -> None:
    # Only where the old path applied does the new one have to (it may take more regions,
    # e.g. an id-less NUL in data; the line-loop test covers those): same answer, same data.
    new = SSEDecoder("seed", max_event_bytes=cap)
    old = SSEDecoder("seed", max_event_bytes=cap)
    new_out: list[str | bytes] = []
    old_out: list[str | bytes] = []
    took_old = _old_uniform_blocks(old, body, old_out)
    took_new = new._uniform_blocks(body, new_out)
    if took_old:
        assert took_new
    if took_new and took_old:
        assert new_out == old_out
        assert new.last_event_id == old.last_event_id


def test_a_burst_of_server_blocks_takes_the_region_path() -> None:
    body = b"".join(_server_block(str(i), f'{{"n": {i}, "t": "é"}}') for i in range(50))
    dec = SSEDecoder()
    out: list[str | bytes] = []
    assert dec._uniform_blocks(body, out)
    assert out == [f'{{"n": {i}, "t": "é"}}'.encode() for i in range(50)]
    assert dec.last_event_id == "49"


def test_each_near_miss_leaves_the_region_to_the_line_loop() -> None:
    head = b"".join(_server_block(str(i), "{}") for i in range(3))
    for odd in _ODD_BUT_SERVER_SHAPED:
        out: list[str | bytes] = []
        assert SSEDecoder()._uniform_blocks(head + odd + head, out), odd
        assert out[3] == odd.split(b"\ndata: ", 1)[1][:-2]
    for odd in _NEAR_MISSES:
        for body in (odd + head, head + odd, head + odd + head):
            left: list[str | bytes] = []
            assert not SSEDecoder()._uniform_blocks(body, left), odd
            assert left == []


def test_a_line_over_the_cap_leaves_the_region_to_the_line_loop() -> None:
    body = b"".join(_server_block(str(i), "x" * 40) for i in range(4))
    out: list[str | bytes] = []
    assert not SSEDecoder(max_event_bytes=64)._uniform_blocks(body, out)
    assert SSEDecoder(max_event_bytes=100)._uniform_blocks(body, out)
    assert out == [b"x" * 40] * 4
