"""Server-provided text made safe for one-line notices (state reasons, errors, gap reasons)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

__all__ = ["printable"]


def printable(text: str, limit: int = 160) -> str:
    """One line of printable characters, whitespace collapsed, at most `limit` characters."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
