"""The main screen: one tab per flow and private conversation, the status bar and the footer.

The screen is a view: the app owns the stream, the router and the stores, and calls
`add_conversation` / `update_label` / `apply_changes`.  Key actions that only move between
tabs live here; everything that talks to the network lives in the app.  The screen never
calls into the app: it posts messages (`Ready`, `MembersToggled`) and its bindings name
`app.` actions (presence, settings), so it knows no more of the app than Textual's `App`.

Keys.  xterm-like terminals and tmux send alt+digit as ESC followed by the digit.  Textual 8.2.8
maps those two-byte sequences to the macOS Option characters (`textual/_ansi_sequences.py`:
ESC 1 -> "¡", ESC 2 -> "™", ...), so the key event is named `inverted_exclamation_mark`,
`trade_mark_sign` and so on, and a plain `alt+1` binding never fires there.  Each "flow N"
binding therefore lists both names.  alt+a (ESC a), alt+left/right (CSI 1;3D / 1;3C) arrive
as `alt+a`, `alt+left` and `alt+right` and need no alias.  Measured with
`textual._xterm_parser.XTermParser` and checked in tmux (tests/tui/test_tmux_e2e.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Static, TabPane

from flowview.model.sanitize import clean_name
from flowview.model.store import ConversationStore
from flowview.protocol.events import ConversationKey
from flowview.tui.deferred import deferred
from flowview.tui.send_keys import SEND_BINDINGS, SEND_HELP_TEXT
from flowview.tui.textual_caches import release_dead_widgets
from flowview.tui.widgets.conversation_tabs import ConversationTabs
from flowview.tui.widgets.flow_log import FlowLog
from flowview.tui.widgets.members_pane import MembersPane
from flowview.tui.widgets.message_input import MessageInput
from flowview.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from flowview.model.router import Router

log = logging.getLogger(__name__)

MAX_LABEL_CHARS = 24
# A label that changes width re-lays out the whole screen (10-20 ms here): a hidden tab's
# label gets such a change at most this often (seconds); the shown tab's at once.
RELABEL_INTERVAL = 0.5

# digit -> the key name Textual 8.2.8 gives ESC+digit (the macOS Option character).
ALT_DIGIT_AS_DELIVERED: dict[int, str] = {
    1: "inverted_exclamation_mark",  # ¡
    2: "trade_mark_sign",  # ™
    3: "pound_sign",  # £
    4: "cent_sign",  # ¢
    5: "infinity",  # ∞
    6: "section_sign",  # §
    7: "pilcrow_sign",  # ¶
    8: "bullet",  # •
    9: "ª",  # alphanumeric, so Textual keeps the character itself as the name
    0: "º",
}


def goto_keys(n: int) -> str:
    """Keys of "flow N" (N = 1..10; alt+0 is flow 10, as in WeeChat and irssi)."""
    digit = n % 10
    return f"alt+{digit},{ALT_DIGIT_AS_DELIVERED[digit]}"


def _goto_binding(n: int) -> Binding:
    return Binding(
        goto_keys(n),
        f"goto_flow({n})",
        "flow 1…9" if n == 1 else f"flow {n}",
        id=f"goto-flow-{n}",
        key_display="alt+1…9" if n == 1 else None,
        show=n == 1,  # one footer entry stands for all ten
    )


MAIN_BINDINGS: list[BindingType] = [
    Binding("ctrl+n", "next_flow", "next", id="next-flow"),
    Binding("ctrl+p", "previous_flow", "prev", id="previous-flow"),
    *[_goto_binding(n) for n in range(1, 11)],
    Binding("alt+right", "next_flow", "next flow", id="next-flow-alt", show=False),
    Binding("alt+left", "previous_flow", "previous flow", id="previous-flow-alt", show=False),
    # å is Option+a on a macOS keyboard without "Option as Meta".
    Binding("alt+a,å", "next_activity", "activity", id="next-activity", key_display="alt+a"),
    Binding("f2", "app.toggle_presence", "presence", id="toggle-presence"),
    Binding("f3", "app.settings", "settings", id="settings"),
    # Triage (tui/triage.py): alt keys, so that typing in an input line never triggers them.
    Binding("alt+u", "app.first_unread", "unread", id="first-unread"),
    Binding("alt+m", "app.next_mention", "mention", id="next-mention"),
    Binding("alt+r", "app.mark_read", "read", id="mark-read"),
    Binding("alt+shift+r", "app.mark_all_read", "all read", id="mark-all-read"),
    Binding("escape", "app.back_to_search", "back to search", id="back-to-search", show=False),
    # In the footer from 120 columns (it goes early when narrower: see HIDE_FIRST).
    Binding("f4", "toggle_members", "members", id="toggle-members"),
    # Private conversations only (flows are chosen in settings); a new message reopens it.
    Binding("ctrl+w", "close_conversation", "close", id="close-conversation", show=False),
    *SEND_BINDINGS,
]

APP_BINDINGS: list[BindingType] = [
    Binding("ctrl+q", "quit", "quit", id="quit", priority=True),
    Binding("f1", "help", "help", id="help"),
    Binding("ctrl+k", "command_palette", "jump", id="command-palette", priority=True),
    Binding("ctrl+f", "search", "search", id="search"),
]

# What the help screen says about each binding id (longer than the footer descriptions).
HELP_TEXT: dict[str, str] = {
    "next-flow": "next flow or conversation",
    "previous-flow": "previous flow or conversation",
    "next-flow-alt": "next flow (alternative)",
    "previous-flow-alt": "previous flow (alternative)",
    "next-activity": "next flow with activity: mentions first, then unread, then back",
    "toggle-presence": "toggle presence between active and idle",
    "settings": "settings (flows, private messages, stream format, auto-idle, bell)",
    "toggle-members": "show or hide who is in the flow: active ●, idle ◐, offline ○",
    "close-conversation": "close this private conversation (a new message reopens it)",
    "first-unread": "jump to the first unread line of this flow (the “new” marker)",
    "next-mention": "next unread mention of you, in this flow or the next ones",
    "mark-read": "mark this flow or conversation read (kept across restarts)",
    "mark-all-read": "mark every flow and conversation read",
    "back-to-search": "after a search jump: back to the results (same query and hit)",
    "quit": "quit",
    "help": "this help",
    "command-palette": "jump to a flow or conversation; also Settings and Toggle presence",
    "search": "search the archive: this flow or all (ctrl+t), from:nick, #tag, in:flow",
    **{f"goto-flow-{n}": f"flow {n}" for n in range(1, 11)},
    **SEND_HELP_TEXT,
}


PRIVATE_MARK = "✉ "  # before a private conversation's name: it is not a flow
MAX_ORG_CHARS = 12


def tab_label(store: ConversationStore, org: str = "") -> Content:
    """ "name 3 @1": the sanitised title, unread count and mention count (Content, never markup);
    "✉ name" for a private conversation, "org/name" when `org` is given (several organisations)."""
    title = clean_name(store.title) or "?"
    if len(title) > MAX_LABEL_CHARS:
        title = title[: MAX_LABEL_CHARS - 1] + "…"
    parts: list[str | tuple[str, str]] = []
    if store.key[0] == "private":
        parts.append((PRIVATE_MARK, "$text-muted"))
    elif org:
        org = clean_name(org, max_chars=MAX_ORG_CHARS)
        parts.append((f"{org}/", "$text-muted"))
    parts.append(title)
    if store.unread:
        parts.append((f" {store.unread}", "bold $accent"))
    if store.mentions:
        parts.append((f" @{store.mentions}", "bold $error"))
    return Content.assemble(*parts)


# When the footer is too narrow for every key, these go first (in this order), so presence,
# settings, quit, help and the palette stay visible at 80 columns (issue 10).
HIDE_FIRST = (
    "app.mark_all_read",
    "app.mark_read",
    "app.first_unread",
    "app.next_mention",
    "app.reply",
    "goto_flow(1)",
    "next_activity",
    "toggle_members",
    "previous_flow",
    "open_link",
    "open_thread",
    "last",
    "next_flow",
)


def _key_width(key: Widget) -> int:
    """The cells a compact FooterKey takes: "key description" (measured in Textual 8.2.8)."""
    display = Content(str(getattr(key, "key_display", ""))).cell_length
    description = Content(str(getattr(key, "description", ""))).cell_length
    return display + (1 + description if description else 0)


class FlowFooter(Footer):
    """A Footer that rebuilds only when what it shows changes, and drops the least needed
    keys first when the terminal is narrow.

    Every tab switch moves focus to another FlowLog, which signals "bindings updated"; the
    stock Footer then recomposes all its keys (measured ~0.13 s a switch here) although the
    keys shown are the same.
    """

    _signature: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        self.fit_keys(widgets, self.size.width or self.app.size.width)
        yield from widgets

    def on_resize(self, event: events.Resize) -> None:
        self.fit_keys(list(self.query("FooterKey")), event.size.width)

    @staticmethod
    def fit_keys(widgets: list[Widget], width: int) -> None:
        keys = [w for w in widgets if type(w).__name__ == "FooterKey"]
        for key in keys:
            key.display = True
        need = sum(_key_width(key) + 1 for key in keys)
        for action in HIDE_FIRST:
            if need <= width:
                return
            for key in keys:
                if getattr(key, "action", None) == action and key.display:
                    key.display = False
                    need -= _key_width(key) + 1

    def bindings_changed(self, screen: Screen[object]) -> None:
        signature = tuple(
            (key, active.binding.action, active.binding.description, active.enabled)
            for key, active in screen.active_bindings.items()
            if active.binding.show
        )
        if signature == self._signature and self._bindings_ready:
            return
        if screen.app.app_focus:  # the stock Footer skips the rebuild when unfocused
            self._signature = signature
        self._forget_removed_keys()
        super().bindings_changed(screen)

    def _forget_removed_keys(self) -> None:
        """Each FooterKey binds its `compact` to the footer's (data_bind), and a Textual
        reactive drops the watchers of removed nodes only when it changes, which `compact`
        never does: every recompose kept all the FooterKeys ever made alive, with their
        rendered strips (issue 8's soak: ~50 a key cycle, a steady climb of RSS).  Forcing the
        watchers to run (public `mutate_reactive`) drops those of the keys already removed."""
        self.mutate_reactive(Footer.compact)


@dataclass(frozen=True, slots=True)
class FirstTab:
    """A tab composed with the screen (warm start, tui/warm_prelude.py): the screen's first
    frame shows its archived lines, with no empty frame and no re-layout before them."""

    store: ConversationStore
    router: Router
    flow_order: tuple[ConversationKey, ...] = ()


class MainScreen(Screen[None]):
    """Tabs of conversations over a status bar and the footer."""

    CSS_PATH = "main.tcss"
    BINDINGS = MAIN_BINDINGS

    class Ready(Message):
        """The screen's widgets exist: the app may connect (or ask for a setup)."""

    class MembersToggled(Message):
        """The members pane was shown or hidden (f4)."""

        def __init__(self, shown: bool) -> None:
            super().__init__()
            self.shown = shown

    def __init__(self, first: FirstTab | None = None, api_url: str | None = None) -> None:
        super().__init__()
        self._first = first
        self._panes: dict[ConversationKey, str] = {}  # key -> pane id, in tab order
        self._keys: dict[str, ConversationKey] = {}  # pane id -> key
        self._serial = 0
        self._logs: dict[ConversationKey, FlowLog] = {}
        # (title, unread, mentions) each tab label shows: unchanged labels are not re-set.
        self._label_state: dict[str, tuple[str, int, int]] = {}
        self._tabbed: ConversationTabs | None = None
        self._status: StatusBar | None = None
        self._deferred_labels: dict[str, ConversationStore] = {}  # pane id -> store
        self._last_relabel = 0.0
        self._relabel_timer: Timer | None = None
        # REST base of the session: file attachments are shown and opened as full URLs.
        self.api_url = api_url
        # alt+a remembers where a run of activity jumps started (WeeChat style).
        self.activity_origin: ConversationKey | None = None
        # Tab order: the chosen flows in their saved order, then other flows, then private
        # conversations; within the last two, the order they appeared (see `_rank`).
        self._flow_order: dict[ConversationKey, int] = {}
        self._arrival: dict[ConversationKey, int] = {}
        # Each flow tab's organisation: labels say "org/" when several are open.
        self._orgs: dict[ConversationKey, str] = {}
        self._chosen_orgs: set[str] = set()
        self._several_orgs = False  # what new labels use
        self._labelled_orgs = False  # what the labels shown use

    def compose(self) -> ComposeResult:
        first, self._first = self._first, None
        with Horizontal(id="body"), ConversationTabs(id="conversations"):
            if first is not None:
                self.set_flow_order(first.flow_order)
                yield self._new_pane(first.store, first.router)[0]
                self._labelled_orgs = self._several_orgs
        empty = Static(Content("Waiting for flows …"), id="empty")
        empty.display = first is None
        yield empty
        note = Static(Content(""), id="compose-note", markup=False)
        note.display = False
        yield note
        yield MessageInput(
            "main",
            id="input",
            placeholder="› message: enter sends · esc to the messages · /help",
        )
        yield StatusBar(id="status")
        yield FlowFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self.post_message(self.Ready())

    def _theme_changed(self, _theme: object) -> None:
        self.call_after_refresh(self.tabbed.keep_active_in_view)

    def on_screen_resume(self) -> None:
        # Back from the palette, a dialog or the help: the shown tab is in the bar, and the
        # closed screen's widgets are not kept alive by Textual's memo (textual_caches.py).
        release_dead_widgets()
        self.call_after_refresh(self.tabbed.keep_active_in_view)

    # ------------------------------------------------------------------ tabs

    # The app reads these for every flush: look them up once (they live as long as the screen).
    @property
    def tabbed(self) -> ConversationTabs:
        if self._tabbed is None:
            self._tabbed = self.query_one("#conversations", ConversationTabs)
        return self._tabbed

    @property
    def status(self) -> StatusBar:
        if self._status is None:
            self._status = self.query_one("#status", StatusBar)
        return self._status

    def keys_in_order(self) -> list[ConversationKey]:
        return list(self._panes)

    def has(self, key: ConversationKey) -> bool:
        return key in self._panes

    def pane_id(self, key: ConversationKey) -> str | None:
        return self._panes.get(key)

    def key_of(self, pane_id: str | None) -> ConversationKey | None:
        return self._keys.get(pane_id) if pane_id else None

    @property
    def active_key(self) -> ConversationKey | None:
        return self.key_of(self.tabbed.active)

    def log_for(self, key: ConversationKey) -> FlowLog | None:
        return self._logs.get(key)

    @property
    def active_log(self) -> FlowLog | None:
        key = self.active_key
        return self.log_for(key) if key is not None else None

    def set_flow_order(self, keys: Iterable[ConversationKey]) -> None:
        """The chosen flows in their saved order: tabs added later take their place."""
        self._flow_order = {key: i for i, key in enumerate(keys)}

    def _rank(self, key: ConversationKey) -> tuple[int, int]:
        if key[0] != "flow":
            return (2, self._arrival[key])
        if key in self._flow_order:
            return (0, self._flow_order[key])
        return (1, self._arrival[key])

    async def add_conversation(self, store: ConversationStore, router: Router) -> None:
        """A tab for `store`, at its place in the tab order (see `set_flow_order`)."""
        if store.key in self._panes:
            return
        pane, before = self._new_pane(store, router)
        if before is None:
            await self.tabbed.add_pane(pane)
        else:
            await self.tabbed.add_pane(pane, before=self._panes[before])
        self._show_empty(False)
        self._tabs_changed()

    def _new_pane(
        self, store: ConversationStore, router: Router
    ) -> tuple[TabPane, ConversationKey | None]:
        """The pane of a new tab, registered; and the key of the tab it goes before (None:
        last)."""
        key = store.key
        self._serial += 1
        self._arrival.setdefault(key, self._serial)
        pane_id = f"conv-{self._serial}"  # ours, never derived from server ids
        rank = self._rank(key)
        before = next((k for k in self._panes if self._rank(k) > rank), None)
        keys = list(self._panes)
        keys.insert(keys.index(before) if before is not None else len(keys), key)
        self._panes[key] = pane_id
        self._panes = {k: self._panes[k] for k in keys}
        self._keys[pane_id] = key
        log = FlowLog(store, router, id=f"{pane_id}-log", api_url=self.api_url)
        self._logs[key] = log
        self._label_state[pane_id] = (store.title, store.unread, store.mentions)
        flow = router.flows.get(key[1]) if key[0] == "flow" else None
        if flow is not None and flow.slug:
            self._orgs[key] = flow.slug.split("/", 1)[0]
        # The chosen flows' organisations count before their tabs exist: labels are right
        # from the first tab instead of all changing when the second organisation arrives.
        self._chosen_orgs = {
            info.slug.split("/", 1)[0]
            for k in self._flow_order
            if (info := router.flows.get(k[1])) is not None and info.slug
        }
        self._several_orgs = len(set(self._orgs.values()) | self._chosen_orgs) > 1
        return TabPane(tab_label(store, self._org_label(key)), log, id=pane_id), before

    async def remove_conversation(self, key: ConversationKey) -> None:
        pane_id = self._panes.pop(key, None)
        if pane_id is None:
            return
        del self._keys[pane_id]
        self._logs.pop(key, None)
        self._label_state.pop(pane_id, None)
        self._deferred_labels.pop(pane_id, None)
        self._orgs.pop(key, None)
        await self.tabbed.remove_pane(pane_id)
        self._show_empty(not self._panes)
        self._tabs_changed()

    def _show_empty(self, shown: bool) -> None:
        # A query, not query_one: a flush can add a tab while the app closes, when the
        # screen's widgets are already being removed (seen under load at the end of a test).
        for widget in self.query("#empty"):
            widget.display = shown

    def _org_label(self, key: ConversationKey) -> str:
        return self._orgs.get(key, "") if self._several_orgs else ""

    def _tabs_changed(self) -> None:
        """Labels gain or lose "org/" when the tabs' organisations become several or one;
        the bar's hidden-tab counts follow."""
        several = len(set(self._orgs.values()) | self._chosen_orgs) > 1
        if several != self._labelled_orgs:
            self._labelled_orgs = self._several_orgs = several
            for key in self._orgs:
                log_widget = self._logs.get(key)
                pane_id = self._panes.get(key)
                if log_widget is not None and pane_id is not None:
                    self.tabbed.get_tab(pane_id).label = tab_label(
                        log_widget.store, self._org_label(key)
                    )
        self.call_after_refresh(self.tabbed.update_overflow)

    def action_close_conversation(self) -> None:
        """ctrl+w: close the shown private conversation; its next message reopens it."""
        key = self.active_key
        if key is None:
            return
        if key[0] != "private":
            self.status.notice = "flows are chosen in settings (f3); ctrl+w closes private tabs"
            return
        log_widget = self._logs.get(key)
        if log_widget is not None:
            log_widget.store.mark_read()  # closed on purpose: nothing in it is news
        self.run_worker(
            deferred(self.remove_conversation, key), group="close-tab", exit_on_error=False
        )

    def update_label(self, store: ConversationStore, *, now: bool = False) -> None:
        """Show `store`'s title and counts in its tab label.

        A change of the label's width (a count gaining a digit, appearing or going away)
        lays the whole screen out again; for hidden tabs such changes are applied at most
        every RELABEL_INTERVAL seconds, all at once (`now` applies at once)."""
        pane_id = self._panes.get(store.key)
        if pane_id is None:
            return
        state = (store.title, store.unread, store.mentions)
        if self._label_state.get(pane_id) == state:
            self._deferred_labels.pop(pane_id, None)
            return
        tab = self.tabbed.get_tab(pane_id)
        label = tab_label(store, self._org_label(store.key))
        if label.cell_length == tab.label.cell_length:
            # Same width (the usual case: "12" -> "13"): repaint this tab only.  Tab.label's
            # setter lays the whole screen out again and re-places the underline.
            tab._label = label
            Static.update(tab, label, layout=False)
        else:
            clock = time.monotonic()
            if not now and pane_id != self.tabbed.active:
                wait = self._last_relabel + RELABEL_INTERVAL - clock
                if wait > 0:
                    self._deferred_labels[pane_id] = store
                    if self._relabel_timer is None:
                        self._relabel_timer = self.set_timer(wait, self._apply_deferred_labels)
                    return
            self._last_relabel = clock
            tab.label = label
            self.call_after_refresh(self.tabbed.update_overflow)
        self._label_state[pane_id] = state
        self._deferred_labels.pop(pane_id, None)

    def _apply_deferred_labels(self) -> None:
        self._relabel_timer = None
        self.flush_labels()

    def flush_labels(self) -> None:
        """Apply label changes held back by update_label now."""
        if self._relabel_timer is not None:
            self._relabel_timer.stop()
            self._relabel_timer = None
        for store in list(self._deferred_labels.values()):
            self.update_label(store, now=True)

    def show(self, key: ConversationKey) -> bool:
        pane_id = self._panes.get(key)
        if pane_id is None:
            return False
        self.tabbed.active = pane_id
        log = self.log_for(key)
        if log is not None:
            log.focus()
        return True

    # ------------------------------------------------------------------ key actions

    def _step(self, delta: int) -> None:
        keys = self.keys_in_order()
        if not keys:
            return
        current = self.active_key
        index = keys.index(current) if current in keys else -1
        target = (index + delta) % len(keys)
        log.info("step %+d: tab %d -> %d of %d", delta, index + 1, target + 1, len(keys))
        self.show(keys[target])

    def action_next_flow(self) -> None:
        self._step(+1)

    def action_previous_flow(self) -> None:
        self._step(-1)

    def action_goto_flow(self, n: int) -> None:
        keys = self.keys_in_order()
        log.info("go to tab %d of %d", n, len(keys))
        if 1 <= n <= len(keys):
            self.show(keys[n - 1])

    def next_activity_key(self) -> ConversationKey | None:
        """The next conversation with mentions, else with unread messages, after the shown one
        (in tab order, wrapping), or None."""
        keys = self.keys_in_order()
        current = self.active_key
        start = keys.index(current) + 1 if current in keys else 0
        ring = [k for k in keys[start:] + keys[:start] if k != current]
        for wanted in ("mentions", "unread"):
            for key in ring:
                log_widget = self._logs.get(key)
                store = log_widget.store if log_widget is not None else None
                if store is not None and getattr(store, wanted) > 0:
                    return key
        return None

    def action_next_activity(self) -> None:
        target = self.next_activity_key()
        current = self.active_key
        if target is not None:
            if self.activity_origin is None:
                self.activity_origin = current
            self.show(target)
            return
        origin = self.activity_origin
        self.activity_origin = None
        if origin is not None and origin != current and self.show(origin):
            return
        self.status.notice = "no flow with unread messages"  # a toast would cover the log

    @property
    def members(self) -> MembersPane:
        return self.query_one("#members", MembersPane)

    def action_toggle_members(self) -> None:
        members = self.members
        members.display = not members.display
        self.post_message(self.MembersToggled(bool(members.display)))

    async def apply_changes(
        self, stores: Iterable[ConversationStore], router: Router
    ) -> list[ConversationKey]:
        """Tabs for stores that have none yet, then their labels; returns the new tabs' keys.

        The shown conversation's log is refreshed by the caller first (see the app)."""
        added: list[ConversationKey] = []
        for store in stores:
            if store.key not in self._panes:
                # First message of a private conversation (or of a flow REST did not list).
                await self.add_conversation(store, router)
                added.append(store.key)
        return added
