"""The app's side of sending: the outbox's lifecycle hooks, the send keys' actions, the quit
question.  A mixin of `FlowviewApp` so that app.py only calls in at a few points:

* `start_outbox` once `/user` has answered, `close_outbox` when the session stops,
  `outbox_online` from every stream state change;
* `input_tab_shown` when a tab is shown (the input line takes focus, with that tab's draft);
* `action_quit` asks first while the outbox holds messages the server has not confirmed.

Handlers are found by name (`on_message_input_submitted`), which works from a mixin.
"""

from __future__ import annotations

import logging

from textual.css.query import QueryError

from flowview.protocol.events import ConversationKey
from flowview.tui.app_part import AppPart
from flowview.tui.composer import Composer
from flowview.tui.deferred import deferred
from flowview.tui.drafts import load_drafts, save_drafts
from flowview.tui.outbox_link import OutboxLink, private_key
from flowview.tui.screens.confirm import ConfirmScreen
from flowview.tui.widgets.members_pane import MembersPane
from flowview.tui.widgets.message_input import MessageInput

log = logging.getLogger(__name__)

__all__ = ["SendActions"]

# How long "wait" at the quit question waits for the outbox before quitting anyway (loop time).
QUIT_WAIT_SECONDS = 120.0


class SendActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    outbox: OutboxLink | None = None
    _composer: Composer | None = None
    _quit_waiting = False

    @property
    def composer(self) -> Composer:
        if self._composer is None:
            self._composer = Composer(self._app)
        return self._composer

    def message_input(self) -> MessageInput | None:
        try:
            return self._app.main.query_one("#input", MessageInput)
        except (LookupError, QueryError):  # no main screen (yet, or any more), or no input
            return None

    # ------------------------------------------------------------------ lifecycle

    def start_outbox(self) -> None:
        """Open this account's outbox (user id known) and resend what an earlier run left."""
        app = self._app
        session = app.session
        me = session.router.me_id if session is not None else None
        if session is None or not me:
            return
        outbox = self.outbox = OutboxLink()

        def slug_to_id(slug: str) -> str | None:
            flow = session.flows_by_slug.get(slug)
            return flow.id if flow is not None else None

        if not outbox.start(
            session.rest,
            session.router,
            api_url=session.settings.api_url,
            user_id=me,
            slug_to_id=slug_to_id,
            on_change=self._outbox_line_changed,
            wall_ms=lambda: int(app.wall_clock().timestamp() * 1000),  # the app's one wall clock
        ):
            app.main.status.notice = outbox.problem or "sending is off"
            return
        assert outbox.sender is not None
        outbox.sender.add_listener(self.composer.outbox_changed)
        drafts, histories = load_drafts(outbox.directory)
        self.composer.restore(drafts, histories)
        field = self.message_input()
        if field is not None and self.composer.shown is not None:
            key, self.composer.shown = self.composer.shown, None
            self.composer.tab_shown(field, key)

    async def close_outbox(self) -> None:
        outbox, self.outbox = self.outbox, None
        if outbox is None:
            return
        self.save_drafts(outbox)
        await outbox.aclose()

    def save_drafts(self, outbox: OutboxLink | None = None) -> None:
        outbox = outbox or self.outbox
        if outbox is None or outbox.directory is None:
            return
        drafts, histories = self.composer.snapshot(self.message_input())
        try:
            save_drafts(outbox.directory, drafts, histories)
        except OSError:
            log.exception("drafts not saved")

    def outbox_online(self, live: bool) -> None:
        if self.outbox is not None:
            self.outbox.set_online(live)

    def _outbox_line_changed(self, key: ConversationKey) -> None:
        app = self._app
        app._mark_dirty(key)
        try:
            log_widget = app.main.log_for(key)
        except LookupError:
            return
        if log_widget is not None and app.main.active_key == key:
            log_widget.refresh_from_store()

    def input_tab_shown(self, key: ConversationKey | None) -> None:
        """The input line follows the shown tab: its draft and history, and the focus."""
        app = self._app
        field = self.message_input()
        if field is None:
            return
        field.completion_source = self.composer.completion
        self.composer.tab_shown(field, key)
        if key is not None and app.screen is app.main:
            field.focus()

    # ------------------------------------------------------------------ input messages

    def on_message_input_submitted(self, message: MessageInput.Submitted) -> None:
        message.stop()
        self.composer.submitted(message)

    def on_message_input_edit_last_requested(self, message: MessageInput.EditLastRequested) -> None:
        message.stop()
        key = self.composer.current_key()
        own = self.composer.last_own(key) if key is not None else None
        if own is not None and own.id is not None:
            message.input.begin_edit(own.id, own.text)

    # ------------------------------------------------------------------ key actions

    def action_toggle_input(self) -> None:
        """Tab: input line -> messages -> members (when shown, f4) -> input line."""
        app = self._app
        field = self.message_input()
        log_widget = app.main.active_log
        if field is None:
            return
        members = app.main.members
        if field.has_focus and log_widget is not None:
            log_widget.focus()
        elif log_widget is not None and log_widget.has_focus and members.display:
            members.focus()
        else:
            field.focus()

    def on_members_pane_private_requested(self, message: MembersPane.PrivateRequested) -> None:
        message.stop()
        session = self._app.session
        if session is not None and message.user_id != session.router.me_id:
            self.open_private(message.user_id)

    def action_focus_log(self) -> None:
        log_widget = self._app.main.active_log
        if log_widget is not None:
            log_widget.focus()

    def action_log_page(self, direction: int) -> None:
        log_widget = self._app.main.active_log
        if log_widget is not None:
            (log_widget.action_page_down if direction > 0 else log_widget.action_page_up)()

    def action_open_thread(self) -> None:
        log_widget = self._app.main.active_log
        if log_widget is not None:
            log_widget.action_open_thread()

    def action_open_link(self) -> None:
        log_widget = self._app.main.active_log
        if log_widget is not None:
            log_widget.action_open_link()

    def action_reply(self) -> None:
        self.composer.reply()

    def action_edit_selected(self) -> None:
        field = self.message_input()
        if field is not None:
            self.composer.edit_selected(field)

    def action_delete_selected(self) -> None:
        self.composer.delete_selected()

    def open_thread(
        self, key: ConversationKey, thread_id: str, *, comment_on: int | None = None
    ) -> None:
        from flowview.tui.screens.thread import ThreadScreen

        app = self._app
        if app.session is None:
            return
        app.push_screen(
            ThreadScreen(
                app.session.router,
                key,
                thread_id,
                comment_on=comment_on,
                can_send=self.outbox is not None and self.outbox.sender is not None,
            )
        )

    def open_private(self, user_id: str) -> None:
        """Show the private conversation with `user_id`, opening its tab if needed."""
        app = self._app
        session = app.session
        if session is None or not session.router.me_id:
            return
        key = private_key(session.router.me_id, user_id)
        store, _ = session.router.open(key)

        async def show() -> None:
            await app.main.add_conversation(store, session.router)
            app.main.show(key)
            field = self.message_input()
            if field is not None:
                field.focus()  # ready to type to them

        app.run_worker(deferred(show), group="private-tab", exit_on_error=False)

    # ------------------------------------------------------------------ quitting

    async def action_quit(self) -> None:
        """Quit; with messages not yet confirmed by the server, ask first."""
        app = self._app
        outbox = self.outbox
        waiting = outbox.waiting if outbox is not None else 0
        if not waiting or isinstance(app.screen, ConfirmScreen):
            self.save_drafts()
            app.exit()
            return
        noun = "message is" if waiting == 1 else "messages are"
        question = (
            f"{waiting} {noun} not confirmed by the server yet.\n"
            "Quit anyway: they stay in the outbox and are sent when flowview starts again."
        )

        def answered(answer: str | None) -> None:
            if answer == "quit":
                self.save_drafts()
                app.exit()
            elif answer == "wait":
                app.run_worker(deferred(self._wait_then_quit), group="quit-wait", exclusive=True)

        app.push_screen(
            ConfirmScreen(
                question,
                [("wait", "Wait, then quit"), ("quit", "Quit anyway"), ("cancel", "Cancel")],
            ),
            answered,
        )

    async def _wait_then_quit(self) -> None:
        from flowview.protocol.sender import drain

        app = self._app
        outbox = self.outbox
        if outbox is not None and outbox.sender is not None:
            app.main.status.notice = "waiting for the outbox to empty (ctrl+q to quit anyway)"
            if not await drain(outbox.sender, QUIT_WAIT_SECONDS):
                app.main.status.notice = "the outbox did not empty: ctrl+q asks again"
                return
        self.save_drafts()
        app.exit()
