"""Issue 8's proof: a seeded chaos run loses nothing silently (see tests/protocol/chaos.py).

The seed is printed; rerun a failure with FLOWVIEW_CHAOS_SEED=<seed>.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.protocol.chaos import run_chaos
from tests.protocol.conftest import EnvFactory

pytestmark = [pytest.mark.timeout(60), pytest.mark.looptime]


async def test_chaos_no_silent_loss(make_env: EnvFactory) -> None:
    seed = int(os.environ.get("FLOWVIEW_CHAOS_SEED") or random.randrange(1 << 32))
    print(f"FLOWVIEW_CHAOS_SEED={seed}")
    async with make_env(replay=20, seed=seed % 1000) as env:
        report = await run_chaos(env, seed, rounds=14)
    for client in report.clients:
        assert client.delivered > 0
        assert not client.missing_unreported, (seed, client.missing_unreported[:10])
        assert not client.duplicates, (seed, client.duplicates[:10])
        assert not client.out_of_order, (seed, client.out_of_order[:10])
