"""The flow picker shared by the setup and settings screens: "Org / Flow" names to tick.

Names come from the network: they are sanitised and shown as plain Content (never markup).
The values are flow slugs ("org/flow"), in the order shown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from textual.content import Content
from textual.widgets import SelectionList

from flowview.model.sanitize import clean_name
from flowview.protocol.rest import Flow

log = logging.getLogger(__name__)

__all__ = ["FlowPicker", "flow_label", "sorted_flows"]


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
    """A SelectionList of flows by slug."""

    def show_slugs(self, slugs: Sequence[str]) -> None:
        """Before /flows answers: the saved choice by slug, all ticked."""
        self.clear_options()
        self.add_options([(Content(clean_name(slug)), slug, True) for slug in slugs])

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

    def selected_flows(self) -> list[str]:
        """Ticked slugs in the order shown."""
        chosen = set(self.selected)
        values = [self.get_option_at_index(i).value for i in range(self.option_count)]
        return [v for v in values if v in chosen]
