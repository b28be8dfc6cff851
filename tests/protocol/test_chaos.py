"""Issue 8's proof: a seeded chaos run loses nothing silently (see tests/protocol/chaos.py).

The seed is printed; rerun a failure with FLOWVIEW_CHAOS_SEED=<seed>.
"""

from __future__ import annotations

import os
import random

import pytest

from flowview.protocol.urls import Presence
from tests.protocol.chaos import (
    PRESENCES,
    REAL_TIME,
    ChaosReport,
    in_process_subjects,
    run_chaos,
    tail_seen,
    tail_subjects,
)
from tests.protocol.harness import EnvFactory


def _seed() -> int:
    seed = int(os.environ.get("FLOWVIEW_CHAOS_SEED") or random.randrange(1 << 32))
    print(f"FLOWVIEW_CHAOS_SEED={seed}")
    return seed


def _check(report: ChaosReport, names: set[str]) -> None:
    seed = report.seed
    assert {c.name for c in report.clients} == names
    for client in report.clients:
        assert client.delivered > 0, (seed, client.name)
        assert not client.missing_unreported, (seed, client.name, client.missing_unreported[:10])
        assert not client.duplicates, (seed, client.name, client.duplicates[:10])
        assert not client.out_of_order, (seed, client.name, client.out_of_order[:10])


@pytest.mark.looptime
@pytest.mark.timeout(60)
@pytest.mark.parametrize("presence", PRESENCES)
async def test_chaos_no_silent_loss(make_env: EnvFactory, presence: Presence) -> None:
    """StreamClients (JSON raw, SSE) and the viewer's store, on virtual time: every fault
    kind, with Retry-After and back-off waits of any length, costs no real time.  Appearing
    offline, a silent flow's first message during an outage is the first the subjects
    could know of that flow (see chaos.PRESENCES)."""
    seed = _seed()
    # Keep-alives every 1 s: each one is a step for the virtual clock to take.
    async with make_env(replay=20, seed=seed % 1000, keepalive=1.0, flows=6) as env:
        report = await run_chaos(env, seed, rounds=14, subjects=in_process_subjects(presence))
    _check(report, {"json", "sse", "store"})


@pytest.mark.looptime
@pytest.mark.timeout(60)
async def test_chaos_reconfigure_converges_past_a_rounding_remainder(
    make_env: EnvFactory,
) -> None:
    """Seed 455296541 (offline): a follower's reconfigure reached StreamClient._converge
    with the old connection's quiet time 8.9e-16 s away; that sleep did not move the virtual
    clock, so the loop spun forever at one instant (the test hung).  Waits now have a floor."""
    seed = 455296541
    async with make_env(replay=20, seed=seed % 1000, keepalive=1.0, flows=6) as env:
        report = await run_chaos(env, seed, rounds=14, subjects=in_process_subjects("offline"))
    _check(report, {"json", "sse", "store"})


# Real time: `flowview tail` is another process with its own event loop and clock, which
# looptime cannot reach; the schedule keeps its waits short instead (REAL_TIME profile).
@pytest.mark.timeout(90)
@pytest.mark.parametrize("presence", PRESENCES)
async def test_chaos_tail_processes_no_silent_loss(
    make_env: EnvFactory, presence: Presence
) -> None:
    seed = _seed()
    async with make_env(replay=20, seed=seed % 1000, keepalive=0.5, flows=6) as env:
        report = await run_chaos(
            env,
            seed,
            rounds=6,
            subjects=tail_subjects(presence),
            profile=REAL_TIME,
            settle=40.0,
        )
    _check(report, {"tail-json", "tail-sse"})


def test_tail_output_is_read_back_with_its_gap_lines() -> None:
    """The reading of tail's output the chaos run relies on (a flow id, a private
    conversation "a:b", "(start)", and the comma after the id in "gap filled" lines)."""
    out = [
        {"event": "message", "id": 3, "flow": "f1"},
        {"event": "message", "id": 9, "user": "7", "to": "1"},
        {"event": "activity.user", "id": 4, "flow": "f1"},
    ]
    err = [
        "flowview: live",
        "flowview: gap: flow f1: messages after id 3 may be missing (HTTP 500); still fetching",
        "flowview: gap: private conversation 1:7: messages after id (start) may be missing (x)",
        "flowview: gap filled: flow f1: after id 3, 2 message(s) recovered",
    ]
    seen = tail_seen(out, err)
    assert seen.ids == {("flow", "f1"): [3], ("private", "1:7"): [9]}
    assert seen.open_gaps == {("private", "1:7"): None}
