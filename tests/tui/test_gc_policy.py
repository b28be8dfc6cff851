"""The GC policy's burst deferral: young collections wait while a burst is held, bounded, and
the one that waited runs when it is over; its phases follow one table."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from flowview.server.runner import ServerThread
from flowview.tui.gc_policy import GcPhase, GcPolicy, IllegalGcMove
from tests.helpers import wait_until
from tests.tui.app_driver import SIZE, make_app, wait_live
from tests.tui.apphttp import http

pytestmark = pytest.mark.timeout(60)


class _Node:
    def __init__(self) -> None:
        self.other: object = self  # a cycle: only the collector frees it


@pytest.fixture
def young_collections() -> Iterator[list[int]]:
    """Generations of the collections that run while the test does (gc.callbacks)."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            seen.append(info["generation"])

    gc.collect()
    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)


def test_a_deferred_policy_collects_young_only_past_the_burst_bound_then_once_after(
    young_collections: list[int],
) -> None:
    policy = GcPolicy(lambda: 0.0, can_freeze=lambda: False)
    policy.BURST_GEN0_THRESHOLD = 50_000
    thresholds = gc.get_threshold()
    policy.install()
    try:
        policy.burst(True)
        assert policy.phase is GcPhase.DEFERRED and policy.deferrals == 1
        assert gc.get_threshold() == (50_000, *thresholds[1:])
        kept: list[list[int]] = [
            [] for _ in range(30_000)
        ]  # 30,000 container allocations that stay alive
        assert young_collections == []  # under GEN0_THRESHOLD's 10,000 they would collect
        more: list[list[int]] = [
            [] for _ in range(30_000)
        ]  # past the burst bound: a collection still runs
        assert young_collections.count(0) == 1
        del young_collections[:]
        extra: list[list[int]] = [[] for _ in range(20_000)]  # 20,000 more: waiting again
        assert young_collections == []
        policy.burst(False)
        # The young collection that waited, at once and once.
        assert young_collections == [0]
        assert policy.phase.name == "RUNNING"
        assert gc.get_threshold() == (GcPolicy.GEN0_THRESHOLD, *thresholds[1:])
        policy.burst(False)  # nothing held: nothing to do
        assert young_collections == [0]
        del kept, more, extra
    finally:
        policy.uninstall()
    assert gc.get_threshold() == thresholds


def test_a_cycle_made_during_a_burst_is_collected_after_it(
    young_collections: list[int],
) -> None:
    policy = GcPolicy(lambda: 0.0, can_freeze=lambda: False)
    policy.install()
    try:
        policy.burst(True)
        import weakref

        node = _Node()
        alive = weakref.ref(node)
        del node
        padding: list[list[int]] = [[] for _ in range(GcPolicy.GEN0_THRESHOLD * 2)]
        assert alive() is not None  # deferred
        policy.burst(False)
        assert alive() is None
        del padding
    finally:
        policy.uninstall()


def test_the_policy_defers_only_while_installed_and_its_moves_follow_the_table() -> None:
    policy = GcPolicy(lambda: 0.0)
    thresholds = gc.get_threshold()
    policy.burst(True)  # not installed: the interpreter's thresholds stay
    assert policy.phase is GcPhase.OFF and gc.get_threshold() == thresholds
    policy.install()
    try:
        policy.burst(True)
        policy.burst(True)  # already deferred: once
        assert policy.deferrals == 1
        with pytest.raises(IllegalGcMove):
            policy._move(GcPhase.DEFERRED)
    finally:
        policy.uninstall()  # from DEFERRED too
    assert policy.phase is GcPhase.OFF and gc.get_threshold() == thresholds
    with pytest.raises(IllegalGcMove):
        policy._move(GcPhase.DEFERRED)


async def test_the_app_defers_young_collections_during_a_replay_burst(
    server: ServerThread,
) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        policy = app.gc_policy
        assert policy.phase is GcPhase.RUNNING and policy.deferrals == 0
        response = http(server).post(
            f"{server.base_url}/_sim/burst",
            json={"count": 3000, "flow": "acme/main"},
            headers=server.control_headers,
        )
        response.raise_for_status()
        key = app.main.active_key
        assert key is not None
        store = app.stores()[key]
        await wait_until(pilot, lambda: len(store) >= 3000, timeout=30)
        assert policy.deferrals >= 1
        # over once the burst's events went to the archive (at most HOLD_SECONDS later)
        await wait_until(pilot, lambda: policy.phase is GcPhase.RUNNING, timeout=5)
        assert gc.get_threshold()[0] == GcPolicy.GEN0_THRESHOLD
