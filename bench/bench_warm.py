"""Warm start benchmark: time from the viewer's start to the first frame showing archived
lines, with a big archive and the server down (nothing but the archive can answer).

    uv run python bench/bench_warm.py                      # 1,000,000 archived messages
    uv run python bench/bench_warm.py --count 100000       # quicker
    uv run python bench/bench_warm.py --dir /tmp/warm      # keep (and reuse) the archive

The archive is generated with bench_archive.py's corpus (12 flows, 60 users, ~5% private
messages) under the file name the viewer uses for its account, every flow chosen.  Each run
starts a fresh `FlowviewApp` headless (Textual's test driver) and measures, on the loop's
clock, from `run_test()` to the first refresh after which the shown tab's log has rows, and
that frame's delay after the main screen's first (empty) frame, which Textual's start-up
dominates.  Results: bench/results/warm.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_archive import CHUNK, FLOWS, USERS, Corpus  # the archive bench's generator

from flowview.archive import Archive
from flowview.archive.paths import archive_path
from flowview.config import Settings
from flowview.protocol.auth import Token
from flowview.protocol.rest import Flow, User
from flowview.tui.app import FIRST_FRAME_ENV

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


async def one_run() -> dict[str, float]:
    from flowview.tui.app import FlowviewApp

    settings = Settings(
        stream_url=STREAM,
        api_url=API,
        flows=[f"acme/f{i}" for i in range(len(FLOWS))],
        me_id=ME,
        me_nick="user0",
    )
    mark = Path(tempfile.mkdtemp(prefix="flowview-warm-mark-")) / "first-frame"
    os.environ[FIRST_FRAME_ENV] = str(mark)  # the app writes its first frame's wall time
    # The app's start is its construction (anything it starts there counts).
    loop = asyncio.get_running_loop()
    started = loop.time()
    wall_started = time.time()
    cpu_started = time.process_time()
    app = FlowviewApp(settings, Token("bench"))
    app.animation_level = "none"
    cpu = 0.0
    first = None
    archived_wall = 0.0
    async with app.run_test(size=(120, 40)):
        while loop.time() - started < 30:
            try:
                key = app.main.active_key
            except LookupError:  # the main screen is not mounted yet
                key = None
            log_widget = app.main.log_for(key) if key is not None else None
            if log_widget is not None and log_widget.total_rows > 0:
                # The frame that paints those rows: the next refresh.  (Not `pilot.pause()`:
                # it waits until the app is idle, i.e. until every other tab is mounted.)
                painted = asyncio.Event()
                app.call_after_refresh(painted.set)
                await asyncio.wait_for(painted.wait(), 10)
                first = loop.time() - started
                archived_wall = time.time()
                cpu = time.process_time() - cpu_started
                break
            await asyncio.sleep(0.002)
        tabs = len(app.main.keys_in_order())
        held = sum(len(s) for s in app.stores().values())
    if first is None:
        raise RuntimeError("no archived frame within 30 s")
    first_frame = float(mark.read_text()) - wall_started
    return {
        "first_frame_s": first_frame,  # the main screen's first frame (empty)
        "first_archived_frame_s": first,
        "archived_after_first_frame_s": archived_wall - wall_started - first_frame,
        # CPU seconds of this process from start to the archived frame: on a loaded machine
        # the wall figures measure the load, this measures the work.
        "cpu_to_archived_frame_s": cpu,
        "tabs_when_shown": tabs,
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    raise SystemExit(main())
