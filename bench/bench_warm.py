"""Warm start benchmark: time from the viewer's start to the first frame showing archived
lines, with a big archive and the server down (nothing but the archive can answer).

    uv run python bench/bench_warm.py                      # 1,000,000 archived messages
    uv run python bench/bench_warm.py --count 100000       # quicker
    uv run python bench/bench_warm.py --dir /tmp/warm      # keep (and reuse) the archive
    uv run python bench/bench_warm.py --dir /tmp/warm --compare /tmp/base --runs 8
        # side by side: each round one fresh process of this tree and one of the tree at
        # /tmp/base (e.g. `git archive main | tar -x -C /tmp/base`), alternating

In --compare each run is a fresh process, so the figures also say what the imports cost: from
the process's start (its spawn) to the archived frame, wall and CPU.

The archive is generated with bench_archive.py's corpus (12 flows, 60 users, ~5% private
messages) under the file name the viewer uses for its account, every flow chosen.  Each run
starts a `FlowviewApp` headless (Textual's test driver) and measures, from its construction, on
the loop's clock and in CPU time, the main screen's frames as Textual hands them to the terminal
(`Frames`): the first one, and the first whose shown tab has rows (`archived_frame_number` 1:
no empty frame before it).  Earlier versions waited for one more refresh after seeing rows
(`call_after_refresh`), which, once the first tab was mounted, came only with the next tab:
their figures were ≈ 0.2 s later than the frame.  With the archive on a warm page cache, the
wall figures follow the machine's load; the CPU figures follow the work.
Results: bench/results/warm.json (--output to write elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# --compare's children run another tree's flowview under this bench (TREE_ENV names it).
sys.path.insert(
    0, os.environ.get("FLOWVIEW_BENCH_TREE") or str(Path(__file__).resolve().parents[1])
)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_archive import CHUNK, FLOWS, USERS, Corpus  # the archive bench's generator

from flowview.archive import Archive
from flowview.archive.paths import archive_path
from flowview.config import Settings
from flowview.protocol.auth import Token
from flowview.protocol.rest import Flow, User

TREE_ENV = "FLOWVIEW_BENCH_TREE"
API = "http://127.0.0.1:9/api"  # the discard port: the server is down
STREAM = "http://127.0.0.1:9/stream"
ME = USERS[0]


def build(directory: Path, count: int) -> Path:
    path = archive_path(API, ME, directory)
    if path.exists():
        with Archive.open(path, writable=False) as archive:
            if archive.count() >= count:
                return path
        for p in directory.glob(path.name + "*"):
            p.unlink()
    corpus = Corpus(seed=1)
    with Archive.for_account(API, ME, directory=directory, max_bytes=None) as archive:
        archive.set_users([User(id=u, nick=f"user{i}") for i, u in enumerate(USERS)])
        archive.set_flows(
            [
                Flow(id=f, name=f"F{i}", parameterized_name=f"f{i}", organization="acme")
                for i, f in enumerate(FLOWS)
            ]
        )
        done = 0
        while done < count:
            n = min(CHUNK, count - done)
            archive.ingest_many(corpus.events(done + 1, n))
            done += n
            if done % 200_000 < CHUNK:
                print(f"  queued {done:,}", file=sys.stderr)
        archive.flush(timeout=None)
        for flow in FLOWS[:6]:  # half the flows have a read position: unread counts at start
            newest = archive.newest_id(("flow", flow)) or 0
            archive.set_read_position(("flow", flow), max(0, newest - 5000))
    return path


class Frames:
    """The main screen's frames, seen where Textual hands each one to the terminal
    (`App._display`, private: this bench's only hook into Textual): when the first was painted
    and when the first showing archived lines was, on the loop's clock and in CPU time."""

    def __init__(self, app: Any, started: float, cpu_started: float) -> None:
        self.app = app
        self.started = started
        self.cpu_started = cpu_started
        self.count = 0
        self.first: float | None = None
        self.archived: float | None = None  # loop seconds from the start
        self.archived_cpu = 0.0
        self.archived_process_cpu = 0.0
        self.archived_wall = 0.0
        self.archived_frame = 0  # 1: the first frame already showed archived lines
        self.tabs = 0
        display = app._display

        def counted(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and type(screen).__name__ == "MainScreen":
                self.frame(screen)

        app._display = counted

    def frame(self, screen: Any) -> None:
        now = asyncio.get_running_loop().time() - self.started
        self.count += 1
        if self.first is None:
            self.first = now
        log_widget = screen.active_log
        if self.archived is None and log_widget is not None and log_widget.total_rows > 0:
            self.archived = now
            self.archived_process_cpu = time.process_time()  # since the process started
            self.archived_cpu = self.archived_process_cpu - self.cpu_started
            self.archived_wall = time.time()
            self.archived_frame = self.count
            self.tabs = len(screen.keys_in_order())


async def one_run(launch_order: bool = False) -> dict[str, float]:
    """One start; `launch_order`: as `flowview` starts (tui/launch.py), the archive's read begun
    before the app is imported (when the tree has `Prelude.early`)."""
    settings = Settings(
        stream_url=STREAM,
        api_url=API,
        flows=[f"acme/f{i}" for i in range(len(FLOWS))],
        me_id=ME,
        me_nick="user0",
    )
    extra: dict[str, Any] = {}
    if launch_order:
        try:
            from flowview.tui.warm_prelude import Prelude
        except ImportError:  # a tree from before it
            pass
        else:
            extra["prelude"] = Prelude.early(settings, Token("bench"))
    from flowview.tui.app import FlowviewApp

    # The app's start is its construction (anything it starts there counts).
    loop = asyncio.get_running_loop()
    started = loop.time()
    cpu_started = time.process_time()
    app = FlowviewApp(settings, Token("bench"), **extra)
    app.animation_level = "none"
    frames = Frames(app, started, cpu_started)
    async with app.run_test(size=(120, 40)):
        while frames.archived is None and loop.time() - started < 30:
            await asyncio.sleep(0.005)
        held = sum(len(s) for s in app.stores().values())
    if frames.archived is None or frames.first is None:
        raise RuntimeError("no archived frame within 30 s")
    return {
        "first_frame_s": frames.first,  # the main screen's first frame
        "first_archived_frame_s": frames.archived,
        "archived_after_first_frame_s": frames.archived - frames.first,
        "archived_frame_number": frames.archived_frame,  # 1: no empty frame before it
        # CPU seconds of this process from start to the archived frame: on a loaded machine
        # the wall figures measure the load, this measures the work.
        "cpu_to_archived_frame_s": frames.archived_cpu,
        "process_cpu_to_archived_frame_s": frames.archived_process_cpu,
        "wall_clock_at_archived_frame": frames.archived_wall,
        "tabs_when_shown": frames.tabs,
        "messages_in_memory": held,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, help="keep (and reuse) the archive here")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "warm.json"
    )
    parser.add_argument("--compare", type=Path, help="a tree to run side by side with this one")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--launch-order",
        action="store_true",
        help="with --compare: start as `flowview` does (the read begun before the app's import);"
        " compare the from-spawn figures then",
    )
    args = parser.parse_args()
    if args.one:  # one run in this fresh process (--compare's child), JSON on stdout
        os.environ["FLOWVIEW_DATA_DIR"] = str(args.dir)
        os.environ["FLOWVIEW_CONFIG_DIR"] = str(args.dir / "config")
        print(json.dumps(asyncio.run(one_run(args.launch_order))))
        return 0
    if args.compare is not None:
        return compare(args)
    directory = args.dir or Path(tempfile.mkdtemp(prefix="flowview-warm-"))
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["FLOWVIEW_DATA_DIR"] = str(directory)
    os.environ["FLOWVIEW_CONFIG_DIR"] = str(directory / "config")
    load_before = os.getloadavg()
    t = time.perf_counter()
    built = not archive_path(API, ME, directory).exists()
    path = build(directory, args.count)
    print(f"archive ready in {time.perf_counter() - t:.1f} s: {path}", file=sys.stderr)
    runs = [asyncio.run(one_run()) for _ in range(args.runs)]
    frames = [r["first_archived_frame_s"] for r in runs]
    after = [r["archived_after_first_frame_s"] for r in runs]
    results: dict[str, Any] = {
        "archived_messages": args.count,
        "archive_bytes": sum(p.stat().st_size for p in directory.glob(path.name + "*")),
        "runs": runs,
        "first_archived_frame_s_median": statistics.median(frames),
        "first_archived_frame_s_max": max(frames),
        "archived_after_first_frame_s_median": statistics.median(after),
        "archived_after_first_frame_s_max": max(after),
        "cpu_to_archived_frame_s_median": statistics.median(
            r["cpu_to_archived_frame_s"] for r in runs
        ),
        # the viewer's (with the bench around it) when the archive already existed
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "archive_built_in_this_process": built,
        "cpus": os.cpu_count(),
        "load": load_before,
        "load_after": os.getloadavg(),
    }
    print(json.dumps(results, indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def _child(tree: Path, directory: Path, launch_order: bool = False) -> dict[str, float]:
    """One run in a fresh process of `tree`'s flowview (TREE_ENV)."""
    command = [sys.executable, __file__, "--one", "--dir", str(directory)]
    if launch_order:
        command.append("--launch-order")
    env = {**os.environ, TREE_ENV: str(tree)}
    spawned = time.time()
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120, env=env)
    run: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if "wall_clock_at_archived_frame" in run:
        run["from_spawn_to_archived_frame_s"] = run["wall_clock_at_archived_frame"] - spawned
    return run


def compare(args: argparse.Namespace) -> int:
    """Alternating rounds (the order flips each round), medians per tree."""
    this = Path(__file__).resolve().parents[1]
    trees = {"this": this, "base": args.compare.resolve()}
    directory = args.dir or Path(tempfile.mkdtemp(prefix="flowview-warm-"))
    os.environ["FLOWVIEW_DATA_DIR"] = str(directory)
    build(directory, args.count)
    loads = [os.getloadavg()]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(2):  # warm-up: page cache, .pyc files
        for tree in trees.values():
            _child(tree, directory, args.launch_order)
    for i in range(args.runs):
        order = ["this", "base"] if i % 2 == 0 else ["base", "this"]
        for name in order:
            runs[name].append(_child(trees[name], directory, args.launch_order))
        loads.append(os.getloadavg())
        print(
            f"  round {i + 1}: "
            + ", ".join(f"{n} {runs[n][-1]['first_archived_frame_s']:.3f} s" for n in order),
            file=sys.stderr,
        )
    figures = (
        "first_archived_frame_s",
        "cpu_to_archived_frame_s",
        "first_frame_s",
        "archived_frame_number",
        "from_spawn_to_archived_frame_s",
        "process_cpu_to_archived_frame_s",
    )
    results: dict[str, Any] = {
        "archived_messages": args.count,
        "launch_order": args.launch_order,
        "trees": {name: str(tree) for name, tree in trees.items()},
        "medians": {
            name: {
                f: statistics.median(r[f] for r in runs[name])
                for f in figures
                if f in runs[name][0]
            }
            for name in trees
        },
        "runs": runs,
        "cpus": os.cpu_count(),
        "load": loads,
    }
    print(json.dumps(results["medians"], indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
