"""Ingest throughput: `flowview tail` against a naive consumer, same server, same burst.

Both consumers connect to one simulated server (run in this process), for the same flows and
content type.  Once both streams are open they are paused (SIGSTOP), the server publishes a
burst of N messages (the simulator's ``/_sim/burst``) into both connections' queues, and then
each consumer is resumed (SIGCONT) in turn and timed until it has printed N events and exited:
the clock measures how fast a consumer takes in and prints the burst, not how fast the
simulator can invent it, and the consumers do not compete for the CPU (``--concurrent``
resumes them together instead).  Each consumer's stdout goes through a
pipe into `wc -l`, so the line count is checked without costing this process any CPU.

The naive consumer is what a quick script would do: httpx stream, ``aiter_lines()``,
``json.loads``, ``print(json.dumps(obj))``.

Run:  uv run python bench/bench_tail.py [--count 200000] [--content-type json sse]
Writes bench/results/tail.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowview.protocol.urls import stream_url  # noqa: E402
from flowview.server.runner import RunningServer, ServerOptions, run_server  # noqa: E402

BASELINE = "flowview tail (baseline)"

NAIVE = r"""
import asyncio, json, sys
import httpx

async def main(url, token, n, sse):
    headers = {"Accept": "text/event-stream" if sse else "application/json"}
    count = 0
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=600.0)) as client:
        async with client.stream("GET", url, headers=headers, auth=(token, "")) as resp:
            async for line in resp.aiter_lines():
                if sse:
                    if not line.startswith("data:"):
                        continue
                    line = line[5:]
                line = line.strip()
                if not line:
                    continue
                print(json.dumps(json.loads(line)))
                count += 1
                if count >= n:
                    return

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "sse"))
"""


RAW = r"""
import asyncio, sys
import httpx

async def main(url, token, n, sse):
    headers = {"Accept": "text/event-stream" if sse else "application/json"}
    delim = b"\n\n" if sse else b"\r"
    count = 0
    out = sys.stdout.buffer
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=600.0)) as client:
        async with client.stream("GET", url, headers=headers, auth=(token, "")) as resp:
            last = b""
            async for chunk in resp.aiter_raw():
                # A delimiter may straddle two chunks.
                count += (last + chunk).count(delim)
                last = chunk[-1:]
                if count >= n:
                    break
    out.write(b"\n" * n)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "sse"))
"""


# --------------------------------------------------------------------------- decoder level


def realistic_records(count: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """``count`` events from the server's simulator (its weighted mix of every event type),
    as (json frame, sse frame) exactly as the server writes them."""
    from flowview.server.simulator import Simulator, populate
    from flowview.server.state import Published, ServerState

    state = ServerState(history=1000, replay=0, seed=seed)
    populate(state, seed=seed)
    frames: list[tuple[bytes, bytes]] = []

    def keep(pub: Published) -> None:
        frames.append((pub.json_frame, pub.sse_frame))

    state.listeners.append(keep)
    Simulator(state, seed=seed).run_events(count)
    return frames[:count]


def _sse_json_parser() -> Callable[[str], Any]:
    try:
        from flowview.protocol.jsonstream import loads
    except ImportError:  # before jsonstream.loads: what client.py did per SSE event
        import json.scanner

        scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]

        def loads(data: str) -> Any:  # type: ignore[misc]
            try:
                value, end = scan(data, 0)
            except StopIteration:
                return json.loads(data)
            return value if end == len(data) else json.loads(data)

    return loads


def decoder_bench(count: int, repeat: int, chunk: int) -> dict[str, float]:
    """Records per second through the decoders alone (median of ``repeat`` passes)."""
    from flowview.protocol.events import parse_event
    from flowview.protocol.jsonstream import JsonStreamDecoder
    from flowview.protocol.sse import SSEDecoder

    frames = realistic_records(count)
    json_body = b"".join(j for j, _ in frames)
    sse_body = b"".join(s for _, s in frames)
    json_chunks = [json_body[i : i + chunk] for i in range(0, len(json_body), chunk)]
    sse_chunks = [sse_body[i : i + chunk] for i in range(0, len(sse_body), chunk)]
    sse_loads = _sse_json_parser()

    def json_decode(parse: bool) -> int:
        feed = JsonStreamDecoder().feed
        n = 0
        for c in json_chunks:
            values = feed(c)
            if parse:
                for v in values:
                    parse_event(v)
            n += len(values)
        return n

    def sse_decode(parse: bool) -> int:
        feed = SSEDecoder().feed
        n = 0
        for c in sse_chunks:
            for ev in feed(c):
                v = sse_loads(ev.data)
                if parse:
                    parse_event(v)
                n += 1
        return n

    cases: dict[str, Callable[[], int]] = {
        "json framing+decode": lambda: json_decode(False),
        "json framing+decode+parse_event": lambda: json_decode(True),
        "sse framing+decode": lambda: sse_decode(False),
        "sse framing+decode+parse_event": lambda: sse_decode(True),
    }
    out: dict[str, float] = {}
    print(
        f"decoder level (CPU time): {count} simulator events "
        f"({len(json_body) / count:.0f} B/record json), {chunk} B chunks, median of {repeat}"
    )
    for name, run in cases.items():
        times = []
        for _ in range(repeat):
            # CPU time: on a shared machine wall time mostly measures the neighbours.
            started = time.process_time()
            n = run()
            times.append(time.process_time() - started)
            assert n == count, (name, n)
        out[name] = round(count / statistics.median(times))
        print(f"  {name:<34} {out[name]:>9,} rec/s")
    return out


@dataclass
class Result:
    round: int
    consumer: str
    content_type: str
    messages: int
    lines: int
    seconds: float
    per_second: float
    exit_code: int
    # CPU seconds the consumer spent from its resume to its exit (sequential mode only): on a
    # shared machine this is the steadier measure of its ingest cost than wall time.
    cpu_seconds: float | None = None


def _cpu_so_far(pid: int) -> float:
    """utime + stime of a live process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _open_connections(server: RunningServer) -> int:
    return len(server.state.open_records)


async def _count_lines(reader: asyncio.StreamReader) -> int:
    data = await reader.read()
    return int(data.decode().strip() or 0)


async def run_pair(
    server: RunningServer,
    slugs: list[str],
    content_type: str,
    count: int,
    *,
    ceiling: bool = False,
    profile: Path | None = None,
    timeout: float = 300.0,
    concurrent: bool = False,
    round_no: int = 0,
    reverse: bool = False,
    baseline: Path | None = None,
) -> list[Result]:
    env = dict(os.environ)
    env.update(
        FLOWDOCK_TOKEN=server.token,
        FLOWDOCK_STREAM_URL=server.stream_url,
        FLOWDOCK_API_URL=server.api_url,
    )
    url = str(stream_url(server.stream_url, slugs, private=False, presence="offline"))
    commands = {
        "flowview tail": [
            sys.executable,
            "-m",
            "flowview",
            "tail",
            *slugs,
            "--content-type",
            content_type,
            "--count",
            str(count),
            "--presence",
            "offline",
            "--stall-timeout",
            "600",
        ],
        "naive (aiter_lines)": [
            sys.executable,
            "-c",
            NAIVE,
            url,
            server.token,
            str(count),
            content_type,
        ],
    }
    if baseline is not None:
        # The same command from another tree (e.g. main), timed in the same rounds: before
        # and after side by side, under the same load.
        commands[BASELINE] = list(commands["flowview tail"])
    if ceiling:
        # Reads and counts bytes only: how fast the server can feed a consumer at all.
        commands["raw bytes (ceiling)"] = [
            sys.executable,
            "-c",
            RAW,
            url,
            server.token,
            str(count),
            content_type,
        ]
    if profile is not None:
        tail = commands["flowview tail"]
        commands["flowview tail"] = [
            tail[0],
            "-m",
            "cProfile",
            "-o",
            str(profile.with_suffix(f".{content_type}.prof")),
            *tail[1:],
        ]
    before = await _open_connections(server)
    procs: dict[str, tuple[asyncio.subprocess.Process, asyncio.subprocess.Process]] = {}
    for name, argv in commands.items():
        read_fd, write_fd = os.pipe()
        tree = baseline if name == BASELINE and baseline is not None else ROOT
        consumer = await asyncio.create_subprocess_exec(
            *argv,
            cwd=tree,
            env=dict(env, PYTHONPATH=str(tree)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=asyncio.subprocess.DEVNULL,
        )
        counter = await asyncio.create_subprocess_exec(
            "wc", "-l", stdin=read_fd, stdout=asyncio.subprocess.PIPE
        )
        os.close(read_fd)
        os.close(write_fd)
        procs[name] = (consumer, counter)
    deadline = time.monotonic() + 30
    while await _open_connections(server) < before + len(commands):
        if time.monotonic() > deadline:
            raise RuntimeError("consumers did not connect")
        await asyncio.sleep(0.05)
    for consumer, _ in procs.values():
        os.kill(consumer.pid, signal.SIGSTOP)
    await asyncio.sleep(0.2)  # whatever was in flight lands before the burst
    burst_started = time.perf_counter()
    first, last = await server.simulator.burst(count)
    burst_seconds = time.perf_counter() - burst_started
    print(
        f"  burst of {count} published in {burst_seconds:.2f} s "
        f"(seq {first}..{last}); resuming consumers",
        file=sys.stderr,
    )

    async def finish(
        name: str, started: float, cpu_before: tuple[float, float] | None = None
    ) -> Result:
        consumer, counter = procs[name]
        try:
            code = await asyncio.wait_for(consumer.wait(), timeout)
        except TimeoutError:
            consumer.kill()
            code = await consumer.wait()
        seconds = time.perf_counter() - started
        cpu: float | None = None
        if cpu_before is not None:
            # The reaped consumer's whole-life CPU (plus its `wc`, if already reaped: a few
            # ms) minus what it had used before it was resumed (start-up, connecting).
            children_before, consumer_before = cpu_before
            cpu = round(_children_cpu() - children_before - consumer_before, 3)
        assert counter.stdout is not None
        lines = await _count_lines(counter.stdout)
        await counter.wait()
        return Result(
            round_no,
            name,
            content_type,
            count,
            lines,
            round(seconds, 3),
            round(count / seconds),
            code,
            cpu,
        )

    if concurrent:
        started = time.perf_counter()
        for consumer, _ in procs.values():
            os.kill(consumer.pid, signal.SIGCONT)
        return list(await asyncio.gather(*(finish(name, started) for name in procs)))
    # One at a time: each consumer gets the CPU the server leaves, without the other one
    # competing (the paused one's share of the burst waits in the server's queue).
    results = []
    order = list(procs.items())
    for name, (consumer, _) in reversed(order) if reverse else order:
        cpu_before = (_children_cpu(), _cpu_so_far(consumer.pid))
        started = time.perf_counter()
        os.kill(consumer.pid, signal.SIGCONT)
        results.append(await finish(name, started, cpu_before))
    return results


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument(
        "--content-type", nargs="+", default=["json", "sse"], choices=["json", "sse"]
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "tail.json")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also run a consumer that only counts bytes (server ceiling)",
    )
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="resume all consumers at once instead of one after the other",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PATH",
        help="run tail under cProfile, writing PATH.<type>.prof",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also run `flowview tail` from the source tree DIR (e.g. an export of main) in "
        "the same rounds, for a before/after comparison side by side",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds per content type (fresh burst each, alternating which "
        "consumer goes first); medians are reported (default 3)",
    )
    parser.add_argument(
        "--decoder",
        action="store_true",
        help="only time the decoders in this process (no server, no tail)",
    )
    parser.add_argument(
        "--chunk", type=int, default=65536, help="--decoder: bytes per fed chunk (default 65536)"
    )
    parser.add_argument(
        "--output-decoder",
        type=Path,
        default=ROOT / "bench" / "results" / "decoder.json",
        help="--decoder: where to write the figures",
    )
    args = parser.parse_args()
    if args.decoder:
        figures = decoder_bench(min(args.count, 100_000), max(args.repeat, 5), args.chunk)
        output = args.output_decoder
        output.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "benchmark": "decoders alone, records/s in CPU time",
            "python": platform.python_version(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "records_per_second": figures,
        }
        output.write_text(json.dumps(record, indent=2) + "\n")
        print(f"written to {output}")
        return 0

    options = ServerOptions(
        rate=0, keepalive=30.0, activity_interval=3600.0, queue_max=4 * args.count, history=1000
    )
    results: list[Result] = []
    async with run_server(options) as server:
        async with httpx.AsyncClient() as http:
            resp = await http.get(server.api_url + "/flows", auth=(server.token, ""))
            resp.raise_for_status()
            slugs = [
                f"{f['organization']['parameterized_name']}/{f['parameterized_name']}"
                for f in resp.json()
            ]
        for content_type in args.content_type:
            for round_no in range(args.repeat):
                print(
                    f"{content_type} round {round_no + 1}/{args.repeat}: {args.count} messages",
                    file=sys.stderr,
                )
                results.extend(
                    await run_pair(
                        server,
                        slugs,
                        content_type,
                        args.count,
                        ceiling=args.ceiling,
                        profile=args.profile,
                        concurrent=args.concurrent,
                        round_no=round_no,
                        reverse=round_no % 2 == 1,
                        baseline=args.baseline.resolve() if args.baseline else None,
                    )
                )

    print()
    print(
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
        f"{'consumer':<24} {'type':<5} {'messages':>9} {'rounds':>6} {'median s':>9} "
        f"{'msg/s':>9} {'speed-up':>8} {'CPU s':>6} {'CPU x':>6}   per round msg/s"
    )
    summary: dict[str, float] = {}
    cpu_summary: dict[str, float] = {}
    per_round_cpu: dict[str, dict[str, float]] = {}
    medians: dict[str, dict[str, float]] = {}
    for content_type in args.content_type:
        rows = [r for r in results if r.content_type == content_type]
        names = list(dict.fromkeys(r.consumer for r in rows))
        med = {
            name: statistics.median(r.seconds for r in rows if r.consumer == name) for name in names
        }
        medians[content_type] = med
        cpus = {
            name: [r.cpu_seconds for r in rows if r.consumer == name and r.cpu_seconds]
            for name in names
        }
        cpu_med = {name: statistics.median(v) if v else math.nan for name, v in cpus.items()}
        naive_name = next(n for n in names if n.startswith("naive"))
        for name in names:
            ratio = med[naive_name] / med[name]
            cpu_ratio = cpu_med[naive_name] / cpu_med[name]
            if name == "flowview tail":
                summary[content_type] = round(ratio, 2)
                cpu_summary[content_type] = round(cpu_ratio, 2)
            elif name == BASELINE:
                summary[f"{content_type} baseline"] = round(ratio, 2)
                cpu_summary[f"{content_type} baseline"] = round(cpu_ratio, 2)
            rounds = ", ".join(str(r.per_second) for r in rows if r.consumer == name)
            print(
                f"{name:<24} {content_type:<5} {args.count:>9} {args.repeat:>6} "
                f"{med[name]:>9.2f} {round(args.count / med[name]):>9} {ratio:>7.2f}x"
                f" {cpu_med[name]:>6.2f} {cpu_ratio:>5.2f}x   {rounds}"
            )
        # Per round (the consumers ran within seconds of each other): naive CPU / this CPU.
        for name in names:
            pairs = [
                (n.cpu_seconds, r.cpu_seconds)
                for n, r in zip(
                    (r for r in rows if r.consumer == naive_name),
                    (r for r in rows if r.consumer == name),
                    strict=True,
                )
                if n.cpu_seconds and r.cpu_seconds
            ]
            if name != naive_name and pairs:
                per_round = [a / b for a, b in pairs]
                per_round_cpu.setdefault(content_type, {})[name] = round(
                    statistics.median(per_round), 2
                )
                print(
                    f"  {name}: CPU speed-up per round "
                    + ", ".join(f"{x:.2f}x" for x in per_round)
                    + f" (median {statistics.median(per_round):.2f}x)"
                )
    ok = all(r.lines == r.messages and r.exit_code == 0 for r in results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "benchmark": "flowview tail vs naive aiter_lines consumer",
                "count": args.count,
                "rounds": args.repeat,
                "mode": "concurrent" if args.concurrent else "sequential",
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "baseline": str(args.baseline) if args.baseline else None,
                "speedup_of_medians": summary,
                "cpu_speedup_of_medians": cpu_summary,
                "cpu_speedup_per_round_median": per_round_cpu,
                "median_seconds": medians,
                "all_lines_received": ok,
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten to {args.output}")
    if not ok:
        print("some consumer did not print every message", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
