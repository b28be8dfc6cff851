"""Routing alone: 10,000 burst-shaped chat lines through the stream pump and the router.

Run: ``uv run python bench/bench_route.py --runs 7``
     ``uv run python bench/bench_route.py --runs 7 --before /tmp/old``  (side by side with
     the flowview package of another tree; rounds alternate which goes first)
     ``... --passes 5``  (each child runs 5 times and reports its fastest)

The app-level burst (bench_app.py) times the whole path, and on a shared machine its figures
spread widely; this one times only the part the pump and the router add per event, in CPU
time of one thread, each run in a fresh process.  The events are built as the server's
``/_sim/burst`` publishes them (each message starts a thread and carries a uuid), decoded
before the clock starts.  Results: bench/results/route-*.json (``--output``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_app import calibrate  # the same loop for every bench: figures compare

ROOT = Path(__file__).resolve().parent.parent
FLOW = "f0000000-0000-0000-0000-000000000001"
WORDS = ["alpha", "bravo", "charlie", "delta", "echo"]
COUNT = 10_000
BATCH = 80  # events per stream batch, as the client hands them over in a replayed burst


def wire(i: int) -> dict[str, Any]:
    mid = 1000 + i
    thread = f"t{i:021d}"
    now = 1_700_000_000_000 + i
    text = f"burst {i + 1}/{COUNT}: {WORDS[i % len(WORDS)]}"
    return {
        "event": "message", "tags": [], "uuid": f"u{i:015d}", "id": mid, "flow": FLOW,
        "content": text, "sent": now, "app": "chat", "created_at": "2026-12-03T10:00:00.000Z",
        "attachments": [], "user": str(2 + i % 7), "thread_id": thread, "emojiReactions": {},
        "thread": {
            "body": "", "external_url": None, "external_comments": 0, "activities": 0,
            "id": thread, "flow": FLOW, "status": None, "fields": [], "actions": [],
            "created_at": now, "title": text, "updated_at": "2026-12-03T10:00:00.000Z",
            "initial_message": mid, "internal_comments": 0, "source": None,
        },
    }  # fmt: skip


def child(passes: int = 1) -> dict[str, Any]:
    """`passes` runs in this process (sys.path[0] is the tree under test), each on freshly
    decoded events into a new router; the fastest is reported (on a shared machine the
    others mostly measure the neighbours)."""
    import gc

    best: dict[str, Any] = {}
    for _ in range(passes):
        got = one_pass()
        if not best or got["cpu_s"] < best["cpu_s"]:
            best = got
        gc.collect()
    return best


def one_pass() -> dict[str, Any]:
    from datetime import UTC, datetime

    import flowview
    from flowview.model.router import Router
    from flowview.protocol.events import parse_event
    from flowview.tui.stream_pump import StreamPump

    events = [parse_event(json.loads(json.dumps(wire(i)))) for i in range(COUNT)]
    router = Router(me_id="1", me_nick="me")
    router.open(("flow", FLOW))

    class Timer:
        def stop(self) -> None:
            pass

    async def on_flush(batch: Any) -> None:
        pass

    pump = StreamPump(
        router,
        clock=time.monotonic,
        wall_clock=lambda: datetime.now(UTC),
        set_timer=lambda delay, callback: Timer(),
        on_flush=on_flush,
        wants_alert=lambda key: True,
        on_state=lambda change: None,
        on_events=lambda events: None,
    )
    batches = [events[k : k + BATCH] for k in range(0, COUNT, BATCH)]
    # what StreamPump.run does with each batch, without the event loop
    handle = getattr(pump, "handle_batch", None)
    start = time.thread_time()
    for batch in batches:
        if handle is not None:
            handle(batch)
        else:
            for item in batch:
                pump.handle_item(item)
        pump._after_batch()
    cpu = time.thread_time() - start
    assert len(router.stores[("flow", FLOW)]) == COUNT
    return {"flowview": str(Path(flowview.__file__).parent), "cpu_s": cpu}


def run_child(tree: str, passes: int = 1) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=tree or str(ROOT))
    out = subprocess.run(
        [sys.executable, __file__, "--child", tree or str(ROOT), "--passes", str(passes)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--before", default="", help="another tree (holding flowview/)")
    parser.add_argument("--output", default="")
    parser.add_argument(
        "--passes", type=int, default=1, help="runs per child process, the fastest reported"
    )
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, args.child)
        print(json.dumps(child(args.passes)))
        return
    trees = [("before", args.before), ("after", "")] if args.before else [("", "")]
    results: dict[str, Any] = {
        "benchmark": "routing 10,000 burst chat lines (bench/bench_route.py)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "calibration_loop_ms": calibrate(),
        "load_average": os.getloadavg(),
        "runs": args.runs,
        "passes": args.passes,
    }
    rows: dict[str, list[float]] = {name: [] for name, _ in trees}
    for i in range(args.runs):
        for name, tree in trees if i % 2 == 0 else trees[::-1]:
            rows[name].append(run_child(tree, args.passes)["cpu_s"])
    results["calibration_loop_ms_after"] = calibrate()
    results["load_average_after"] = os.getloadavg()
    print(
        f"calibration loop {results['calibration_loop_ms']:.0f} -> "
        f"{results['calibration_loop_ms_after']:.0f} ms, load average "
        f"{results['load_average'][0]:.1f} -> {results['load_average_after'][0]:.1f}"
    )
    for name, tree in trees:
        times = rows[name]
        med = statistics.median(times)
        results[name or "result"] = {
            "tree": tree or str(ROOT),
            "median_cpu_s": med,
            "per_event_us": med / COUNT * 1e6,
            "runs_cpu_s": times,
        }
        print(
            f"  {name or 'route'}: median {med * 1000:.1f} ms CPU for {COUNT:,} events "
            f"({med / COUNT * 1e6:.1f} us each)  {[round(t * 1000) for t in times]}"
        )
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
