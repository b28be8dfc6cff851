"""Long loss-accounting chaos run (issue 8 "Proof"); the short one is tests/protocol/test_chaos.py.

Runs several seeded chaos rounds against the project's server (in this process) with two
StreamClients (JSON in raw mode as `flowview tail` uses it, and SSE) and prints, per seed,
what each client delivered, its reconnects and gaps, and any silent loss, duplicate or
ordering fault.  Exit status 1 if any seed failed.

Run:  uv run python bench/bench_chaos.py [--seeds 5] [--rounds 200] [--seed N] [--replay 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.protocol.chaos import run_chaos
from tests.protocol.conftest import _env


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds to run")
    parser.add_argument("--seed", type=int, help="first seed (default: random)")
    parser.add_argument("--rounds", type=int, default=200, help="fault rounds per seed")
    parser.add_argument("--replay", type=int, default=20, help="server replay buffer per flow")
    args = parser.parse_args(argv)
    logging.getLogger("flowview.server").setLevel(logging.ERROR)  # one line per fault otherwise
    first = args.seed if args.seed is not None else random.randrange(1 << 32)
    failed = 0
    for seed in range(first, first + args.seeds):
        started = time.monotonic()
        async with _env(replay=args.replay, seed=seed % 1000) as env:
            report = await run_chaos(env, seed, args.rounds, settle=60.0)
        print(
            f"  seed {seed}: {time.monotonic() - started:.1f} s, faults "
            f"{len(report.faults)}, published {report.published}"
        )
        failed += not report.ok
    print("all seeds ok" if not failed else f"{failed} seed(s) FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
