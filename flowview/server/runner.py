"""Running the simulated server: in the current event loop, in a thread, or as a process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import uvicorn

from flowview.server.app import API_PREFIX, STREAM_PREFIX, create_app
from flowview.server.faults import parse_fault
from flowview.server.guard import GuardedH11Protocol
from flowview.server.persist import Database
from flowview.server.simulator import Simulator, populate
from flowview.server.state import ServerState

log = logging.getLogger(__name__)
T = TypeVar("T")

TOKEN_ENV = "FLOWVIEW_SERVE_TOKEN"  # lets spawn_server_process fix the token without argv
CONTROL_TOKEN_KEY = "FLOWVIEW_CONTROL_TOKEN"
#: what ``flowview serve`` prints on start, one ``KEY=value`` line each, in this order
START_KEYS = ("FLOWDOCK_STREAM_URL", "FLOWDOCK_API_URL", "FLOWDOCK_TOKEN", CONTROL_TOKEN_KEY)


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    rate: float = 5.0
    flows: int = 4
    users: int = 8
    keepalive: float = 30.0
    replay: int = 1000
    hostile: bool = False
    faults: bool = True
    # extensions to the ARCHITECTURE.md contract (all optional)
    activity_interval: float = 30.0  # seconds between activity.user events for streaming users
    history: int = 10_000  # messages kept per conversation for REST
    queue_max: int = 100_000  # events a connection may fall behind before it is closed
    token: str | None = field(default=None, repr=False)  # the simulated user's token
    clock: Callable[[], float] | None = field(default=None, repr=False)  # wall clock (s)
    backlog: int = 0  # events of back-dated history generated before the server starts
    backlog_span: float = 36 * 3600.0  # seconds of the past that the backlog covers
    control_token: str | None = field(default=None, repr=False)  # None: a random one
    max_connections: int = 1000  # concurrent connections before uvicorn answers 503
    header_timeout: float = 10.0  # seconds a connection may take to send a request's headers
    data: str | None = None  # directory of the SQLite database that keeps everything


def control_headers(control_token: str) -> dict[str, str]:
    """Headers for a request to ``/_faults`` or ``/_sim`` (JSON body, control token)."""
    return {"Authorization": f"Bearer {control_token}", "Content-Type": "application/json"}


def _queue_faults(state: ServerState, faults: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    if not state.faults_enabled:
        raise RuntimeError("this server runs with faults disabled (ServerOptions.faults)")
    for fault in faults:  # validate all before queueing any, as POST /_faults does
        parse_fault(fault, 0)
    added = [state.faults.add(fault) for fault in faults]
    for f in added:
        log.warning("fault #%d queued: %s x%d", f.id, f.kind, f.count)
    return [f.describe() for f in added]


@dataclass
class RunningServer:
    base_url: str
    stream_url: str
    api_url: str
    token: str = field(repr=False)
    state: ServerState = field(repr=False)
    simulator: Simulator = field(repr=False)
    database: Database | None = field(default=None, repr=False)  # with ServerOptions.data
    _server: _UvicornServer | None = field(default=None, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def control_token(self) -> str:
        return self.state.control_token

    @property
    def control_headers(self) -> dict[str, str]:
        """Headers for your own requests to ``/_faults`` / ``/_sim``."""
        return control_headers(self.state.control_token)

    def fault(self, *faults: dict[str, Any], **fault: Any) -> list[dict[str, Any]]:
        """Queue faults as ``POST /_faults`` would: ``fault(kind="status", status=503)`` or
        ``fault({...}, {...})``. Call it from the server's loop (the test's, for run_server)."""
        return _queue_faults(self.state, faults + ((fault,) if fault else ()))

    def clear_faults(self) -> int:
        return self.state.faults.clear()

    def stop(self) -> None:
        """Ask the server to shut down (returns at once; see ``wait_closed``)."""
        self.state.begin_shutdown()
        if self._server is not None:
            if self._server.should_exit:
                self._server.force_exit = True
            self._server.should_exit = True

    async def wait_closed(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)


class _CutFilter(logging.Filter):
    """An aborted stream is deliberate (fault injection); don't log it as an app error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


class _UvicornServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self.flowdock_state = state

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Signals are the embedding program's business (run_serve_command installs its own).
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn waits for open responses; end the endless stream responses first.
        self.flowdock_state.begin_shutdown()
        await super().shutdown(sockets)


def build(
    options: ServerOptions, database: Database | None = None
) -> tuple[ServerState, Simulator]:
    """The state (loaded from ``database`` when it holds a world, else simulated) and its
    simulator; a given ``database`` saves the state from then on."""
    state = ServerState(
        replay=options.replay,
        history=options.history,
        queue_max=options.queue_max,
        keepalive=options.keepalive,
        activity_interval=options.activity_interval,
        faults_enabled=options.faults,
        clock=options.clock or time.time,
        seed=options.seed,
        control_token=options.control_token,
    )
    loaded = database is not None and not database.is_empty()
    if database is not None and loaded:
        database.load(state)
        if state.me is None:
            raise RuntimeError(f"{options.data} holds no user yet: add one with --add-user")
        me = state.me
        if me is not None and options.token and options.token != me.token:
            state.tokens.pop(me.token, None)
            me.token = options.token
            state.tokens[me.token] = me
    else:
        populate(
            state,
            seed=options.seed,
            flows=options.flows,
            users=options.users,
            me_token=options.token,
        )
    simulator = Simulator(state, seed=options.seed, hostile=options.hostile)
    if options.backlog > 0 and not loaded:
        _generate_backlog(state, simulator, options.backlog, options.backlog_span)
    if database is not None:
        database.attach(state)
    return state, simulator


def _generate_backlog(state: ServerState, simulator: Simulator, count: int, span: float) -> None:
    """Fill the flows with back-dated traffic, so a viewer opening a flow finds history.

    The state's clock is swapped for one that walks from ``span`` seconds ago to now, so
    timestamps (and day changes) look like a real flow's past. Nobody is subscribed yet,
    so nothing is streamed; REST history and the SSE replay buffer keep the events."""
    real_clock = state.clock
    start = real_clock() - span
    step = span / count
    published = 0

    def past() -> float:
        return start + published * step

    state.clock = past
    try:
        while published < count:
            published += max(1, simulator.step())
    finally:
        state.clock = real_clock


def raise_fd_limit(wanted: int = 65536) -> int:
    """Raise the soft limit on open files towards the hard one (one per connection); returns
    the soft limit now in force."""
    try:
        import resource
    except ImportError:  # not on this platform
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, target)
            return soft
        return target
    return soft


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError:
        sock.close()
        raise
    return sock


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


async def _flush_loop(database: Database, interval: float = 0.5) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            database.flush()
        except Exception:  # logged by flush; keep serving and try again next time
            log.exception("saving to %s failed; retrying in %.1f s", database.path, interval)


async def _presence_loop(state: ServerState) -> None:
    while True:
        await asyncio.sleep(max(0.01, state.activity_interval))
        state.activity_tick()


@contextlib.asynccontextmanager
async def run_server(options: ServerOptions | None = None) -> AsyncIterator[RunningServer]:
    """Run the server in the current event loop until the block exits."""
    options = options or ServerOptions()
    database = Database(options.data) if options.data else None
    try:
        state, sim = build(options, database)
    except BaseException:
        if database is not None:
            database.conn.close()
        raise
    app = create_app(state, sim)
    sock = _bind(options.host, options.port)
    config = uvicorn.Config(
        app,
        log_level="warning",
        log_config=None,  # never reconfigure the embedding program's logging
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=2,
        server_header=False,
        ws="none",
        http=type("Protocol", (GuardedH11Protocol,), {"header_timeout": options.header_timeout}),
        limit_concurrency=options.max_connections,
    )
    raise_fd_limit()
    uv_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _CutFilter) for f in uv_logger.filters):
        uv_logger.addFilter(_CutFilter())
    server = _UvicornServer(config, state)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            await task
            raise RuntimeError("server failed to start")
        await asyncio.sleep(0.002)
    port = sock.getsockname()[1]
    base = f"http://{_url_host(options.host)}:{port}"
    me = state.me
    assert me is not None
    running = RunningServer(
        base_url=base,
        stream_url=base + STREAM_PREFIX,
        api_url=base + API_PREFIX,
        token=me.token,
        state=state,
        simulator=sim,
        database=database,
        _server=server,
        _task=task,
    )
    background = [asyncio.get_running_loop().create_task(_presence_loop(state))]
    if database is not None:
        background.append(asyncio.get_running_loop().create_task(_flush_loop(database)))
    if options.rate > 0 and sim.flows and sim.others:
        background.append(asyncio.get_running_loop().create_task(sim.run(options.rate)))
    try:
        yield running
    finally:
        for t in background:
            t.cancel()
        running.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.gather(*background, return_exceptions=True)
        sock.close()
        if database is not None:
            database.close()


class ServerThread:
    """The server on its own event loop in a daemon thread (for Textual Pilot tests).

    ``state`` belongs to the server's loop: change it through ``call`` / ``run_coroutine``."""

    base_url: str
    stream_url: str
    api_url: str
    token: str
    control_token: str
    state: ServerState
    simulator: Simulator

    def __init__(
        self, options: ServerOptions | None = None, *, start_timeout: float = 10.0
    ) -> None:
        self.options = options or ServerOptions()
        self.start_timeout = start_timeout
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        return f"ServerThread(base_url={getattr(self, 'base_url', None)!r})"

    def start(self) -> ServerThread:
        self._thread = threading.Thread(target=self._run, name="flowview-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout):
            raise RuntimeError("server thread did not start in time")
        if self._error is not None:
            raise RuntimeError("server thread failed to start") from self._error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the starting thread
            log.exception("server thread failed")
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with run_server(self.options) as running:
            self.base_url = running.base_url
            self.stream_url = running.stream_url
            self.api_url = running.api_url
            self.token = running.token
            self.control_token = running.control_token
            self.state = running.state
            self.simulator = running.simulator
            self._ready.set()
            await self._stop.wait()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the server's loop and return its result."""

        async def wrapper() -> T:
            return fn(*args)

        return self.run_coroutine(wrapper())

    def run_coroutine(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        assert self.loop is not None

        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    @property
    def control_headers(self) -> dict[str, str]:
        """Headers for your own requests to ``/_faults`` / ``/_sim``."""
        return control_headers(self.control_token)

    def fault(self, *faults: dict[str, Any], **fault: Any) -> list[dict[str, Any]]:
        """Queue faults (from any thread): ``fault(kind="reset", scope="rest")``."""
        items = faults + ((fault,) if fault else ())
        return self.call(_queue_faults, self.state, items)

    def clear_faults(self) -> int:
        return self.call(self.state.faults.clear)

    def stop(self, timeout: float = 10.0) -> None:
        if self.loop is not None and self._stop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class ServerProcess:
    """A ``python -m flowview.server`` child process and the URLs it printed."""

    process: subprocess.Popen[bytes] = field(repr=False)
    stream_url: str
    api_url: str
    token: str = field(repr=False)
    control_token: str = field(default="", repr=False)

    @property
    def control_headers(self) -> dict[str, str]:
        """Headers for requests to ``/_faults`` / ``/_sim``."""
        return control_headers(self.control_token)

    def fault(self, *faults: dict[str, Any], **fault: Any) -> list[dict[str, Any]]:
        """Queue faults over HTTP (``POST /_faults``)."""
        items = list(faults + ((fault,) if fault else ()))
        body = json.dumps(items).encode()
        request = urllib.request.Request(
            self.base_url + "/_faults", data=body, headers=self.control_headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            created: list[dict[str, Any]] = json.loads(answer.read())["faults"]
        return created

    @property
    def base_url(self) -> str:
        return self.stream_url[: -len(STREAM_PREFIX)]

    def terminate(self, timeout: float = 10.0) -> int:
        """Ctrl-C the server (clean shutdown); kill it if it does not stop in time."""
        proc = self.process
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.terminate()


def serve_argv(options: ServerOptions) -> list[str]:
    """Command-line arguments of ``flowview serve`` equivalent to ``options``."""
    argv = [
        "--host", options.host,
        "--port", str(options.port),
        "--seed", str(options.seed),
        "--rate", repr(float(options.rate)),
        "--flows", str(options.flows),
        "--users", str(options.users),
        "--keepalive", repr(float(options.keepalive)),
        "--replay", str(options.replay),
        "--activity-interval", repr(float(options.activity_interval)),
        "--faults" if options.faults else "--no-faults",
    ]  # fmt: skip
    if options.hostile:
        argv.append("--hostile")
    if options.backlog:
        argv += ["--backlog", str(options.backlog)]
    if options.data:
        argv += ["--data", options.data]
    return argv


def spawn_server_process(
    options: ServerOptions | None = None,
    *,
    start_timeout: float = 20.0,
    stderr: int | None = None,
) -> ServerProcess:
    """Start ``sys.executable -m flowview.server`` and parse its four start-up lines."""
    options = options or ServerOptions()
    env = dict(os.environ)
    if options.token:
        env[TOKEN_ENV] = options.token
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowview.server", *serve_argv(options)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
    )
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    values: dict[str, str] = {}
    buffer = b""
    deadline = time.monotonic() + start_timeout
    # raw os.read: a buffered reader could swallow lines the selector then never reports
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while len(values) < len(START_KEYS):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                proc.kill()
                proc.wait()
                raise RuntimeError("flowview server process did not start in time")
            chunk = os.read(fd, 4096)
            if not chunk:
                proc.wait()
                raise RuntimeError(f"flowview server process exited with {proc.returncode}")
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                key, sep, value = line.decode("utf-8", "replace").strip().partition("=")
                if sep and key in START_KEYS:
                    values[key] = value
    return ServerProcess(
        process=proc,
        stream_url=values["FLOWDOCK_STREAM_URL"],
        api_url=values["FLOWDOCK_API_URL"],
        token=values["FLOWDOCK_TOKEN"],
        control_token=values[CONTROL_TOKEN_KEY],
    )
