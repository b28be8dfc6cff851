"""A connection's life is one state with a table of allowed transitions (connection.py)."""

from __future__ import annotations

from typing import Any

import pytest

from flowview.protocol.auth import Token
from flowview.protocol.client import StreamClient, StreamConfig
from flowview.protocol.connection import Activity, Connection, IllegalTransition, Phase


def make(candidate: bool = False) -> tuple[StreamClient, Connection]:
    client = StreamClient(
        StreamConfig("http://127.0.0.1:9/", Token("t0ken-value"), flows=("org/f1",))
    )
    return client, Connection(client._wiring, client.config, resume=False, candidate=candidate)


async def test_the_normal_life_and_the_switch() -> None:
    client, conn = make()
    assert conn.phase is Phase.CONNECTING and not conn.live.is_set()
    conn.to(Phase.LIVE)
    assert conn.live.is_set() and not conn.is_retiring()
    conn.to(Phase.DRAINING)
    assert conn.is_retiring()
    conn.to(Phase.LIVE)  # the switch failed: still in use
    conn.to(Phase.DRAINING)
    conn.to(Phase.RETIRING)
    conn.to(Phase.ENDED)
    _, cand = make(candidate=True)
    cand.to(Phase.PROBATION)
    assert cand.probation and cand.live.is_set() and not cand.go.is_set()
    cand.to(Phase.LIVE)
    assert cand.go.is_set() and not cand.probation
    await client.aclose()


IMPOSSIBLE: list[tuple[list[Phase], Phase]] = [
    ([], Phase.DRAINING),  # draining a connection that never went live
    ([], Phase.RETIRING),
    ([Phase.PROBATION], Phase.DRAINING),  # a candidate cannot be drained
    ([Phase.PROBATION], Phase.RETIRING),
    ([Phase.LIVE], Phase.PROBATION),  # probation is only for new candidates
    ([Phase.LIVE, Phase.RETIRING], Phase.LIVE),  # retired means gone
    ([Phase.LIVE, Phase.ENDED], Phase.LIVE),
]


@pytest.mark.parametrize("path,target", IMPOSSIBLE)
async def test_impossible_transitions_raise(path: list[Phase], target: Phase) -> None:
    client, conn = make(candidate=bool(path) and path[0] is Phase.PROBATION)
    for phase in path:
        conn.to(phase)
    with pytest.raises(IllegalTransition):
        conn.to(target)
    await client.aclose()


async def test_activity_table() -> None:
    client, conn = make()
    conn.doing(Activity.EMITTING)
    conn.doing(Activity.BLOCKED)
    conn.doing(Activity.EMITTING)
    conn.doing(Activity.READING)
    bad: Any = Activity.BLOCKED
    with pytest.raises(IllegalTransition):
        conn.doing(bad)  # blocked on the consumer without handing anything over
    await client.aclose()
