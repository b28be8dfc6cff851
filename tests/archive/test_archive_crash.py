"""kill -9 in the middle of a burst: the archive reopens intact, with every message whose
commit was acknowledged."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowview.archive import Archive

pytestmark = pytest.mark.timeout(120)

CHILD = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def _acks_until_killed(path: Path, kill_after_acks: int) -> int:
    """Run the writer child, SIGKILL it mid-burst after `kill_after_acks` acknowledgements
    (wall time is the point here: a real process dies at a real moment); the last acked id."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(path)], stdout=subprocess.PIPE, env=env, text=True
    )
    assert child.stdout is not None
    last = 0
    acks = 0
    try:
        deadline = time.monotonic() + 60
        while acks < kill_after_acks and time.monotonic() < deadline:
            ready, _, _ = select.select([child.stdout], [], [], 1.0)
            if not ready:
                continue
            line = child.stdout.readline()
            if not line:
                break
            if line.startswith("ACK "):
                last = int(line.split()[1])
                acks += 1
        child.send_signal(signal.SIGKILL)
        # Acks already in the pipe were acknowledged before the kill: count them too.
        for line in child.stdout:
            if line.startswith("ACK "):
                last = max(last, int(line.split()[1]))
    finally:
        child.kill()
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    return last


@pytest.mark.parametrize("kill_after_acks", [3, 40])
def test_kill_9_mid_burst_keeps_every_acknowledged_message(
    data_dir: Path, kill_after_acks: int
) -> None:
    path = data_dir / "crash.sqlite3"
    last_acked = _acks_until_killed(path, kill_after_acks)
    assert last_acked > 0
    with Archive.open(path) as arc:
        assert arc.integrity_check() == "ok"
        fts = arc.query(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
        )
        assert fts == []  # raises on a broken index
        ids = [m.id for m in arc.iter_conversation(("flow", "f1"))]
        # Everything acknowledged is there, in one unbroken run (batches are whole or absent).
        assert len(ids) >= last_acked
        assert ids == list(range(1, len(ids) + 1))
        hits = arc.query("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'burst'")[0][0]
        assert hits == len(ids)
