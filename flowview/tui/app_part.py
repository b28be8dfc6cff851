"""`AppPart`: the base of the App's per-feature action mixins (the `*_actions` modules):
`self._app` is the same object typed as the whole `FlowviewApp`, so a mixin reaches the App's
other parts with the type checker's help."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from flowview.tui.app import FlowviewApp

log = logging.getLogger(__name__)

__all__ = ["AppPart"]


class AppPart:
    """Mixed into FlowviewApp through one of the *_actions modules."""

    @property
    def _app(self) -> FlowviewApp:
        return cast("FlowviewApp", self)
