"""The one definition of the public hosts and of presence, importable without httpx (the CLI,
`tail`'s help text and the config loader use them before any network code is loaded)."""

from __future__ import annotations

from typing import Literal

__all__ = ["DEFAULT_API_URL", "DEFAULT_STREAM_URL", "Presence"]

Presence = Literal["active", "idle", "offline"]

DEFAULT_STREAM_URL = "https://stream.flowdock.com"
DEFAULT_API_URL = "https://api.flowdock.com"
