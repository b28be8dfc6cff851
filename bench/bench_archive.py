"""Archive benchmark: ingest rate, UI-loop stall while archiving, search latency at 1M
messages, database size and warm-start time.

    uv run python bench/bench_archive.py                    # 1,000,000 messages
    uv run python bench/bench_archive.py --count 200000     # quicker
    uv run python bench/bench_archive.py --dir /tmp/arc     # keep the database

Two ingest figures: `ingest` while this process generates the messages (the generator and the
writer share the interpreter, so its wall rate is low on a busy box; the writer's CPU rate is
the figure to compare), and `writer_alone`, more messages queued beforehand and written with
nothing else running in the process (what the writer sustains).

Messages are generated (seeded) as the bundled server sends them: 12 flows, 60 users, words
drawn from a 20,000-word vocabulary with a Zipf-like distribution, 3-40 words each, some tags,
threads and private messages; parsed into Events (as the stream client hands them over)
outside the timed section.  Results go to bench/results/archive.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from itertools import accumulate
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowview.archive import Archive
from flowview.archive.query import parse_query
from flowview.archive.search import search
from flowview.protocol.events import Event, parse_event
from flowview.protocol.rest import Flow, User

log = logging.getLogger(__name__)

FLOWS = [f"flow-{i:02d}-{'x' * 24}" for i in range(12)]
USERS = [str(1000 + i) for i in range(60)]
BASE_MS = 1_700_000_000_000
CHUNK = 20_000


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "tor", "ex", "pa", "ri", "su", "an", "del", "vo", "qu"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(syllables, k=rng.randint(1, 4))))
    # sorted first: set order depends on the per-process string hash seed
    return sorted(sorted(words), key=lambda w: rng.random())


class Corpus:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng)
        # Zipf-like weights: the n-th word is 1/n as likely as the first.
        self.cum = list(accumulate(1.0 / (n + 1) for n in range(len(self.words))))

    def text(self) -> str:
        return " ".join(
            self.rng.choices(self.words, cum_weights=self.cum, k=self.rng.randint(3, 40))
        )

    def wire(self, i: int) -> dict[str, Any]:
        rng = self.rng
        sent = BASE_MS + i * 500
        user = rng.choice(USERS)
        obj: dict[str, Any] = {
            "event": "message",
            "tags": [rng.choice(self.words[:50])] if rng.random() < 0.05 else [],
            "uuid": None,
            "id": i,
            "content": self.text(),
            "sent": sent,
            "app": "chat",
            "created_at": "2023-11-14T22:13:20.000Z",
            "attachments": [],
            "user": user,
            "emojiReactions": {},
        }
        if rng.random() < 0.05:
            obj["to"] = rng.choice(USERS)
        else:
            obj["flow"] = rng.choice(FLOWS)
            obj["thread_id"] = f"t{i // 7}"
        return obj

    def events(self, start: int, count: int) -> list[Event]:
        return [parse_event(self.wire(i)) for i in range(start, start + count)]


def bench_ingest(archive: Archive, corpus: Corpus, count: int) -> dict[str, float]:
    assert archive.writer is not None
    stats = archive.writer.stats
    generated = 0
    enqueue = 0.0
    wall = time.perf_counter()
    while generated < count:
        n = min(CHUNK, count - generated)
        events = corpus.events(generated + 1, n)
        t = time.perf_counter()
        archive.ingest_many(events)
        enqueue += time.perf_counter() - t
        generated += n
        if generated % 200_000 < CHUNK:
            print(f"  queued {generated:,}  written {stats.messages:,}", file=sys.stderr)
    archive.flush(timeout=None)
    wall = time.perf_counter() - wall
    return {
        "messages": count,
        "writer_rate_per_s": count / stats.busy_seconds,
        "writer_cpu_rate_per_s": count / stats.cpu_seconds,
        "writer_cpu_us_per_message": stats.cpu_seconds / count * 1e6,
        "end_to_end_rate_per_s": count / wall,
        "enqueue_us_per_message": enqueue / count * 1e6,
        "batches": stats.batches,
    }


def bench_writer_alone(
    archive: Archive, corpus: Corpus, start: int, count: int
) -> dict[str, float]:
    """The writer's sustained rate with nothing competing for the interpreter: `count`
    messages (generated beforehand) are queued while the writer waits on a gate, then it
    writes them all (batches of up to 20,000, into an archive of --count messages)."""
    assert archive.writer is not None
    stats = archive.writer.stats
    events = corpus.events(start, count)
    gate = threading.Event()
    archive.writer.call(lambda conn: gate.wait())
    archive.ingest_many(events)
    cpu, busy, batches = stats.cpu_seconds, stats.busy_seconds, stats.batches
    t = time.perf_counter()
    gate.set()
    archive.flush(timeout=None)
    wall = time.perf_counter() - t
    return {
        "messages": count,
        "wall_rate_per_s": count / wall,
        "cpu_rate_per_s": count / (stats.cpu_seconds - cpu),
        "cpu_us_per_message": (stats.cpu_seconds - cpu) / count * 1e6,
        "busy_rate_per_s": count / (stats.busy_seconds - busy),
        "batches": stats.batches - batches,
    }


async def _stall_probe(
    archive: Archive, corpus: Corpus, start: int, seconds: float
) -> dict[str, float]:
    """A 1,000 msg/s stream archived from the loop while a 10 ms ticker measures lateness."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    stop = loop.time() + seconds

    async def ticker() -> None:
        while loop.time() < stop:
            t = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - t - 0.01)

    async def producer() -> None:
        i = start
        while loop.time() < stop:
            for event in corpus.events(i, 100):
                archive.ingest(event)
            i += 100
            await asyncio.sleep(0.1)

    await asyncio.gather(ticker(), producer())
    await archive.aflush()
    lags.sort()
    return {
        "loop_lag_p99_ms": lags[int(len(lags) * 0.99)] * 1000,
        "loop_lag_max_ms": lags[-1] * 1000,
    }


def queries(corpus: Corpus, n: int = 100) -> list[str]:
    rng = random.Random(7)
    w = corpus.words
    shapes = [
        lambda: rng.choice(w[:20]),  # very common word
        lambda: rng.choice(w[20:500]),
        lambda: rng.choice(w[500:5000]),
        lambda: rng.choice(w[5000:]),  # rare
        lambda: f"{rng.choice(w[:200])} {rng.choice(w[200:3000])}",
        lambda: f'"{rng.choice(w[:100])} {rng.choice(w[:100])}"',
        lambda: rng.choice(w[:3000])[:3],  # as-you-type prefix
        lambda: f"{rng.choice(w[100:2000])} from:user{rng.randint(0, 59)}",
        lambda: f"{rng.choice(w[:1000])} in:acme/f{rng.randint(0, 11)}",
        lambda: f"{rng.choice(w[:500])} -{rng.choice(w[:50])}",
    ]
    return [shapes[i % len(shapes)]() for i in range(n)]


def typed_prefixes(corpus: Corpus, n: int = 40) -> list[str]:
    """As-you-type prefixes of 4 characters (the shortest searched as prefixes since schema 3,
    which has no prefix index): the first 4 letters of words of every frequency."""
    rng = random.Random(11)
    words = [w for w in corpus.words[:5000] if len(w) >= 4]
    return [rng.choice(words[: 50 * 2 ** (i % 7)])[:4] for i in range(n)]


def bench_search(
    archive: Archive, corpus: Corpus, texts: list[str] | None = None
) -> dict[str, Any]:
    times: list[float] = []
    cpu: list[float] = []  # CPU time: what the wall time would be on an idle machine
    hits = 0
    slowest: list[tuple[float, str]] = []
    for text in queries(corpus) if texts is None else texts:
        t, c = time.perf_counter(), time.process_time()
        found = search(archive, parse_query(text, prefix_last=True), limit=20)
        elapsed = time.perf_counter() - t
        cpu.append(time.process_time() - c)
        times.append(elapsed)
        slowest.append((elapsed, text))
        hits += bool(found)
    times.sort()
    cpu.sort()
    slowest.sort(reverse=True)
    return {
        "queries": len(times),
        "with_hits": hits,
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": times[int(len(times) * 0.95) - 1] * 1000,
        "max_ms": times[-1] * 1000,
        "cpu_p50_ms": statistics.median(cpu) * 1000,
        "cpu_p95_ms": cpu[int(len(cpu) * 0.95) - 1] * 1000,
        "slowest": [[round(t * 1000, 1), q] for t, q in slowest[:5]],
    }


def bench_warm_start(path: Path) -> float:
    t = time.perf_counter()
    with Archive.open(path, writable=False) as archive:
        for flow in FLOWS:
            archive.tail(("flow", flow), 100)
        archive.read_positions()
    return (time.perf_counter() - t) * 1000


def _schema_version() -> int:
    from flowview.archive import schema

    return schema.SCHEMA_VERSION


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help="keep the database here")
    parser.add_argument(
        "--alone",
        type=int,
        default=50_000,
        help="messages for the writer-alone figure (below the queue's 100,000)",
    )
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "archive.json"
    )
    args = parser.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="flowview-bench-"))
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "bench.sqlite3"
    if path.exists():
        for p in directory.glob("bench.sqlite3*"):
            p.unlink()
    corpus = Corpus(seed=1)
    archive = Archive.open(path, max_bytes=None)
    archive.set_users([User(id=u, nick=f"user{i}") for i, u in enumerate(USERS)])
    archive.set_flows(
        [
            Flow(id=f, name=f"F{i}", parameterized_name=f"f{i}", organization="acme")
            for i, f in enumerate(FLOWS)
        ]
    )
    print(f"ingesting {args.count:,} messages into {path}", file=sys.stderr)
    results: dict[str, Any] = {
        "count": args.count,
        "schema": _schema_version(),
        "cpus": os.cpu_count(),
        "load": os.getloadavg(),
    }
    results["ingest"] = ingest = bench_ingest(archive, corpus, args.count)
    print(json.dumps(ingest, indent=1), file=sys.stderr)
    results["writer_alone"] = alone = bench_writer_alone(
        archive, corpus, args.count + 1, args.alone
    )
    print(json.dumps(alone, indent=1), file=sys.stderr)
    results["stall"] = asyncio.run(_stall_probe(archive, corpus, args.count + args.alone + 1, 5.0))
    archive.close()
    results["size_bytes"] = size_of(path)
    results["warm_start_ms"] = bench_warm_start(path)
    with Archive.open(path, writable=False) as reader:
        bench_search(reader, corpus)  # warm the page cache once, as a running viewer would be
        results["search"] = bench_search(reader, corpus)
        results["typed_prefix_search"] = bench_search(reader, corpus, typed_prefixes(corpus))
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
