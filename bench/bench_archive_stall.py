"""Event-loop lag while archiving 1,000 msg/s from the loop, on a copy of an existing archive.

bench_archive.py measures the same after building its 1M archive (an hour's run); this runs the
probe alone on a copy of that archive (e.g. /tmp/arc1m/bench.sqlite3), so that the writer's
idle-time index merges (schema 4, archive/writer.py) run between the producer's batches, as in
the viewer.

Run:  uv run python bench/bench_archive_stall.py --base /tmp/arc1m/bench.sqlite3 [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_archive import Corpus, _stall_probe  # noqa: E402

from flowview.archive import Archive  # noqa: E402

log = logging.getLogger(__name__)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="archive to copy first")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--start", type=int, default=3_000_001, help="first generated id")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flowview-stall-") as tmp:
        path = Path(tmp) / "bench.sqlite3"
        shutil.copyfile(args.base, path)
        archive = Archive.open(path, max_bytes=None)
        try:
            load = os.getloadavg()
            result = asyncio.run(_stall_probe(archive, Corpus(seed=1), args.start, args.seconds))
            writer = archive.writer
            stats = writer.stats if writer is not None else None
        finally:
            archive.close()
    out = {
        "seconds": args.seconds,
        "load": load,
        "load_after": os.getloadavg(),
        **result,
        "merge_steps": getattr(stats, "merge_steps", None),
        "merge_cpu_seconds": getattr(stats, "merge_cpu_seconds", None),
    }
    print(json.dumps(out, indent=1))
    if args.output is not None:
        args.output.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
