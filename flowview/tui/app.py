"""FlowviewApp: the one stream connection, the router, and the main screen that shows it.

Data flow: a single background worker iterates the StreamClient and routes every item into
the Router (cheap and UI-free).  It only marks conversations dirty; a flush scheduled at most
`flush_interval` apart then adds tabs, updates labels and refreshes the one FlowLog that is
shown.  Hidden tabs only get their labels (counters) updated, so a replay of thousands of
events costs a handful of redraws.

Everything else that touches the network runs in named, exclusive workers: "bootstrap"
(REST user/flows/users), "history-<pane>" (lazy per tab, cancelled when the tab is left),
"presence" (make-before-break reconfigure).  One `on_worker_state_changed` reports failures
in the status bar; nothing here raises a dialog for a network problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from textual import events, on, work
from textual.app import App
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import TabbedContent
from textual.worker import Worker, WorkerState

from flowview.config import Settings
from flowview.model.router import Router
from flowview.model.sanitize import clean_name
from flowview.model.store import ConversationStore
from flowview.protocol.auth import Token, redact
from flowview.protocol.events import ConversationKey, Event
from flowview.tui.commands import FlowviewCommands, PaletteEntry
from flowview.tui.notifier import Alert, Notifier
from flowview.tui.screens.main import APP_BINDINGS, MainScreen
from flowview.tui.widgets.flow_log import FlowLog

if TYPE_CHECKING:
    from flowview.protocol.client import StateChange, StreamClient, StreamConfig
    from flowview.protocol.rest import Flow, RestClient

PresenceMode = Literal["active", "idle", "auto-idle"]

HISTORY_PAGE = 100
MAX_ALERTS_PER_FLUSH = 3
# Give the event loop back this often while routing a burst, so keys stay responsive.
ROUTE_SLICE_SECONDS = 0.02
# A replay burst (this many events routed since the last repaint, and more still coming):
# repaint at most every BURST_FLUSH_SECONDS, and as soon as the stream has paused for
# BURST_QUIET_SECONDS, instead of every flush_interval: each repaint costs the routing time
# of hundreds of events, so a 10,000-event replay reaches its last line sooner.
BURST_EVENTS = 300
BURST_FLUSH_SECONDS = 0.25
BURST_QUIET_SECONDS = 0.02
# bench/bench_app.py measures startup with this: when it names a file, the wall-clock time
# (time.time()) of the main screen's first painted frame is written there.  Nothing else.
FIRST_FRAME_ENV = "FLOWVIEW_BENCH_FIRST_FRAME"

# What talks to the server.  Importing these costs ~0.15 s (httpx also loads its command-line
# interface: click, pygments), so they are not imported with this module: the first frame
# does not wait for them.  Once it is painted, the bootstrap worker imports them in a
# thread (`load_network`) before it connects; everything else imports them where used.
NETWORK_MODULES = ("httpx", "flowview.protocol.rest", "flowview.protocol.client")


def _import_network() -> None:
    for name in NETWORK_MODULES:
        importlib.import_module(name)


async def load_network() -> None:
    """Import NETWORK_MODULES without blocking the event loop (a no-op once loaded)."""
    if not all(name in sys.modules for name in NETWORK_MODULES):
        await asyncio.to_thread(_import_network)


@dataclass
class Session:
    """What one connected run needs: settings, token and the clients made from them."""

    settings: Settings
    token: Token
    router: Router
    flows_by_slug: dict[str, Flow]
    flows_by_id: dict[str, Flow]
    api_url: str = ""
    _rest: RestClient | None = field(default=None, repr=False)

    @property
    def rest(self) -> RestClient:
        """The REST client, made on first use (see NETWORK_MODULES)."""
        if self._rest is None:
            from flowview.protocol.rest import RestClient

            self._rest = RestClient(self.api_url or self.settings.api_url, self.token)
        return self._rest

    async def aclose(self) -> None:
        if self._rest is not None:
            await self._rest.aclose()


def _network_error_types() -> tuple[type[BaseException], ...]:
    """The errors a REST call raises (ApiError, httpx.HTTPError), for `except` clauses."""
    import httpx

    from flowview.protocol.rest import ApiError

    return (ApiError, httpx.HTTPError)


def _describe_error(exc: BaseException, token: Token | None) -> str:
    import httpx

    from flowview.protocol.rest import ApiError, AuthError

    if isinstance(exc, AuthError):
        return "token rejected"
    if isinstance(exc, ApiError):
        text = f"HTTP {exc.status}: {exc.message}" if exc.status else str(exc.message)
    elif isinstance(exc, httpx.HTTPError):
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}"
    return clean_name(redact(text, token) if token is not None else text)


class GcPolicy:
    """Keeps the cyclic garbage collector's full collections short.

    A full (generation 2) collection walks every tracked object, and every stored message is
    one: with the stores filling up, Python's automatic full collections paused the app for
    60-110 ms (tens of thousands of messages) and more with 100,000, several times a minute
    under a busy stream.  Right after a full collection every object still tracked is
    reachable, so freezing them (``gc.freeze``) loses nothing, and the next automatic full
    collection walks only what was allocated since.  A frozen object that later becomes part
    of an unreachable cycle (a closed screen, say) is reclaimed by an occasional complete
    collection (``unfreeze`` + ``collect``), done only while no key has been pressed for a
    while, when a pause goes unnoticed.

    Also: what start-up built (Textual, the screens, the imported network stack) is frozen
    once connected (`freeze_now`), so the first full collection is not a long one; and the
    youngest generation is collected every GEN0_THRESHOLD allocations instead of 700, so the
    short-lived objects of a replay burst (parsed JSON) mostly die before a collection and
    are never promoted (measured: 20-60 ms of collections per 10,000-event burst -> 5-10 ms).
    """

    GEN0_THRESHOLD = 10_000

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        full_every: float = 600.0,
        idle_for: float = 60.0,
    ) -> None:
        self.clock = clock
        self.full_every = full_every
        self.idle_for = idle_for
        self.last_full = clock()
        self.freezes = 0
        self.installed = False
        self._thresholds: tuple[int, int, int] | None = None

    def install(self) -> None:
        if not self.installed:
            gc.callbacks.append(self._after_collection)
            self._thresholds = gc.get_threshold()
            gc.set_threshold(self.GEN0_THRESHOLD, *self._thresholds[1:])
            self.installed = True

    def uninstall(self) -> None:
        if self.installed:
            gc.callbacks.remove(self._after_collection)
            if self._thresholds is not None:
                gc.set_threshold(*self._thresholds)
            self.installed = False
            gc.unfreeze()  # hand everything back to the collector

    def freeze_now(self) -> None:
        """Freeze what exists now (start-up's long-lived objects); see the class doc."""
        if self.installed:
            gc.freeze()

    def _after_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info.get("generation") == 2:
            gc.freeze()
            self.freezes += 1

    def maybe_collect_all(self, idle_seconds: float) -> bool:
        """The complete collection, when due and the user has been away from the keys."""
        if not self.installed:
            return False
        now = self.clock()
        if now - self.last_full < self.full_every or idle_seconds < self.idle_for:
            return False
        self.last_full = now
        gc.unfreeze()
        gc.collect()  # the callback freezes the survivors again
        return True


def _note_first_frame(path: str) -> None:
    with open(path, "w", encoding="ascii") as out:
        out.write(repr(time.time()))


class FlowviewApp(App[None]):
    """The viewer.  Without settings or a token it starts on the setup screen."""

    CSS_PATH = "app.tcss"
    TITLE = "flowview"
    COMMAND_PALETTE_BINDING = "ctrl+k"
    BINDINGS = APP_BINDINGS
    COMMANDS = App.COMMANDS | {FlowviewCommands}
    # A mode (not get_default_screen) so that MainScreen's CSS_PATH is loaded.
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {"main": MainScreen}
    DEFAULT_MODE = "main"

    def __init__(
        self,
        settings: Settings | None,
        token: Token | None,
        *,
        setup_notice: str | None = None,
        demo_options: Any = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = datetime.now,
        flush_interval: float = 1 / 15,
        idle_check_interval: float = 15.0,
        stream_factory: Callable[[StreamConfig], StreamClient] | None = None,
    ) -> None:
        super().__init__()
        self.initial_settings = settings
        self.initial_token = token
        self.setup_notice = setup_notice
        # demo_options: a launch.DemoOptions to start the bundled server from inside the app.
        self.demo_options = demo_options
        self.demo: Any = None  # a running launch.DemoSession, stopped on exit
        self.clock = clock
        self.wall_clock = wall_clock
        self.flush_interval = flush_interval
        self.idle_check_interval = idle_check_interval
        # None: flowview.protocol.client.StreamClient (imported when the stream starts).
        self.stream_factory = stream_factory
        self._first_frame = asyncio.Event()

        self.session: Session | None = None
        self.client: StreamClient | None = None
        self.notifier = Notifier(self)
        self.presence_mode: PresenceMode = "active"
        self.last_input = clock()

        self._dirty: set[ConversationKey] = set()
        self._alerts: list[Alert] = []
        self._flush_timer: Timer | None = None
        self._last_flush = 0.0
        # Burst pacing uses real time (tests may freeze `clock`); see BURST_EVENTS.
        self._last_flush_real = 0.0
        self._last_batch_real = 0.0
        self._routed_at_flush = 0  # events_routed at the last flush
        # New lines per second of the last minute, [second, count] (messages per minute):
        # a timestamp per line would be 100,000 floats after a big replay.
        self._line_seconds: deque[list[int]] = deque()
        # Per event only counters; the status bar's clock readings happen once per flush.
        self._lines_pending = 0
        self._routed_at_status = 0
        self._history_loaded: set[ConversationKey] = set()
        self._members_loaded: set[ConversationKey] = set()
        self._members_shown: tuple[object, ...] | None = None
        self._history_busy: set[ConversationKey] = set()
        self._shown_key: ConversationKey | None = None
        self._idle_timer: Timer | None = None
        self.events_routed = 0
        self.skipped = 0
        self.gc_policy = GcPolicy(clock)
        self._presence_lock = asyncio.Lock()
        # Recent connection states, newest last (diagnostics; tests read the sequence).
        self.state_log: deque[StateChange] = deque(maxlen=100)

    # ------------------------------------------------------------------ lifecycle

    @property
    def main(self) -> MainScreen:
        for candidate in self.screen_stack:
            if isinstance(candidate, MainScreen):
                return candidate
        raise LookupError("main screen not mounted")

    def on_mount(self) -> None:
        self.last_input = self.clock()
        self._idle_timer = self.set_interval(self.idle_check_interval, self._idle_tick)
        self.gc_policy.install()

    def main_ready(self) -> None:
        """Called by MainScreen once its widgets exist: connect, or ask for a setup."""
        self.call_after_refresh(self._first_frame.set)
        first_frame = os.environ.get(FIRST_FRAME_ENV)
        if first_frame:
            self.call_after_refresh(_note_first_frame, first_frame)
        if self.demo_options is not None:
            self.start_demo(self.demo_options)
        elif self.initial_settings is not None and self.initial_token is not None:
            self.start_session(self.initial_settings, self.initial_token)
        else:
            self.show_setup(self.setup_notice)

    async def on_unmount(self) -> None:
        self.gc_policy.uninstall()
        await self._stop_session()
        await self.notifier.aclose()
        if self.demo is not None:
            demo, self.demo = self.demo, None
            await asyncio.to_thread(demo.stop)

    def show_setup(self, notice: str | None = None) -> None:
        from flowview.tui.screens.setup import DEMO, SetupScreen

        def done(outcome: object) -> None:
            if outcome is DEMO:
                from flowview.tui.launch import DemoOptions

                self.start_demo(DemoOptions())
            elif outcome is not None:
                self.start_session(outcome.settings, outcome.token)  # type: ignore[attr-defined]

        self.main.status.set_connection("stopped", "not configured")
        self._first_frame.set()  # nothing to hold back: the network waits for the user
        self.push_screen(SetupScreen(notice, self.initial_settings), done)

    @work(group="demo", exclusive=True, exit_on_error=False)
    async def start_demo(self, options: Any) -> None:
        """Start the bundled server (a subprocess) and connect to it; see launch.DemoSession."""
        from flowview.tui.launch import DemoSession

        self.main.status.set_connection("connecting", "starting the demo server")
        demo = await asyncio.to_thread(DemoSession.start, options)
        self.demo = demo
        self.start_session(demo.settings, demo.token)

    def start_session(self, settings: Settings, token: Token) -> None:
        """Connect with `settings`: REST bootstrap first (names, me), then the stream."""
        self.set_keymap(dict(settings.keymap))
        self.notifier.configure(bell=settings.bell, command=settings.notify_command)
        router = Router(settings.me_id or "", settings.me_nick or "", settings.scrollback)
        self.session = Session(
            settings=settings,
            token=token,
            router=router,
            flows_by_slug={},
            flows_by_id={},
            api_url=settings.api_url,
        )
        self.main.status.set_connection("connecting")
        self.bootstrap()

    async def _stop_session(self) -> None:
        self.workers.cancel_group(self, "stream")
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()
        if self.session is not None:
            await self.session.aclose()

    # ------------------------------------------------------------------ bootstrap

    @work(group="bootstrap", exclusive=True, exit_on_error=False)
    async def bootstrap(self) -> None:
        session = self.session
        if session is None:
            return
        # Connecting can wait for the first frame; the import then runs while it is shown.
        # (Bounded: a frame is always painted, but never let a lost callback block us.)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_frame.wait(), 1.0)
        await load_network()
        self.gc_policy.freeze_now()
        network_errors = _network_error_types()
        rest, router, settings = session.rest, session.router, session.settings
        problems: list[str] = []
        try:
            me = await rest.user()
            router.set_me(me.id, me.nick)
        except network_errors as exc:
            problems.append(f"user: {_describe_error(exc, session.token)}")
        flows: list[Flow] = []
        try:
            flows = await rest.flows()
        except network_errors as exc:
            problems.append(f"flows: {_describe_error(exc, session.token)}")
        router.add_flows(flows)
        session.flows_by_slug = {f.slug: f for f in flows}
        session.flows_by_id = {f.id: f for f in flows}
        if not settings.flows and flows:
            # No choice saved (the demo): every joined flow.
            settings = replace(settings, flows=[f.slug for f in flows if f.joined])
            session.settings = settings
        # Tabs for the chosen flows, in the chosen order, before any event arrives.
        for slug in settings.flows:
            flow = session.flows_by_slug.get(slug)
            if flow is not None:
                await self.main.add_conversation(router.open_flow(flow.id), router)
        try:
            router.add_users(await rest.users())
        except network_errors as exc:
            problems.append(f"users: {_describe_error(exc, session.token)}")
        if problems:
            self.main.status.notice = "REST " + "; ".join(problems)
        self.run_stream(self.stream_config(settings, session.token))
        self._on_tab_shown(self.main.active_key)

    def stream_config(self, settings: Settings, token: Token) -> StreamConfig:
        from flowview.protocol.client import StreamConfig

        return StreamConfig(
            stream_url=settings.stream_url,
            token=token,
            flows=tuple(settings.flows),
            private=settings.private,
            presence="active" if self.presence_mode == "active" else "idle",
            content_type=settings.content_type,
            api_url=settings.api_url,
        )

    # ------------------------------------------------------------------ the stream

    @work(group="stream", exclusive=True, exit_on_error=False)
    async def run_stream(self, config: StreamConfig) -> None:
        factory = self.stream_factory
        if factory is None:
            await load_network()
            from flowview.protocol.client import StreamClient

            factory = StreamClient
        client = factory(config)
        old, self.client = self.client, client
        if old is not None:
            await old.aclose()
        try:
            # batches() hands over everything already queued at once: route it all, then
            # let the (rate-limited) flush repaint.
            async for batch in client.batches():
                slice_start = self.clock()
                for item in batch:
                    self.handle_item(item)
                    if self.clock() - slice_start > ROUTE_SLICE_SECONDS:
                        self._last_batch_real = time.monotonic()
                        await asyncio.sleep(0)  # keep keys responsive during a replay
                        slice_start = self.clock()
                self._last_batch_real = time.monotonic()
        finally:
            if self.client is client:
                self.client = None
            await client.aclose()

    def handle_item(self, item: object) -> None:
        """Route one stream item; UI work is deferred to the next flush."""
        session = self.session
        if session is None:
            return
        if isinstance(item, Event):
            self._route(session, item)
            return
        from flowview.protocol.client import Gap, Skipped, StateChange

        if isinstance(item, StateChange):
            self.state_log.append(item)
            self.main.status.set_connection(item.state, item.reason, item.delay)
        elif isinstance(item, Gap):
            session.router.insert_gap(item.key, item.backfilled)
            self._mark_dirty(item.key)
        elif isinstance(item, Skipped):
            self.skipped += 1

    def _route(self, session: Session, event: Event) -> None:
        result = session.router.route(event)
        self.events_routed += 1
        if result.effect == "appended":
            self._lines_pending += 1  # messages per minute: new lines only
        key = result.key
        if key is None or result.effect == "ignored":
            self._schedule_flush()
            return
        self._mark_dirty(key)
        message = result.message
        if message is None or result.effect != "appended":
            return
        private = key[0] == "private"
        from_other = message.user_id is not None and message.user_id != session.router.me_id
        if (result.mention or (private and from_other)) and (
            key != self.main.active_key or not self.app_focus
        ):
            store = session.router.stores.get(key)
            where = store.title if store is not None else "?"
            sender = session.router.sender_of(message)
            self._alerts.append(Alert(where, sender, message.text, private=private))

    def _mark_dirty(self, key: ConversationKey) -> None:
        self._dirty.add(key)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_timer is not None:
            return
        # Textual timers cannot have a zero interval; 5 ms is "as soon as possible".
        delay = max(0.005, self._last_flush + self.flush_interval - self.clock())
        self._flush_timer = self.set_timer(delay, self._flush_updates, name="flush")

    def _in_burst(self) -> bool:
        if self.events_routed - self._routed_at_flush < BURST_EVENTS:
            return False
        now = time.monotonic()
        return (
            now - self._last_batch_real < BURST_QUIET_SECONDS
            and now - self._last_flush_real < BURST_FLUSH_SECONDS
        )

    async def _flush_updates(self, force: bool = False) -> None:
        """Apply everything routed since the last flush to the screen (batched)."""
        self._flush_timer = None
        if not force and self._in_burst():
            # Check again shortly: the burst may be over by then.
            self._flush_timer = self.set_timer(
                BURST_QUIET_SECONDS, self._flush_updates, name="flush"
            )
            return
        self._last_flush = self.clock()
        self._last_flush_real = time.monotonic()
        self._routed_at_flush = self.events_routed
        session = self.session
        if session is None or not self.is_running:
            return
        try:
            main = self.main
        except LookupError:  # shutting down
            return
        dirty, self._dirty = self._dirty, set()
        router = session.router
        stores: list[ConversationStore] = []
        for key in sorted(dirty, key=lambda k: (k[0] != "flow", k)):
            store = router.stores.get(key)
            if store is None:
                continue
            if not main.has(key):
                # First message of a private conversation (or of a flow REST did not list).
                await main.add_conversation(store, router)
                if main.active_key == key:
                    self._on_tab_shown(key)
            stores.append(store)
        active = main.active_key
        if active is not None and active in dirty:
            # Before the labels: when the shown flow is read, its label never flickers
            # through an unread count (each label change of width re-lays out the screen).
            self._refresh_shown(active)
        for store in stores:
            main.update_label(store)
        self.refresh_members()
        self._update_status()
        alerts, self._alerts = self._alerts, []
        for alert in alerts[:MAX_ALERTS_PER_FLUSH]:
            self.notifier.alert(alert)
        if len(alerts) > MAX_ALERTS_PER_FLUSH:
            self.notifier.summary(len(alerts) - MAX_ALERTS_PER_FLUSH)

    async def flush_now(self) -> None:
        """Apply pending updates immediately (tests, and before a snapshot)."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        await self._flush_updates(force=True)
        with contextlib.suppress(LookupError):
            self.main.flush_labels()

    def _update_status(self) -> None:
        now = self.clock()
        seconds = self._line_seconds
        if self._lines_pending:
            second = int(now)
            if seconds and seconds[-1][0] == second:
                seconds[-1][1] += self._lines_pending
            else:
                seconds.append([second, self._lines_pending])
            self._lines_pending = 0
        if self.events_routed != self._routed_at_status:
            # the time of the last event, to the flush (at most BURST_FLUSH_SECONDS later)
            self._routed_at_status = self.events_routed
            self._last_event_wall = self.wall_clock()
        while seconds and now - seconds[0][0] > 60:
            seconds.popleft()
        status = self.main.status
        status.rate = sum(count for _, count in seconds)
        last = getattr(self, "_last_event_wall", None)
        if last is not None:
            status.last_event = last.strftime("%H:%M:%S")

    def _refresh_shown(self, key: ConversationKey) -> None:
        """Repaint the shown conversation; it counts as read when scrolled to the bottom."""
        main = self.main
        log = main.log_for(key)
        session = self.session
        if log is None or session is None:
            return
        log.refresh_from_store()
        store = session.router.stores.get(key)
        if store is not None and log.at_bottom and self._is_reading(key):
            store.mark_read()
            main.update_label(store)

    def _is_reading(self, key: ConversationKey) -> bool:
        return self.main.active_key == key and self.screen is self.main

    # ------------------------------------------------------------------ tabs & history

    def stores(self) -> dict[ConversationKey, ConversationStore]:
        return self.session.router.stores if self.session is not None else {}

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, message: TabbedContent.TabActivated) -> None:
        self._on_tab_shown(self.main.key_of(message.pane.id))

    def _on_tab_shown(self, key: ConversationKey | None) -> None:
        previous, self._shown_key = self._shown_key, key
        session = self.session
        if session is None:
            return
        if previous is not None and previous != key:
            old = session.router.stores.get(previous)
            if old is not None:
                old.arm_marker()  # the next unread message there gets the "new" line
            pane = self.main.pane_id(previous)
            if pane is not None:
                self.workers.cancel_group(self, f"history-{pane}")
                self._history_busy.discard(previous)
        if key is None:
            return
        store = session.router.stores.get(key)
        if store is not None and not store.unread:
            # Nothing unread: no "new" line now, and none for lines arriving while shown.
            store.clear_marker()
        log = self.main.log_for(key)
        if log is not None and self.screen is self.main:
            log.focus()  # its keys (scrolling, t, o) work straight away
        self._refresh_shown(key)
        self.refresh_members()
        if key not in self._history_loaded:
            self.load_history(key)

    # ------------------------------------------------------------------ members pane

    def refresh_members(self, force: bool = False) -> None:
        """Show who is in the shown conversation, when the pane is open (f4). Cheap when
        nothing changed: activity.user/presence events bump the router's presence_version."""
        session = self.session
        if session is None:
            return
        try:
            main = self.main
        except LookupError:
            return
        pane = main.members
        key = main.active_key
        if not pane.display or key is None:
            return
        router = session.router
        shown = (key, router.presence_version, router.users_version)
        if not force and shown == self._members_shown:
            return
        self._members_shown = shown
        store = router.stores.get(key)
        pane.show(store.title if store is not None else "Members", router.members_for(key))
        if key[0] == "flow" and key not in self._members_loaded:
            self._members_loaded.add(key)
            self.run_worker(
                self._load_members(key),
                group="members",
                exit_on_error=False,
                description="flow members",
            )

    async def _load_members(self, key: ConversationKey) -> None:
        session = self.session
        flow = session.flows_by_id.get(key[1]) if session is not None else None
        if session is None or flow is None:
            return
        try:
            users = await session.rest.flow_users(flow.slug)
        except _network_error_types():
            self._members_loaded.discard(key)  # try again next time the tab is shown
            raise
        session.router.add_users(users, flow_id=key[1])
        self.refresh_members(force=True)

    def load_history(self, key: ConversationKey, older: bool = False) -> None:
        pane = self.main.pane_id(key)
        if pane is None or key in self._history_busy:
            return
        self._history_busy.add(key)
        self.run_worker(
            self._load_history(key, older),
            group=f"history-{pane}",
            exclusive=True,
            exit_on_error=False,
            description=f"history {'older' if older else 'latest'}",
        )

    async def _load_history(self, key: ConversationKey, older: bool) -> None:
        session = self.session
        if session is None:
            return
        try:
            store = session.router.stores.get(key)
            until_id = store.oldest_id if (older and store is not None) else None
            if older and until_id is None:
                return
            events = await self._fetch_history(session, key, until_id)
            if events is None:
                return
            session.router.merge_history(key, events)
            if not older:
                self._history_loaded.add(key)
            elif not events and store is not None:
                store.history_complete = True
            self._mark_dirty(key)
        finally:
            self._history_busy.discard(key)

    async def _fetch_history(
        self, session: Session, key: ConversationKey, until_id: int | None
    ) -> list[Event] | None:
        kind, ident = key
        if kind == "flow":
            flow = session.flows_by_id.get(ident)
            if flow is None:
                return None
            return await session.rest.messages(
                flow.slug, until_id=until_id, limit=HISTORY_PAGE, sort="desc"
            )
        me = session.router.me_id
        others = [part for part in ident.split(":") if part != me]
        if not others:
            return None
        return await session.rest.private_messages(
            others[0], until_id=until_id, limit=HISTORY_PAGE, sort="desc"
        )

    @on(FlowLog.ReachedTop)
    def _reached_top(self, message: FlowLog.ReachedTop) -> None:
        key = self._key_of_log(message)
        if key is None:
            return
        store = self.stores().get(key)
        if store is not None and not store.history_complete:
            self.load_history(key, older=True)

    @on(FlowLog.ScrolledToEnd)
    def _scrolled_to_end(self, message: FlowLog.ScrolledToEnd) -> None:
        key = self._key_of_log(message)
        if key is not None and self._is_reading(key):
            store = self.stores().get(key)
            if store is not None:
                store.mark_read()
                self.main.update_label(store)

    def _key_of_log(self, message: Any) -> ConversationKey | None:
        log = getattr(message, "flow_log", None) or getattr(message, "control", None)
        if isinstance(log, FlowLog):
            return log.store.key
        return self.main.active_key

    @on(FlowLog.ThreadRequested)
    def _thread_requested(self, message: FlowLog.ThreadRequested) -> None:
        from flowview.tui.screens.thread import ThreadScreen

        if self.session is not None:
            self.push_screen(ThreadScreen(self.session.router, message.key, message.thread_id))

    @on(FlowLog.LinkRequested)
    def _link_requested(self, message: FlowLog.LinkRequested) -> None:
        url = message.url
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in ("http", "https"):
            self.notify(f"Not opening {clean_name(url)[:120]}", markup=False, severity="warning")
            return
        # Show the real address being opened: the text of a message can look like anything.
        self.notify(f"Opening {clean_name(url)[:200]}", markup=False, timeout=4)
        self.open_url(url)

    # ------------------------------------------------------------------ presence

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.note_input()
        await super().on_event(event)

    def note_input(self) -> None:
        self.last_input = self.clock()
        if self.presence_mode == "auto-idle":
            self._set_presence("active")

    def _idle_tick(self) -> None:
        self.check_auto_idle()
        self.gc_policy.maybe_collect_all(self.clock() - self.last_input)

    def check_auto_idle(self) -> None:
        """Go auto-idle after settings.auto_idle_minutes without a key press."""
        session = self.session
        if session is None or self.presence_mode != "active":
            return
        minutes = session.settings.auto_idle_minutes
        if minutes > 0 and self.clock() - self.last_input >= minutes * 60:
            self._set_presence("auto-idle")

    def action_toggle_presence(self) -> None:
        self._set_presence("active" if self.presence_mode != "active" else "idle")

    def _set_presence(self, mode: PresenceMode) -> None:
        self.presence_mode = mode
        self.main.status.presence = mode
        if self.client is not None:
            self.apply_presence()

    # Not exclusive: cancelling a make-before-break switch half-way (a key pressed while the
    # switch to idle hands over) could drop the events it holds and leave the stream on the
    # old presence. Switches run one at a time instead, each heading for the latest wish.
    @work(group="presence", exit_on_error=False)
    async def apply_presence(self) -> None:
        from flowview.protocol.client import ReconfigureError

        async with self._presence_lock:
            while True:
                client = self.client
                wanted: Literal["active", "idle"] = (
                    "active" if self.presence_mode == "active" else "idle"
                )
                if client is None or client.config.presence == wanted:
                    return
                try:
                    await client.reconfigure(presence=wanted)
                except ReconfigureError as exc:
                    # The old connection (old presence) is still streaming: say so, calmly.
                    self.main.status.notice = f"presence not changed: {exc}"
                    return
                self.main.status.notice = ""

    # ------------------------------------------------------------------ screens & palette

    def action_help(self) -> None:
        from flowview.tui.screens.help import HelpScreen  # not needed before F1

        if not isinstance(self.screen, HelpScreen):
            keymap = dict(self.session.settings.keymap) if self.session else {}
            self.push_screen(HelpScreen(keymap))

    def action_settings(self) -> None:
        from flowview.tui.screens.settings import SettingsScreen

        session = self.session
        if session is None or isinstance(self.screen, SettingsScreen):
            return

        def done(new: Settings | None) -> None:
            if new is not None:
                self.apply_settings(new)

        self.push_screen(
            SettingsScreen(session.settings, session.token, session.settings.api_url), done
        )

    @work(group="settings", exclusive=True, exit_on_error=False)
    async def apply_settings(self, new: Settings) -> None:
        session = self.session
        if session is None:
            return
        old, session.settings = session.settings, new
        self.set_keymap(dict(new.keymap))
        self.notifier.configure(bell=new.bell, command=new.notify_command)
        router = session.router
        for slug in new.flows:
            flow = session.flows_by_slug.get(slug)
            if flow is None:
                try:
                    flow = await session.rest.flow(slug)
                except _network_error_types():
                    continue
                session.flows_by_slug[slug] = flow
                session.flows_by_id[flow.id] = flow
                router.add_flows([flow])
            await self.main.add_conversation(router.open_flow(flow.id), router)
        for slug in old.flows:
            flow = session.flows_by_slug.get(slug)
            if slug not in new.flows and flow is not None:
                await self.main.remove_conversation(("flow", flow.id))
        if new.content_type != old.content_type or self.client is None:
            self.run_stream(self.stream_config(new, session.token))
        elif new.flows != old.flows or new.private != old.private:
            await self.client.reconfigure(flows=tuple(new.flows), private=new.private)

    def palette_entries(self) -> list[PaletteEntry]:
        entries: list[PaletteEntry] = []
        main = self.main
        stores = self.stores()
        for key in main.keys_in_order():
            store = stores.get(key)
            if store is None:
                continue
            kind = "private conversation" if key[0] == "private" else "flow"
            entries.append(
                PaletteEntry(
                    f"Go to {clean_name(store.title)}",
                    f"Show this {kind}",
                    lambda key=key: main.show(key),  # type: ignore[misc]
                )
            )
        entries += [
            PaletteEntry(
                "Settings", "Flows, private messages, stream format", self.action_settings
            ),
            PaletteEntry(
                "Toggle presence", "Switch between active and idle", self.action_toggle_presence
            ),
            PaletteEntry(
                "Members",
                "Show or hide who is active, idle or offline (f4)",
                lambda: self.main.action_toggle_members(),
            ),
            PaletteEntry("Help", "List the keys", self.action_help),
            PaletteEntry("Quit", "Leave flowview", self.exit),
        ]
        return entries

    def get_system_commands(self, screen: Any) -> Iterable[Any]:
        # Keep Textual's theme and screenshot commands, drop its own Quit (ours is above).
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command

    # ------------------------------------------------------------------ errors

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures end up: a calm line in the status bar."""
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        error = worker.error
        token = self.session.token if self.session is not None else None
        what = _describe_error(error, token) if error is not None else "unknown error"
        group = worker.group
        if group == "stream":
            self.main.status.set_connection("failed", what)
        elif group == "demo":
            self.main.status.set_connection("failed", f"demo server: {what}")
        else:
            self.main.status.notice = f"{group}: {what}"
