"""The `flowview` command: the TUI by default, plus `demo`, `serve`, `tail` and `logout`.

Imports are lazy on purpose: the parser only loads the module of the subcommand that was asked
for, so `flowview tail` never imports Textual and `flowview --help` imports almost nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

PROG = "flowview"

# name -> one-line help, in the order shown by `flowview --help`.
COMMANDS: dict[str, str] = {
    "demo": "open the viewer on the bundled server with simulated traffic (no account needed)",
    "serve": "run the bundled Flowdock-compatible server",
    "tail": "print stream events as JSON lines (no TUI)",
    "logout": "forget the saved token",
    "search": "search the local archive (no TUI)",
    "export": "write an archived flow as JSON lines or text (no TUI)",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flowview")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """--version that looks the version up only when asked (importlib.metadata is slow)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


class _MissingFeature(Exception):
    """A subcommand whose implementation is not installed in this build."""


def _optional_import(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only a missing flowview module means "not in this build"; a missing third-party
        # dependency deserves its real error.
        if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
            raise _MissingFeature(
                f"{what} is not available in this build ({module} is missing)"
            ) from None
        raise


def _add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    try:
        launch = _optional_import("flowview.tui.launch", "the viewer")
        add: Callable[[argparse.ArgumentParser], None] | None = getattr(
            launch, "add_demo_arguments", None
        )
    except _MissingFeature:
        add = None
    if add is not None:
        add(parser)
        return
    parser.add_argument("--hostile", action="store_true", help="mix in hostile content")
    parser.add_argument(
        "--rate", type=float, default=5.0, help="simulated messages per second (default 5)"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    server_cli = _optional_import("flowview.server.cli", "flowview serve")
    server_cli.add_serve_arguments(parser)


def _add_tail_arguments(parser: argparse.ArgumentParser) -> None:
    tail = _optional_import("flowview.tail", "flowview tail")
    tail.add_tail_arguments(parser)


def _add_archive_arguments(parser: argparse.ArgumentParser) -> None:
    commands = _optional_import("flowview.archive.commands", f"flowview {parser.prog.split()[-1]}")
    getattr(commands, f"add_{parser.prog.split()[-1]}_arguments")(parser)


_ARGUMENT_ADDERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "demo": _add_demo_arguments,
    "serve": _add_serve_arguments,
    "tail": _add_tail_arguments,
    "logout": lambda parser: None,
    "search": _add_archive_arguments,
    "export": _add_archive_arguments,
}


# Top-level options that take a value (the next word is not the command).
_VALUE_OPTIONS = ("--log",)


def _find_command(argv: Sequence[str]) -> tuple[str | None, int]:
    """The subcommand (first non-option word) and its index."""
    skip = False
    for index, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word == "--":
            return None, -1
        if word in _VALUE_OPTIONS:
            skip = True
            continue
        if not word.startswith("-"):
            return (word if word in COMMANDS else None), index
    return None, -1


def _add_log_argument(parser: argparse.ArgumentParser, default: Any = None) -> None:
    parser.add_argument(
        "--log",
        metavar="FILE",
        default=default,
        help="append a log to FILE (no token is ever written; default: $FLOWVIEW_LOG, or none)",
    )


def build_parser(
    command: str | None = None,
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser, with the full arguments of `command` only (lazy imports)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A terminal viewer for chat flows that speak the Flowdock Streaming API. "
        "Without a command, opens the viewer (and its first-run setup when nothing is saved).",
    )
    parser.add_argument("--version", action=_VersionAction, help="show the version number and exit")
    _add_log_argument(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for name, help_text in COMMANDS.items():
        subparsers[name] = sub.add_parser(name, help=help_text, description=help_text)
    if command is not None:
        _ARGUMENT_ADDERS[command](subparsers[command])
        if command in ("tail", "demo"):
            _add_log_argument(subparsers[command], default=argparse.SUPPRESS)
    return parser, subparsers


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line.  `tail` accepts its flows and options in any order."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command, index = _find_command(argv)
    parser, subparsers = build_parser(command)
    if command is None:
        args = parser.parse_args(argv)
        args.command = None
        return args
    # Top-level options before the command (--help, --version, --log) are handled here.
    top = parser.parse_args(argv[:index])
    subparser = subparsers[command]
    rest = argv[index + 1 :]
    if command == "tail":
        # parse_intermixed_args cannot run on a parser with subparsers, hence the two stages.
        args = subparser.parse_intermixed_args(rest)
    else:
        args = subparser.parse_args(rest)
    if getattr(args, "log", None) is None:
        args.log = top.log
    args.command = command
    return args


def _report(error: str) -> int:
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return 2


def _logout() -> int:
    import os

    from flowview.config import ENV_TOKEN, forget_token, token_path

    path = token_path()
    if forget_token():
        print(f"Forgot the saved token ({path}).")
    else:
        print(f"No saved token to forget ({path} does not exist).")
    if os.environ.get(ENV_TOKEN):
        print(f"Note: {ENV_TOKEN} is still set in this environment and will still be used.")
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    command: str | None = args.command
    if command in (None, "demo", "tail"):
        from flowview.logs import log_path_from, setup_logging

        try:
            setup_logging(log_path_from(getattr(args, "log", None)))
        except OSError as exc:
            return _report(f"cannot open the log file: {exc.strerror or exc}")
    if command == "logout":
        return _logout()
    if command == "tail":
        tail = _optional_import("flowview.tail", "flowview tail")
        code = int(tail.main_tail(args))
        if getattr(args, "whole_process", False):
            tail.end_process(code)  # the process's own command line: skip the teardown
        return code
    if command in ("search", "export"):
        commands = _optional_import("flowview.archive.commands", f"flowview {command}")
        return int(getattr(commands, f"main_{command}")(args))
    if command == "serve":
        server_cli = _optional_import("flowview.server.cli", "flowview serve")
        return int(server_cli.run_serve_command(args))
    launch = _optional_import("flowview.tui.launch", "the viewer")
    if command == "demo":
        return int(launch.main_demo(args))
    return int(launch.main_tui(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `flowview` console script and of `python -m flowview`."""
    from flowview.config import ConfigError

    try:
        args = parse_args(argv)
        args.whole_process = argv is None  # not called in process (tests): may end it
        return _dispatch(args)
    except (ConfigError, _MissingFeature) as exc:
        return _report(str(exc))
    except KeyboardInterrupt:
        # Ctrl-C is how people leave `tail` and `serve`: no traceback.
        print(file=sys.stderr)
        return 130
