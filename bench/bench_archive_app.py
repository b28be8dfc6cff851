"""The viewer with a 1,000,000-message archive (issue 11): start-up to the first frame, and RSS
over minutes of switching, scrolling and searching.

    uv run python bench/bench_archive.py --dir /tmp/arc            # builds /tmp/arc/bench.sqlite3
    uv run python bench/bench_archive_app.py --archive /tmp/arc/bench.sqlite3 --seconds 180

The archive built by bench_archive.py is copied into a private data directory under the name the
viewer uses for the bundled server's user, with its 12 flows and 60 users mapped onto the
server's flows and users (so the messages belong to conversations the viewer shows).  Then:

1. start-up: `python -m flowview` (saved profile, headless driver, bytecode cache warm) to the
   main screen's first painted frame (bench_app.startup_once), with that archive and with an
   empty data directory, medians of --runs.  Until the viewer reads its archive at start (warm
   start), this is the start-up with a 1M archive present, not "to the first archived frame".
2. RSS: the app (headless, 120x40, in its own process) against the server's simulator at
   --rate events/s for --seconds: every 2 s one step of a cycle of tab switches, page-ups, Home /
   End, and a search typed into ctrl+f (a word of the archive's vocabulary); VmRSS every 10 s,
   VmHWM at the end.  The archive's writer stores the live stream meanwhile.
3. with --day (instead of 2): a compressed day, flow after flow (ctrl+n): --pages page-ups far
   up into its archived history, End, and every other visit a search typed into ctrl+f with a
   jump (Enter) and back; VmRSS every 5 s, and how many archived messages were paged through.

Results go to bench/results/archive-app.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

from bench_app import (  # noqa: E402  (after the path set-up)
    SIZE,
    Server,
    child_env,
    child_settings,
    proc_status,
    settle,
    startup_once,
    wait_for,
    write_profile,
)

# One step every STEP seconds, in this order, round and round.
CYCLE: tuple[tuple[str, ...], ...] = (
    ("ctrl+n",),
    ("pageup", "pageup", "pageup"),
    ("home",),
    ("end",),
    ("ctrl+f", "<word>"),
    ("enter",),
    ("escape", "escape"),
    ("ctrl+p",),
    ("pageup", "pageup"),
    ("end",),
)
STEP = 2.0


def emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def sqlite_mb() -> float | None:
    """Memory SQLite holds in this process (page caches of the archive's connections), from
    the shared library Python's sqlite3 uses; None when it cannot be asked."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    try:
        used = ctypes.CDLL(name).sqlite3_memory_used
    except (OSError, AttributeError):
        return None
    used.restype = ctypes.c_int64
    return float(used()) / (1 << 20)


def allocator_mb() -> dict[str, float]:
    """Where the process's heap memory sits (BENCH_ALLOC=1): pymalloc's arenas (1 MiB each) and
    the bytes in their used blocks, and glibc's heap (all arenas: in use, free but kept, mmap).
    RSS far above the live objects is one of these keeping freed memory."""
    import ctypes
    import tempfile as _tempfile

    out: dict[str, float] = {}
    with _tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(sink.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        text = sink.read().decode("ascii", "replace")
    for label, name in (
        ("# arenas allocated current", "py_arenas"),
        ("# bytes in allocated blocks", "py_used_mb"),
        ("# bytes in available blocks", "py_free_blocks_mb"),
        ("Total", "py_total_mb"),
    ):
        found = re.search(re.escape(label) + r"\s*=\s*([\d,]+)", text)
        if found:
            value = float(found.group(1).replace(",", ""))
            out[name] = value if name == "py_arenas" else round(value / (1 << 20), 1)

    class Mallinfo2(ctypes.Structure):
        _fields_ = [
            (f, ctypes.c_size_t)
            for f in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return out
    fn.restype = Mallinfo2
    info = fn()
    mib = float(1 << 20)
    out.update(
        glibc_heap_mb=round(info.arena / mib, 1),
        glibc_used_mb=round(info.uordblks / mib, 1),
        glibc_free_mb=round(info.fordblks / mib, 1),
        glibc_mmap_mb=round(info.hblkhd / mib, 1),
    )
    return out


def garbage_census() -> dict[str, Any]:
    """BENCH_ALLOC=2: what a complete collection would free now, by type (the most common
    30), and the heap's used blocks before and after it.  Collects, so it changes the run."""
    import collections
    import gc

    before = allocator_mb().get("py_used_mb", 0.0)
    frozen = gc.get_freeze_count()
    callbacks = gc.callbacks[:]
    gc.callbacks.clear()  # the app's policy would freeze the saved garbage again
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.unfreeze()  # what the app's policy froze is examined too
        found = gc.collect()
        counts = collections.Counter(type(o).__qualname__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.collect()
        gc.callbacks.extend(callbacks)
    after = allocator_mb().get("py_used_mb", 0.0)
    gc.freeze()  # as the policy would have after a complete collection
    return {
        "objects": found,
        "frozen_before": frozen,
        "used_before_mb": before,
        "used_after_mb": after,
        "top": counts.most_common(30),
    }


def live_census() -> dict[str, Any]:
    """BENCH_ALLOC=3: the objects the collector tracks (containers) by type, with their own
    sizes (sys.getsizeof, not what they refer to), the 40 biggest types; plus str and bytes
    reached from them (untracked, counted once)."""
    import collections
    import gc

    sizes: collections.Counter[str] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    seen: set[int] = set()
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
        for ref in gc.get_referents(obj):
            if type(ref) in (str, bytes) and id(ref) not in seen:
                seen.add(id(ref))
                kind = type(ref).__name__
                counts[kind] += 1
                sizes[kind] += sys.getsizeof(ref)
    return {
        "top": [(n, counts[n], round(b / (1 << 20), 2)) for n, b in sizes.most_common(40)],
        "total_mb": round(sum(sizes.values()) / (1 << 20), 1),
    }


def heap_details(sample: dict[str, float]) -> None:
    """BENCH_ALLOC=1: the allocators' figures into `sample`; =2 also a census of what a
    complete collection frees (/tmp/flowview-garbage.jsonl); =3 of the live containers
    (/tmp/flowview-live-census.jsonl).  2 and 3 collect or walk the heap: they change the run."""
    mode = os.environ.get("BENCH_ALLOC")
    if not mode:
        return
    sample.update(allocator_mb())
    census = {"2": ("garbage", garbage_census), "3": ("live-census", live_census)}.get(mode)
    if census is not None:
        name, take = census
        with open(f"/tmp/flowview-{name}.jsonl", "a") as out:
            out.write(json.dumps({"t": sample["t"], **take()}) + "\n")


def gc_probe() -> dict[str, Any]:
    """BENCH_GC_PROBE=1: how long the policy's complete collection (unfreeze, collect) takes
    at the end of the run, in CPU and wall ms, and what it found; =profile runs it under
    cProfile first (/tmp/flowview-gc-profile.txt: Python code run inside the collection, such as
    finalizers and callbacks) and then measures the next one."""
    out: dict[str, Any] = {"tracked": len(gc.get_objects()) + gc.get_freeze_count()}
    if os.environ.get("BENCH_GC_PROBE") == "profile":
        import cProfile
        import io
        import pstats

        gc.unfreeze()
        profile = cProfile.Profile()
        profile.enable()
        gc.collect()
        profile.disable()
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
        Path("/tmp/flowview-gc-profile.txt").write_text(text.getvalue())
    for name, step in (("unfreeze", gc.unfreeze), ("collect", gc.collect)):
        wall, cpu = time.perf_counter(), time.process_time()
        found = step()
        out[name] = {
            "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
            "cpu_ms": round((time.process_time() - cpu) * 1000, 1),
            "found": found,
        }
    return out


# ============================================================================ child side


def child_app(args: argparse.Namespace) -> tuple[Any, Callable[[str], None]]:
    """The child's FlowviewApp, and `press(key)`: a key as the terminal would send it."""
    from textual import events

    from flowview.protocol.auth import Token
    from flowview.tui.app import FlowviewApp

    app = FlowviewApp(child_settings(args), Token(os.environ["FLOWDOCK_TOKEN"]))

    def press(key: str) -> None:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)

    return app, press


async def go_live(app: Any, pilot: Any) -> None:
    """Wait until the app streams and is quiet, then say so to the parent ("ready")."""
    await wait_for(
        lambda: app.session is not None and app.main.status.state == "live",
        60.0,
        "the app to go live",
    )
    await settle(app, quiet=0.3, timeout=3.0)
    await pilot.pause()
    emit({"ready": True, "pid": os.getpid(), "rss_mb": proc_status()["VmRSS"]})


async def child_rss(args: argparse.Namespace) -> None:
    from bench_archive import Corpus

    words = Corpus(seed=1).words[:200]
    app, press = child_app(args)
    async with app.run_test(size=SIZE) as pilot:
        await go_live(app, pilot)
        samples: list[dict[str, float]] = []
        start = time.monotonic()
        next_sample = start
        steps = 0
        searches = 0
        while (now := time.monotonic()) - start < args.seconds:
            if now >= next_sample:
                next_sample += 10.0
                status = proc_status()
                samples.append(
                    {
                        "t": round(now - start, 1),
                        "rss_mb": status["VmRSS"],
                        "sqlite_mb": sqlite_mb() or 0.0,
                        "stored": float(sum(len(s) for s in app.stores().values())),
                    }
                )
            for key in CYCLE[steps % len(CYCLE)]:
                if key == "<word>":
                    searches += 1
                    for char in words[(searches * 37) % len(words)]:
                        press(char)
                        await asyncio.sleep(0.05)  # typed: a search per character
                else:
                    press(key)
                    await asyncio.sleep(0.1)
            steps += 1
            await asyncio.sleep(STEP)
        emit(
            {
                "result": {
                    "samples": samples,
                    "steps": steps,
                    "searches": searches,
                    "hwm_mb": proc_status()["VmHWM"],
                    "final_rss_mb": proc_status()["VmRSS"],
                    "final_sqlite_mb": sqlite_mb(),
                }
            }
        )


# A compressed day: per visit of a flow, PAGES page-ups into its archived history (sampling as
# it goes), End, and every other visit a search typed into ctrl+f with a jump to a hit.
DAY_SAMPLE_EVERY = 5.0  # seconds between two RSS samples


def _oldest_id(app: Any, key: Any) -> int | None:
    store = app.stores().get(key)
    if store is None:
        return None
    return min((m.id for m in store if m.id is not None), default=None)


class HeapTrace:
    """BENCH_TRACEMALLOC=1: where the Python heap alive at the end was allocated (slows the
    run; SQLite's own memory is not traced, `sqlite_mb` is).  =S (seconds): what grew
    between S seconds in (the budget full by then) and the end, by line."""

    def __init__(self, after: float) -> None:
        import tracemalloc

        self.after = after
        self.baseline: Any = None
        tracemalloc.start(1)

    @classmethod
    def from_env(cls) -> HeapTrace | None:
        value = os.environ.get("BENCH_TRACEMALLOC")
        return cls(float(value)) if value else None

    def maybe_baseline(self, elapsed: float) -> None:
        import gc
        import tracemalloc

        if self.after > 1 and self.baseline is None and elapsed >= self.after:
            gc.collect()
            self.baseline = tracemalloc.take_snapshot()

    def report(self) -> list[str]:
        import gc
        import tracemalloc

        gc.collect()
        final = tracemalloc.take_snapshot()
        tracemalloc.stop()
        if self.baseline is not None:
            return [
                f"{g.size_diff / 2**20:+7.2f} MB {g.count_diff:+8d} {g.traceback[0]}"
                for g in final.compare_to(self.baseline, "lineno")[:40]
            ]
        return [
            f"{s.size / 2**20:7.2f} MB {s.count:8d} {s.traceback[0]}"
            for s in final.statistics("lineno")[:40]
        ]


def end_of_run_heap(trace: HeapTrace | None) -> None:
    """The end-of-run heap reports asked for: BENCH_GC_PROBE, BENCH_TRACEMALLOC."""
    if os.environ.get("BENCH_GC_PROBE"):
        emit({"gc_probe": gc_probe()})
    if trace is not None:
        top = trace.report()
        emit({"heap_top": top})
        Path(os.environ.get("BENCH_HEAP_TOP", "/tmp/flowview-heap-top.txt")).write_text(
            "\n".join(top) + "\n"
        )


async def child_day(args: argparse.Namespace) -> None:
    """The viewer with the 1M archive and the server at --rate, scrolled far up into archived
    history in flow after flow for --seconds: does its memory stay bounded?"""
    from bench_archive import Corpus

    words = Corpus(seed=1).words[:200]
    app, press = child_app(args)
    async with app.run_test(size=SIZE) as pilot:
        await go_live(app, pilot)
        trace = HeapTrace.from_env()
        samples: list[dict[str, float]] = []
        reached: dict[Any, tuple[int, int]] = {}  # key -> (newest at first visit, oldest seen)
        start = time.monotonic()
        next_sample = start
        visits = searches = presses = 0

        def sample() -> None:
            nonlocal next_sample
            now = time.monotonic()
            if now < next_sample:
                return
            next_sample = now + DAY_SAMPLE_EVERY
            if trace is not None:
                trace.maybe_baseline(now - start)
            status = proc_status()
            samples.append(
                {
                    "t": round(now - start, 1),
                    "rss_mb": status["VmRSS"],
                    "anon_mb": status["RssAnon"],
                    "sqlite_mb": sqlite_mb() or 0.0,
                    "stored": float(sum(len(s) for s in app.stores().values())),
                    "presses": float(presses),
                }
            )
            if len(samples) % 6 == 1:
                heap_details(samples[-1])
            emit({"sample": samples[-1]})

        while time.monotonic() - start < args.seconds:
            key = app.main.active_key
            if key is not None and key[0] == "flow":
                store = app.stores().get(key)
                newest = max((m.id for m in store or () if m.id is not None), default=0)
                first, _ = reached.get(key, (newest, newest))
                log_widget = app.main.log_for(key)
                if args.page_key == "home" and log_widget is not None:
                    log_widget.focus()  # Home in the message input moves its cursor
                for _ in range(args.pages):
                    # Home: to the top, which loads the archived page above it (100 messages);
                    # pageup: a screen at a time (the way a reader scrolls, much slower).
                    press(args.page_key)
                    presses += 1
                    await asyncio.sleep(0.05 if args.page_key == "home" else 0.01)
                    sample()
                    oldest = _oldest_id(app, key)
                    if oldest is not None:
                        low = reached.get(key, (first, oldest))[1]
                        reached[key] = (first, min(low, oldest))
                press("end")
                await asyncio.sleep(0.3)
                if visits % 2:
                    searches += 1
                    press("ctrl+f")
                    await asyncio.sleep(0.2)
                    for char in words[(searches * 37) % len(words)]:
                        press(char)
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(0.3)
                    press("enter")  # jump to the best hit, in its flow, with context
                    await asyncio.sleep(0.5)
                    press("escape")
                    press("escape")
                    await asyncio.sleep(0.2)
                    press("end")
            visits += 1
            press("ctrl+n")
            await asyncio.sleep(0.3)
            sample()
        end_of_run_heap(trace)
        paged = 0
        archive = app.session.archive.archive if app.session is not None else None
        if archive is not None:
            for (kind, ident), (first, low) in reached.items():
                rows = archive.query(
                    "SELECT count(*) FROM messages WHERE conv = ? AND id >= ? AND id <= ?",
                    (f"{kind}:{ident}", low, first),
                )
                paged += int(rows[0][0])
        emit(
            {
                "result": {
                    "samples": samples,
                    "visits": visits,
                    "searches": searches,
                    "pageups": presses,
                    "archived_messages_paged_through": paged,
                    "flows_visited": len(reached),
                    "peak_sampled_rss_mb": max(s["rss_mb"] for s in samples),
                    "hwm_mb": proc_status()["VmHWM"],
                    "final_rss_mb": proc_status()["VmRSS"],
                    "final_sqlite_mb": sqlite_mb(),
                    "final_stored": sum(len(s) for s in app.stores().values()),
                    "gc": {
                        "freezes": app.gc_policy.freezes,
                        "complete_collections": app.gc_policy.full_collections,
                        "early": getattr(app.gc_policy, "early_collections", None),
                        "last_complete_ms": round(
                            getattr(app.gc_policy, "last_full_seconds", 0.0) * 1000, 1
                        ),
                        "tracked_objects": len(gc.get_objects()) + gc.get_freeze_count(),
                    },
                }
            }
        )


# ============================================================================ parent side


def prepare_archive(source: Path, data: Path, server: Server) -> Path:
    """The viewer's archive file for `server`'s user in `data`: a copy of `source`
    (bench_archive.py's database) with its flows and users mapped onto the server's.

    The mapping rewrites every row once (minutes), so its result is kept beside `source` and
    reused while `source` is unchanged (the seeded server's ids are the same every run)."""
    from flowview.archive import archive_path
    from flowview.archive.paths import create_private_file, ensure_private_dir
    from flowview.protocol.auth import Token
    from flowview.protocol.rest import RestClient

    async def ask() -> tuple[str, list[str], list[str]]:
        rest = RestClient(server.process.api_url, Token(server.process.token))
        try:
            me = await rest.user()
            flows = [f.id for f in await rest.flows() if f.joined]
            users = [u.id for u in await rest.users()]
            return str(me.id), flows, users
        finally:
            await rest.aclose()

    me, flows, users = asyncio.run(ask())
    mapped = source.with_name(f"{source.stem}-viewer-{me}.sqlite3")
    if not mapped.is_file() or mapped.stat().st_mtime < source.stat().st_mtime:
        _map_ids(source, mapped, flows, users)
    ensure_private_dir(data)
    target = archive_path(server.process.api_url, me, data)
    create_private_file(target)
    shutil.copyfile(mapped, target)
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('api_url', ?), ('user_id', ?)",
            (server.process.api_url, me),
        )
        (count,) = conn.execute("SELECT count(*) FROM messages").fetchone()
    finally:
        conn.close()
    print(f"archive ready: {count:,} messages in {target}", file=sys.stderr)
    return target


def _map_ids(source: Path, mapped: Path, flows: list[str], users: list[str]) -> None:
    """One pass over the messages: bench flows and users become the server's."""
    started = time.perf_counter()
    partial = mapped.with_suffix(".partial")
    shutil.copyfile(source, partial)
    conn = sqlite3.connect(partial, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA cache_size=-262144")
        old_flows = [r[0] for r in conn.execute("SELECT id FROM flows ORDER BY id")]
        old_users = [r[0] for r in conn.execute("SELECT id FROM users ORDER BY id")]
        conv_case = " ".join(
            f"WHEN 'flow:{old}' THEN 'flow:{flows[i % len(flows)]}'"
            for i, old in enumerate(old_flows)
        )
        user_case = " ".join(
            f"WHEN '{old}' THEN '{users[i % len(users)]}'" for i, old in enumerate(old_users)
        )
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            f"UPDATE messages SET conv = CASE conv {conv_case} ELSE conv END,"
            f" user = CASE user {user_case} ELSE user END"
        )
        conn.execute("DELETE FROM flows")
        conn.execute("DELETE FROM users")
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    partial.replace(mapped)
    print(f"mapped ids in {time.perf_counter() - started:.0f} s: {mapped}", file=sys.stderr)


def bench_startup(server: Server, config: Path, data: Path, runs: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "flowview"]
    empty = Path(tempfile.mkdtemp(prefix="flowview-bench-empty-"))
    found: dict[str, list[float]] = {"with_1m_archive": [], "empty_data_dir": []}
    kinds = [("with_1m_archive", data), ("empty_data_dir", empty)]
    for run in range(runs):
        for name, directory in kinds if run % 2 == 0 else kinds[::-1]:  # alternate the order
            env = child_env(
                warm=True, FLOWVIEW_CONFIG_DIR=str(config), FLOWVIEW_DATA_DIR=str(directory)
            )
            found[name].append(startup_once(argv, env, "headless", grace=1.0))
    shutil.rmtree(empty, ignore_errors=True)
    result: dict[str, Any] = {
        name: {"runs": v, "median_s": statistics.median(v)} for name, v in found.items()
    }
    return result


def bench_rss(
    server: Server,
    data: Path,
    seconds: float,
    day_pages: int | None = None,
    page_key: str = "pageup",
) -> dict[str, Any]:
    env = child_env(warm=True, FLOWVIEW_DATA_DIR=str(data), **server.env())
    argv = [sys.executable, __file__, "--child", "--flows", ",".join(server.slugs)]
    if day_pages is not None:
        argv += ["--day", "--pages", str(day_pages), "--page-key", page_key]
    proc = subprocess.Popen(
        [*argv, "--seconds", str(seconds)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        text=True,
    )
    assert proc.stdout is not None
    reports: list[dict[str, Any]] = []
    try:
        for line in proc.stdout:
            if line.startswith("{"):
                reports.append(json.loads(line))
                print(f"  {line.strip()[:200]}", file=sys.stderr)
                for row in reports[-1].get("heap_top", ()):
                    print(f"    {row}", file=sys.stderr)
                if "result" in reports[-1]:
                    break
    finally:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    ready = next(r for r in reports if r.get("ready"))
    result = next(r["result"] for r in reports if "result" in r)
    return {"rss_at_live_mb": ready["rss_mb"], **result}


# The archive's generated ids go up to 1,000,000 in every flow; the bundled server numbers each
# flow from 1.  For scrolling up to reach the archive, the server's messages must be newer than
# every archived one: --day restarts it from a data directory where each flow's last id is this
# and its seeded history is gone (REST then answers with live messages only).
DAY_FIRST_ID = 2_000_000


class DayServer(Server):
    """The bundled server numbering new messages above the archive's ids (DAY_FIRST_ID)."""

    def __init__(self, *, flows: int, rate: float, data: Path) -> None:
        from flowview.server.persist import DB_NAME
        from flowview.server.runner import ServerOptions, spawn_server_process

        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        options = ServerOptions(
            flows=flows, rate=rate, users=8, seed=1, keepalive=30.0, data=str(data)
        )
        first = spawn_server_process(options, stderr=subprocess.DEVNULL)
        first.terminate()  # a clean shutdown saves its state
        conn = sqlite3.connect(data / DB_NAME, isolation_level=None)
        try:
            conn.execute("DELETE FROM messages")
            conn.execute("DELETE FROM threads")
            conn.execute(
                "INSERT OR REPLACE INTO convs (conv, last_id) SELECT 'flow:' || id, ? FROM flows",
                (DAY_FIRST_ID,),
            )
        finally:
            conn.close()
        self.process = spawn_server_process(options, stderr=subprocess.DEVNULL)
        self.slugs = asyncio.run(self._joined_flows())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, help="bench_archive.py's bench.sqlite3")
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--rate", type=float, default=50.0, help="simulator events/s")
    parser.add_argument("--runs", type=int, default=3, help="start-up runs of each kind")
    parser.add_argument(
        "--day",
        action="store_true",
        help="instead of the cycle: a compressed day of paging far up into archived history",
    )
    parser.add_argument("--pages", type=int, default=300, help="page-ups per flow visit (--day)")
    parser.add_argument(
        "--page-key",
        default="pageup",
        choices=("pageup", "home"),
        help="the key that pages up (--day): home loads a page of older history per press",
    )
    parser.add_argument(
        "--skip-startup", action="store_true", help="no start-up runs (only the RSS part)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--flows", default="", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "archive-app.json")
    args = parser.parse_args()
    if args.child:
        asyncio.run(child_day(args) if args.day else child_rss(args))
        return 0
    if args.archive is None or not args.archive.is_file():
        parser.error("--archive: the database bench_archive.py --dir DIR left in DIR")
    work = Path(tempfile.mkdtemp(prefix="flowview-bench-archive-app-"))
    server = (
        DayServer(flows=10, rate=args.rate, data=work / "server")
        if args.day
        else Server(flows=10, rate=args.rate)
    )
    try:
        data, config = work / "data", work / "config"
        archive = prepare_archive(args.archive, data, server)
        write_profile(config, server)
        results: dict[str, Any] = {
            "archive_messages": sqlite3.connect(archive)
            .execute("SELECT count(*) FROM messages")
            .fetchone()[0],
            "archive_bytes": archive.stat().st_size,
            "load": os.getloadavg(),
        }
        if not args.skip_startup:
            results["startup"] = bench_startup(server, config, data, args.runs)
            print(json.dumps(results["startup"]), file=sys.stderr)
        results["rss_day" if args.day else "rss"] = bench_rss(
            server, data, args.seconds, args.pages if args.day else None, args.page_key
        )
        results["load_after"] = os.getloadavg()
        results["args"] = {k: str(v) for k, v in vars(args).items()}
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
