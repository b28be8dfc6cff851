"""The garbage-collector policy: it freezes the survivors of full collections and still reclaims
frozen objects that later became garbage, on a schedule; it never freezes what is transient; it
gives freed pages back and releases the caches that pin dead widgets; its burst deferral (young
collections wait while a burst is held, bounded, and the one that waited runs when it is over);
its phases follow one table."""

from __future__ import annotations

import gc
import platform
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from flowview.server.runner import ServerThread
from flowview.tui.app import FlowviewApp
from flowview.tui.gc_policy import GcPhase, GcPolicy, IllegalGcMove, malloc_trim
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


def test_gc_policy_reclaims_frozen_garbage_on_schedule_even_while_typing() -> None:
    now = [0.0]
    thresholds = gc.get_threshold()
    policy = GcPolicy(lambda: now[0], full_every=120.0)
    policy.install()
    try:
        assert gc.get_threshold()[0] == GcPolicy.GEN0_THRESHOLD
        node = _Node()
        alive = weakref.ref(node)
        gc.collect()  # a full collection: the survivors (node among them) are frozen
        assert gc.get_freeze_count() > 0 and policy.freezes >= 1
        del node
        gc.collect()
        assert alive() is not None  # frozen: full collections no longer walk it
        assert not policy.tick()  # not due yet
        now[0] += 120
        # Due: runs whatever the user does (the old policy waited for 60 s without a key).
        assert policy.tick()
        assert alive() is None  # the complete collection reclaimed it
        assert gc.get_freeze_count() > 0  # and froze the survivors again
    finally:
        policy.uninstall()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds


def test_gc_policy_collects_early_once_the_frozen_generation_has_grown() -> None:
    now = [0.0]
    policy = GcPolicy(lambda: now[0], full_every=120.0)
    policy.FROZEN_GROWTH = 1_000
    policy.install()
    try:
        assert policy.freeze_now()  # start-up's objects: a baseline, not growth
        now[0] += 15
        assert not policy.tick() and policy.full_collections == 0
        nodes = [_Node() for _ in range(2_000)]
        alive = weakref.ref(nodes[0])
        gc.collect()  # a full collection: the survivors (the nodes among them) are frozen
        del nodes
        gc.collect()
        assert alive() is not None  # frozen garbage: full collections no longer walk it
        now[0] += 15
        assert policy.tick()  # grown by 2,000 frozen objects: due long before full_every
        assert alive() is None
        assert policy.early_collections == 1 and policy.full_collections == 1
        now[0] += 15
        assert not policy.tick()  # what survived it is the new baseline
    finally:
        policy.uninstall()


def test_gc_policy_gives_freed_pages_back_after_each_complete_collection() -> None:
    now = [0.0]
    trims: list[float] = []
    policy = GcPolicy(lambda: now[0], full_every=120.0, trim=lambda: trims.append(now[0]))
    policy.install()
    try:
        assert not policy.tick() and trims == []  # not due: no collection, no trim
        now[0] += 120
        assert policy.tick() and trims == [120.0]
        now[0] += 60
        assert not policy.tick() and trims == [120.0]
    finally:
        policy.uninstall()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)
def test_malloc_trim_is_found_and_callable_on_glibc() -> None:
    trim = malloc_trim()
    assert trim is not None
    trim()  # returns whether memory was released; either answer is fine
    assert FlowviewApp(None, None).gc_policy.trim is not None  # the app uses it


def test_gc_policy_never_freezes_while_something_transient_is_alive() -> None:
    transient = [True]
    policy = GcPolicy(lambda: 0.0, can_freeze=lambda: not transient[0])
    policy.install()
    try:
        toast = _Node()  # stands for a toast or a dialog that is shown now
        alive = weakref.ref(toast)
        gc.collect()
        assert gc.get_freeze_count() == 0 and policy.freezes == 0
        assert not policy.freeze_now()
        del toast  # dismissed
        transient[0] = False
        gc.collect()
        assert alive() is None  # never frozen, so collected as soon as it is garbage
        assert policy.freezes >= 1  # with nothing transient left, survivors are frozen
    finally:
        policy.uninstall()


def test_gc_policy_releases_pinning_caches_every_tick_and_before_collecting() -> None:
    now = [0.0]
    pinned: list[Any] = []  # stands for Textual's memo that holds dead widgets' caches
    calls: list[str] = []

    def release() -> None:
        calls.append("release")
        pinned.clear()

    policy = GcPolicy(lambda: now[0], full_every=120.0, release=release)
    policy.install()
    try:
        node = _Node()
        alive = weakref.ref(node)
        pinned.append(node)
        del node
        assert not policy.tick() and calls == ["release"]  # every tick releases
        assert alive() is not None  # a cycle: only a collection frees it (none was due)
        pinned.append(alive())
        now[0] += 120
        assert policy.tick() and calls == ["release"] * 2
        # Released first, then collected in the same complete collection.
        assert alive() is None
    finally:
        policy.uninstall()


def _styles_caches() -> int:
    from textual._styles_cache import StylesCache

    gc.collect()
    gc.unfreeze()  # the app's GcPolicy froze the survivors, and get_objects skips those
    return sum(1 for obj in gc.get_objects() if type(obj) is StylesCache)


async def test_closed_overlay_screens_leave_no_widget_caches_behind(
    server: ServerThread,
) -> None:
    # Textual memoises StylesCache.get_inner_outer on the instance (tui/textual_caches.py):
    # without the release, each help screen opened and closed left its widgets' styles
    # caches (and their rendered lines) alive, ~30 per key cycle up to 1,024 of them.
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_live(pilot, app)
        for _ in range(2):  # warm up: everything a first opening creates for good
            await pilot.press("f1")
            await pilot.pause()
            app.export_screenshot()
            await pilot.press("escape")
            await pilot.pause()
        before = _styles_caches()
        for _ in range(8):
            await pilot.press("f1")
            await pilot.pause()
            assert app.screen is not app.main
            app.export_screenshot()  # renders every widget of the help screen now
            await pilot.press("escape")
            await pilot.pause()
        after = _styles_caches()
        # Without the release: +8 help screens' worth (each has several widgets).
        assert after <= before + 2, (before, after)
