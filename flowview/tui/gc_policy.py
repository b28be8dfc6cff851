"""Keeps the cyclic garbage collector's full collections short, and memory bounded.

A full (generation 2) collection walks every tracked object, and every stored message is one:
with the stores filling up, Python's automatic full collections paused the app for 60-110 ms
(tens of thousands of messages) and more with 100,000, several times a minute under a busy
stream.  Right after a full collection every object still tracked is reachable, so freezing
them (``gc.freeze``) loses nothing, and the next automatic full collection walks only what was
allocated since.

What a freeze must not catch is a *transient* object: a toast, a dialog, a palette.  Frozen,
it is never collected once dismissed (issue 8 measured 290 MB -> 460 MB this way).  So:

- the automatic freeze after a full collection happens only when the host says nothing
  transient is alive (`can_freeze`: only the main screen, no toast);
- a complete collection (``unfreeze`` + ``collect``, the survivors frozen again by the same
  rule) runs every `full_every` seconds on a timer, whether or not the user is typing: what a
  freeze did catch is reclaimed within that period.

A complete collection also runs early, at the next tick, once the frozen generation has grown
by FROZEN_GROWTH objects since the last one.  What grows it is mostly short-lived: paging through
history renders rows whose Textual strips cache themselves (a cycle only the collector frees),
and the log's row cache, caught by a freeze, dies a second later.  Measured in the day-of-
scrolling bench: 120,000 such objects (15 MB) frozen in the first 35 s, and the peak RSS rose
with each 120 s wait.  In quiet use the frozen generation hardly grows and the schedule stays
`full_every`.

Every tick (and so before each complete collection) the host's `release` hook drops caches
that pin dead objects (tui/textual_caches.py: Textual memoises a method on widget instances,
and a tab switch or a closed dialog leaves entries behind; that memo was the soak's RSS creep).
After each complete collection the C allocator is asked to give its free pages back (glibc's
``malloc_trim``): trimming the stores frees messages all over the heap.  It made no measurable
difference in the soak; it costs one call every `full_every` seconds.

Also: the youngest generation is collected every GEN0_THRESHOLD allocations instead of 700,
so the short-lived objects of a replay burst (parsed JSON) mostly die before a collection
and are never promoted (measured: 20-60 ms of collections per 10,000-event burst -> 5-10 ms).

During a replay burst (`defer_young` .. `resume_young`, the stream pump's hold) young
collections wait: a burst's objects are nearly all alive until it is over (stored messages,
and the events held for the archive), so each of the 8-9 young collections of a 10,000-event
burst walked 10,000 objects that survived anyway (about 60 ms of the burst).  After it, one
young collection walks what is still alive then, after the last lines are painted (about 6 ms
without the archive; about 30 ms in the app, whose writer still holds the events).  Bounded:
while deferred a young collection still runs every BURST_GEN0_THRESHOLD allocations, and the
pump's hold lasts at most HOLD_SECONDS.

Its life is one :class:`GcPhase` with a table of allowed moves.
"""

from __future__ import annotations

import ctypes
import enum
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = ["GcPhase", "GcPolicy", "IllegalGcMove"]


class IllegalGcMove(RuntimeError):
    """The policy was asked for a move its table does not allow (a bug)."""


class GcPhase(enum.Enum):
    OFF = "off"  # not installed: the interpreter's own thresholds
    RUNNING = "running"  # installed: young collections every GEN0_THRESHOLD allocations
    DEFERRED = "deferred"  # installed, in a burst: every BURST_GEN0_THRESHOLD allocations


_MOVES: dict[GcPhase, frozenset[GcPhase]] = {
    GcPhase.OFF: frozenset({GcPhase.RUNNING}),
    GcPhase.RUNNING: frozenset({GcPhase.OFF, GcPhase.DEFERRED}),
    GcPhase.DEFERRED: frozenset({GcPhase.OFF, GcPhase.RUNNING}),
}


def _always() -> bool:
    return True


def malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)`` (free pages of every arena back to the system), or None
    where the C library has none."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        log.debug("no malloc_trim in this C library: freed pages stay with the process")
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class GcPolicy:
    """Install once per app; `tick()` from a periodic timer."""

    GEN0_THRESHOLD = 10_000
    # A 10,000-event burst leaves over 200,000 container allocations (bench_burst_inproc.py);
    # 20,000 events at most are held (stream_pump.HOLD_MAX_EVENTS).  Past this one runs.
    BURST_GEN0_THRESHOLD = 500_000
    # Objects frozen since the last complete collection that make the next one due at once
    # (about 3 MB of strips; a complete collection walks ~150,000-300,000 objects in the app).
    FROZEN_GROWTH = 25_000

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        full_every: float = 120.0,
        can_freeze: Callable[[], bool] = _always,
        trim: Callable[[], object] | None = None,
        release: Callable[[], object] | None = None,
    ) -> None:
        self.clock = clock
        self.release = release  # every tick, so also before each complete collection
        self.trim = trim  # after each complete collection (see `malloc_trim`)
        self.full_every = full_every
        self.can_freeze = can_freeze
        self.last_full = clock()
        self.freezes = 0
        self.full_collections = 0
        self.early_collections = 0  # complete collections made due by FROZEN_GROWTH
        self.last_full_seconds = 0.0  # how long the last complete collection took
        self.deferrals = 0
        # gc.get_freeze_count() after the last complete collection, or after the first freeze
        # (start-up's objects: a baseline, not growth); None until something is frozen.
        self._frozen_base: int | None = None
        self.phase = GcPhase.OFF
        self._thresholds: tuple[int, int, int] | None = None

    @property
    def installed(self) -> bool:
        return self.phase is not GcPhase.OFF

    def _move(self, phase: GcPhase) -> None:
        if phase not in _MOVES[self.phase]:
            raise IllegalGcMove(f"gc policy cannot go from {self.phase.name} to {phase.name}")
        self.phase = phase

    def _set_gen0(self, threshold: int) -> None:
        assert self._thresholds is not None
        gc.set_threshold(threshold, *self._thresholds[1:])

    def install(self) -> None:
        if self.phase is GcPhase.OFF:
            gc.callbacks.append(self._after_collection)
            self._thresholds = gc.get_threshold()
            self._set_gen0(self.GEN0_THRESHOLD)
            self._move(GcPhase.RUNNING)

    def uninstall(self) -> None:
        if self.phase is not GcPhase.OFF:
            gc.callbacks.remove(self._after_collection)
            if self._thresholds is not None:
                gc.set_threshold(*self._thresholds)
            self._move(GcPhase.OFF)
            gc.unfreeze()  # hand everything back to the collector

    def defer_young(self) -> None:
        """A burst begins: young collections wait for `resume_young` (bounded, see the
        module docstring).  Nothing happens unless installed and running."""
        if self.phase is GcPhase.RUNNING:
            self._set_gen0(self.BURST_GEN0_THRESHOLD)
            self._move(GcPhase.DEFERRED)
            self.deferrals += 1

    def burst(self, on: bool) -> None:
        """The stream pump's `on_burst`: `defer_young` when a burst begins, `resume_young`
        when it is over."""
        if on:
            self.defer_young()
        else:
            self.resume_young()

    def resume_young(self) -> None:
        """The burst is over: the usual threshold again, so the young collection that waited
        runs at the next allocation, once."""
        if self.phase is GcPhase.DEFERRED:
            self._set_gen0(self.GEN0_THRESHOLD)
            self._move(GcPhase.RUNNING)

    def freeze_now(self) -> bool:
        """Freeze what exists now (start-up's long-lived objects), if nothing transient is."""
        if self.installed and self._may_freeze():
            self._freeze()
            return True
        return False

    def _may_freeze(self) -> bool:
        try:
            return self.can_freeze()
        except Exception:
            log.exception("can_freeze failed; not freezing")
            return False

    def _after_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info.get("generation") == 2 and self._may_freeze():
            self._freeze()

    def _freeze(self) -> None:
        gc.freeze()
        self.freezes += 1
        if self._frozen_base is None:
            self._frozen_base = gc.get_freeze_count()

    def tick(self) -> bool:
        """Release the pinning caches; then the complete collection, when `full_every` seconds
        have passed since the last or the frozen generation grew by FROZEN_GROWTH."""
        if not self.installed:
            return False
        if self.release is not None:
            self.release()
        now = self.clock()
        base = self._frozen_base
        grown = base is not None and gc.get_freeze_count() - base >= self.FROZEN_GROWTH
        scheduled = now - self.last_full >= self.full_every
        if not (scheduled or grown):
            return False
        if not scheduled:
            self.early_collections += 1
        self.last_full = now
        started = time.perf_counter()  # a measurement (stats, benches), not a delay
        gc.unfreeze()
        found = gc.collect()  # the callback freezes the survivors again, if allowed
        self.last_full_seconds = time.perf_counter() - started
        self._frozen_base = gc.get_freeze_count() or None  # 0: nothing frozen this time
        self.full_collections += 1
        if self.trim is not None:
            self.trim()
        log.debug(
            "complete collection: %d unreachable objects, %.1f ms",
            found,
            self.last_full_seconds * 1000,
        )
        return True
