"""Closing the archive while another thread reads: close waits for the read.  Quitting the
viewer during its warm start closed a connection mid-query, and the process died inside
SQLite (SIGSEGV); so the scenario runs in a child process, where a crash is a failed test
rather than a dead test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = r"""
import sys, threading, time
from flowview.archive import Archive, ArchiveClosed

SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) "
    "SELECT count(*) FROM c"
)
from pathlib import Path
archive = Archive.for_account("https://api.example.com", "1", directory=Path(sys.argv[1]))
archive.count()
answers = []
started = threading.Event()

def read():
    started.set()
    try:
        answers.append(archive.query(SLOW)[0][0])
    except Exception as exc:
        answers.append(repr(exc))

reader = threading.Thread(target=read)
reader.start()
started.wait(5)
time.sleep(0.05)  # the query is running: it takes a good part of a second
closed = archive.close(timeout=30)
reader.join(30)
try:
    archive.count()
    after = "read after close"
except ArchiveClosed:
    after = "closed"
print(closed, answers, after)
"""


def test_close_waits_for_a_read_in_another_thread(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "[2000000]", "closed"], done.stdout
