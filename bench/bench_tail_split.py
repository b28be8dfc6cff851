"""Where `flowview tail`'s end-to-end CPU goes: start of the burst, printing, and exit.

bench_tail.py times tail from its resume (SIGCONT) to its exit; bench_tail_inproc.py times
the decoder + accept + printer pipeline alone. This bench splits the first figure: each tail
runs under a small wrapper that records its own CPU time (utime + stime) at checkpoints

  resume        SIGCONT arrived (the burst is waiting in the socket and the server's queue)
  first batch   the printer got its first batch
  last printed  the printer printed the last of --count events
  returned      run_tail returned (the client closed: httpx, the connection's tasks)
  atexit        the last atexit handler (after asyncio.run's shutdown)

and the parent takes the process's whole CPU from its rusage when reaped, so
``teardown = total - (atexit - resume)`` is what the interpreter's finalisation and the
kernel's process exit cost. Trees side by side (``--tree``, repeated), alternating order each
round, same server, same burst size; medians per tree. ``--sample`` also writes a statistical
profile (ITIMER_PROF, every 0.5 ms of CPU; function names inclusive/exclusive) per tree.

    uv run python bench/bench_tail_split.py --tree /tmp/main-tree --tree . --rounds 6
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowview.server.runner import RunningServer, ServerOptions, run_server  # noqa: E402

# Runs `flowview tail` as its console script does (cli.main() on sys.argv), with checkpoints.
WRAPPER = r"""
import atexit, collections, json, os, resource, signal, sys

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

marks = {}
incl, excl, samples = collections.Counter(), collections.Counter(), [0]

def on_prof(signum, frame):
    samples[0] += 1
    seen, leaf = set(), True
    while frame is not None:
        code = frame.f_code
        key = code.co_filename.rsplit("/", 2)[-1] + ":" + code.co_name
        if leaf:
            excl[key] += 1
            leaf = False
        if key not in seen:
            seen.add(key)
            incl[key] += 1
        frame = frame.f_back

def on_cont(signum, frame):
    marks.clear()
    marks["resume"] = cpu()
    if os.environ.get("SPLIT_SAMPLE"):
        signal.signal(signal.SIGPROF, on_prof)
        signal.setitimer(signal.ITIMER_PROF, 0.0005, 0.0005)

signal.signal(signal.SIGCONT, on_cont)

import flowview.tail as tail

batch = tail._Printer.batch
def counted(self, items):
    marks.setdefault("first_batch", cpu())
    result = batch(self, items)
    if result is not None or self.printed >= self.limit:
        marks.setdefault("last_printed", cpu())
    return result
tail._Printer.batch = counted

run_tail = tail.run_tail
async def timed(args):
    try:
        return await run_tail(args)
    finally:
        marks.setdefault("returned", cpu())
tail.run_tail = timed

def at_exit():  # registered first: runs last
    signal.setitimer(signal.ITIMER_PROF, 0, 0)
    marks["atexit"] = cpu()
    marks["profile"] = {
        "samples": samples[0],
        "inclusive": incl.most_common(40),
        "exclusive": excl.most_common(25),
    }
    with open(os.environ["SPLIT_OUT"], "w") as f:
        json.dump(marks, f)
atexit.register(at_exit)

from flowview import cli
sys.argv = ["flowview", *sys.argv[1:]]
raise SystemExit(cli.main())
"""

PHASES = ("to_first_batch", "printing", "to_returned", "to_atexit", "teardown", "total")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_run(
    server: RunningServer, slugs: list[str], tree: Path, content_type: str, count: int, sample: bool
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "split.json"
        env = dict(
            os.environ,
            FLOWDOCK_TOKEN=server.token,
            FLOWDOCK_STREAM_URL=server.stream_url,
            FLOWDOCK_API_URL=server.api_url,
            PYTHONPATH=str(tree),
            SPLIT_OUT=str(out_file),
        )
        if sample:
            env["SPLIT_SAMPLE"] = "1"
        argv = [
            sys.executable,
            "-c",
            WRAPPER,
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
        ]
        before = len(server.state.open_records)
        with open(os.devnull, "wb") as devnull:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=tree, env=env, stdout=devnull, stderr=asyncio.subprocess.DEVNULL
            )
        deadline = time.monotonic() + 30
        while len(server.state.open_records) <= before:
            if time.monotonic() > deadline:
                raise RuntimeError("tail did not connect")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        os.kill(proc.pid, signal.SIGSTOP)
        await asyncio.sleep(0.2)
        await server.simulator.burst(count)
        children, own = _children_cpu(), _cpu_of(proc.pid)
        os.kill(proc.pid, signal.SIGCONT)
        code = await asyncio.wait_for(proc.wait(), 300)
        total = _children_cpu() - children - own
        marks = json.loads(out_file.read_text())
    resume = marks["resume"]
    return {
        "exit_code": code,
        "to_first_batch": marks["first_batch"] - resume,
        "printing": marks["last_printed"] - marks["first_batch"],
        "to_returned": marks["returned"] - marks["last_printed"],
        "to_atexit": marks["atexit"] - marks["returned"],
        "teardown": total - (marks["atexit"] - resume),
        "total": total,
        "profile": marks["profile"],
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", type=Path, help="a flowview source tree")
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--content-type", nargs="+", default=["json", "sse"])
    parser.add_argument("--sample", action="store_true", help="also profile (ITIMER_PROF)")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "tail-split.json"
    )
    args = parser.parse_args()
    trees = [t.resolve() for t in (args.tree or [ROOT])]
    options = ServerOptions(
        rate=0, keepalive=30.0, activity_interval=3600.0, queue_max=4 * args.count, history=1000
    )
    runs: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    async with run_server(options) as server:
        async with httpx.AsyncClient() as http:
            resp = await http.get(server.api_url + "/flows", auth=(server.token, ""))
            resp.raise_for_status()
            slugs = [
                f"{f['organization']['parameterized_name']}/{f['parameterized_name']}"
                for f in resp.json()
            ]
        for content_type in args.content_type:
            for round_no in range(args.rounds):
                order = trees if round_no % 2 == 0 else trees[::-1]
                for tree in order:
                    run = await one_run(server, slugs, tree, content_type, args.count, args.sample)
                    run.update(tree=str(tree), content_type=content_type, round=round_no)
                    runs.append(run)
                    print(
                        f"{content_type} round {round_no + 1} {tree}: "
                        + " ".join(f"{k} {run[k]:.3f}" for k in PHASES),
                        file=sys.stderr,
                    )
    medians: dict[str, dict[str, dict[str, float]]] = {}
    print(f"\nCPU seconds, medians of {args.rounds} rounds, {args.count} events")
    print(f"{'tree':<40} {'type':<5} " + " ".join(f"{k:>14}" for k in PHASES))
    for content_type in args.content_type:
        for tree in trees:
            rows = [r for r in runs if r["tree"] == str(tree) and r["content_type"] == content_type]
            med = {k: round(statistics.median(r[k] for r in rows), 4) for k in PHASES}
            medians.setdefault(str(tree), {})[content_type] = med
            print(f"{tree!s:<40} {content_type:<5} " + " ".join(f"{med[k]:>14.3f}" for k in PHASES))
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "benchmark": "flowview tail end-to-end CPU split (bench_tail_split.py)",
                "count": args.count,
                "rounds": args.rounds,
                "python": platform.python_version(),
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "load_average": {"before": load_before, "after": load_after},
                "median_cpu_seconds": medians,
                "runs": runs,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"written to {args.output}")
    return 0 if all(r["exit_code"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
