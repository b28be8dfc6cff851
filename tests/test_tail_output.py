"""`flowview tail`'s stdout, byte for byte: a golden test over both content types.

The input (tests/golden/tail-input.hex, one record per line in hex) is hostile records (control,
bidi and non-ASCII text, floats whose repr differs between encoders, pretty-printed and spaced
JSON, what only the stdlib parser accepts: lone surrogates, NaN, invalid UTF-8, integers past
64 bits, duplicate keys, deep nesting) plus a frozen sample of the simulator's mix. The server
injects them raw into a real stream; tail's output must equal tests/golden/tail-output.<type>.jsonl,
so any speed-up that changes one byte fails. The golden files were written by tail before the
hot-path work, and rewritten once, deliberately, when tail began printing safe non-ASCII records
as the UTF-8 received instead of \\u escapes (branch tailfast): only those lines changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowview.server.runner import ServerOptions, ServerThread
from tests.terminal_safe import shows_safely

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def _records() -> list[bytes]:
    lines = (GOLDEN / "tail-input.hex").read_text().split()
    return [bytes.fromhex(line) for line in lines]


def _frame(record: bytes, content_type: str) -> bytes:
    if content_type == "json":
        return record + b"\r\n"
    # One `data:` line per line of the record (the decoder joins them with "\n").
    return b"".join(b"data: " + line + b"\n" for line in record.split(b"\n")) + b"\n"


def _run_tail(content_type: str, records: list[bytes]) -> tuple[bytes, str]:
    options = ServerOptions(rate=0, keepalive=0.5, activity_interval=3600)
    with ServerThread(options) as srv:
        flows: list[dict[str, Any]] = httpx.get(srv.api_url + "/flows", auth=(srv.token, "")).json()
        flow = flows[0]
        slug = f"{flow['organization']['parameterized_name']}/{flow['parameterized_name']}"
        body = b"".join(_frame(r, content_type) for r in records)
        srv.fault(kind="inject", data_hex=body.hex())
        env = dict(os.environ)
        env.update(
            FLOWDOCK_TOKEN=srv.token,
            FLOWDOCK_STREAM_URL=srv.stream_url,
            FLOWDOCK_API_URL=srv.api_url,
        )
        # tail reads its answer while this thread waits: the server runs in its own thread.
        argv = ["tail", slug, "--presence", "offline", "--content-type", content_type]
        proc = subprocess.run(
            [sys.executable, "-m", "flowview", *argv, "--count", str(len(records))],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=100,
        )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout, proc.stderr.decode(errors="replace")


def _expected_line(record: bytes) -> bytes:
    """The rule tail follows, written independently of its code: the record as received when
    it is valid UTF-8 and shows safely on a terminal (one line, every character printable and
    visible: tests/terminal_safe.py) and holds no U+FFFD, else the stdlib's compact,
    ASCII-escaped encoding of its value (the decoder hands invalid UTF-8 to the stdlib with
    U+FFFD replacement, which is escaped wherever it comes from)."""
    try:
        text = record.decode()
        if shows_safely(text) and "\ufffd" not in text:
            return record
    except UnicodeDecodeError:
        pass
    value = json.loads(record.decode("utf-8", "replace"))
    return json.dumps(value, separators=(",", ":")).encode("ascii")


@pytest.mark.parametrize("content_type", ["json", "sse"])
def test_tail_output_is_byte_identical_to_the_golden_file(content_type: str) -> None:
    records = _records()
    out, err = _run_tail(content_type, records)
    golden = (GOLDEN / f"tail-output.{content_type}.jsonl").read_bytes()
    assert out == golden, err
    # And the golden file itself says what the rule says, line by line.
    lines = out.split(b"\n")
    assert lines.pop() == b""
    assert lines == [_expected_line(r) for r in records]
    assert shows_safely(out.decode().replace("\n", ""))  # no control, bidi or invisible one
    assert not out.isascii()  # safe non-ASCII records are printed as received


def test_the_tail_process_settles_the_gc_first() -> None:
    # A whole-process setting, so checked in a child: the start-up heap frozen, young
    # collections rarer (parsed records are acyclic: reference counting frees them).
    code = (
        "import gc\n"
        "from flowview import tail\n"
        "before = gc.get_threshold()[0], gc.get_freeze_count()\n"
        "status = tail.main([])  # no flow: a usage error, after the settling\n"
        "print(status, *before, gc.get_threshold()[0], gc.get_freeze_count() > 0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    status, threshold_before, frozen_before, threshold, frozen = proc.stdout.split()
    assert (status, threshold_before, frozen_before) == ("2", "700", "0")
    assert int(threshold) > int(threshold_before) and frozen == "True"
