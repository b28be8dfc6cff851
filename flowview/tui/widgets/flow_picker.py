"""The flow picker shared by the setup and settings screens: "Org / Flow" names to tick.

Names come from the network: they are sanitised and shown as plain Content (never markup).
The values are flow slugs ("org/flow"), in the order shown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from rich.segment import Segment
from textual.content import Content
from textual.strip import Strip
from textual.widgets import SelectionList
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import OptionDoesNotExist

from flowview.model.sanitize import clean_name
from flowview.protocol.rest import Flow

log = logging.getLogger(__name__)

__all__ = ["FlowPicker", "flow_label", "sorted_flows"]

# The tick drawn in a chosen flow's box (Textual draws an "X" in both states and tells them
# apart by colour only, which a colour-blind user or a monochrome terminal cannot see).
TICKED = "✓"
UNTICKED = " "


def flow_label(flow: Flow) -> Content:
    """ "Org / Flow name" for the flow list (names, not ids), safe to render."""
    org = clean_name(flow.organization_name or flow.organization)
    name = clean_name(flow.name or flow.parameterized_name)
    return Content(f"{org} / {name}")


def sorted_flows(flows: Iterable[Flow]) -> list[Flow]:
    return sorted(
        flows,
        key=lambda f: (
            (f.organization_name or f.organization).casefold(),
            (f.name or f.parameterized_name).casefold(),
        ),
    )


class FlowPicker(SelectionList[str]):
    """A SelectionList of flows by slug; a ticked box shows a ✓, an empty one a blank."""

    def on_focus(self) -> None:
        # Without a highlighted row the first Space does nothing (issue 10): start on the first.
        self._highlight_first()

    def _highlight_first(self) -> None:
        if self.highlighted is None and self.option_count:
            self.highlighted = 0

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        segments = list(strip)
        # SelectionList draws [left side, inner "X", right side, " ", prompt...].
        if len(segments) < 3 or segments[1].text != ToggleButton.BUTTON_INNER:
            return strip
        glyph = TICKED if option.value in self.selected else UNTICKED
        segments[1] = Segment(glyph, segments[1].style, segments[1].control)
        return Strip(segments, strip.cell_length)

    def show_slugs(self, slugs: Sequence[str]) -> None:
        """Before /flows answers: the saved choice by slug, all ticked."""
        self.clear_options()
        self.add_options([(Content(clean_name(slug)), slug, True) for slug in slugs])
        if self.has_focus:
            self._highlight_first()

    def show_flows(self, flows: Iterable[Flow], chosen: set[str], keep: Sequence[str] = ()) -> None:
        """`flows` sorted by name, ticked when their slug or id is in `chosen`; then the
        slugs of `keep` that are not among them ("not among your flows")."""
        options: list[tuple[Content, str, bool]] = []
        known: set[str] = set()
        for flow in sorted_flows(flows):
            known.update((flow.slug, flow.id))
            # Saved choices may name a flow by id; it is saved back by slug.
            options.append((flow_label(flow), flow.slug, bool({flow.slug, flow.id} & chosen)))
        for slug in keep:
            if slug not in known:
                label = Content(f"{clean_name(slug)} (not among your flows)")
                options.append((label, slug, slug in chosen))
        self.clear_options()
        self.add_options(options)
        if self.has_focus:
            self._highlight_first()

    def selected_flows(self) -> list[str]:
        """Ticked slugs in the order shown."""
        chosen = set(self.selected)
        values = [self.get_option_at_index(i).value for i in range(self.option_count)]
        return [v for v in values if v in chosen]
