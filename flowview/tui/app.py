"""FlowviewApp: composes the screens, owns the bindings, the lifecycle and the session's
start and stop; everything else is wired in from one module per job.

The jobs live elsewhere, one module each:
- `session.py`: one connected run (settings, token, router, flows, the one REST client) and
  its bootstrap calls (`/user`, `/flows`, `/users`);
- `stream_pump.py`: runs the StreamClient, routes every item, paces the repaints;
- `loaders.py`: history pages (and the start-up seam) and flow members;
- `gc_policy.py`: the garbage collector's schedule;
- `model/rate.py`: the messages-per-minute counter.
- the actions of one feature each, mixed into the App (`app_part.py` is their base):
  `send_actions.py` (sending, the quit question), `presence_actions.py` (presence,
  auto-idle), `search_actions.py` (ctrl+f, jump to a hit, back to the results),
  `settings_actions.py` (f3, applying a change, the theme picked), `triage_actions.py`
  (first unread, next mention, mark read), `flush_actions.py` (the pump's flushes applied to
  the screen), `tab_actions.py` (a tab shown, when it counts as read, a thread requested),
  `history_actions.py` (history pages as a log reaches its top or bottom),
  `link_actions.py` (a link opened in the browser), `members_actions.py` (the members
  pane, f4), `palette_actions.py` (the palette's entries, system commands, f1 help),
  `crash_actions.py` (tokens remembered, the redacted crash report), `setup_actions.py`
  (the setup screen, the demo server).
  Their message handlers are found by name (`on_flow_log_reached_top`): Textual collects
  `@on` decorators only on its own classes, so a mixin never uses `@on`.

Everything that touches the network runs in named workers: "bootstrap", "stream",
"history-<pane>" (lazy per tab, cancelled when the tab is left), "presence" (one switch at a
time).  `on_worker_state_changed` reports failures in the status bar and the log; nothing
here raises a dialog for a network problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import App
from textual.timer import Timer
from textual.widgets._toast import Toast
from textual.worker import Worker, WorkerState

from flowview.config import Settings
from flowview.model.store import ConversationStore
from flowview.protocol.auth import Token
from flowview.protocol.events import ConversationKey, Event
from flowview.protocol.items import StateChange
from flowview.tui.commands import FlowviewCommands
from flowview.tui.crash_actions import CrashActions
from flowview.tui.deferred import deferred
from flowview.tui.flush_actions import FlushActions
from flowview.tui.gc_policy import GcPolicy, malloc_trim
from flowview.tui.history_actions import HistoryActions
from flowview.tui.joined_flows import JoinedFlows
from flowview.tui.link_actions import LinkActions
from flowview.tui.loaders import HistoryLoader, MembersLoader
from flowview.tui.members_actions import MembersActions
from flowview.tui.notifier import Notifier
from flowview.tui.palette_actions import PaletteActions
from flowview.tui.presence_actions import PresenceActions, PresenceMode
from flowview.tui.screens.main import APP_BINDINGS, MainScreen
from flowview.tui.search_actions import SearchActions
from flowview.tui.search_jump import SearchReturn
from flowview.tui.send_actions import SendActions
from flowview.tui.session import TOKEN_REJECTED, Session, describe_error, load_network
from flowview.tui.settings_actions import SettingsActions
from flowview.tui.setup_actions import SetupActions
from flowview.tui.stream_pump import StreamPump
from flowview.tui.tab_actions import TabActions
from flowview.tui.textual_caches import release_dead_widgets
from flowview.tui.triage import ReadState
from flowview.tui.triage_actions import TriageActions
from flowview.tui.warm_prelude import PRELUDE_WAIT, Prelude
from flowview.tui.warm_start import WarmPlan, adopt, forget_warm, warm_start

if TYPE_CHECKING:
    from flowview.protocol.client import StreamClient, StreamConfig
    from flowview.protocol.rest import RestClient

log = logging.getLogger(__name__)

StreamFactory = Callable[["StreamConfig", "RestClient"], "StreamClient"]

# bench/bench_app.py measures startup with this: when it names a file, the wall-clock time
# (time.time()) of the main screen's first painted frame is written there.  Nothing else.
FIRST_FRAME_ENV = "FLOWVIEW_BENCH_FIRST_FRAME"
RATE_REFRESH_SECONDS = 5.0


def _note_first_frame(path: str) -> None:
    with open(path, "w", encoding="ascii") as out:
        out.write(repr(time.time()))


def _default_stream_factory(config: StreamConfig, rest: RestClient) -> StreamClient:
    from flowview.protocol.client import StreamClient

    return StreamClient(config, rest=rest)


class FlowviewApp(
    SendActions,
    PresenceActions,
    SearchActions,
    SettingsActions,
    TriageActions,
    FlushActions,
    TabActions,
    HistoryActions,
    LinkActions,
    MembersActions,
    PaletteActions,
    CrashActions,
    SetupActions,
    App[None],
):
    """The viewer.  Without settings or a token it starts on the setup screen."""

    # main.tcss here too: read with the app's CSS, the main screen's own CSS_PATH adds nothing
    # new when it mounts (a new source there re-parses every stylesheet, twice: ~25 ms).
    CSS_PATH: ClassVar[list[str | PurePath]] = ["app.tcss", "screens/main.tcss"]
    TITLE = "flowview"
    COMMAND_PALETTE_BINDING = "ctrl+k"
    BINDINGS = APP_BINDINGS
    COMMANDS = App.COMMANDS | {FlowviewCommands}
    # A mode (not get_default_screen) so that MainScreen's CSS_PATH is loaded; added in
    # __init__: its screen may be composed with a warm tab (`_main_screen`).
    DEFAULT_MODE = "main"

    def __init__(
        self,
        settings: Settings | None,
        token: Token | None,
        *,
        setup_notice: str | None = None,
        settings_problems: Iterable[str] = (),
        demo_options: Any = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = datetime.now,
        flush_interval: float = 1 / 15,
        idle_check_interval: float = 15.0,
        stream_factory: StreamFactory | None = None,
        prelude: Prelude | None = None,
    ) -> None:
        super().__init__()
        self.add_mode("main", self._main_screen)
        # Warm start's first tab (tui/warm_prelude.py): launch.py starts it before importing us.
        self._prelude = prelude
        self.initial_settings = settings
        self.initial_token = token
        self.setup_notice = setup_notice
        # What loading settings.toml skipped: a status-bar line at start, listed by f1.
        self.settings_problems = tuple(settings_problems)
        # demo_options: a launch.DemoOptions to start the bundled server from inside the app.
        self.demo_options = demo_options
        self.demo: Any = None  # a running launch.DemoSession, stopped on exit
        self.clock = clock
        self.wall_clock = wall_clock
        self.flush_interval = flush_interval
        self.idle_check_interval = idle_check_interval
        self.stream_factory: StreamFactory = stream_factory or _default_stream_factory
        self._first_frame = asyncio.Event()

        self.session: Session | None = None
        self.client: StreamClient | None = None
        self.joined_flows: JoinedFlows | None = None
        self.pump: StreamPump | None = None
        self.history: HistoryLoader | None = None
        self.members_loader: MembersLoader | None = None
        self.notifier = Notifier(self, show=self._show_alert, show_problem=self._show_notice)
        self.presence_mode: PresenceMode = "active"
        self.last_input = clock()
        self._members_shown: tuple[object, ...] | None = None
        self._shown_key: ConversationKey | None = None
        self._idle_timer: Timer | None = None
        self.gc_policy = GcPolicy(
            clock,
            can_freeze=self.nothing_transient,
            trim=malloc_trim(),
            release=release_dead_widgets,
        )
        self._presence_lock = asyncio.Lock()
        # Recent connection states, newest last (diagnostics; tests read the sequence).
        self.state_log: deque[StateChange] = deque(maxlen=100)
        # Every token this app has held: a crash report is redacted with all of them.
        self._secrets: list[Token] = []
        if token is not None:
            self.remember_secret(token)
        self._crash: BaseException | None = None
        self._search_return: SearchReturn | None = None  # Escape after a search jump
        self.read_state = ReadState(
            lambda: self.session.archive if self.session is not None else None,
            on_read=self._read_changed,
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def main(self) -> MainScreen:
        for candidate in self.screen_stack:
            if isinstance(candidate, MainScreen):
                return candidate
        raise LookupError("main screen not mounted")

    def stores(self) -> dict[ConversationKey, ConversationStore]:
        return self.session.router.stores if self.session is not None else {}

    @property
    def events_routed(self) -> int:
        return self.pump.events_routed if self.pump is not None else 0

    async def on_load(self) -> None:
        """Before the terminal and the CSS: read warm start's first tab (tui/warm_prelude.py)."""
        settings, token = self.initial_settings, self.initial_token
        if self._prelude is None and settings and token and self.demo_options is None:
            self._prelude = Prelude(settings, token)
        if self._prelude is not None:
            self._prelude.start()

    def _main_screen(self) -> MainScreen:
        prelude = self._prelude
        if prelude is None or prelude.first is None:
            return MainScreen()
        return MainScreen(prelude.first, api_url=prelude.session.settings.api_url)

    def on_mount(self) -> None:
        self.last_input = self.clock()
        self._idle_timer = self.set_interval(self.idle_check_interval, self._idle_tick)
        # msg/min falls to 0 when nothing arrives (flushes only happen when something does).
        self.set_interval(RATE_REFRESH_SECONDS, self.refresh_rate)
        self.gc_policy.install()
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    @on(MainScreen.Ready)
    def _main_ready(self) -> None:
        """The main screen's widgets exist: connect, or ask for a setup."""
        self.main.status.clock = self.clock
        if self.settings_problems:
            from flowview.tui.binding_ids import problems_notice

            self.main.status.notice = problems_notice(self.settings_problems)
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
        if self._prelude is not None:
            await self._prelude.aclose()
        await self._stop_session()
        await self.notifier.aclose()
        await self.stop_demo()

    def nothing_transient(self) -> bool:
        """True when only the main screen is up and no toast is shown (see GcPolicy)."""
        if len(self.screen_stack) > 1 or not isinstance(self.screen, MainScreen):
            return False
        return not self.screen.query(Toast)

    def start_session(self, settings: Settings, token: Token) -> None:
        """Connect with `settings`: REST bootstrap first (names, me), then the stream."""
        self.remember_secret(token)
        self.set_keymap(dict(settings.keymap))
        self._configure_notifier(settings)
        if (
            settings.theme
            and settings.theme in self.available_themes
            and self.theme != settings.theme
        ):
            self.theme = settings.theme  # before the session exists: nothing to save back
        prelude = self._prelude.take_session(settings, token) if self._prelude else None
        session = self.session = prelude or Session.create(settings, token)
        self.main.api_url = settings.api_url
        self.history = HistoryLoader(session, self._mark_dirty)
        self.members_loader = MembersLoader(session)
        if self.pump is not None:
            self.pump.close()
        self.pump = StreamPump(
            session.router,
            clock=self.clock,
            wall_clock=self.wall_clock,
            set_timer=lambda delay, callback: self.set_timer(delay, callback, name="flush"),
            on_flush=self._apply_flush,
            wants_alert=self._wants_alert,
            on_state=self._stream_state,
            flush_interval=self.flush_interval,
            on_events=self._on_routed,
            on_burst=self.gc_policy.burst,
        )
        self.joined_flows = JoinedFlows(session, lambda: self.client, self._joined_flows_changed)
        self.main.status.set_connection("connecting")
        if prelude is not None and self._prelude is not None and self._prelude.tab is not None:
            # The screen was composed with this tab: loaders take it over before it is shown.
            adopt(self.history, self.read_state, self._prelude.tab)
            self._shown_key = None  # (a TabActivated before the session changed nothing)
            self._on_tab_shown(self.main.active_key)
        self.bootstrap()

    def _on_routed(self, events: Sequence[Event]) -> None:
        if self.session is not None:
            self.session.archive.events(events)
        if self.joined_flows is not None:
            self.joined_flows.events(events)

    def _joined_flows_changed(self) -> None:
        """Flows joined (or left) while following all: their place in the tab order."""
        if self.session is not None:
            self.main.set_flow_order(self._chosen_flow_keys(self.session))

    async def _stop_session(self) -> None:
        if self.joined_flows is not None:
            await self.joined_flows.aclose()
        self.workers.cancel_group(self, "stream")
        if self.pump is not None:
            self.pump.close()
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()
        await self.close_outbox()  # unsent items stay in the file for the next start
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
        warm = await self._warm_start(session)
        await load_network()
        self.gc_policy.freeze_now()
        problems = await session.load_identity_and_flows()
        if warm is not None and session.archive.switched and self.history is not None:
            forget_warm(session, self.history, warm)
        self.start_outbox()  # resends what an earlier run left, once the stream is live
        router = session.router
        self.main.set_flow_order(self._chosen_flow_keys(session))
        # Tabs for the chosen flows, in the chosen order, before any event arrives.
        for slug in session.settings.flows:
            flow = session.flows_by_slug.get(slug)
            if flow is not None:
                await self.main.add_conversation(router.open_flow(flow.id), router)
        problems += await session.load_users()
        if problems:
            self.main.status.notice = "REST " + "; ".join(problems)
        self.run_stream(self.stream_config(session.settings, session.token))
        self._on_tab_shown(self.main.active_key)

    async def _warm_start(self, session: Session) -> WarmPlan | None:
        """Archived tails in the tabs before the network answers (tui/warm_start.py)."""
        if self.history is None:
            return None
        prelude = self._prelude
        prepared = composed = None
        if prelude is not None and session is prelude.session:
            prepared = await prelude.result()
            if prepared is None:
                return None  # no archive (or it failed): nothing to read again
            composed = prelude.tab.key if prelude.tab is not None else None
        return await warm_start(
            session,
            self.history,
            self.main,
            self.read_state,
            on_first_tab=lambda: self._on_tab_shown(self.main.active_key),
            prepared=prepared,
            composed=composed,
        )

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
        session, pump, history = self.session, self.pump, self.history
        if session is None or pump is None or history is None:
            return
        await load_network()
        client = self.stream_factory(config, session.rest)
        old, self.client = self.client, client
        if old is not None:
            history.stream_restarted()
            await old.aclose()
        try:
            await pump.run(client)
        finally:
            if self.client is client:
                self.client = None

    def handle_item(self, item: object) -> None:
        """Route one stream item (tests and the bench feed items through here)."""
        if self.pump is not None:
            self.pump.handle_item(item)

    def _stream_state(self, item: StateChange) -> None:
        self.state_log.append(item)
        if self.joined_flows is not None:
            self.joined_flows.observe(item)  # every live re-reads /flows (all-flows mode)
        self.outbox_online(item.state == "live")
        reason = item.reason
        if item.state == "failed" and item.status == 401:
            reason = TOKEN_REJECTED
        with contextlib.suppress(LookupError):
            self.main.status.set_connection(item.state, reason, item.delay)
        history = self.history
        if item.state == "live" and history is not None and not history.live:
            for key, since_id in history.went_live().items():
                self.run_worker(
                    deferred(history.close_seam, key, since_id),
                    group="seam",
                    exit_on_error=False,
                    description="history since the stream went live",
                )

    @staticmethod
    def _chosen_flow_keys(session: Session) -> list[ConversationKey]:
        """The chosen flows that exist, in the saved order (the tab order of flows)."""
        keys: list[ConversationKey] = []
        for slug in session.settings.flows:
            flow = session.flows_by_slug.get(slug) or session.flows_by_id.get(slug)
            if flow is not None and ("flow", flow.id) not in keys:
                keys.append(("flow", flow.id))
        return keys

    def _configure_notifier(self, settings: Settings) -> None:
        self.notifier.configure(
            bell=settings.bell,
            command=settings.notify_command,
            enabled=settings.notify,
            muted=settings.muted,
        )

    def _show_alert(self, text: str) -> None:
        with contextlib.suppress(LookupError):
            self.main.status.alert = text

    def _show_notice(self, text: str) -> None:
        with contextlib.suppress(LookupError):
            self.main.status.notice = text

    # ------------------------------------------------------------------ input

    # What counts as the user being there (auto-idle): keys, clicks and the wheel; not a
    # mouse that merely passes over the terminal.
    _ACTIVITY_EVENTS = (
        events.Key,
        events.MouseDown,
        events.MouseScrollDown,
        events.MouseScrollUp,
        events.MouseScrollLeft,
        events.MouseScrollRight,
    )

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Compose) and self._prelude is not None:
            await self._prelude.wait(PRELUDE_WAIT)  # the main screen is composed next
        if isinstance(event, self._ACTIVITY_EVENTS):
            if not self.screen_stack:
                # Quitting: a key or click queued behind the last screen has nowhere to go
                # (Textual's handler would raise ScreenStackError).
                log.debug("input after the last screen closed: %s dropped", type(event).__name__)
                return
            self.note_input()
        await super().on_event(event)

    # ------------------------------------------------------------------ errors

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures end up: a calm line in the status bar, and the log."""
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        error = worker.error
        token = self.session.token if self.session is not None else None
        what = describe_error(error, token) if error is not None else "unknown error"
        log.error("worker %s (%s) failed: %s", worker.group, worker.description, what)
        group = worker.group
        if group == "stream":
            self.main.status.set_connection("failed", what)
        elif group == "demo":
            self.main.status.set_connection("failed", f"demo server: {what}")
        else:
            with contextlib.suppress(LookupError):  # a worker failing while the app exits
                self.main.status.notice = f"{group}: {what}"
