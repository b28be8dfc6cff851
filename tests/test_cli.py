"""The `flowview` command line: help, logout, argument parsing, lazy imports, error exits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from flowview import cli
from flowview.config import ConfigError, Settings, save_settings, save_token
from flowview.protocol.auth import Token

pytestmark = pytest.mark.timeout(60)

SECRET = "0123456789abcdef0123456789abcdef"


def run_flowview(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowview", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def textual_loaded(code: str) -> list[str]:
    """Textual modules in sys.modules after running `code` in a fresh interpreter."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        """
        import sys
        print("\\n".join(m for m in sys.modules if m == "textual" or m.startswith("textual.")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    )
    return [line for line in done.stdout.splitlines() if line]


# ---------------------------------------------------------------- help and version


def test_module_help_lists_every_command() -> None:
    done = run_flowview("--help")
    assert done.returncode == 0, done.stderr
    for command in ("demo", "serve", "tail", "logout"):
        assert command in done.stdout
    assert done.stderr == ""


def test_console_script_version() -> None:
    script = Path(sys.executable).with_name("flowview")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert done.stdout.startswith("flowview ")


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# ---------------------------------------------------------------- logout


def test_logout_without_token(isolated_config: Path) -> None:
    done = run_flowview("logout")
    assert done.returncode == 0, done.stderr
    assert "No saved token" in done.stdout
    assert str(isolated_config / "token") in done.stdout


def test_logout_with_token_removes_it_and_keeps_settings(isolated_config: Path) -> None:
    save_settings(Settings(flows=["acme/main"]))
    save_token(Token(SECRET))
    done = run_flowview("logout")
    assert done.returncode == 0, done.stderr
    assert "Forgot the saved token" in done.stdout
    assert SECRET not in done.stdout + done.stderr
    assert not (isolated_config / "token").exists()
    assert (isolated_config / "settings.toml").exists()
    again = run_flowview("logout")
    assert "No saved token" in again.stdout


def test_logout_mentions_env_token_without_echoing_it() -> None:
    done = run_flowview("logout", env={"FLOWDOCK_TOKEN": SECRET})
    assert done.returncode == 0
    assert "FLOWDOCK_TOKEN is still set" in done.stdout
    assert SECRET not in done.stdout + done.stderr


# ---------------------------------------------------------------- parsing


def test_tail_accepts_flows_and_options_in_any_order() -> None:
    args = cli.parse_args(
        [
            "tail",
            "acme/main",
            "--private",
            "acme/ops",
            "--count",
            "3",
            "acme/dev",
            "--presence",
            "idle",
            "--content-type",
            "json",
        ]
    )
    assert args.command == "tail"
    assert args.flows == ["acme/main", "acme/ops", "acme/dev"]
    assert args.private is True
    assert args.count == 3
    assert args.presence == "idle"
    assert args.content_type == "json"


def test_tail_options_before_flows_and_no_flows() -> None:
    args = cli.parse_args(["tail", "--count", "1", "--stream-url", "http://x/stream", "a/b"])
    assert args.flows == ["a/b"] and args.count == 1
    assert args.stream_url == "http://x/stream"
    bare = cli.parse_args(["tail", "--private"])
    assert bare.flows == [] and bare.private is True


def test_demo_arguments() -> None:
    args = cli.parse_args(["demo", "--hostile", "--rate", "2.5", "--seed", "7"])
    assert (args.command, args.hostile, args.rate, args.seed) == ("demo", True, 2.5, 7)
    plain = cli.parse_args(["demo"])
    assert plain.hostile is False


def test_no_command_means_tui() -> None:
    assert cli.parse_args([]).command is None


def test_logout_takes_no_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.parse_args(["logout", "extra"])
    assert info.value.code == 2


# ---------------------------------------------------------------- lazy imports


def test_importing_cli_loads_no_textual() -> None:
    assert textual_loaded("import flowview.cli") == []


def test_importtime_of_cli_has_no_textual() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import flowview.cli"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    modules = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "flowview.cli" in modules
    assert not any(m.split(".")[0] == "textual" for m in modules)


def test_tail_path_loads_no_textual() -> None:
    loaded = textual_loaded(
        """
        from flowview.cli import parse_args
        args = parse_args(["tail", "acme/main", "--count", "1", "--private"])
        assert args.command == "tail" and args.flows == ["acme/main"]
        """
    )
    assert loaded == []


def test_help_loads_no_textual() -> None:
    loaded = textual_loaded(
        """
        import contextlib, io
        from flowview.cli import main
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main(["--help"])
        """
    )
    assert loaded == []


# ---------------------------------------------------------------- error handling


def test_config_error_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise ConfigError("/x/settings.toml: setting 'flows' must be an array of strings")

    monkeypatch.setattr(cli, "_dispatch", broken)
    assert cli.main(["logout"]) == 2
    err = capsys.readouterr().err
    assert err == "flowview: error: /x/settings.toml: setting 'flows' must be an array of strings\n"


def test_corrupt_settings_reported_by_tail_without_traceback(isolated_config: Path) -> None:
    isolated_config.mkdir()
    (isolated_config / "settings.toml").write_text("flows = [\n")
    done = run_flowview("tail", "acme/main", "--count", "1")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "settings.toml" in done.stderr
    assert "not valid TOML" in done.stderr


def test_keyboard_interrupt_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_dispatch", interrupted)
    assert cli.main(["logout"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_missing_subcommand_module_is_a_clear_error() -> None:
    with pytest.raises(cli._MissingFeature, match=r"flowview\.nonexistent is missing"):
        cli._optional_import("flowview.nonexistent", "something")


# ---------------------------------------------------------------------------- --log


@pytest.fixture
def flowview_logging() -> Any:
    """Detach whatever handler a test installed on the `flowview` logger."""
    import logging

    logger = logging.getLogger("flowview")
    before = list(logger.handlers), logger.level
    yield logger
    for handler in logger.handlers[:]:
        if handler not in before[0]:
            logger.removeHandler(handler)
            handler.close()
    logger.setLevel(before[1])


def test_log_option_before_or_after_the_command() -> None:
    assert cli.parse_args(["--log", "a.log"]).log == "a.log"
    assert cli.parse_args(["--log", "a.log", "tail", "acme/main"]).log == "a.log"
    args = cli.parse_args(["tail", "acme/main", "--log", "b.log"])
    assert (args.log, args.flows) == ("b.log", ["acme/main"])
    assert cli.parse_args(["demo", "--log", "c.log"]).log == "c.log"
    assert cli.parse_args([]).log is None


def test_log_path_from_option_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowview.logs import ENV_LOG, log_path_from

    monkeypatch.delenv(ENV_LOG, raising=False)
    assert log_path_from(None) is None
    monkeypatch.setenv(ENV_LOG, "/tmp/from-env.log")
    assert log_path_from(None) == "/tmp/from-env.log"
    assert log_path_from("given.log") == "given.log"


def test_no_token_reaches_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flowview_logging: Any
) -> None:
    import base64
    import logging

    from flowview.logs import register_secret, setup_logging

    saved = "f" * 32
    save_token(Token(saved))  # the saved token is known from the start
    monkeypatch.setenv("FLOWDOCK_TOKEN", SECRET)
    later = "later-typed-token-0123456789"
    path = tmp_path / "flowview.log"
    assert setup_logging(str(path)) is not None
    register_secret(Token(later))
    log = logging.getLogger("flowview.test")
    basic = base64.b64encode(f"{SECRET}:".encode()).decode()
    log.info("token %s in args", SECRET)
    log.warning("saved %s, typed %s", saved, later)
    log.info("header Authorization: Basic %s", basic)
    log.info("other Bearer abcdefghijklmnop1234 seen")
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.exception("crash")
    text = path.read_text()
    for secret in (SECRET, saved, later, basic, "abcdefghijklmnop1234"):
        assert secret not in text
    assert text.count("****") >= 6
    assert "RuntimeError" in text and "Traceback" in text  # the traceback itself is kept
    assert (path.stat().st_mode & 0o777) == 0o600


def test_log_file_that_cannot_be_opened_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "x.log"
    done = run_flowview("--log", str(missing), "logout")
    assert done.returncode == 0  # logout does not log
    done = run_flowview("--log", str(missing), "tail", "--count", "1", "acme/main")
    assert done.returncode == 2 and "cannot open the log file" in done.stderr
