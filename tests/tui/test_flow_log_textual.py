"""FlowLog against Textual itself: the first frame of a shown tab, and a canary on the Textual
internals the view still relies on (fails loudly when an upgrade changes them)."""

from __future__ import annotations

import pytest
import textual
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.reactive import Reactive
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip
from textual.widgets import TabbedContent, TabPane

from flowview.model.router import Router
from flowview.model.store import ConversationStore
from flowview.tui.widgets.flow_log import FlowLog
from tests.tui.flowlog_builders import KEY, LogHost, fill

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("utc")]


class TabsHost(App[None]):
    def __init__(self, router: Router, hidden: ConversationStore) -> None:
        super().__init__()
        self.router = router
        self.hidden = hidden

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="a"):
            with TabPane("A", id="a"):
                yield FlowLog(ConversationStore(("flow", "x"), "x"), self.router, id="log-a")
            with TabPane("B", id="b"):
                yield FlowLog(self.hidden, self.router, id="log-b")


async def test_the_first_frame_of_a_shown_tab_has_its_newest_lines(router: Router) -> None:
    fill(router, 5000)
    app = TabsHost(router, router.stores[KEY])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        log = app.query_one("#log-b", FlowLog)
        frames: list[list[str]] = []
        original = log.render_lines

        def spy(crop: Region) -> list[Strip]:
            strips = original(crop)
            frames.append([strip.text for strip in strips])
            return strips

        log.render_lines = spy  # type: ignore[method-assign]
        app.query_one(TabbedContent).active = "b"
        await pilot.pause()
        assert frames, "the tab was never drawn"
        assert any("message 5000" in row for row in frames[0]), frames[0]


def test_canary_textual_internals_the_view_relies_on() -> None:
    """FlowLog._set_virtual_size grows the scroll range without a screen re-layout by setting
    these reactives directly; if Textual renames or retypes them, this fails first."""
    assert textual.__version__.startswith("8.2."), textual.__version__
    virtual_size = next(c.__dict__["virtual_size"] for c in ScrollView.__mro__
                        if "virtual_size" in c.__dict__)  # fmt: skip
    assert isinstance(virtual_size, Reactive)
    assert callable(getattr(ScrollView, "validate_scroll_y", None))
    for name in ("window_virtual_size", "window_size", "position"):
        assert isinstance(ScrollBar.__dict__.get(name), Reactive), name


async def test_canary_scrollbar_follows_the_fast_virtual_size_path(router: Router) -> None:
    fill(router, 40)
    app = LogHost(router)
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        fill(router, 200, start=41)
        log.refresh_from_store()
        await pilot.pause()
        bar = log.vertical_scrollbar
        assert log.virtual_size.height == log.total_rows
        assert bar.window_virtual_size == log.total_rows
        assert bar.window_size == log.scrollable_content_region.height
        assert log.scroll_y == log.max_scroll_y > 0
        assert "message 240" in log.render_line(log.scrollable_content_region.height - 1).text


async def test_a_frame_reads_the_views_geometry_once_not_per_row(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst repaints every row of the view; Textual's scrollable_content_region is computed
    anew on each access (about a third of a row's cost when read per row)."""
    fill(router, 200)
    app = LogHost(router)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        log = app.query_one(FlowLog)
        reads = [0]
        real = ScrollView.scrollable_content_region

        def counted(self: ScrollView) -> Region:
            reads[0] += 1
            return real.__get__(self)  # type: ignore[no-any-return]

        rows = [0]
        real_row = log.render_line

        def render_line(y: int) -> Strip:
            rows[0] += 1
            return real_row(y)

        log.render_line = render_line  # type: ignore[method-assign]
        fill(router, 50, start=201)  # every row of the view changes, as in a burst
        log.refresh_from_store()
        monkeypatch.setattr(FlowLog, "scrollable_content_region", property(counted))
        strips = log.render_lines(Region(0, 0, log.size.width, log.size.height))
        assert any("message 250" in strip.text for strip in strips)
        assert rows[0] >= 20  # the rows were drawn anew
        assert reads[0] <= 3  # not once or twice per row
