"""Long loss-accounting chaos run (issue 8 "Proof"); the short one is tests/protocol/test_chaos.py.

Runs seeded chaos rounds against the project's server (in this process) and prints, per seed,
what each subject delivered, its reconnects and gaps, and any silent loss, duplicate or
ordering fault.  Exit status 1 if any seed failed.

Subjects: two StreamClients (JSON in raw mode as `flowview tail` uses it, and SSE) and the
viewer's store (a Router fed through the app's StreamPump), each following all flows with a
FlowFollower, so flows created and joined during outages are expected from them; with --tail,
`flowview tail` processes in both content types instead (real time: short waits, fewer rounds
make sense; tail's flows are fixed, so joined flows are reported as "not followed").
The in-process run uses looptime's virtual clock, so Retry-After and back-off waits of
minutes take no real time.

Each seed runs once with the subjects appearing active and once offline (--presence).

Run:  uv run python bench/bench_chaos.py [--seeds 3] [--rounds 200] [--seed N] [--replay 20]
      uv run python bench/bench_chaos.py --tail --rounds 40
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

from looptime import LoopTimeEventLoop

from flowview.protocol.urls import Presence
from tests.protocol.chaos import (
    PRESENCES,
    REAL_TIME,
    ChaosReport,
    in_process_subjects,
    run_chaos,
    tail_subjects,
)
from tests.protocol.harness import open_env

log = logging.getLogger(__name__)


class _VirtualLoop(LoopTimeEventLoop, asyncio.SelectorEventLoop):
    """asyncio's loop on looptime's virtual clock."""


async def one_seed(seed: int, presence: Presence, args: argparse.Namespace) -> ChaosReport:
    # A third of the flows stay silent until an outage brings their first message; each user
    # is a stranger until an outage (or traffic) brings a first private message.
    options = {"flows": args.flows, "users": args.users}
    async with open_env(replay=args.replay, seed=seed % 1000, keepalive=1.0, **options) as env:
        if args.tail:
            return await run_chaos(
                env,
                seed,
                args.rounds,
                subjects=tail_subjects(presence),
                profile=REAL_TIME,
                settle=120.0,
            )
        # Virtual time: an hour for clients whose back-off grew to minutes in the storm.
        return await run_chaos(
            env, seed, args.rounds, subjects=in_process_subjects(presence), settle=3600.0
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds to run")
    parser.add_argument("--seed", type=int, help="first seed (default: random)")
    parser.add_argument("--rounds", type=int, default=200, help="fault rounds per seed")
    parser.add_argument("--replay", type=int, default=20, help="server replay buffer per flow")
    parser.add_argument("--flows", type=int, default=12, help="flows of the streaming user")
    parser.add_argument("--users", type=int, default=16, help="other users")
    parser.add_argument("--tail", action="store_true", help="flowview tail processes instead")
    parser.add_argument(
        "--presence",
        choices=(*PRESENCES, "both"),
        default="both",
        help="how the subjects appear (offline: no activity events, so a silent flow is "
        "unseen until its first message); both: each seed once each way",
    )
    args = parser.parse_args(argv)
    logging.getLogger("flowview").setLevel(logging.ERROR)  # one line per fault otherwise
    first = args.seed if args.seed is not None else random.randrange(1 << 32)
    presences: tuple[Presence, ...] = PRESENCES if args.presence == "both" else (args.presence,)
    failed = runs = 0
    for seed in range(first, first + args.seeds):
        for presence in presences:
            started = time.monotonic()
            loop = asyncio.new_event_loop() if args.tail else _VirtualLoop()
            try:
                report = loop.run_until_complete(one_seed(seed, presence, args))
            finally:
                loop.close()
            print(
                f"  seed {seed} ({presence}): {time.monotonic() - started:.1f} s real, faults "
                f"{len(report.faults)}, published {report.published}"
            )
            runs += 1
            failed += not report.ok
    print(f"all {runs} runs ok" if not failed else f"{failed} of {runs} run(s) FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
