"""Reading what the app shows: a flow's tab key by slug, the rows of a log on screen, and
waiting until start-up loads are done.  Shared by the read-state, search and scrollback tests
(a helper module, no fixtures)."""

from __future__ import annotations

import logging
from typing import Any

from textual.pilot import Pilot

from flowview.tui.app import FlowviewApp
from flowview.tui.widgets.flow_log import FlowLog
from tests.helpers import wait_until
from tests.tui.app_driver import wait_live

log = logging.getLogger(__name__)


def key_of(app: FlowviewApp, slug: str) -> Any:
    assert app.session is not None
    return ("flow", app.session.flows_by_slug[slug].id)


def idle(app: FlowviewApp) -> bool:
    return not any(w.group in ("seam", "bootstrap") and w.is_running for w in app.workers)


def visible_text(log_widget: FlowLog) -> str:
    top = round(log_widget.scroll_offset.y)
    height = log_widget.scrollable_content_region.height
    rows = range(top, min(top + height, log_widget.total_rows))
    return "\n".join(log_widget.row_text(y) for y in rows)


async def ready(pilot: Pilot[Any], app: FlowviewApp) -> None:
    await wait_live(pilot, app)
    await wait_until(
        pilot, timeout=15, predicate=lambda: idle(app), message="start-up loads still running"
    )
