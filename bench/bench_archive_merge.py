"""Search latency after a sustained bulk ingest, in two source trees (before/after), at 1M+.

    git archive main | tar -x -C /tmp/before
    uv run python bench/bench_archive_merge.py --before /tmp/before \\
        --base /tmp/arc1m/bench.sqlite3 --count 300000 --rounds 2 \\
        --output bench/results/archive-merge.json

Since schema 4 the writer merges the full-text index's segments only while idle, so a long
bulk ingest leaves up to 15 unmerged segments at level 0 (FTS5's crisis merge takes 16): the
worst case for a search.  Each run is a fresh process importing `flowview` from one tree: it
copies `--base`, ingests `--count` generated messages with the writer never idle (queued as
room frees up), then runs bench_archive.py's 100 varied queries `--passes` times (after one
warm-up pass) on that state; then, for a tree whose writer merges while idle, again once it
has merged.  Reports the writer's CPU per message, the idle merge CPU, the index's segment
count and search p95 (wall and CPU) in each state; rounds alternate the trees (ABBA).
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
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
FIRST = 50_000  # messages queued before the writer starts (the queue holds 100,000)


def _search_p95(archive: Any, corpus: Any, passes: int) -> dict[str, float]:
    from bench_archive import bench_search

    bench_search(archive, corpus)  # warm-up: the page cache as a running viewer has it
    runs = [bench_search(archive, corpus) for _ in range(passes)]
    return {
        "p95_ms": statistics.median(r["p95_ms"] for r in runs),
        "cpu_p95_ms": statistics.median(r["cpu_p95_ms"] for r in runs),
        "max_ms": statistics.median(r["max_ms"] for r in runs),
        "with_hits": statistics.median(r["with_hits"] for r in runs),
    }


def child(tree: Path, base: Path, count: int, start: int, passes: int) -> dict[str, Any]:
    sys.path.insert(0, str(tree))
    import flowview
    from flowview.archive import Archive

    assert Path(flowview.__file__).is_relative_to(tree), flowview.__file__
    sys.path.insert(0, str(HERE))
    from bench_archive import Corpus

    directory = Path(tempfile.mkdtemp(prefix="flowview-merge-"))
    path = directory / "bench.sqlite3"
    try:
        shutil.copyfile(base, path)
        events = Corpus(seed=2).events(start, count)
        archive = Archive.open(path, max_bytes=None)
        writer = archive.writer
        assert writer is not None
        archive.flush(timeout=None)
        stats = writer.stats
        gate = threading.Event()
        writer.call(lambda conn: gate.wait())
        archive.ingest_many(events[:FIRST])
        cpu = stats.cpu_seconds
        gate.set()
        archive.ingest_many(events[FIRST:])
        segments_sql = "SELECT count(DISTINCT segid) FROM messages_fts_idx"
        # Read in the last batch, before any idle time.
        unmerged = writer.call(lambda conn: conn.execute(segments_sql).fetchone()[0])
        archive.flush(timeout=None)
        cpu = stats.cpu_seconds - cpu
        del events
        corpus = Corpus(seed=1)
        result: dict[str, Any] = {
            "cpu_us_per_message": cpu / count * 1e6,
            "segments_after_ingest": unmerged.result(),
            "search_after_ingest": None,
        }
        merged = getattr(writer, "merged", None)
        if merged is not None:
            # Search while the writer merges: the state right after the bulk, as a user sees it.
            result["search_after_ingest"] = _search_p95(archive, corpus, passes)
            merged(None)
        result["merge_cpu_s"] = getattr(stats, "merge_cpu_seconds", 0.0)
        result["segments_merged"] = archive.query(segments_sql)[0][0]
        result["search_merged"] = _search_p95(archive, corpus, passes)
        archive.close()
        result["size_mb"] = path.stat().st_size / 1e6
        return result
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path)
    parser.add_argument("--after", type=Path, default=HERE.parent)
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--count", type=int, default=300_000)
    parser.add_argument("--start", type=int, default=2_000_001)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        out = child(args.child, args.base, args.count, args.start, args.passes)
        print(json.dumps(out))
        return 0
    if args.before is None:
        parser.error("--before is required")
    trees = {"before": args.before, "after": args.after}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    load = [os.getloadavg()]
    for r in range(args.rounds):
        for name in list(trees) if r % 2 == 0 else list(trees)[::-1]:
            command = [sys.executable, __file__, "--child", str(trees[name])]
            command += ["--base", str(args.base), "--count", str(args.count)]
            command += ["--start", str(args.start), "--passes", str(args.passes)]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[name].append(result)
            print(r, name, json.dumps(result), flush=True)
        load.append(os.getloadavg())
    out = {"args": {k: str(v) for k, v in vars(args).items()}, "load": load, "runs": runs}
    if args.output:
        args.output.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
