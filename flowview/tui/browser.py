"""Opening a link in the user's browser, and knowing whether that happened.

Textual 8.2.8's `App.open_url` calls `webbrowser.open(url)` on the event loop and drops its
result, so the app cannot tell the user when no browser started; and without a display,
Python's `webbrowser` picks a console browser (lynx, w3m, www-browser) that would run in this
very terminal, under the TUI.  Here the browser is chosen first (console browsers refused),
opened off the event loop, and the outcome returned: None when a browser took the link, else
one line saying why not (the caller then shows the address to open by hand).
"""

from __future__ import annotations

import asyncio
import logging
import webbrowser
from collections.abc import Callable

log = logging.getLogger(__name__)

NO_BROWSER = "no browser could be started here"


def _is_console(browser: webbrowser.BaseBrowser) -> bool:
    """A browser that runs in the terminal it is started from (it would draw over us)."""
    if isinstance(browser, webbrowser.GenericBrowser):
        return not isinstance(browser, webbrowser.BackgroundBrowser)
    if isinstance(browser, webbrowser.UnixBrowser):
        return not browser.background
    return False


Getter = Callable[[], webbrowser.BaseBrowser]


def pick_browser(get: Getter | None = None) -> webbrowser.BaseBrowser | None:
    """The user's default browser, or None when there is none we may start."""
    try:
        browser = (get or webbrowser.get)()
    except webbrowser.Error:
        return None
    if _is_console(browser):
        log.info("not opening links with %s: a console browser", browser.name)
        return None
    return browser


def open_blocking(url: str, get: Getter | None = None) -> str | None:
    """Open `url` (blocking: call it in a thread); None on success, else why not."""
    browser = pick_browser(get)
    if browser is None:
        return NO_BROWSER
    try:
        started = browser.open(url, new=2)
    except Exception:
        log.exception("opening a link with %s", browser.name)
        return f"{browser.name or 'the browser'} failed to start"
    return None if started else f"{browser.name or 'the browser'} did not start"


async def open_in_browser(url: str, get: Getter | None = None) -> str | None:
    """`open_blocking` off the event loop (a browser can take seconds to start)."""
    return await asyncio.to_thread(open_blocking, url, get)
