"""The bounded hand-off between the connection tasks and the stream's consumer."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from flowview.protocol.items import StreamItem

log = logging.getLogger(__name__)

__all__ = ["Outbox"]


class Outbox:
    """Bounded hand-off from the connection tasks to the consumer, counted in items.

    Like a bounded asyncio.Queue of batches, except that a producer may be let through
    when full (`urgent`): a connection being retired must finish its chunk even when the
    consumer is the very task waiting for reconfigure() to return.
    """

    def __init__(self, max_items: int) -> None:
        self.max_items = max(1, max_items)
        self.items = 0
        self._batches: deque[list[StreamItem]] = deque()
        self._readable = asyncio.Event()
        self._cond = asyncio.Condition()
        self._waiters = 0

    def __len__(self) -> int:
        return len(self._batches)

    def fits(self, size: int) -> bool:
        return self.items == 0 or self.items + size <= self.max_items

    def put_nowait(self, batch: list[StreamItem]) -> None:
        self._batches.append(batch)
        self.items += len(batch)
        self._readable.set()

    async def put(self, batch: list[StreamItem], urgent: Callable[[], bool] | None = None) -> None:
        if not self.fits(len(batch)) and not (urgent is not None and urgent()):
            self._waiters += 1
            try:
                async with self._cond:
                    await self._cond.wait_for(
                        lambda: self.fits(len(batch)) or (urgent is not None and urgent())
                    )
            finally:
                self._waiters -= 1
        self.put_nowait(batch)

    async def get(self) -> list[StreamItem]:
        while not self._batches:
            self._readable.clear()
            await self._readable.wait()
        batch = self._batches.popleft()
        self.items -= len(batch)
        if self._waiters:
            await self.kick()
        return batch

    async def kick(self) -> None:
        """Make blocked producers re-check whether they may go on."""
        async with self._cond:
            self._cond.notify_all()

    def clear(self) -> None:
        self._batches.clear()
        self.items = 0
