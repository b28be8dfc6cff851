"""Side-by-side: the writer's CPU per message with different full-text index definitions.

    uv run python bench/bench_archive_fts.py --rounds 3 --preload 100000 --alone 50000

Each round builds a fresh archive per variant (alternating, so drift on a shared box hits all
of them alike), with the same pre-generated messages: `--preload` messages written in batches
(timed too), then `--alone` more queued while the writer waits and written with nothing else
running (bench_archive.py's writer-alone figure).  Reports medians of writer CPU per message.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_archive import Corpus, size_of

from flowview.archive import Archive, schema
from flowview.protocol.events import Event

log = logging.getLogger(__name__)

VARIANTS: dict[str, str] = {
    "prefix3": "prefix='3'",
    "noprefix": "",
    "prefix3-nocolsize": "prefix='3', columnsize=0",
    "noprefix-nocolsize": "columnsize=0",
}
# Writer settings tried with the last variant: name -> (batch_max, wal_autocheckpoint pages).
SETTINGS: dict[str, tuple[int | None, int | None]] = {
    "noprefix-nocolsize-batch50k": (50_000, None),
    "noprefix-nocolsize-ckpt20k": (None, 20_000),
}


def replace_fts(conn: Any, options: str | None, *, rebuild: bool = False) -> None:
    """The full-text table made again with FTS5 `options` (a variant of schema 3's), its
    settings and triggers; `rebuild`: index the rows already there (before the triggers)."""
    conn.execute("DROP TRIGGER messages_ad")
    conn.execute("DROP TRIGGER messages_au")
    conn.execute("DROP TABLE messages_fts")
    extra = f", {options}" if options else ""
    conn.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5 (text, tags, content='messages',"
        f" content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'{extra})"
    )
    conn.execute(
        "INSERT INTO messages_fts (messages_fts, rank) VALUES ('hashsize', ?)",
        (schema.FTS_HASHSIZE,),
    )
    conn.execute(
        "INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', ?)",
        (schema.FTS_AUTOMERGE,),
    )
    if rebuild:
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
    for trigger in schema._FTS_TRIGGERS:
        conn.execute(trigger)


def recreate_fts(archive: Archive, options: str) -> None:
    """Replace the (empty) archive's index with one made with `options`."""

    def redo(conn: Any) -> None:
        replace_fts(conn, options)

    assert archive.writer is not None
    archive.writer.call(redo).result()


def one(
    options: str | None,
    preload: list[Event],
    alone: list[Event],
    batch: int | None = None,
    checkpoint: int | None = None,
) -> dict[str, float]:
    directory = Path(tempfile.mkdtemp(prefix="flowview-fts-", dir="/tmp/archfast"))
    path = directory / "bench.sqlite3"
    archive = Archive.open(path, max_bytes=None)
    if options is not None:
        recreate_fts(archive, options)
    assert archive.writer is not None
    if batch is not None:
        archive.writer._batch_max = batch
    if checkpoint is not None:
        archive.writer.call(lambda conn: conn.execute(f"PRAGMA wal_autocheckpoint={checkpoint}"))
    stats = archive.writer.stats
    cpu0 = stats.cpu_seconds
    for i in range(0, len(preload), 20_000):
        archive.ingest_many(preload[i : i + 20_000])
    archive.flush(timeout=None)
    preload_cpu = stats.cpu_seconds - cpu0
    gate = threading.Event()
    archive.writer.call(lambda conn: gate.wait())
    archive.ingest_many(alone)
    cpu1 = stats.cpu_seconds
    t = time.perf_counter()
    gate.set()
    archive.flush(timeout=None)
    wall = time.perf_counter() - t
    alone_cpu = stats.cpu_seconds - cpu1
    archive.close()
    size = size_of(path)
    for p in directory.iterdir():
        p.unlink()
    directory.rmdir()
    return {
        "preload_cpu_us": preload_cpu / len(preload) * 1e6,
        "alone_cpu_us": alone_cpu / len(alone) * 1e6,
        "alone_wall_rate": len(alone) / wall,
        "alone_cpu_rate": len(alone) / alone_cpu,
        "size_mb": size / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preload", type=int, default=100_000)
    parser.add_argument("--alone", type=int, default=50_000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    names = args.variants.split(",")
    corpus = Corpus(seed=1)
    print("generating", file=sys.stderr)
    preload = corpus.events(1, args.preload)
    alone = corpus.events(args.preload + 1, args.alone)
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    load = [os.getloadavg()]
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            # "current": the schema as this checkout makes it.
            if name in SETTINGS:
                batch, checkpoint = SETTINGS[name]
                result = one(VARIANTS["noprefix-nocolsize"], preload, alone, batch, checkpoint)
            else:
                options = None if name == "current" else VARIANTS[name]
                result = one(options, preload, alone)
            runs[name].append(result)
            print(r, name, json.dumps({k: round(v, 2) for k, v in result.items()}), file=sys.stderr)
        load.append(os.getloadavg())
    summary = {
        name: {key: statistics.median(run[key] for run in results) for key in results[0]}
        for name, results in runs.items()
    }
    out = {
        "args": vars(args) | {"output": str(args.output)},
        "load": load,
        "median": summary,
        "runs": runs,
    }
    print(json.dumps(summary, indent=1))
    if args.output:
        args.output.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
