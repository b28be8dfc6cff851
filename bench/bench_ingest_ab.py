"""Side by side: the archive writer's CPU per message in two source trees (before/after).

    git archive main | tar -x -C /tmp/before      # the tree to compare with
    uv run python bench/bench_ingest_ab.py --before /tmp/before --base /tmp/arc1m/bench.sqlite3 \\
        --rounds 6 --output bench/results/ingest-ab.json

    uv run python bench/bench_ingest_ab.py --before /tmp/before --params   # rows.message_params

Each run is a fresh process importing `flowview` from one tree: it copies `--base` (an archive
made by bench_archive.py, e.g. of 1,000,000 messages; opening it runs the tree's migrations)
or starts an empty archive, queues `--alone` generated messages while the writer waits, then
lets it write them with nothing else running (bench_archive.py's "writer alone").  Rounds
alternate the order of the trees (ABBA) so the drift of a shared box hits both alike; the
summary is the median of each figure and the load average before and after every round.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
FIRST = 50_000  # messages queued before the writer starts (the queue holds 100,000)


def child(tree: Path, base: Path | None, alone: int, start: int) -> dict[str, Any]:
    """One measurement, in this process, of the flowview found in `tree`."""
    # flowview from the tree under test, imported before bench_archive (which puts this
    # checkout first on the path for its own imports: flowview is loaded by then).
    sys.path.insert(0, str(tree))
    import flowview
    from flowview.archive import Archive

    assert Path(flowview.__file__).is_relative_to(tree), flowview.__file__
    sys.path.insert(0, str(HERE))
    from bench_archive import Corpus

    assert Path(sys.modules["flowview.archive"].__file__ or "").is_relative_to(tree)

    directory = Path(tempfile.mkdtemp(prefix="flowview-ab-"))
    path = directory / "bench.sqlite3"
    try:
        if base is not None:
            shutil.copyfile(base, path)
        events = Corpus(seed=2).events(start, alone)
        archive = Archive.open(path, max_bytes=None)
        writer = archive.writer
        assert writer is not None
        archive.flush(timeout=None)  # the migration, if any, is not timed
        stats = writer.stats
        # CPU per message of each batch (a batch that ran FTS5's crisis merge stands out) and
        # the cyclic GC's collections in the writer thread, while timed.
        batch_us: list[tuple[float, int]] = []  # (us per message, size)
        write_batch = writer._write_batch

        def timed_batch(conn: Any, batch: list[Any]) -> None:
            started = time.thread_time()
            write_batch(conn, batch)
            batch_us.append(((time.thread_time() - started) / max(1, len(batch)) * 1e6, len(batch)))

        writer._write_batch = timed_batch  # type: ignore[method-assign]
        writer_ident = writer.call(lambda conn: threading.get_ident()).result()
        collections = [0]

        def count_collections(phase: str, info: dict[str, int]) -> None:
            if phase == "start" and threading.get_ident() == writer_ident:
                collections[0] += 1

        gate = threading.Event()
        writer.call(lambda conn: gate.wait())
        # What fits in the queue is queued before the writer starts; the rest (a sustained
        # run, --alone above 50,000) is queued as room frees up, so the writer never idles.
        archive.ingest_many(events[:FIRST])
        cpu, batches = stats.cpu_seconds, stats.batches
        t = time.perf_counter()
        batch_us.clear()
        gc.callbacks.append(count_collections)
        gate.set()
        archive.ingest_many(events[FIRST:])
        # Index merges the writer ran while idle (schema 4 on; read in the last batch).
        merges_during = writer.call(lambda conn: getattr(stats, "merge_steps", 0))
        archive.flush(timeout=None)
        wall = time.perf_counter() - t
        cpu = stats.cpu_seconds - cpu
        gc.callbacks.remove(count_collections)
        # The merge work schema 4 leaves for idle time (this archive's whole backlog, the
        # base's merge in progress included): CPU until none is due, not in the figures above.
        merged = getattr(writer, "merged", None)
        if merged is not None:
            merged(None)
        checkpointer = getattr(writer, "checkpointer", None)
        checkpoints = {}
        if checkpointer is not None:  # checkpoints in a thread of their own (after the merges)
            c = checkpointer.stats
            checkpoints = {
                "checkpoints": c.checkpoints,
                "checkpoint_cpu_s": c.cpu_seconds,
                "checkpoint_s": c.seconds,
                "wal_frames_max": c.wal_frames_max,
                "checkpoint_waits": c.waits,
                "checkpoint_wait_s": c.wait_seconds,
                "checkpoint_truncated": c.truncated,
            }
        archive.close()
        return {
            **checkpoints,
            "cpu_us_per_message": cpu / alone * 1e6,
            "cpu_rate_per_s": alone / cpu,
            "wall_rate_per_s": alone / wall,
            "batches": stats.batches - batches,
            "idle_merge_steps": merges_during.result(),  # while timed: none expected
            "merge_cpu_after_s": getattr(stats, "merge_cpu_seconds", 0.0),
            "writer_gc_collections": collections[0],
            # bulk batches only (the last one may be a few operations)
            "batch_us_median": statistics.median(us for us, n in batch_us if n >= 1000),
            "batch_us_max": max(us for us, n in batch_us if n >= 1000),
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def params_side_by_side(trees: dict[str, Path], rounds: int, count: int) -> dict[str, Any]:
    """CPU per call of each tree's rows.message_params over the same generated events, in one
    process, alternating (the function alone is steadier than the writer on a busy box)."""
    import importlib.util

    sys.path.insert(0, str(HERE))
    from bench_archive import Corpus

    functions = {}
    for name, tree in trees.items():
        spec = importlib.util.spec_from_file_location(
            f"rows_{name}", tree / "flowview" / "archive" / "rows.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        functions[name] = module.message_params
    events = Corpus(seed=2).events(1, count)
    results = {name: [f(e) for e in events] for name, f in functions.items()}
    first = next(iter(results.values()))
    assert all(r == first for r in results.values()), "the trees' parameters differ"
    times: dict[str, list[float]] = {name: [] for name in trees}
    for r in range(rounds):
        order = list(trees) if r % 2 == 0 else list(trees)[::-1]
        for name in order:
            f = functions[name]
            t = time.thread_time()
            for event in events:
                f(event)
            times[name].append((time.thread_time() - t) / count * 1e6)
    return {
        "us_per_message_median": {n: statistics.median(v) for n, v in times.items()},
        "us_per_message_min": {n: min(v) for n, v in times.items()},
        "runs": times,
    }


def run(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        str(tree),
        "--alone",
        str(args.alone),
        "--start",
        str(args.start),
    ]
    if args.base is not None:
        command += ["--base", str(args.base)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="the tree to compare with")
    parser.add_argument("--after", type=Path, default=HERE.parent)
    parser.add_argument("--base", type=Path, help="archive to copy before each run")
    parser.add_argument("--alone", type=int, default=50_000)
    parser.add_argument(
        "--start", type=int, default=2_000_001, help="first generated id (above the base's)"
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--params", action="store_true", help="time rows.message_params only")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.base, args.alone, args.start)))
        return 0
    if args.before is None:
        parser.error("--before is required")
    trees = {"before": args.before, "after": args.after}
    if args.params:
        load0 = os.getloadavg()
        summary = params_side_by_side(trees, max(args.rounds, 9), args.alone)
        summary["load"] = [load0, os.getloadavg()]
        print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
        if args.output:
            args.output.write_text(json.dumps(summary, indent=1) + "\n")
        return 0
    sys.path.insert(0, str(HERE))
    from bench_app import calibrate  # the same loop for every bench: figures compare

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    load = [os.getloadavg()]
    calibration = [calibrate()]  # ms of a fixed Python loop: how fast the box is right now
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(trees)[::-1]
        for name in order:
            result = run(trees[name], args)
            runs[name].append(result)
            print(r, name, json.dumps({k: round(v, 2) for k, v in result.items()}), flush=True)
        load.append(os.getloadavg())
        calibration.append(calibrate())
        print(f"load {load[-1][0]:.1f}, calibration loop {calibration[-1]:.0f} ms", flush=True)
    median = {
        name: {key: statistics.median(run[key] for run in results) for key in results[0]}
        for name, results in runs.items()
    }
    out = {
        "args": {k: str(v) for k, v in vars(args).items() if k != "child"},
        "load": load,
        "calibration_loop_ms": calibration,
        "median": median,
        "runs": runs,
    }
    print(json.dumps(median, indent=1))
    if args.output:
        args.output.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
