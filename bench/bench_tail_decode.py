"""The stream client's decode stage alone, per content type: CPU time per event.

The step `flowview tail` runs on every chunk read, from bytes to parsed values plus the
record texts it prints, exactly as the client's connection does it: for the JSON stream
``JsonStreamDecoder(keep_records=True).feed`` then ``take_records``; for the event-stream
``SSEDecoder.feed_data``, the chunk's digit screen and the connection's own ``_from_sse``
(called on a bare connection object, so each tree's real code runs). The same simulator
events, read 256 KiB at a time (the client's read size), no sockets, no accept step, no
printing: the part where the two content types differ.

Trees side by side: every round runs one child process per tree (``--tree DIR``, repeated),
alternating their order; each child imports flowview from its tree, settles the GC as tail
does, and times both content types in alternating passes:

    uv run python bench/bench_tail_decode.py --tree /tmp/main-tree --tree . --rounds 7

Medians per tree and content type go to bench/results/ (``--output``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 256 * 1024


def _bodies(count: int, tmp: Path) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_tail import realistic_records

    frames = realistic_records(count)
    json_file, sse_file = tmp / "body.json", tmp / "body.sse"
    json_file.write_bytes(b"".join(j for j, _ in frames))
    sse_file.write_bytes(b"".join(s for _, s in frames))
    return json_file, sse_file


def _json_pass(chunks: list[bytes]) -> tuple[int, Any]:
    from flowview.protocol.jsonstream import JsonStreamDecoder

    dec = JsonStreamDecoder(keep_records=True)
    n = 0
    digest = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        values = dec.feed(chunk)
        texts = dec.take_records()
        assert texts is not None and len(texts) == len(values)
        n += len(values)
        if texts:
            digest.update(texts[-1])
    return n, digest.hexdigest()


def _sse_pass(chunks: list[bytes]) -> tuple[int, Any]:
    from flowview.protocol import connection
    from flowview.protocol.jsonstream import may_hold_big_int
    from flowview.protocol.sse import SSEDecoder

    conn: Any = object.__new__(connection.Connection)
    conn.w = SimpleNamespace(on_retry_ms=lambda ms: None, set_resume_id=lambda ident: None)
    conn.texts = []
    conn.skips = []
    dec = SSEDecoder()
    n = 0
    digest = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        values = conn._from_sse(dec.feed_data(chunk), dec, may_hold_big_int(chunk))
        texts = conn.texts
        assert len(texts) == len(values) and not conn.skips
        n += len(values)
        if texts:
            digest.update(texts[-1])
        texts.clear()
    return n, digest.hexdigest()


def child(json_file: str, sse_file: str, count: int, passes: int) -> None:
    from flowview import tail
    from flowview.protocol import connection, jsonstream, sse

    assert connection and jsonstream and sse  # imported before any timing
    settle = getattr(tail, "_settle_gc", None)
    if settle is not None:
        settle()
    bodies = {"json": Path(json_file).read_bytes(), "sse": Path(sse_file).read_bytes()}
    chunks = {
        ct: [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)] for ct, body in bodies.items()
    }
    runs = {"json": _json_pass, "sse": _sse_pass}
    cpu: dict[str, list[float]] = {"json": [], "sse": []}
    digests: dict[str, str] = {}
    for p in range(passes):
        for ct in ("json", "sse") if p % 2 == 0 else ("sse", "json"):
            started = time.process_time()
            n, digest = runs[ct](chunks[ct])
            cpu[ct].append(time.process_time() - started)
            assert n == count, (ct, n)
            digests[ct] = digest
    print(json.dumps({"cpu": {ct: min(v) for ct, v in cpu.items()}, "digests": digests}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", type=Path, help="a flowview source tree")
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--passes", type=int, default=3, help="passes per child (best taken)")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        json_file, sse_file, count, passes = args.child
        child(json_file, sse_file, int(count), int(passes))
        return 0
    trees = [t.resolve() for t in (args.tree or [ROOT])]
    tmp = Path(tempfile.mkdtemp(prefix="bench-tail-decode-"))
    json_file, sse_file = _bodies(args.count, tmp)
    per: dict[str, dict[str, list[float]]] = {}
    digests: dict[str, set[str]] = {}
    load_start = os.getloadavg()
    for rnd in range(args.rounds):
        order = trees if rnd % 2 == 0 else list(reversed(trees))
        for tree in order:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(json_file),
                    str(sse_file),
                    str(args.count),
                    str(args.passes),
                ],
                cwd=tree,
                env=dict(os.environ, PYTHONPATH=str(tree)),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            got = json.loads(out.strip().splitlines()[-1])
            for ct, cpu in got["cpu"].items():
                per.setdefault(str(tree), {}).setdefault(ct, []).append(cpu)
                digests.setdefault(ct, set()).add(got["digests"][ct])
            us = {ct: round(cpu / args.count * 1e6, 2) for ct, cpu in got["cpu"].items()}
            print(f"round {rnd + 1} {tree}: {us} us/event", file=sys.stderr)
    for f in (json_file, sse_file):
        f.unlink()
    tmp.rmdir()
    load = os.getloadavg()
    print(f"load average {load_start[0]:.2f} at the start, {load[0]:.2f} at the end")
    table: dict[str, dict[str, float]] = {}
    for tree, by_type in per.items():
        for ct, cpus in by_type.items():
            us = statistics.median(cpus) / args.count * 1e6
            table.setdefault(tree, {})[ct] = round(us, 2)
            print(f"{tree:<40} {ct:<5} median {us:6.2f} us/event")
    same = {ct: len(d) == 1 for ct, d in digests.items()}
    print(f"identical texts across trees: {same}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            json.dumps(
                {
                    "benchmark": "client decode stage (feed to values + texts), CPU us per event",
                    "count": args.count,
                    "chunk": CHUNK,
                    "rounds": args.rounds,
                    "passes": args.passes,
                    "python": platform.python_version(),
                    "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "load_average": {
                        "start": [round(x, 2) for x in load_start],
                        "end": [round(x, 2) for x in load],
                    },
                    "median_us_per_event": table,
                    "identical_texts": same,
                    "cpu_seconds": per,
                },
                indent=2,
            )
            + "\n"
        )
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
