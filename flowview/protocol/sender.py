"""The outbox sender: what the user typed reaches the server exactly once, in order.

Every outgoing item gets a client ``uuid`` (the REST field Flowdock echoes on the stream) and is
written to the durable `OutboxStore` before the first attempt.  One worker per conversation sends
its items one at a time in the order typed.  Failures are classified:

* definitely not processed (connection refused, 429, 503 with Retry-After, offline): wait, resend;
* maybe processed (timeout or dropped connection after the request went out, 5xx, 408): the
  item becomes ``unknown``; before any new attempt REST history is searched for its uuid, so a
  message the server stored but whose answer was lost is never posted twice;
* any other 4xx is final: ``failed`` with the server's message, until the user edits and
  retries or discards it.

Delays run on the event loop's clock (`loop.time()`), so tests use virtual time.  Each item has
one explicit `ItemState`; `TRANSITIONS` lists every allowed move.  Listeners get every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol

from flowview.protocol.events import Event
from flowview.protocol.outbox_store import OutboxStore

log = logging.getLogger(__name__)

__all__ = [
    "TRANSITIONS",
    "Destination",
    "InvalidTransition",
    "ItemState",
    "OutboxItem",
    "Sender",
    "SenderPolicy",
    "Transport",
    "new_uuid",
]


# --------------------------------------------------------------------------- transport


class Transport(Protocol):
    """What the sender needs from the REST API; `flowview.protocol.rest.RestClient` fits.

    Calls raise an exception with an int ``status`` (0 = no HTTP response, the httpx error as
    ``__cause__``) and a str ``message``, like `rest.ApiError`; an optional ``retry_after``
    attribute (seconds) is honoured when present.
    """

    async def post_message(
        self, slug: str, content: Any, *, event: str = "message", **fields: Any
    ) -> dict[str, Any]: ...

    async def post_comment(
        self, slug: str, parent_id: int, text: str, **fields: Any
    ) -> dict[str, Any]: ...

    async def post_private_message(
        self, user_id: str, content: Any, *, event: str = "message", **fields: Any
    ) -> dict[str, Any]: ...

    async def edit_message(
        self,
        slug: str,
        message_id: int,
        *,
        content: Any = None,
        tags: Sequence[str] | None = None,
    ) -> dict[str, Any]: ...

    async def delete_message(self, slug: str, message_id: int) -> None: ...

    async def edit_private_message(self, user_id: str, message_id: int, content: Any) -> None: ...

    async def delete_private_message(self, user_id: str, message_id: int) -> None: ...

    async def react(
        self, slug: str, message_id: int, emoji: str, *, add: bool, private: bool = False
    ) -> None: ...

    async def messages(
        self,
        slug: str,
        *,
        since_id: int | None = None,
        until_id: int | None = None,
        limit: int = 100,
        sort: Literal["asc", "desc"] = "asc",
        event: str | Sequence[str] | None = None,
    ) -> list[Event]: ...

    async def private_messages(
        self,
        user_id: str,
        *,
        since_id: int | None = None,
        until_id: int | None = None,
        limit: int = 100,
        sort: Literal["asc", "desc"] = "asc",
        event: str | Sequence[str] | None = None,
    ) -> list[Event]: ...


# --------------------------------------------------------------------------- items


class ItemState(enum.Enum):
    QUEUED = "queued"  # stored, waiting for its turn (never attempted, or known not posted)
    SENDING = "sending"  # a request is in flight
    WAITING = "waiting"  # known not posted; resend after a delay
    UNKNOWN = "unknown"  # may have been posted; check history after a delay
    CHECKING = "checking"  # searching REST history for the uuid
    SENT = "sent"  # the server has it (terminal)
    FAILED = "failed"  # refused for good; the user edits and retries, or discards
    DISCARDED = "discarded"  # the user gave up on it (terminal)


S = ItemState
TRANSITIONS: dict[ItemState, frozenset[ItemState]] = {
    S.QUEUED: frozenset({S.SENDING, S.UNKNOWN, S.DISCARDED}),
    S.SENDING: frozenset({S.SENT, S.FAILED, S.WAITING, S.UNKNOWN}),
    S.WAITING: frozenset({S.SENDING, S.DISCARDED}),
    S.UNKNOWN: frozenset({S.CHECKING, S.DISCARDED}),
    S.CHECKING: frozenset({S.SENT, S.QUEUED, S.UNKNOWN}),
    S.SENT: frozenset(),
    S.FAILED: frozenset({S.QUEUED, S.DISCARDED}),
    S.DISCARDED: frozenset(),
}
TERMINAL = frozenset({S.SENT, S.DISCARDED})
# Where a loaded record resumes: anything that may have reached the server is checked first.
_RESUME = {
    S.QUEUED: S.QUEUED,
    S.WAITING: S.QUEUED,
    S.SENDING: S.UNKNOWN,
    S.UNKNOWN: S.UNKNOWN,
    S.CHECKING: S.UNKNOWN,
    S.FAILED: S.FAILED,
}


class InvalidTransition(RuntimeError):
    pass


Op = Literal["post", "comment", "edit", "delete", "tags", "react"]
PostEvent = Literal["message", "status", "line"]


@dataclass(frozen=True, slots=True)
class Destination:
    """A conversation: a flow by "org/flow" slug, or a private chat by the other user's id."""

    kind: Literal["flow", "private"]
    id: str

    @classmethod
    def flow(cls, slug: str) -> Destination:
        return cls("flow", slug)

    @classmethod
    def private(cls, user_id: str) -> Destination:
        return cls("private", user_id)


def new_uuid() -> str:
    """A client uuid in Flowdock's own shape (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


@dataclass(slots=True)
class OutboxItem:
    uuid: str
    dest: Destination
    op: Op
    seq: int  # order typed, across restarts
    content: str = ""
    event: PostEvent = "message"
    thread_id: str | None = None
    message_id: int | None = None  # comment parent; edit/delete/react target
    emoji: str | None = None
    add: bool = True  # react: add or remove
    tags: tuple[str, ...] = ()
    after_id: int | None = None  # newest message id the UI had seen: bounds the history check
    created_ms: int = 0  # wall clock, only to bound the history search
    state: ItemState = ItemState.QUEUED
    attempts: int = 0
    error: str = ""  # last failure, safe to show (server text is sanitised by RestClient)
    result_id: int | None = None  # the server's message id once sent
    next_attempt_at: float | None = None  # loop time of the next attempt while waiting
    # The server's answer once sent (the created message, for the UI); never stored.
    result: dict[str, Any] | None = None

    def to_record(self) -> dict[str, Any]:
        rec = asdict(self)
        rec["dest"] = {"kind": self.dest.kind, "id": self.dest.id}
        rec["state"] = self.state.value
        rec["tags"] = list(self.tags)
        rec.pop("next_attempt_at")  # loop time means nothing to another process
        rec.pop("result")
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> OutboxItem:
        """Rebuild an item; raises ValueError/TypeError/KeyError on a malformed record."""
        dest = rec["dest"]
        if dest["kind"] not in ("flow", "private") or not isinstance(dest["id"], str):
            raise ValueError("bad destination")
        if rec["op"] not in ("post", "comment", "edit", "delete", "tags", "react"):
            raise ValueError("bad op")
        if rec.get("event", "message") not in ("message", "status", "line"):
            raise ValueError("bad event")
        msg_id = rec.get("message_id")
        after = rec.get("after_id")
        result = rec.get("result_id")
        return cls(
            uuid=str(rec["uuid"]),
            dest=Destination(dest["kind"], dest["id"]),
            op=rec["op"],
            seq=int(rec["seq"]),
            content=str(rec.get("content", "")),
            event=rec.get("event", "message"),
            thread_id=rec.get("thread_id") if isinstance(rec.get("thread_id"), str) else None,
            message_id=int(msg_id) if msg_id is not None else None,
            emoji=rec.get("emoji") if isinstance(rec.get("emoji"), str) else None,
            add=bool(rec.get("add", True)),
            tags=tuple(str(t) for t in rec.get("tags", ())),
            after_id=int(after) if after is not None else None,
            created_ms=int(rec.get("created_ms", 0)),
            state=ItemState(rec.get("state", "queued")),
            attempts=int(rec.get("attempts", 0)),
            error=str(rec.get("error", "")),
            result_id=int(result) if result is not None else None,
        )


@dataclass(frozen=True, slots=True)
class StateChanged:
    """One transition, as listeners see it (a snapshot of the item after the change)."""

    item: OutboxItem
    previous: ItemState | None  # None when the item first appears (submitted or loaded)


Listener = Callable[[StateChanged], None]


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class SenderPolicy:
    base_delay: float = 1.0
    max_delay: float = 60.0
    retry_after_cap: float = 3600.0  # a hostile Retry-After must not park a message for days
    rate_limit_delay: float = 30.0  # 429 without Retry-After
    history_pages: int = 20  # at most this many pages of 100 searched for a uuid
    history_slack_ms: int = 10 * 60 * 1000  # server/client clock skew allowed in that search
    # After a timeout the server may still be working on the request: give it this long to
    # finish before searching history, or a late store would look like "not posted".
    timeout_grace: float = 30.0


def _cap(value: float, cap: float) -> float:
    return max(0.0, min(cap, value))


# --------------------------------------------------------------------------- failures

Verdict = Literal["final", "retry", "unknown"]


# httpx is imported when a failure is looked at, not with this module: the app imports the
# sender's types at start-up, and the network stack loads after the first frame (session.py).
def _not_sent(cause: BaseException | None) -> bool:
    """No request left the machine: safe to resend without a check."""
    import httpx

    return isinstance(
        cause,
        (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol),
    )


def _timed_out(cause: BaseException | None) -> bool:
    import httpx

    return isinstance(cause, httpx.TimeoutException)


def classify(exc: BaseException) -> Verdict:
    """Is a failed call final, safe to resend, or of unknown outcome?"""
    status = getattr(exc, "status", None)
    if not isinstance(status, int):
        # Not a transport error at all (a bug or an unexpected library error): the request
        # may or may not have been sent, so check before trying again.
        return "unknown"
    if status == 0:
        cause = exc.__cause__
        return "retry" if _not_sent(cause) else "unknown"
    if status == 429:
        return "retry"  # rate limited: not processed
    if status == 408 or status >= 500:
        return "unknown"  # a proxy or a crashing server may have stored it first
    if 400 <= status < 500:
        return "final"
    return "unknown"  # 1xx/3xx: nothing sensible, do not risk a duplicate


def _error_text(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) and message else type(exc).__name__
    status = getattr(exc, "status", None)
    return f"HTTP {status}: {text}" if isinstance(status, int) and status else text


def _event_id(result: dict[str, Any]) -> int | None:
    value = result.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# --------------------------------------------------------------------------- sender


class Sender:
    """Sends outbox items through `transport`; call `start()` in a running loop, `aclose()`."""

    def __init__(
        self,
        transport: Transport,
        store: OutboxStore,
        *,
        policy: SenderPolicy | None = None,
        rng: Callable[[], float] = random.random,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._transport = transport
        self._store = store
        self.policy = policy or SenderPolicy()
        self._rng = rng
        self._wall_ms = wall_ms
        self._items: dict[str, OutboxItem] = {}
        self._seq = 0
        self._workers: dict[Destination, asyncio.Task[None]] = {}
        self._pokes: dict[Destination, asyncio.Event] = {}
        self._online = asyncio.Event()
        self._online.set()
        self._listeners: list[Listener] = []
        self._queues: list[asyncio.Queue[StateChanged]] = []
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._server_hold: set[str] = set()  # items waiting out a Retry-After

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> list[OutboxItem]:
        """Load the store (opening it if needed) and resume sending what it holds."""
        records = self._store.records() if self._store.is_open else self._store.open()
        loaded: list[OutboxItem] = []
        for rec in records:
            try:
                item = OutboxItem.from_record(rec)
            except (KeyError, TypeError, ValueError):
                # Keep it in the file for a human; it cannot be sent as it is.
                log.exception(
                    "outbox record %r cannot be loaded; left in the store", rec.get("uuid")
                )
                continue
            # Anything unexpected may have reached the server: check before sending.
            item.state = _RESUME.get(item.state, ItemState.UNKNOWN)
            loaded.append(item)
        for item in sorted(loaded, key=lambda i: i.seq):
            self._items[item.uuid] = item
            self._seq = max(self._seq, item.seq)
            self._emit(item, None)
            self._kick(item.dest)
        return [replace(i) for i in loaded]

    async def aclose(self) -> None:
        """Stop the workers.  Unsent items stay in the store for the next start."""
        self._closed = True
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        for q in self._queues:
            q.put_nowait(_CLOSED)
        self.close_store()

    def close_store(self) -> None:
        """Release the outbox file (its lock); idempotent."""
        self._store.close()

    # ------------------------------------------------------------------ observing

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` on every change; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def changes(self) -> AsyncIterator[StateChanged]:
        """Every change from now on, until `aclose()`."""
        queue: asyncio.Queue[StateChanged] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                change = await queue.get()
                if change is _CLOSED:
                    return
                yield change
        finally:
            self._queues.remove(queue)

    def items(self, dest: Destination | None = None) -> list[OutboxItem]:
        """Snapshots of the unfinished items (optionally of one conversation), in order."""
        return [
            replace(i)
            for i in sorted(self._items.values(), key=lambda i: i.seq)
            if dest is None or i.dest == dest
        ]

    def get(self, uid: str) -> OutboxItem | None:
        item = self._items.get(uid)
        return replace(item) if item is not None else None

    @property
    def pending(self) -> int:
        """Items not yet confirmed (what a quit must ask about)."""
        return len(self._items)

    async def wait_idle(self) -> None:
        """Until no item is queued, in flight or waiting (failed ones do not count)."""
        while any(i.state is not ItemState.FAILED for i in self._items.values()):
            self._idle.clear()
            await self._idle.wait()

    # ------------------------------------------------------------------ connectivity

    def set_online(self, online: bool) -> None:
        """The stream's view of the network: offline holds every attempt; online retries now."""
        if online and not self._online.is_set():
            self._online.set()
            for item in self._items.values():
                # A server's Retry-After still stands; our own backoff is moot now.
                if item.uuid not in self._server_hold:
                    item.next_attempt_at = None
            for poke in self._pokes.values():
                poke.set()
        elif not online:
            self._online.clear()

    # ------------------------------------------------------------------ operations

    def submit(
        self,
        dest: Destination,
        content: str,
        *,
        event: PostEvent = "message",
        thread_id: str | None = None,
        tags: Sequence[str] = (),
        after_id: int | None = None,
    ) -> OutboxItem:
        """Queue a chat message (``line`` for /me, ``status`` for /status); stored on return."""
        return self._add(
            OutboxItem(
                uuid=new_uuid(),
                dest=dest,
                op="post",
                seq=0,
                content=content,
                event=event,
                thread_id=thread_id,
                tags=tuple(tags),
                after_id=after_id,
            )
        )

    def submit_comment(
        self, dest: Destination, parent_id: int, text: str, *, after_id: int | None = None
    ) -> OutboxItem:
        if dest.kind != "flow":
            raise ValueError("comments exist only in flows")
        return self._add(
            OutboxItem(
                uuid=new_uuid(),
                dest=dest,
                op="comment",
                seq=0,
                content=text,
                message_id=int(parent_id),
                after_id=after_id,
            )
        )

    def submit_edit(self, dest: Destination, message_id: int, text: str) -> OutboxItem:
        return self._add(
            OutboxItem(
                uuid=new_uuid(), dest=dest, op="edit", seq=0, content=text, message_id=message_id
            )
        )

    def submit_delete(self, dest: Destination, message_id: int) -> OutboxItem:
        return self._add(
            OutboxItem(uuid=new_uuid(), dest=dest, op="delete", seq=0, message_id=message_id)
        )

    def submit_tags(self, dest: Destination, message_id: int, tags: Sequence[str]) -> OutboxItem:
        """Set a message's tags (Flowdock takes the whole list: PUT .../messages/:id)."""
        if dest.kind != "flow":
            raise ValueError("RestClient tags flow messages only")
        return self._add(
            OutboxItem(
                uuid=new_uuid(),
                dest=dest,
                op="tags",
                seq=0,
                message_id=message_id,
                tags=tuple(tags),
            )
        )

    def submit_reaction(
        self, dest: Destination, message_id: int, emoji: str, *, add: bool = True
    ) -> OutboxItem:
        return self._add(
            OutboxItem(
                uuid=new_uuid(),
                dest=dest,
                op="react",
                seq=0,
                message_id=message_id,
                emoji=emoji,
                add=add,
            )
        )

    def retry(self, uid: str, content: str | None = None) -> OutboxItem:
        """Resend a failed item, optionally edited; it goes to the end of its conversation."""
        item = self._require(uid)
        if item.state is not ItemState.FAILED:
            raise InvalidTransition(f"only a failed item can be retried, not {item.state.value}")
        if content is not None:
            item.content = content
        self._seq += 1
        item.seq = self._seq
        item.error = ""
        self._move(item, ItemState.QUEUED)
        self._kick(item.dest)
        return replace(item)

    def discard(self, uid: str) -> None:
        """Give up on an item that is not in flight; it leaves the store."""
        item = self._require(uid)
        self._move(item, ItemState.DISCARDED)
        self._pokes.get(item.dest, asyncio.Event()).set()

    # ------------------------------------------------------------------ internals

    def _require(self, uid: str) -> OutboxItem:
        item = self._items.get(uid)
        if item is None:
            raise KeyError(uid)
        return item

    def _add(self, item: OutboxItem) -> OutboxItem:
        if self._closed:
            raise RuntimeError("the sender is closed")
        self._seq += 1
        item.seq = self._seq
        item.created_ms = self._wall_ms()
        # Durable before anything else happens: if this raises, nothing was queued.
        self._store.put(item.to_record())
        self._items[item.uuid] = item
        self._emit(item, None)
        self._kick(item.dest)
        return replace(item)

    def _move(self, item: OutboxItem, new: ItemState) -> None:
        old = item.state
        if new not in TRANSITIONS[old]:
            raise InvalidTransition(f"{old.value} -> {new.value}")
        # Disk first: if the write fails the item keeps its old state, in memory and on disk.
        if new in TERMINAL:
            self._store.remove(item.uuid)
            item.state = new
            del self._items[item.uuid]
            self._server_hold.discard(item.uuid)
        else:
            self._store.put({**item.to_record(), "state": new.value})
            item.state = new
        self._emit(item, old)
        if not any(i.state is not ItemState.FAILED for i in self._items.values()):
            self._idle.set()

    def _emit(self, item: OutboxItem, previous: ItemState | None) -> None:
        change = StateChanged(replace(item), previous)
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("outbox listener failed")
        for q in self._queues:
            q.put_nowait(change)

    def _kick(self, dest: Destination) -> None:
        self._pokes.setdefault(dest, asyncio.Event()).set()
        self._idle.clear()
        task = self._workers.get(dest)
        if task is None or task.done():
            self._workers[dest] = asyncio.get_running_loop().create_task(
                self._worker(dest), name=f"outbox {dest.kind} {dest.id}"
            )

    def _next_item(self, dest: Destination) -> OutboxItem | None:
        ready = [
            i for i in self._items.values() if i.dest == dest and i.state is not ItemState.FAILED
        ]
        return min(ready, key=lambda i: i.seq) if ready else None

    async def _worker(self, dest: Destination) -> None:
        poke = self._pokes.setdefault(dest, asyncio.Event())
        try:
            while not self._closed:
                poke.clear()
                item = self._next_item(dest)
                if item is None:
                    return
                await self._advance(item, poke)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug here must not strand the conversation silently; the items stay stored.
            log.exception("outbox worker for %s %s stopped", dest.kind, dest.id)
        finally:
            if self._workers.get(dest) is asyncio.current_task():
                del self._workers[dest]

    async def _advance(self, item: OutboxItem, poke: asyncio.Event) -> None:
        """Take one step for `item`: wait if due later, else check or send."""
        if not self._online.is_set():
            await self._online.wait()
            return
        loop = asyncio.get_running_loop()
        remaining = (item.next_attempt_at or 0.0) - loop.time()
        # A sliver left by float rounding counts as due: waiting on it could spin forever.
        if remaining > _DUE_SLACK:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poke.wait(), remaining)
            return
        item.next_attempt_at = None
        if item.state is ItemState.UNKNOWN:
            await self._check(item)
        elif item.state in (ItemState.QUEUED, ItemState.WAITING):
            await self._send(item)

    def _delay(self, item: OutboxItem, exc: BaseException | None) -> float:
        p = self.policy
        self._server_hold.discard(item.uuid)
        retry_after = getattr(exc, "retry_after", None) if exc is not None else None
        if isinstance(retry_after, int | float) and retry_after >= 0:
            self._server_hold.add(item.uuid)
            return _cap(float(retry_after), p.retry_after_cap)
        if getattr(exc, "status", None) == 429:
            return p.rate_limit_delay
        # Equal jitter: never less than half the step, so a struggling server gets air.
        step = min(p.max_delay, p.base_delay * 2.0 ** min(max(item.attempts - 1, 0), 30))
        return step / 2 + self._rng() * step / 2

    def _schedule(self, item: OutboxItem, state: ItemState, exc: BaseException) -> None:
        delay = self._delay(item, exc)
        if state is ItemState.UNKNOWN and _timed_out(exc.__cause__):
            delay = max(delay, self.policy.timeout_grace)
        item.error = _error_text(exc)
        item.next_attempt_at = asyncio.get_running_loop().time() + delay
        log.info(
            "outbox %s: %s, next attempt in %.1fs (%s)", item.uuid, state.value, delay, item.error
        )
        self._move(item, state)

    async def _send(self, item: OutboxItem) -> None:
        item.attempts += 1
        # Stored as "sending" before the request leaves: a crash now resumes as "unknown".
        self._move(item, ItemState.SENDING)
        try:
            result = await self._call(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            verdict = classify(exc)
            if verdict == "final":
                item.error = _error_text(exc)
                log.warning("outbox %s refused: %s", item.uuid, item.error)
                self._move(item, ItemState.FAILED)
            elif verdict == "retry" or item.op not in ("post", "comment"):
                # Edits, deletes and reactions are idempotent: resending cannot duplicate.
                self._schedule(item, ItemState.WAITING, exc)
            else:
                self._schedule(item, ItemState.UNKNOWN, exc)
            return
        item.result_id = _event_id(result) if isinstance(result, dict) else None
        item.result = result if isinstance(result, dict) else None
        item.error = ""
        self._move(item, ItemState.SENT)

    async def _call(self, item: OutboxItem) -> dict[str, Any] | None:
        t = self._transport
        dest = item.dest
        fields: dict[str, Any] = {"uuid": item.uuid}
        if item.tags:
            fields["tags"] = list(item.tags)
        if item.op == "post":
            if item.thread_id:
                fields["thread_id"] = item.thread_id
            if dest.kind == "flow":
                return await t.post_message(dest.id, item.content, event=item.event, **fields)
            return await t.post_private_message(dest.id, item.content, event=item.event, **fields)
        if item.message_id is None:
            raise _BadItem(f"{item.op} without a message id")
        if item.op == "comment":
            return await t.post_comment(dest.id, item.message_id, item.content, **fields)
        private = dest.kind == "private"
        if item.op == "edit":
            if private:
                await t.edit_private_message(dest.id, item.message_id, item.content)
                return None
            return await t.edit_message(dest.id, item.message_id, content=item.content)
        if item.op == "delete":
            if private:
                await t.delete_private_message(dest.id, item.message_id)
            else:
                await t.delete_message(dest.id, item.message_id)
            return None
        if item.op == "tags":
            return await t.edit_message(dest.id, item.message_id, tags=list(item.tags))
        if item.emoji is None:
            raise _BadItem("a reaction without an emoji")
        await t.react(dest.id, item.message_id, item.emoji, add=item.add, private=private)
        return None

    async def _check(self, item: OutboxItem) -> None:
        self._move(item, ItemState.CHECKING)
        try:
            found = await self._find_uuid(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Still unknown; never resend blind.
            log.warning("outbox %s: looking for it on the server failed", item.uuid, exc_info=True)
            self._schedule(item, ItemState.UNKNOWN, exc)
            return
        if found is not None:
            log.info("outbox %s: already on the server as %s", item.uuid, found.id)
            item.result_id = found.id
            item.error = ""
            self._move(item, ItemState.SENT)
        else:
            self._move(item, ItemState.QUEUED)

    async def _find_uuid(self, item: OutboxItem) -> Event | None:
        """Search history, newest first, back to before the item existed."""
        t = self._transport
        oldest_possible = item.created_ms - self.policy.history_slack_ms
        until: int | None = None
        for _ in range(max(1, self.policy.history_pages)):
            if item.dest.kind == "flow":
                page = await t.messages(item.dest.id, until_id=until, limit=100, sort="desc")
            else:
                page = await t.private_messages(
                    item.dest.id, until_id=until, limit=100, sort="desc"
                )
            for ev in page:
                if ev.uuid == item.uuid:
                    return ev
            ids = [ev.id for ev in page if ev.id is not None]
            if len(page) < 100 or not ids:
                return None
            low = min(ids)
            if item.after_id is not None and low <= item.after_id:
                return None
            sents = [ev.sent for ev in page if ev.sent is not None]
            if sents and min(sents) < oldest_possible:
                return None
            if until is not None and low >= until:
                return None  # no progress: a broken server must not loop us
            until = low
        log.warning(
            "outbox %s: uuid not found in %d pages of history; resending",
            item.uuid,
            self.policy.history_pages,
        )
        return None


class _BadItem(Exception):
    """An item that can never be sent as it is (final)."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_CLOSED: Any = object()
_DUE_SLACK = 1e-3  # seconds


async def drain(sender: Sender, timeout: float) -> bool:
    """Wait up to `timeout` (loop time) for the sender to become idle; True if it did."""
    try:
        await asyncio.wait_for(sender.wait_idle(), timeout)
    except TimeoutError:
        return False
    return True
