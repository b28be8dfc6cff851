"""End to end in a real terminal: tmux runs `flowview demo`, keys go in, the screen is read.

This is where the terminal's own key encoding is exercised: tmux sends alt+2 as ESC 2, which
Textual 8.2.8 reports as `trade_mark_sign`; a binding on `alt+2` alone would not fire here.
A private tmux server (-L) keeps the test away from any tmux session of the user.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.tui.tmux import E2E_SESSION as SESSION
from tests.tui.tmux import Tmux

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def active_tab(screen: str) -> str:
    """The label over the highlighted stretch of the tab underline (╸━━━╺)."""
    lines = screen.splitlines()
    for index, line in enumerate(lines[1:], 1):
        if "╸" in line or "╺" in line:
            start = line.find("╸") + 1 if "╸" in line else 0
            end = line.find("╺", start) if "╺" in line[start:] else len(line)
            label = lines[index - 1][start:end].strip()
            # Flows of several organisations read "org/Flow" (tests/tui/test_tab_bar.py).
            head, sep, rest = label.partition("/")
            return rest if sep and " " not in head else label
    raise AssertionError(f"no tab underline on screen:\n{screen}")


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    cmdlines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        cmdlines[int(entry.name)] = cmd
    found: list[tuple[int, str]] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append((child, cmdlines.get(child, "")))
            stack.append(child)
    return found


def test_demo_in_tmux(tmux: Tmux, tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    # COLUMNS/LINES (pytest may export them) would override the pane's real size.
    command = (
        f"cd {repo} && exec env -u COLUMNS -u LINES "
        f"{sys.executable} -m flowview demo --rate 1 --seed 1"
    )
    started = time.monotonic()
    tmux.run(
        "new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40",
        "-e", f"FLOWVIEW_CONFIG_DIR={tmp_path / 'config'}",
        "-e", f"FLOWVIEW_LOG={tmp_path / 'flowview.log'}",
        "-e", "TERM=xterm-256color",
        command,
    )  # fmt: skip
    # A screen that never matches comes with the app's own account of the keys it handled.
    tmux.log_file = tmp_path / "flowview.log"
    size = tmux.run("display", "-p", "-t", SESSION, "#{window_width}x#{window_height}")
    assert size.stdout.strip() == "120x40"
    tmux.wait_for(lambda s: "f1 help" in s)
    first_frame = time.monotonic() - started
    screen = tmux.wait_for(lambda s: "● live" in s and "Releases" in s)
    print(f"first frame after {first_frame:.2f} s (process start included)")
    assert active_tab(screen) == "Main"
    pane_pid = int(tmux.run("display", "-p", "-t", SESSION, "#{pane_pid}").stdout.strip())
    servers = [pid for pid, cmd in descendants(pane_pid) if "flowview.server" in cmd]
    assert len(servers) == 1, descendants(pane_pid)

    tmux.keys("M-2")  # ESC 2
    screen = tmux.wait_for(lambda s: active_tab(s).startswith("Dev Ops"))
    tmux.keys("C-n")
    tmux.wait_for(lambda s: active_tab(s).startswith("Random"))
    tmux.keys("M-Left")
    tmux.wait_for(lambda s: active_tab(s).startswith("Dev Ops"))
    tmux.keys("M-1")
    tmux.wait_for(lambda s: active_tab(s).startswith("Main"))

    tmux.keys("F1")
    help_screen = tmux.wait_for(lambda s: "flowview keys" in s)
    assert "next flow with activity" in help_screen
    tmux.keys("Escape")
    tmux.wait_for(lambda s: "flowview keys" not in s)

    tmux.keys("F2")
    tmux.wait_for(lambda s: "│  idle  │" in s)
    tmux.keys("F2")
    tmux.wait_for(lambda s: "│  active  │" in s)

    tmux.keys("C-q")
    deadline = time.monotonic() + 10
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), "ctrl+q did not end the program"
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in servers), "demo server still runs"
    assert time.monotonic() - started < 30


def marked_processes(mark: str) -> list[int]:
    """Pids of processes whose environment carries ``mark`` (the app and its children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# Kill moments: a few in the suite; FLOWVIEW_HANGUP_TRIES=20 for the full check.
HANGUP_TRIES = int(os.environ.get("FLOWVIEW_HANGUP_TRIES", "3"))
HANGUP_SEED = int(os.environ.get("FLOWVIEW_HANGUP_SEED", "10"))


@pytest.mark.timeout(30 + 15 * HANGUP_TRIES)
def test_killing_the_session_at_random_moments_leaves_no_process(
    tmux: Tmux, tmp_path: Path
) -> None:
    """`tmux kill-session` (SIGHUP and a closed pty) ends flowview and its demo server within
    2 s, whenever it happens: while starting, while the server starts, or while live."""
    repo = Path(__file__).resolve().parents[2]
    rng = random.Random(HANGUP_SEED)
    times: list[float] = []
    for attempt in range(HANGUP_TRIES):
        mark = f"FLOWVIEW_TEST_MARK=hup-{os.getpid()}-{attempt}"
        command = (
            f"cd {repo} && exec env -u COLUMNS -u LINES "
            f"{sys.executable} -m flowview demo --rate 5 --seed {attempt}"
        )
        tmux.run(
            "new-session", "-d", "-s", SESSION, "-x", "100", "-y", "30",
            "-e", f"FLOWVIEW_CONFIG_DIR={tmp_path / f'config-{attempt}'}",
            "-e", "TERM=xterm-256color",
            "-e", mark,
            command,
        )  # fmt: skip
        delay = rng.uniform(0.05, 6.0)
        time.sleep(delay)  # a real terminal, killed at a random moment of the real program
        tmux.run("kill-session", "-t", SESSION)
        killed = time.monotonic()
        while marked_processes(mark) and time.monotonic() - killed < 10:
            time.sleep(0.02)
        survivors = marked_processes(mark)
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
        assert not survivors, f"try {attempt}: killed after {delay:.2f} s, {survivors} survived"
        times.append(time.monotonic() - killed)
    print("seconds from kill-session to no flowview process:", [f"{t:.2f}" for t in times])
    assert max(times) < 2.5  # 2 s, plus scheduling slack on a loaded machine
