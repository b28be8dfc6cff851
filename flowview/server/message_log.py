"""Stored history of one conversation (a flow or a private conversation)."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class MessageLog:
    """Stored history of one conversation: ids ascending, bounded to ``limit`` messages."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.ids: list[int] = []
        self.by_id: dict[int, dict[str, Any]] = {}
        self.last_id = 0

    def allocate(self) -> int:
        self.last_id += 1
        return self.last_id

    def store(self, msg: dict[str, Any]) -> None:
        self.ids.append(msg["id"])
        self.by_id[msg["id"]] = msg
        excess = len(self.ids) - self.limit
        # trim in chunks so appends stay O(1) amortised
        if excess > self.limit // 10:
            for old in self.ids[:excess]:
                del self.by_id[old]
            del self.ids[:excess]

    def get(self, msg_id: int) -> dict[str, Any] | None:
        return self.by_id.get(msg_id)

    def remove(self, msg_id: int) -> dict[str, Any] | None:
        msg = self.by_id.pop(msg_id, None)
        if msg is not None:
            i = bisect.bisect_left(self.ids, msg_id)
            if i < len(self.ids) and self.ids[i] == msg_id:
                del self.ids[i]
        return msg

    def query(
        self,
        *,
        since_id: int | None = None,
        until_id: int | None = None,
        limit: int = 30,
        sort: str = "desc",
        match: Callable[[dict[str, Any]], bool] | None = None,
        skip: int = 0,
    ) -> list[dict[str, Any]]:
        """Messages with since_id < id < until_id for which ``match`` holds; ``sort`` picks
        which end the ``limit`` comes from (asc: oldest, desc: newest), after ``skip`` matches
        from that end; the result is always ascending by id, as Flowdock's was."""
        lo = 0 if since_id is None else bisect.bisect_right(self.ids, since_id)
        hi = len(self.ids) if until_id is None else bisect.bisect_left(self.ids, until_id)
        indices = range(lo, hi) if sort == "asc" else range(hi - 1, lo - 1, -1)
        out: list[dict[str, Any]] = []
        for i in indices:
            msg = self.by_id[self.ids[i]]
            if match is None or match(msg):
                if skip > 0:
                    skip -= 1
                    continue
                out.append(msg)
                if len(out) >= limit:
                    break
        if sort != "asc":
            out.reverse()
        return out
