"""What the archive's writer is given to do, and the queue that holds it.

Events (or their wire dicts) are archived; the other operations carry users, flows, a read
position, a barrier, a prune or an arbitrary write (`Call`), each in queue order.  The queue
counts operations, not items: `submit_many` queues up to CHUNK_MAX of them as one `Chunk`.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

from flowview.protocol.events import Event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Users:
    users: tuple[tuple[str, str, str], ...]  # (id, nick, name)


@dataclass(frozen=True, slots=True)
class Flows:
    flows: tuple[tuple[str, str, str, str], ...]  # (id, organization, parameterized_name, name)


@dataclass(frozen=True, slots=True)
class ReadPosition:
    conv: str
    message_id: int
    updated: int


@dataclass(frozen=True, slots=True)
class Barrier:
    done: Future[None]


@dataclass(frozen=True, slots=True)
class Prune:
    done: Future[int]


@dataclass(frozen=True, slots=True)
class Call:
    """An arbitrary write in the writer's transaction order (for later tables, e.g. the
    outbox): `fn(connection)` runs inside the batch's transaction."""

    fn: Callable[[sqlite3.Connection], Any]
    done: Future[Any]


STOP: Final = object()  # queued last by close(): the thread stops after it
CHUNK_MAX: Final = 512  # operations per queue item from submit_many


class Chunk(tuple[Any, ...]):
    """Consecutive operations from one `submit_many`, queued as one item: a queue item costs
    ~2 us to put and ~2 us to take (lock, condition), a tenth of writing a message."""

    __slots__ = ()


class OperationQueue(queue.Queue[Any]):
    """A FIFO whose size (and so its bound) counts operations, a Chunk for all it holds.  A
    chunk is accepted whenever the queue is below its bound, so the queue holds at most
    `maxsize + CHUNK_MAX - 1` operations."""

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self._operations = 0

    def _qsize(self) -> int:
        return self._operations

    def _put(self, item: Any) -> None:
        self.queue.append(item)
        self._operations += len(item) if type(item) is Chunk else 1

    def _get(self) -> Any:
        item = self.queue.popleft()
        self._operations -= len(item) if type(item) is Chunk else 1
        return item


Operation = Event | dict[str, Any] | Users | Flows | ReadPosition | Barrier | Prune | Call
