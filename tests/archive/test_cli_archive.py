"""`flowview search` and `flowview export`: output, exit codes, hostile queries and text."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flowview.archive import Archive
from flowview.cli import main
from flowview.protocol.rest import Flow, User
from tests.archive.samples import BASE_MS, DAY_MS, FLOW, OTHER_FLOW

Wire = Callable[..., dict[str, Any]]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def seeded(archive: Archive, wire: Wire) -> Archive:
    archive.set_users([User(id="u1", nick="robin"), User(id="u2", nick="sam")])
    archive.set_flows(
        [
            Flow(id=FLOW, name="Main", parameterized_name="main", organization="acme"),
            Flow(id=OTHER_FLOW, name="Ops", parameterized_name="ops", organization="acme"),
        ]
    )
    archive.ingest_many(
        [
            wire(id=1, content="deploy started", user="u1", sent=BASE_MS),
            wire(
                id=2,
                content="deploy \x1b[2Jdone\u202e ok\r\nsecond line",
                user="u2",
                sent=BASE_MS + DAY_MS,
            ),
            wire(id=3, content="ops deploy", user="u2", sent=BASE_MS, flow=OTHER_FLOW),
            wire(id=4, content="unrelated", user="u1", sent=BASE_MS + 2 * DAY_MS),
        ]
    )
    archive.flush()
    return archive


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def test_search_prints_one_sanitised_line_per_hit(
    seeded: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "deploy", "--flow", "acme/main"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[1] == f"{_when(BASE_MS)}  acme/main  robin  deploy started"
    assert lines[0].startswith(f"{_when(BASE_MS + DAY_MS)}  acme/main  sam  deploy ")
    assert "\x1b" not in out and "\u202e" not in out and "\r" not in out
    assert "second line" in lines[0]  # one line per hit


def test_search_filters_and_limit(seeded: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "deploy", "--from", "robin"]) == 0
    assert capsys.readouterr().out.count("\n") == 1
    assert main(["search", "deploy", "--limit", "1"]) == 0
    assert capsys.readouterr().out.count("\n") == 1
    since = datetime.fromtimestamp((BASE_MS + DAY_MS) / 1000).strftime("%Y-%m-%d")
    assert main(["search", "deploy", "--since", since]) == 0
    assert "sam" in capsys.readouterr().out


def test_search_json_lines(seeded: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "deploy", "--json", "--flow", "acme/ops"]) == 0
    out = capsys.readouterr().out
    assert out.isascii()
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert (record["id"], record["flow"], record["nick"], record["text"]) == (
        3,
        "acme/ops",
        "sam",
        "ops deploy",
    )


def test_search_exit_1_when_nothing_matched(
    seeded: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "zebra"]) == 1
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "query", ['"', "*", "from:", "()", "since:never deploy", "-deploy", ":", "#"]
)
def test_search_exit_2_on_bad_query_without_traceback(
    seeded: Archive, capsys: pytest.CaptureFixture[str], query: str
) -> None:
    assert main(["search", "--", query]) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowview: error: bad query: ")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "query", ['"deploy', "deploy*", "deploy)", "NEAR(deploy", "de:ploy", '" AND (']
)
def test_hostile_but_meaningful_queries_still_search(
    seeded: Archive, capsys: pytest.CaptureFixture[str], query: str
) -> None:
    assert main(["search", query]) in (0, 1)
    assert "Traceback" not in capsys.readouterr().err


def test_search_without_archive_exits_2(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "x"]) == 2
    assert "no archive" in capsys.readouterr().err
    assert not data_dir.exists()


def test_export_jsonl_in_order(seeded: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "acme/main"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in records] == [1, 2, 4]
    assert records[0]["nick"] == "robin"


def test_export_text_to_private_file(seeded: Archive, tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    assert main(["export", "acme/main", "--format", "text", "-o", str(target)]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text()
    lines = text.splitlines()
    assert lines[0] == f"{_when(BASE_MS)}  robin  deploy started"
    assert lines[2].strip() == "second line"  # continuation, indented
    assert "\x1b" not in text and "\u202e" not in text


def test_export_since_and_unknown_flow(seeded: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    since = datetime.fromtimestamp((BASE_MS + DAY_MS) / 1000).strftime("%Y-%m-%d")
    assert main(["export", "acme/main", "--since", since]) == 0
    assert [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()] == [2, 4]
    assert main(["export", "acme/nope"]) == 2
    assert "no archived flow named acme/nope" in capsys.readouterr().err


def test_neither_command_imports_textual(seeded: Archive, data_dir: Path) -> None:
    code = (
        "import sys\n"
        "from flowview.cli import main\n"
        "codes = [main(['search', 'deploy']), main(['export', 'acme/main'])]\n"
        "assert 'textual' not in sys.modules, 'textual imported'\n"
        "print(codes, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLOWVIEW_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "[0, 0]" in done.stderr
