"""LineIndex without Textual: heights, offsets, contexts, lazy measurement, incremental updates."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from flowview.model import line_index as line_index_module
from flowview.model.line_index import (
    LAZY_AFTER,
    LAZY_BURST_TAIL,
    LAZY_CHUNK,
    LAZY_TAIL,
    LineIndex,
)
from flowview.model.line_layout import LineLayout
from flowview.model.router import Router
from flowview.model.store import ConversationStore
from flowview.protocol.events import parse_event

FLOW = "f1"
KEY = ("flow", FLOW)
T0 = 1772528400000  # Tuesday 3 March 2026 09:00 UTC
MINUTE = 60_000
LONG = "word " * 40  # wraps at the widths used here


pytestmark = pytest.mark.usefixtures("utc")  # tests/conftest.py


def make_router(cap: int = 10_000) -> Router:
    router = Router(me_id="9", me_nick="me", cap=cap)
    router.add_users([{"id": "9", "nick": "me"}, {"id": "2", "nick": "alice"}])
    router.add_flows([{"id": FLOW, "name": "Main", "organization": "o"}])
    router.open_flow(FLOW)
    return router


def route(router: Router, mid: int, text: str, *, minute: int = 0, **kw: Any) -> None:
    obj = {
        "event": "message",
        "id": mid,
        "flow": FLOW,
        "user": "2",
        "content": text,
        "sent": T0 + minute * MINUTE,
        "tags": [],
        **kw,
    }
    router.route(parse_event(obj))


def index_for(router: Router) -> tuple[LineIndex, ConversationStore]:
    store = router.stores[KEY]
    return LineIndex(store, router, LineLayout(router)), store


def assert_consistent(index: LineIndex, store: ConversationStore) -> None:
    """Every entry matches a from-scratch measurement, offsets are the running sum."""
    messages = store.messages
    assert index.seqs == [m.seq for m in messages]
    running = 0
    for i, message in enumerate(messages):
        assert index.offsets[i] == running
        assert index.heights[i] == index.layout.measure(message, index.ctxs[i], index.width)
        running += index.heights[i]
    assert index.total == running
    for y in range(index.total):
        found = index.locate(y)
        assert found is not None
        i, row = found
        assert index.offsets[i] + row == y and 0 <= row < index.heights[i]
    assert index.locate(-1) is None and index.locate(index.total) is None


def test_day_separator_and_wrapping_set_heights() -> None:
    router = make_router()
    route(router, 1, "hello", minute=0)
    route(router, 2, LONG, minute=1)
    route(router, 3, "next day", minute=24 * 60)
    index, store = index_for(router)
    result = index.sync(60)
    assert result.rebuilt
    assert index.ctxs[0].day_sep and not index.ctxs[1].day_sep and index.ctxs[2].day_sep
    assert index.heights[0] == 2  # separator + line
    assert index.heights[1] > 2  # wrapped
    assert index.heights[2] == 2
    assert_consistent(index, store)
    wide = index.heights[1]
    index.sync(200)  # reflow at another width
    assert index.heights[1] < wide
    assert_consistent(index, store)


def test_appends_and_edits_are_incremental() -> None:
    router = make_router()
    for i in range(1, 51):
        route(router, i, f"line {i}", minute=i)
    index, store = index_for(router)
    index.sync(80)
    generation = index.generation
    for i in range(51, 61):
        route(router, i, f"line {i}", minute=i)
    result = index.sync(80)
    assert (result.appended, result.rebuilt) == (10, False)
    assert index.generation == generation
    before = list(index.offsets)
    store.edit(5, LONG)
    result = index.sync(80)
    assert not result.rebuilt
    grew = index.heights[4] - 1
    assert grew > 0
    assert list(index.offsets[:5]) == before[:5]
    assert [o - grew for o in index.offsets[5:]] == before[5:]
    assert_consistent(index, store)


def test_rename_and_history_above_rebuild() -> None:
    router = make_router()
    for i in range(10, 20):
        route(router, i, "x", minute=i)
    index, store = index_for(router)
    index.sync(80)
    router.add_users([{"id": "2", "nick": "alice-with-a-longer-nick"}])
    assert index.sync(80).rebuilt
    router.merge_history(KEY, [parse_event({**_raw(1), "content": LONG})])
    assert index.sync(80).rebuilt
    assert_consistent(index, store)


def _raw(mid: int) -> dict[str, Any]:
    return {"event": "message", "id": mid, "flow": FLOW, "user": "2", "sent": T0, "tags": []}


def test_dropped_messages_leave_a_consistent_index() -> None:
    router = make_router(cap=30)
    for i in range(1, 31):
        route(router, i, LONG if i % 3 else "short", minute=i)
    index, store = index_for(router)
    index.sync(70)
    for i in range(31, 41):
        route(router, i, "new", minute=i + 24 * 60)
    result = index.sync(70)
    assert not result.rebuilt and result.appended == 10
    assert len(index) == 30
    assert index.ctxs[0].day_sep  # the new first line has nothing above it
    assert_consistent(index, store)


def test_long_conversation_is_measured_lazily_to_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = make_router()
    n = LAZY_AFTER + LAZY_CHUNK + 5  # two chunks after the first phase
    for i in range(1, n + 1):
        route(router, i, LONG if i % 7 == 0 else "short", minute=i // 30)
    index, store = index_for(router)
    assert index.sync(60).rebuilt
    assert not index.complete
    assert all(h == 1 for h in index.heights[: index.lazy_end])  # estimated
    chunks = 0
    while index.measure_chunk():
        chunks += 1
    assert index.complete and chunks >= 1
    assert_consistent(index, store)
    # The same store measured eagerly gives the same index.
    monkeypatch.setattr(line_index_module, "LAZY_AFTER", sys.maxsize)
    eager = LineIndex(store, router, LineLayout(router))
    eager.sync(60)
    assert eager.complete
    assert eager.heights == index.heights and list(eager.offsets) == list(index.offsets)


def test_the_index_does_not_import_textual() -> None:
    import subprocess

    code = (
        "import sys, flowview.model.line_index, flowview.model.line_layout\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual')\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def eager_index(router: Router, store: ConversationStore, width: int) -> LineIndex:
    """A from-scratch index of `store` measured line by line (no lazy phase)."""
    eager = LineIndex(store, router, LineLayout(router))
    lazy_after = line_index_module.LAZY_AFTER
    line_index_module.LAZY_AFTER = sys.maxsize  # type: ignore[misc]
    try:
        eager.sync(width)
    finally:
        line_index_module.LAZY_AFTER = lazy_after  # type: ignore[misc]
    return eager


def measure_calls(index: LineIndex, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Seqs of the messages `index` measures from now on."""
    measured: list[int] = []
    real = index.layout.measure

    def measure(message: Any, context: Any, width: int) -> int:
        measured.append(message.seq)
        return real(message, context, width)

    monkeypatch.setattr(index.layout, "measure", measure)
    return measured


@pytest.mark.parametrize("cap", [10_000, 2_500])  # 2,500: the store drops during the bursts
def test_a_burst_measures_its_newest_lines_and_estimates_the_rest_until_measured(
    cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = make_router(cap)
    for i in range(1, 201):
        route(router, i, LONG if i % 7 == 0 else "short", minute=i // 30)
    index, store = index_for(router)
    index.sync(60)
    assert index.complete
    measured = measure_calls(index, monkeypatch)
    mid = 201
    for burst in (1500, 1200):  # two bursts, the second before the first is measured
        for i in range(mid, mid + burst):
            route(router, i, LONG if i % 5 == 0 else "short", minute=i // 30)
        mid += burst
        result = index.sync(60)
        assert result.appended == min(burst, cap) and not result.rebuilt
        assert not index.complete
        newest = {m.seq for m in store.messages[-LAZY_BURST_TAIL:]}
        assert newest <= set(measured)  # what a following view shows is measured
        assert len(measured) <= LAZY_BURST_TAIL + 1  # not the burst's older lines, nor the 200
        assert len(measured) < LAZY_TAIL  # each repaint of a burst: a few screens, not a tab's
        n = len(store)
        burst_estimated = range(n - result.appended, n - LAZY_BURST_TAIL)
        assert all(index.heights[i] == 1 and index.estimated(i) for i in burst_estimated)
        assert index.seqs == [m.seq for m in store.messages] and index.total == sum(index.heights)
        measured.clear()
    while index.measure_chunk():
        pass
    assert index.complete
    assert_consistent(index, store)
    eager = eager_index(router, store, 60)
    assert index.ctxs == eager.ctxs and index.heights == eager.heights
    assert list(index.offsets) == list(eager.offsets)


def test_an_edit_of_an_estimated_line_is_measured_with_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = make_router()
    route(router, 1, "short")
    index, store = index_for(router)
    index.sync(60)
    for i in range(2, 2 + LAZY_BURST_TAIL + 50):
        route(router, i, "short")
    index.sync(60)
    edit = {"event": "message-edit", "flow": FLOW, "user": "2", "id": 9000, "content": {}}
    edit["content"] = {"message": 3, "updated_content": LONG}
    router.route(parse_event(edit))
    index.sync(60)  # the edited line is estimated: left for measure_chunk
    assert index.estimated(store.index_of(store.get(3).seq))  # type: ignore[union-attr,arg-type]
    while index.measure_chunk():
        pass
    assert_consistent(index, store)
    assert index.heights == eager_index(router, store, 60).heights


def test_an_index_behind_its_trimmed_store_refuses_to_measure_until_synced() -> None:
    # The memory budget trims a store between a flush and the view's next lazy chunk: the
    # index's positions are then not the store's.  Measuring anyway measured the wrong lines
    # (or ran off the end: IndexError in the day bench); now it says so, and a sync fixes it.
    router = make_router()
    n = LAZY_AFTER + LAZY_CHUNK + 5
    for i in range(1, n + 1):
        route(router, i, LONG if i % 7 == 0 else "short", minute=i // 30)
    index, store = index_for(router)
    index.sync(60)
    assert not index.complete and not index.behind()
    store.trim_oldest(LAZY_TAIL // 2)  # fewer lines left than the index's estimated span
    assert index.behind()
    with pytest.raises(ValueError, match="behind"):
        index.measure_chunk()
    index.sync(60)
    assert not index.behind()
    while index.measure_chunk():
        pass
    assert_consistent(index, store)
    assert index.heights == eager_index(router, store, 60).heights
