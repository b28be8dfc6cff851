"""`flowview tail`'s whole pipeline in one process, without sockets: CPU time per event.

The real `StreamClient(raw_events=True)` (httpx, its connection, decoder, accept step and
queue) reads a body served by an `httpx.MockTransport` in 256 KiB chunks (the client's read size),
and tail's own printer turns the batches into output bytes, written to a sink that keeps only
their count and a digest. Only the socket and the kernel's pipe are missing, so the figure
isolates what this code costs per event.

Trees side by side: every round runs one child process per tree (``--tree DIR``, repeated),
alternating their order; each child imports flowview from its tree, so the same script
measures before and after:

    uv run python bench/bench_tail_inproc.py --tree /tmp/main-tree --tree . --rounds 5

Medians per tree and content type go to bench/results/ (``--output``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 256 * 1024


class _Sink:
    """A binary stdout stand-in: counts lines and hashes what tail writes."""

    def __init__(self) -> None:
        self.lines = 0
        self.digest = hashlib.blake2b(digest_size=16)

    def write(self, data: bytes) -> int:
        self.lines += data.count(b"\n")
        self.digest.update(data)
        return len(data)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise OSError("no descriptor")


def _body(count: int, content_type: str) -> bytes:
    # The frames as the server writes them (bench_tail.realistic_records, imported from this
    # script's own tree so every tree is fed identical bytes).
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_tail import realistic_records

    frames = realistic_records(count)
    return b"".join(j if content_type == "json" else s for j, s in frames)


async def _run_once(body: bytes, count: int, content_type: str) -> tuple[float, int, str]:
    import httpx

    from flowview.protocol.auth import Token
    from flowview.protocol.client import StreamClient, StreamConfig
    from flowview.tail import _Printer

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), CHUNK):
            yield body[start : start + CHUNK]
            await asyncio.sleep(0)  # a socket read would yield to the loop too

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in chunks():
                yield chunk

    ctype = "application/json" if content_type == "json" else "text/event-stream"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": ctype}, stream=Body())

    config = StreamConfig(
        stream_url="http://stream.invalid",
        token=Token("t0k3n-bench"),
        flows=("org/flow",),
        private=False,
        presence="offline",
        content_type=content_type,  # type: ignore[arg-type]
        stall_timeout=600.0,
    )
    sink = _Sink()
    printer = _Printer(sink, count, None)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    started = time.process_time()
    async with StreamClient(config, http=http, raw_events=True) as client:
        async for batch in client.batches():
            if printer.batch(batch) is not None:
                break
    cpu = time.process_time() - started
    await http.aclose()
    return cpu, sink.lines, sink.digest.hexdigest()


def child(body_file: str, count: int, content_type: str, passes: int) -> None:
    body = Path(body_file).read_bytes()
    from flowview import tail

    settle = getattr(tail, "_settle_gc", None)
    if settle is not None:  # what main_tail does first, on trees that have it
        settle()
    results = [asyncio.run(_run_once(body, count, content_type)) for _ in range(passes)]
    cpus = [cpu for cpu, _, _ in results]
    _, lines, digest = results[-1]
    print(json.dumps({"cpu": min(cpus), "lines": lines, "digest": digest}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", type=Path, help="a flowview source tree")
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=2, help="runs per child (best taken)")
    parser.add_argument("--content-type", nargs="+", default=["json", "sse"])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        body_file, content_type, count, passes = args.child
        child(body_file, int(count), content_type, int(passes))
        return 0
    trees = [t.resolve() for t in (args.tree or [ROOT])]
    per: dict[str, dict[str, list[float]]] = {}
    digests: dict[str, set[str]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-tail-inproc-"))
    for content_type in args.content_type:
        # One body for every tree (the simulator stamps wall-clock times into events).
        body_file = tmp / f"body.{content_type}"
        body_file.write_bytes(_body(args.count, content_type))
        for rnd in range(args.rounds):
            order = trees if rnd % 2 == 0 else list(reversed(trees))
            for tree in order:
                env = dict(os.environ, PYTHONPATH=str(tree))
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        str(body_file),
                        content_type,
                        str(args.count),
                        str(args.passes),
                    ],
                    cwd=tree,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                got = json.loads(out.strip().splitlines()[-1])
                if got["lines"] != args.count:
                    raise SystemExit(f"{tree}: {got['lines']} lines, expected {args.count}")
                per.setdefault(str(tree), {}).setdefault(content_type, []).append(got["cpu"])
                digests.setdefault(content_type, set()).add(got["digest"])
                us = got["cpu"] / args.count * 1e6
                print(f"{content_type} round {rnd + 1} {tree}: {us:.1f} us/event", file=sys.stderr)
        body_file.unlink()
    tmp.rmdir()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    table: dict[str, dict[str, float]] = {}
    for tree, by_type in per.items():
        for content_type, cpus in by_type.items():
            us = statistics.median(cpus) / args.count * 1e6
            table.setdefault(tree, {})[content_type] = round(us, 2)
            print(f"{tree:<40} {content_type:<5} median {us:6.1f} us/event")
    same = {ct: len(d) == 1 for ct, d in digests.items()}
    print(f"identical output across trees: {same}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            json.dumps(
                {
                    "benchmark": "tail pipeline in process (MockTransport), CPU us per event",
                    "count": args.count,
                    "rounds": args.rounds,
                    "python": platform.python_version(),
                    "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "load_average": [round(x, 2) for x in load],
                    "median_us_per_event": table,
                    "identical_output": same,
                    "cpu_seconds": per,
                },
                indent=2,
            )
            + "\n"
        )
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
