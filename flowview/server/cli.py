"""``flowview serve`` / ``python -m flowview.server``: argument parsing and the command."""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import logging
import os
import signal
import sys

from flowview.server.logfilter import RepeatFilter
from flowview.server.persist import Database
from flowview.server.runner import CONTROL_TOKEN_KEY, TOKEN_ENV, ServerOptions, run_server
from flowview.server.simulator import add_flow, add_user
from flowview.server.state import ServerState

log = logging.getLogger(__name__)


def _positive_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``flowview serve`` options to ``parser``."""
    d = ServerOptions()
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s, loopback)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=d.seed, help="simulator seed (default: %(default)s)"
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=d.rate,
        help="simulated messages per second (0: none) (default: %(default)s)",
    )
    parser.add_argument(
        "--flows",
        type=int,
        default=d.flows,
        help="flows the user has joined (default: %(default)s)",
    )
    parser.add_argument(
        "--users", type=int, default=d.users, help="other simulated users (default: %(default)s)"
    )
    parser.add_argument(
        "--keepalive",
        type=_positive_float,
        default=d.keepalive,
        help="seconds between stream keep-alives (default: %(default)s)",
    )
    parser.add_argument(
        "--replay",
        type=int,
        default=d.replay,
        help="SSE replay events per flow (default: %(default)s)",
    )
    parser.add_argument(
        "--activity-interval",
        type=_positive_float,
        default=d.activity_interval,
        help="seconds between activity.user events for streaming users (default: %(default)s)",
    )
    parser.add_argument("--hostile", action="store_true", help="mix in hostile content")
    parser.add_argument(
        "--backlog", type=int, default=d.backlog, metavar="N",
        help="events of back-dated history to generate before serving (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--faults", action=argparse.BooleanOptionalAction, default=None,
        help="enable /_faults and /_sim (default: on for loopback binds, off otherwise)",
    )  # fmt: skip
    parser.add_argument(
        "--data", metavar="DIR", default=None,
        help="keep everything in a SQLite database in DIR (default: in memory only)",
    )  # fmt: skip
    parser.add_argument(
        "--add-user", metavar="NICK", default=None,
        help="with --data: add a user to every organisation, print its token, and exit",
    )  # fmt: skip
    parser.add_argument(
        "--email",
        default=None,
        help="with --add-user: the user's email (default: NICK@example.com)",
    )
    parser.add_argument(
        "--password-stdin", action="store_true",
        help="with --add-user: read a password from stdin for email:password login",
    )  # fmt: skip
    parser.add_argument(
        "--add-flow", metavar="ORG/FLOW", default=None,
        help="with --data: add a flow (and its organisation) with every user in it, and exit",
    )  # fmt: skip


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    faults = args.faults if args.faults is not None else _is_loopback(args.host)
    return ServerOptions(
        host=args.host,
        port=args.port,
        seed=args.seed,
        rate=args.rate,
        flows=args.flows,
        users=args.users,
        keepalive=args.keepalive,
        replay=args.replay,
        hostile=args.hostile,
        faults=faults,
        activity_interval=args.activity_interval,
        backlog=max(0, args.backlog),
        token=os.environ.get(TOKEN_ENV) or None,
        data=args.data,
    )


async def _serve(options: ServerOptions) -> int:
    async with run_server(options) as running:
        print(f"FLOWDOCK_STREAM_URL={running.stream_url}")
        print(f"FLOWDOCK_API_URL={running.api_url}")
        print(f"FLOWDOCK_TOKEN={running.token}")
        print(f"{CONTROL_TOKEN_KEY}={running.control_token}", flush=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, running.stop)
        log.info(
            "serving %d flows, %d users, %.3g msgs/s, seed %d%s; fault injection %s",
            options.flows,
            options.users,
            options.rate,
            options.seed,
            ", hostile content" if options.hostile else "",
            f"enabled at {running.base_url}/_faults" if options.faults else "disabled",
        )
        log.info(
            "REST API at %s and %s; data %s",
            running.base_url,
            running.api_url,
            f"kept in {options.data}" if options.data else "in memory only",
        )
        try:
            await running.wait_closed()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    log.info("stopped")
    return 0


def run_serve_command(args: argparse.Namespace) -> int:
    """Run ``flowview serve``: four ``KEY=value`` lines on stdout, then logs on stderr."""
    if getattr(args, "add_user", None) or getattr(args, "add_flow", None):
        return _manage(args)
    options = options_from_args(args)
    # A dedicated server process keeps ~100k live message objects; the default gen-0
    # threshold makes the cyclic GC cost about as much as generating the traffic.
    gc.set_threshold(50_000, 20, 100)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatFilter())
    try:
        return asyncio.run(_serve(options))
    except OSError as exc:
        print(
            f"flowview serve: cannot listen on {options.host}:{options.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    except RuntimeError as exc:  # e.g. a --data directory without users
        print(f"flowview serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _manage(args: argparse.Namespace) -> int:
    """``--add-user`` / ``--add-flow``: change a ``--data`` database without serving."""
    if not args.data:
        print("flowview serve: --add-user and --add-flow need --data DIR", file=sys.stderr)
        return 2
    database = Database(args.data)
    state = ServerState(history=ServerOptions().history)
    if not database.is_empty():
        database.load(state)
    try:
        return _apply(args, database, state)
    except ValueError as exc:
        print(f"flowview serve: {exc}", file=sys.stderr)
        return 2
    finally:
        database.close()


def _apply(args: argparse.Namespace, database: Database, state: ServerState) -> int:
    if args.add_flow:
        org_name, sep, flow_name = args.add_flow.partition("/")
        if not sep or not org_name.strip() or not flow_name.strip():
            raise ValueError("--add-flow takes ORG/FLOW")
        flow = add_flow(state, org_name.strip(), flow_name.strip())
        print(f"FLOWDOCK_FLOW={flow.slug}")
    if args.add_user:
        password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
        if args.password_stdin and not password:
            raise ValueError("--password-stdin read an empty password")
        user = add_user(state, args.add_user.strip(), email=args.email, password=password)
        print(f"FLOWDOCK_TOKEN={user.token}")
    database.attach(state)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flowview.server", description="Flowdock-compatible simulated server"
    )
    add_serve_arguments(parser)
    return run_serve_command(parser.parse_args(argv))
