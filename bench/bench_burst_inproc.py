"""The viewer's burst path in one process, without sockets or Textual: CPU time per event.

The real `StreamClient` (typed events, event-stream: httpx, its connection, the SSE decoder,
the JSON decoder, `parse_event`, the accept step and the queue) reads a body served by an
`httpx.MockTransport` in 64 KiB chunks (httpcore's read size), and the real `StreamPump`
routes its batches into a `Router`, with the app's `GcPolicy` installed (and told about the
burst, on trees whose pump can). The body is a 10,000-message burst into one flow recorded
from the project's server (`Simulator.burst`, the code behind ``POST /_sim/burst``), framed as
it writes them. What bench_app.py's burst adds on top: the socket, Textual's paint and flushes.

Figures, per child: main-thread CPU from the first chunk to the last event routed
(`route_cpu_s`), the young collections inside that window (count, CPU), and the collection
the GC policy runs after the burst (`after_gc_s`, outside the window).

Trees side by side: every round runs one child process per tree (``--tree DIR``, repeated),
alternating their order; each child imports flowview from its tree:

    uv run python bench/bench_burst_inproc.py --tree /tmp/main-tree --tree . --rounds 7

``--profile PREFIX`` writes a cProfile of each child's last pass to PREFIX.<n>.prof.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 64 * 1024
COUNT = 10_000


def record_body(count: int) -> bytes:
    """The event-stream body of a `count`-message burst into one flow, from a real server."""
    import httpx

    from flowview.server.runner import ServerOptions, ServerThread

    async def main(server: ServerThread) -> bytes:
        flow = server.simulator.flows[0]
        loop = server.loop
        assert loop is not None
        got = bytearray()
        headers = {
            "Accept": "text/event-stream",
            "Authorization": f"Bearer {server.token}",
            "Accept-Encoding": "identity",
        }
        async with (
            httpx.AsyncClient(timeout=60) as http,
            http.stream("GET", f"{server.stream_url}?filter={flow.slug}", headers=headers) as r,
        ):
            burst = asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(server.simulator.burst(count, flow), loop)
            )
            seen = 0
            async for chunk in r.aiter_bytes():
                got += chunk
                seen += chunk.count(b"\ndata: ")
                if seen >= count and got.endswith(b"\n\n"):
                    break
            await burst
        return bytes(got)

    server = ServerThread(ServerOptions(rate=0.0, activity_interval=3600.0)).start()
    try:
        return asyncio.run(main(server))
    finally:
        server.stop()


class _Timer:
    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self.handle = handle

    def stop(self) -> None:
        self.handle.cancel()


async def _run_once(body: bytes, count: int) -> dict[str, Any]:
    import httpx

    from flowview.model.router import Router
    from flowview.protocol.auth import Token
    from flowview.protocol.client import StreamClient, StreamConfig
    from flowview.protocol.events import Event
    from flowview.tui.gc_policy import GcPolicy
    from flowview.tui.stream_pump import StreamPump

    loop = asyncio.get_running_loop()

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for start in range(0, len(body), CHUNK):
                yield body[start : start + CHUNK]
                await asyncio.sleep(0)  # a socket read would yield to the loop too
            await asyncio.Event().wait()  # the stream stays open

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Body())

    config = StreamConfig(
        stream_url="http://stream.invalid",
        token=Token("t0k3n-bench"),
        flows=("org/flow",),
        private=False,
        presence="offline",
        content_type="sse",
        stall_timeout=600.0,
    )
    router = Router(me_id="1", me_nick="me")
    handed: list[int] = []
    burst_over = asyncio.Event()
    collections = {"young": 0, "cpu": 0.0, "started": 0.0}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections["started"] = time.thread_time()
        else:
            collections["young"] += 1
            collections["cpu"] += time.thread_time() - collections["started"]

    def set_timer(delay: float, callback: Callable[[], Awaitable[None]]) -> _Timer:
        return _Timer(loop.call_later(delay, lambda: loop.create_task(callback())))  # type: ignore[arg-type]

    async def on_flush(batch: Any) -> None:
        pass

    def on_events(events: list[Event]) -> None:
        handed.append(len(events))

    policy = GcPolicy(loop.time)
    kwargs: dict[str, Any] = {}
    if "on_burst" in inspect.signature(StreamPump).parameters:

        def on_burst(on: bool) -> None:
            policy.burst(on)
            if not on:
                burst_over.set()

        kwargs["on_burst"] = on_burst
    pump = StreamPump(
        router,
        clock=loop.time,
        wall_clock=lambda: datetime.now(UTC),
        set_timer=set_timer,
        on_flush=on_flush,
        wants_alert=lambda key: False,
        on_state=lambda change: None,
        on_events=on_events,
        **kwargs,
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = StreamClient(config, http=http)
    policy.install()
    gc.collect()
    gc.callbacks.append(on_gc)
    try:
        started = time.thread_time()
        task = loop.create_task(pump.run(client))
        while pump.events_routed < count:
            await asyncio.sleep(0.001)
        routed_cpu = time.thread_time() - started
        window = dict(collections)
        gc_before = time.thread_time()
        if kwargs:
            await asyncio.wait_for(burst_over.wait(), 5.0)
        else:
            await asyncio.sleep(1.0)
            pump.hand_over_routed()
        after = collections["cpu"] - window["cpu"]
        del gc_before
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        gc.callbacks.remove(on_gc)
        policy.uninstall()
        await http.aclose()
    stored = sum(len(s) for s in router.stores.values())
    assert stored == count, f"{stored} stored, {count} expected"
    return {
        "route_cpu_s": routed_cpu,
        "young_in_window": window["young"],
        "gc_in_window_s": window["cpu"],
        "after_gc_s": after,
        "handed": sum(handed),
    }


def child(body_file: str, count: int, passes: int, profile: str) -> None:
    body = Path(body_file).read_bytes()
    import flowview

    results = []
    for i in range(passes):
        profiler = None
        if profile and i == passes - 1:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        results.append(asyncio.run(_run_once(body, count)))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
    best = min(results, key=lambda r: r["route_cpu_s"])
    best["flowview"] = str(Path(flowview.__file__).parent)
    print(json.dumps(best))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", type=Path, help="a flowview source tree")
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=2, help="runs per child (best taken)")
    parser.add_argument("--body", type=Path, help="a recorded body to reuse (else recorded)")
    parser.add_argument("--profile", default="", help="cProfile prefix (one file per child)")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        body_file, count, passes, profile = args.child
        child(body_file, int(count), int(passes), profile)
        return 0
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_app import calibrate

    trees = [t.resolve() for t in (args.tree or [ROOT])]
    tmp = Path(tempfile.mkdtemp(prefix="bench-burst-inproc-"))
    body_file = args.body
    if body_file is None or not body_file.exists():
        body = record_body(args.count)
        body_file = body_file or tmp / "body.sse"
        body_file.write_bytes(body)
    results: dict[str, Any] = {
        "benchmark": "viewer burst path in process (MockTransport), CPU per 10,000 events",
        "count": args.count,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "calibration_loop_ms": calibrate(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    per: dict[str, list[dict[str, Any]]] = {str(t): [] for t in trees}
    for rnd in range(args.rounds):
        for n, tree in enumerate(trees if rnd % 2 == 0 else list(reversed(trees))):
            prof = f"{args.profile}.{rnd}-{n}.prof" if args.profile else ""
            env = dict(os.environ, PYTHONPATH=str(tree))
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(body_file),
                    str(args.count),
                    str(args.passes),
                    prof,
                ],
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            got = json.loads(out.strip().splitlines()[-1])
            per[str(tree)].append(got)
            print(
                f"round {rnd + 1} {tree}: {got['route_cpu_s'] * 1000:.0f} ms CPU, "
                f"{got['young_in_window']} collections ({got['gc_in_window_s'] * 1000:.0f} ms), "
                f"after {got['after_gc_s'] * 1000:.0f} ms",
                file=sys.stderr,
            )
    results["calibration_loop_ms_after"] = calibrate()
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    summary: dict[str, Any] = {}
    for tree, rows in per.items():
        med = {
            k: statistics.median(r[k] for r in rows)
            for k in ("route_cpu_s", "gc_in_window_s", "after_gc_s", "young_in_window")
        }
        summary[tree] = {"median": med, "runs": rows}
        print(
            f"{tree:<40} median {med['route_cpu_s'] * 1000:6.1f} ms CPU "
            f"({med['route_cpu_s'] / args.count * 1e6:.1f} us/event), young collections "
            f"{med['young_in_window']:.0f} ({med['gc_in_window_s'] * 1000:.1f} ms), after the "
            f"burst {med['after_gc_s'] * 1000:.1f} ms"
        )
    results["trees"] = summary
    print(
        f"calibration loop {results['calibration_loop_ms']:.0f} -> "
        f"{results['calibration_loop_ms_after']:.0f} ms, load average "
        f"{results['load_average'][0]} -> {results['load_average_after'][0]}"
    )
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
