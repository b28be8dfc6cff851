"""FlowviewApp: composes the screens, owns the bindings and the top-level actions.

The jobs live elsewhere, one module each:
- `session.py`: one connected run (settings, token, router, flows, the one REST client) and
  its bootstrap calls (`/user`, `/flows`, `/users`);
- `stream_pump.py`: runs the StreamClient, routes every item, paces the repaints;
- `loaders.py`: history pages (and the start-up seam) and flow members;
- `gc_policy.py`: the garbage collector's schedule;
- `model/rate.py`: the messages-per-minute counter.
- the actions of one feature each, mixed into the App: `send_actions.py` (sending, the
  quit question), `presence_actions.py` (presence, auto-idle), `search_actions.py` (ctrl+f,
  jump to a hit, back to the results), `settings_actions.py` (f3, applying a change),
  `triage_actions.py` (first unread, next mention, mark read).

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
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import App
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import TabbedContent
from textual.widgets._toast import Toast
from textual.worker import Worker, WorkerState

from flowview.config import Settings, save_settings
from flowview.model.sanitize import clean_name
from flowview.model.store import ConversationStore
from flowview.protocol.auth import Token, redact
from flowview.protocol.events import ConversationKey, Event
from flowview.protocol.items import StateChange
from flowview.tui.commands import FlowviewCommands, PaletteEntry
from flowview.tui.deferred import deferred
from flowview.tui.gc_policy import GcPolicy, malloc_trim
from flowview.tui.joined_flows import JoinedFlows
from flowview.tui.loaders import HistoryLoader, MembersLoader
from flowview.tui.notifier import Notifier
from flowview.tui.presence_actions import PresenceActions, PresenceMode
from flowview.tui.screens.main import APP_BINDINGS, MainScreen
from flowview.tui.search_actions import SearchActions
from flowview.tui.search_jump import SearchReturn
from flowview.tui.send_actions import SendActions
from flowview.tui.session import TOKEN_REJECTED, Session, describe_error, load_network
from flowview.tui.settings_actions import SettingsActions
from flowview.tui.stream_pump import FlushBatch, StreamPump
from flowview.tui.textual_caches import release_dead_widgets
from flowview.tui.triage import ReadState
from flowview.tui.triage_actions import TriageActions
from flowview.tui.warm_prelude import PRELUDE_WAIT, Prelude
from flowview.tui.warm_start import WarmPlan, adopt, forget_warm, warm_start
from flowview.tui.widgets.flow_log import FlowLog

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
    SendActions, PresenceActions, SearchActions, SettingsActions, TriageActions, App[None]
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

    def _theme_changed(self, theme: Theme) -> None:
        """Remember the theme the user picked (palette or keys) in the saved settings."""
        session = self.session
        if session is None or session.settings.theme == theme.name:
            return
        session.settings = replace(session.settings, theme=theme.name)
        self.save_theme(session.settings)

    @work(group="save-theme", exclusive=True, exit_on_error=False)
    async def save_theme(self, settings: Settings) -> None:
        # Off the loop: saving fsyncs.  Exclusive: only the latest choice matters.
        await asyncio.to_thread(save_settings, settings)

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
        if self.demo is not None:
            demo, self.demo = self.demo, None
            demo.deactivate()
            await asyncio.to_thread(demo.stop)

    def nothing_transient(self) -> bool:
        """True when only the main screen is up and no toast is shown (see GcPolicy)."""
        if len(self.screen_stack) > 1 or not isinstance(self.screen, MainScreen):
            return False
        return not self.screen.query(Toast)

    def show_setup(self, notice: str | None = None) -> None:
        from flowview.tui.screens.setup import DEMO, SetupResult, SetupScreen

        def done(outcome: object) -> None:
            if outcome is DEMO:
                from flowview.tui.launch import DemoOptions

                self.start_demo(DemoOptions())
            elif isinstance(outcome, SetupResult):
                self.start_session(outcome.settings, outcome.token)

        self.main.status.set_connection("stopped", "not configured")
        self._first_frame.set()  # nothing to hold back: the network waits for the user
        from flowview.config import env_connection

        env = env_connection() if self.initial_settings is None else None
        self.push_screen(SetupScreen(notice, self.initial_settings, env=env), done)

    @work(group="demo", exclusive=True, exit_on_error=False)
    async def start_demo(self, options: Any) -> None:
        """Start the bundled server (a subprocess) and connect to it; see launch.DemoSession."""
        from flowview.tui.launch import DemoSession

        self.main.status.set_connection("connecting", "starting the demo server")
        demo = await asyncio.to_thread(DemoSession.start, options)
        demo.activate()  # here, on the event loop's thread: the environment is process-wide
        self.demo = demo
        self.start_session(demo.settings, demo.token)

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

    @staticmethod
    def _wants_tab(session: Session, key: ConversationKey) -> bool:
        """Whether events of `key` may open a tab: private conversations, and flows that are
        chosen or that /flows did not list (a flow just joined).  A flow just unticked in
        settings may still have events in flight: they must not bring its tab back."""
        if key[0] != "flow":
            return True
        flow = session.flows_by_id.get(key[1])
        chosen = session.settings.flows
        return flow is None or not chosen or flow.slug in chosen or flow.id in chosen

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

    def _slug_of(self, key: ConversationKey) -> str:
        session = self.session
        flow = session.flows_by_id.get(key[1]) if session is not None else None
        return flow.slug if flow is not None and key[0] == "flow" else ""

    def _wants_alert(self, key: ConversationKey) -> bool:
        try:
            shown = self.main.active_key
        except LookupError:
            shown = None
        return key != shown or not self.app_focus

    def _mark_dirty(self, key: ConversationKey) -> None:
        if self.pump is not None:
            self.pump.mark_dirty(key)

    async def _apply_flush(self, batch: FlushBatch) -> None:
        """Apply what the pump routed since its last flush to the screen."""
        session = self.session
        if session is None or not self.is_running:
            return
        try:
            main = self.main
        except LookupError:  # shutting down
            return
        router = session.router
        dirty = batch.dirty
        stores = [
            store
            for key in sorted(dirty, key=lambda k: (k[0] != "flow", k))
            if (store := router.stores.get(key)) is not None
            and (main.has(key) or self._wants_tab(session, key))
        ]
        added = await main.apply_changes(stores, router)
        active = main.active_key
        if active is not None and active in added:
            self._on_tab_shown(active)
        if active is not None and active in dirty:
            # Before the labels: when the shown flow is read, its label never flickers
            # through an unread count (each label change of width re-lays out the screen).
            self._refresh_shown(active)
        for store in stores:
            main.update_label(store)
        self.refresh_members()
        status = main.status
        status.rate = batch.rate
        if batch.last_event is not None:
            status.last_event = batch.last_event.strftime("%H:%M:%S")
        status.gaps = batch.gaps_open
        status.problems = batch.problems
        self.notifier.raise_alerts(batch.alerts, shown=active, slug_of=self._slug_of)
        # Bounded memory whatever arrives (model/budget.py): conversations not shown keep
        # their newest lines; the rest is in the archive, one scroll away.
        session.budget.enforce(router.stores, keep=() if active is None else (active,))

    async def flush_now(self) -> None:
        """Apply pending updates immediately (tests, and before a snapshot)."""
        if self.pump is not None:
            await self.pump.flush_now()
        with contextlib.suppress(LookupError):
            self.main.flush_labels()

    def refresh_rate(self) -> None:
        pump = self.pump
        if pump is not None:
            with contextlib.suppress(LookupError):
                self.main.status.rate = pump.rate.total(self.clock())

    def _refresh_shown(self, key: ConversationKey) -> None:
        """Repaint the shown conversation; it counts as read when scrolled to the bottom."""
        main = self.main
        log_widget = main.log_for(key)
        session = self.session
        if log_widget is None or session is None:
            return
        log_widget.refresh_from_store()
        store = session.router.stores.get(key)
        if (
            store is not None
            and log_widget.at_bottom
            and self._is_reading(key)
            and not store.detached  # the window's bottom is not the live end
        ):
            self.read_state.saw_end(store)

    def _read_changed(self, store: ConversationStore) -> None:
        with contextlib.suppress(LookupError):
            self.main.update_label(store)

    def _is_reading(self, key: ConversationKey) -> bool:
        # `_shown_key`, not only the tabs' active key: between `show()` and the handling of
        # its TabActivated, a flush must not count a tab as read before it opened at its
        # first unread line (seen under load: the tab then opened at the bottom, read).
        try:
            main = self.main
        except LookupError:  # shutting down
            return False
        return self._shown_key == key and main.active_key == key and self.screen is main

    # ------------------------------------------------------------------ tabs & history

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, message: TabbedContent.TabActivated) -> None:
        self._on_tab_shown(self.main.key_of(message.pane.id))

    def _on_tab_shown(self, key: ConversationKey | None) -> None:
        previous, self._shown_key = self._shown_key, key
        session, history = self.session, self.history
        if session is None or history is None:
            return
        if previous is not None and previous != key:
            old = session.router.stores.get(previous)
            if old is not None:
                old.arm_marker()  # the next unread message there gets the "new" line
            pane = self.main.pane_id(previous)
            if pane is not None:
                self.workers.cancel_group(self, f"history-{pane}")
                history.busy.discard(previous)
            old_log = self.main.log_for(previous)
            if old_log is not None:
                old_log.release_caches()  # memory: only the shown log keeps rendered rows
            session.budget.shown(previous)  # on screen until now: trimmed last
        if key is None:
            return
        session.budget.shown(key)
        if self.notifier.latest_key == key:
            self.notifier.clear()  # the user went where the alert pointed
        store = session.router.stores.get(key)
        if store is not None and not store.unread:
            # Nothing unread: no "new" line now, and none for lines arriving while shown.
            store.clear_marker()
        self.input_tab_shown(key)  # the input line takes focus (Tab or Escape: the log)
        log_widget = self.main.log_for(key)
        if store is not None and log_widget is not None and previous != key:
            self.read_state.open_at_first_unread(store, log_widget)
        self._refresh_shown(key)
        self.refresh_members()
        if key not in history.loaded:
            self.load_history(key)

    @property
    def _history_loaded(self) -> set[ConversationKey]:
        return self.history.loaded if self.history is not None else set()

    def load_history(self, key: ConversationKey, older: bool = False) -> None:
        history = self.history
        try:
            pane = self.main.pane_id(key)
        except LookupError:  # a log reached its top while the app shuts down
            return
        if history is None or pane is None or key in history.busy:
            return
        history.busy.add(key)

        async def load() -> None:
            try:
                await history.load(key, older)
            finally:
                history.busy.discard(key)

        self.run_worker(
            deferred(load),
            group=f"history-{pane}",
            exclusive=True,
            exit_on_error=False,
            description=f"history {'older' if older else 'latest'}",
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
        store = self.stores().get(key) if key is not None else None
        if key is not None and store is not None and store.detached:
            self._read_below(key, message.flow_log, jump=message.jump)
            return
        if key is not None and store is not None and self._is_reading(key):
            self.read_state.saw_end(store)

    def _read_below(self, key: ConversationKey, log_widget: FlowLog, *, jump: bool) -> None:
        """The bottom of a detached window: the next archived page below it (End: the live
        end at once); see HistoryLoader.load_newer / jump_to_end."""
        history, pane = self.history, self.main.pane_id(key)
        if history is None or pane is None or key in history.busy:
            return
        if not jump:
            log_widget._following = False  # stay on the line read: the page comes below it
        history.busy.add(key)

        async def load() -> None:
            try:
                if jump and await history.jump_to_end(key):
                    log_widget.scroll_to_end()  # follow the live end again
                elif not jump:
                    await history.load_newer(key)  # the lines come in below the one read
            finally:
                history.busy.discard(key)

        self.run_worker(
            deferred(load),
            group=f"history-{pane}",
            exit_on_error=False,
            description="history newer",
        )

    def _key_of_log(self, message: Any) -> ConversationKey | None:
        log_widget = getattr(message, "flow_log", None) or getattr(message, "control", None)
        if isinstance(log_widget, FlowLog):
            return log_widget.store.key
        return self.main.active_key

    @on(FlowLog.ThreadRequested)
    def _thread_requested(self, message: FlowLog.ThreadRequested) -> None:
        if self.session is not None:
            self.open_thread(message.key, message.thread_id)

    @on(FlowLog.LinkRequested)
    def _link_requested(self, message: FlowLog.LinkRequested) -> None:
        url = message.url
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in ("http", "https"):
            # In the status bar: a toast would cover the newest lines (issue 10).
            self.main.status.notice = f"not opening {clean_name(url)}: only http(s) links"
            return
        self.open_url(url)

    def open_url(self, url: str, *, new_tab: bool = True) -> None:
        """Textual's open_url drops whether a browser started: see tui/browser.py."""
        self._open_link(url)

    @work(group="open-link", exclusive=True, exit_on_error=False)
    async def _open_link(self, url: str) -> None:
        from flowview.tui.browser import open_in_browser

        # The real address, not the message's words: the text of a message can look like anything.
        self.main.status.notice = f"opening {clean_name(url)} …"
        problem = await open_in_browser(url)
        if problem is None:
            self.main.status.notice = f"opened in your browser: {clean_name(url)}"
            return
        from flowview.tui.screens.link_by_hand import LinkByHandScreen

        self.main.status.notice = ""
        self.push_screen(LinkByHandScreen(url, problem))

    # ------------------------------------------------------------------ members pane

    @on(MainScreen.MembersToggled)
    def _members_toggled(self) -> None:
        self.refresh_members(force=True)

    def refresh_members(self, force: bool = False) -> None:
        """Show who is in the shown conversation, when the pane is open (f4). Cheap when
        nothing changed: activity.user/presence events bump the router's presence_version."""
        session, loader = self.session, self.members_loader
        if session is None or loader is None:
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
        if loader.wants(key):
            self.run_worker(
                deferred(self._load_members, loader, key),
                group="members",
                exit_on_error=False,
                description="flow members",
            )

    async def _load_members(self, loader: MembersLoader, key: ConversationKey) -> None:
        if await loader.load(key):
            self.refresh_members(force=True)

    # ------------------------------------------------------------------ presence

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

    # ------------------------------------------------------------------ screens & palette

    def action_help(self) -> None:
        from flowview.tui.screens.help import HelpScreen  # not needed before F1

        if not isinstance(self.screen, HelpScreen):
            keymap = dict(self.session.settings.keymap) if self.session else {}
            self.push_screen(HelpScreen(keymap, self.settings_problems))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Escape is bound twice on the main screen: back to the search results right after a
        # search jump, else from the input line to the messages (the next binding in line).
        if action == "back_to_search":
            return self._search_return is not None
        return super().check_action(action, parameters)

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
            PaletteEntry("Search", "Search the archive of every flow (ctrl+f)", self.action_search),
            PaletteEntry("Help", "List the keys", self.action_help),
            PaletteEntry("Quit", "Leave flowview", lambda: self.call_later(self.action_quit)),
        ]
        return entries

    def get_system_commands(self, screen: Any) -> Iterable[Any]:
        # Keep Textual's theme and screenshot commands, drop its own Quit (ours is above).
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command

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

    def remember_secret(self, token: Token) -> None:
        """A token this app holds: no crash report and no log line ever shows it."""
        from flowview.logs import register_secret

        self._secrets.append(token)
        register_secret(token)

    def crash_report(self, error: BaseException) -> str:
        """The traceback of `error` as plain text: no local variables, every token redacted."""
        from flowview.logs import redact_known

        text = "".join(traceback.format_exception(error))
        return redact_known(redact(text, *self._secrets))

    # Textual renders an unhandled exception with rich's Traceback(show_locals=True): a token
    # in any frame's locals would be printed in clear.  These two private hooks (named by the
    # canary test) replace that rendering with `crash_report`.
    def _handle_exception(self, error: Exception) -> None:
        self._crash = error
        log.critical("unhandled error", exc_info=error)
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        self.bell()
        error = self._crash
        report = self.crash_report(error) if error is not None else "flowview: unknown error"
        self._exit_renderables.append(Text(report))
        self._close_messages_no_wait()
