"""The crash path: every token the app holds is remembered (`remember_secret`), and an
unhandled error ends the app with `crash_report`, a plain traceback with those tokens
redacted, instead of Textual's rendering.  A mixin of `FlowviewApp` (like send_actions.py)
that overrides two of Textual's private App hooks: it comes before App in FlowviewApp's
bases, and hands on to App's `_handle_exception` through the MRO (super()).
"""

from __future__ import annotations

import logging
import traceback

from rich.text import Text

from flowview.protocol.auth import Token, redact
from flowview.tui.app_part import AppPart

log = logging.getLogger(__name__)

__all__ = ["CrashActions"]


class CrashActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    def remember_secret(self, token: Token) -> None:
        """A token this app holds: no crash report and no log line ever shows it."""
        from flowview.logs import register_secret

        self._app._secrets.append(token)
        register_secret(token)

    def crash_report(self, error: BaseException) -> str:
        """The traceback of `error` as plain text: no local variables, every token redacted."""
        from flowview.logs import redact_known

        text = "".join(traceback.format_exception(error))
        return redact_known(redact(text, *self._app._secrets))

    # Textual renders an unhandled exception with rich's Traceback(show_locals=True): a token
    # in any frame's locals would be printed in clear.  These two private hooks (named by the
    # canary test) replace that rendering with `crash_report`.
    def _handle_exception(self, error: Exception) -> None:
        app = self._app
        app._crash = error
        log.critical("unhandled error", exc_info=error)
        # The next class in FlowviewApp's MRO (Textual's App); spelt out so that the type
        # checker, which sees only AppPart here, knows which method that is.
        super(CrashActions, app)._handle_exception(error)

    def _fatal_error(self) -> None:
        app = self._app
        app.bell()
        error = app._crash
        report = app.crash_report(error) if error is not None else "flowview: unknown error"
        app._exit_renderables.append(Text(report))
        app._close_messages_no_wait()
