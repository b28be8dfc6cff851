"""Side by side: the archive writer's CPU per message in two source trees (before/after).

    git archive main | tar -x -C /tmp/before      # the tree to compare with
    uv run python bench/bench_ingest_ab.py --before /tmp/before --base /tmp/arc1m/bench.sqlite3 \\
        --rounds 6 --output bench/results/ingest-ab.json

Each run is a fresh process importing `flowview` from one tree: it copies `--base` (an archive
made by bench_archive.py, e.g. of 1,000,000 messages; opening it runs the tree's migrations)
or starts an empty archive, queues `--alone` generated messages while the writer waits, then
lets it write them with nothing else running (bench_archive.py's "writer alone").  Rounds
alternate the order of the trees (ABBA) so the drift of a shared box hits both alike; the
summary is the median of each figure and the load average before and after every round.
"""

from __future__ import annotations

import argparse
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


def child(tree: Path, base: Path | None, alone: int, start: int) -> dict[str, Any]:
    """One measurement, in this process, of the flowview found in `tree`."""
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(tree))
    # Imported here: after the tree under test is first on the path.
    from bench_archive import Corpus

    from flowview.archive import Archive

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
        gate = threading.Event()
        writer.call(lambda conn: gate.wait())
        archive.ingest_many(events)
        cpu, batches = stats.cpu_seconds, stats.batches
        t = time.perf_counter()
        gate.set()
        archive.flush(timeout=None)
        wall = time.perf_counter() - t
        cpu = stats.cpu_seconds - cpu
        archive.close()
        return {
            "cpu_us_per_message": cpu / alone * 1e6,
            "cpu_rate_per_s": alone / cpu,
            "wall_rate_per_s": alone / wall,
            "batches": stats.batches - batches,
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


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
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.base, args.alone, args.start)))
        return 0
    if args.before is None:
        parser.error("--before is required")
    trees = {"before": args.before, "after": args.after}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    load = [os.getloadavg()]
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(trees)[::-1]
        for name in order:
            result = run(trees[name], args)
            runs[name].append(result)
            print(r, name, json.dumps({k: round(v, 2) for k, v in result.items()}), flush=True)
        load.append(os.getloadavg())
    median = {
        name: {key: statistics.median(run[key] for run in results) for key in results[0]}
        for name, results in runs.items()
    }
    out = {
        "args": {k: str(v) for k, v in vars(args).items() if k != "child"},
        "load": load,
        "median": median,
        "runs": runs,
    }
    print(json.dumps(median, indent=1))
    if args.output:
        args.output.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
