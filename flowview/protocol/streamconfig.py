"""What a stream connection asks for: flows, private messages, presence, content type."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from flowview.protocol.auth import Token
from flowview.protocol.urls import Presence

log = logging.getLogger(__name__)

__all__ = ["ACCEPT", "ContentType", "StreamConfig"]

ContentType = Literal["json", "sse"]

ACCEPT: dict[str, str] = {"json": "application/json", "sse": "text/event-stream"}


@dataclass(frozen=True)
class StreamConfig:
    stream_url: str
    token: Token
    flows: tuple[str, ...] = ()
    private: bool = True
    presence: Presence = "active"
    content_type: ContentType = "sse"
    api_url: str | None = None
    stall_timeout: float = 90.0
    max_record_bytes: int = 1 << 20
