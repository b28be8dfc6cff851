"""Links from the logs: a link chosen in a message (enter, or a click) opens in the user's
browser when it is http(s); when no browser starts, a screen shows the address to copy by
hand (tui/browser.py says why Textual's own `open_url` is not enough).  A mixin of
`FlowviewApp` (like send_actions.py); handlers are found by name (see tab_actions.py).
"""

from __future__ import annotations

import logging

from textual import work

from flowview.model.sanitize import clean_name
from flowview.tui.app_part import AppPart
from flowview.tui.widgets.flow_log import FlowLog

log = logging.getLogger(__name__)

__all__ = ["LinkActions"]


class LinkActions(AppPart):
    """Mixed into FlowviewApp (see the module docstring)."""

    def on_flow_log_link_requested(self, message: FlowLog.LinkRequested) -> None:
        app = self._app
        url = message.url
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in ("http", "https"):
            # In the status bar: a toast would cover the newest lines (issue 10).
            app.main.status.notice = f"not opening {clean_name(url)}: only http(s) links"
            return
        app.open_url(url)

    # Overrides App.open_url (this mixin comes before App in FlowviewApp's bases).
    def open_url(self, url: str, *, new_tab: bool = True) -> None:
        """Textual's open_url drops whether a browser started: see tui/browser.py."""
        self._app._open_link(url)

    @work(group="open-link", exclusive=True, exit_on_error=False)
    async def _open_link(self, url: str) -> None:
        from flowview.tui.browser import open_in_browser

        app = self._app
        # The real address, not the message's words: the text of a message can look like anything.
        app.main.status.notice = f"opening {clean_name(url)} …"
        problem = await open_in_browser(url)
        if problem is None:
            app.main.status.notice = f"opened in your browser: {clean_name(url)}"
            return
        from flowview.tui.screens.link_by_hand import LinkByHandScreen

        app.main.status.notice = ""
        app.push_screen(LinkByHandScreen(url, problem))
