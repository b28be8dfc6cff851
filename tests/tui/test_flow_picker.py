"""FlowPicker: a ticked flow is told apart by a glyph, not by colour alone (issue 10)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from flowview.protocol.rest import Flow
from flowview.tui.widgets.flow_picker import TICKED, FlowPicker

pytestmark = pytest.mark.timeout(30)


def _flow(org: str, name: str) -> Flow:
    slug = f"{org.lower()}/{name.lower()}"
    return Flow(
        id=f"id-{slug}",
        name=name,
        parameterized_name=name.lower(),
        organization=org.lower(),
        organization_name=org,
    )


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield FlowPicker(id="picker")


def _rows(picker: FlowPicker) -> list[str]:
    return [picker.render_line(y).text for y in range(picker.option_count)]


async def test_ticked_and_unticked_boxes_differ_in_text() -> None:
    app = _Host()
    async with app.run_test(size=(60, 10)) as pilot:
        picker = app.query_one(FlowPicker)
        picker.show_flows([_flow("Acme", "Main"), _flow("Acme", "Random")], {"acme/main"})
        await pilot.pause()
        main, random = _rows(picker)
        assert "Acme / Main" in main and "Acme / Random" in random
        assert main.index(TICKED) < main.index("Acme")
        assert TICKED not in random and "X" not in random[:4]
        picker.focus()
        await pilot.press("space")  # the first Space acts, on the first row
        await pilot.pause()
        assert picker.selected == []
        assert TICKED not in _rows(picker)[0][:4]
        await pilot.press("down", "space")  # tick Random
        await pilot.pause()
        assert picker.selected == ["acme/random"]
        assert TICKED in _rows(picker)[1][:4]
        # Same width either way: the names stay in one column.
        assert _rows(picker)[0].index("Acme") == _rows(picker)[1].index("Acme")
