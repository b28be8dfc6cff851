"""Route typed events into per-conversation stores.

``Router.route(event)`` is the single entry point for streamed events (``route_batch`` for a run
of them, as the stream pump hands them over); ``merge_history`` takes REST history. Every
event type of the protocol either appends a line, updates one in place, changes directory
state (nicks, presence, flows, members) or is ignored — and a malformed event is counted in
``errors`` and skipped, never raised.

The router is the hot path of a burst.  Its parts live by job: the values it returns in
routed.py, the user and flow directory (its base class) in directory.py, how each event kind
becomes a line in line_builders.py, thread ids in thread_ids.py, membership events in
membership.py; chat lines, in-place updates, gap markers and merges are here.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any, Final

from flowview.model.directory import Directory, FlowInfo, UserInfo
from flowview.model.line_builders import (
    MAX_TEXT_CHARS,
    build_line,
    first_link,
    reactions_from_raw,
)
from flowview.model.membership import flow_add, flow_remove, user_block, user_join
from flowview.model.render import html_to_text, mentions_nick
from flowview.model.routed import Effect, RoutedBatch, RouteResult
from flowview.model.sanitize import clean_name, clean_text, printable
from flowview.model.store import (
    UNREAD_KINDS,
    ConversationStore,
    Kind,
    StoredMessage,
    bounded_tags,
)
from flowview.model.thread_ids import MAX_THREAD_ID, clean_thread_id, thread_info
from flowview.protocol.events import (
    ConversationKey,
    EmojiReactionEvent,
    Event,
    FlowAddEvent,
    FlowRemoveEvent,
    MessageEditEvent,
    MessageEvent,
    PresenceEvent,
    TagChangeEvent,
    UserActivityEvent,
    UserBlockEvent,
    UserEditEvent,
    UserJoinEvent,
)

log = logging.getLogger(__name__)

# The value types and first_link are imported from here too (their homes are routed.py,
# directory.py and line_builders.py).
__all__ = [
    "GAP_TEXT",
    "Effect",
    "FlowInfo",
    "RouteResult",
    "RoutedBatch",
    "Router",
    "UserInfo",
    "first_link",
]

GAP_TEXT: Final = "messages may be missing — fetching"


class Router(Directory):
    """Events -> stores; the user and flow directory is its base (`Directory`).

    Args:
        me_id: The signed-in user's id (mentions, private conversation titles, own messages
            never count as unread).
        me_nick: The user's nick, for ``@nick`` mentions in text.
        cap: Per-conversation store bound.
    """

    def __init__(
        self, me_id: str | None = None, me_nick: str | None = None, cap: int = 10_000
    ) -> None:
        super().__init__(me_id, me_nick)
        self.cap = cap
        self._gaps: dict[tuple[ConversationKey, int | None], int] = {}  # -> marker seq
        # Our reactions already shown (see pending.py): (key, message id, emoji, added) -> count.
        self._own_reactions: dict[tuple[ConversationKey, int, str, bool], int] = {}
        self.errors = 0
        """Events that failed to route (skipped); the app shows this count."""
        self.last_error: str | None = None
        """The latest failure as one sanitised line, for the status bar."""

    # ------------------------------------------------------------------ stores

    def open(self, key: ConversationKey) -> tuple[ConversationStore, bool]:
        """The store for ``key``, created if needed; the bool says whether it was created."""
        store = self.stores.get(key)
        if store is not None:
            return store, False
        store = ConversationStore(key, self.title_for(key), self.cap, me_id=self.me_id)
        self.stores[key] = store
        return store, True

    def open_flow(self, flow_id: str) -> ConversationStore:
        return self.open(("flow", flow_id))[0]

    # ------------------------------------------------------------------ routing

    def _failed(self, event: object, exc: Exception) -> str:
        self.errors += 1
        self.last_error = printable(f"{type(exc).__name__}: {exc}", 200)
        log.exception("could not route a %s (skipped)", type(event).__name__)
        return self.last_error

    def route(self, event: Event) -> RouteResult:
        """Apply one streamed event. Never raises: a failure is counted in ``errors``."""
        try:
            return self._route(event, history=False, key=event.key)
        except Exception as exc:  # one bad event must not stop the stream
            error = self._failed(event, exc)
            return RouteResult(getattr(event, "key", None), "ignored", error=error)

    def route_batch(self, events: Iterable[Event]) -> RoutedBatch:
        """`route` for each of `events` in order, with the results summed (see RoutedBatch):
        the same effects, without a result object kept per event.  Never raises.

        A flow's chat line newer than everything stored goes the short way (`_live_line`:
        no result object, one call into the store); anything else through `_route`."""
        done = RoutedBatch()
        changed = done.changed
        routed = appended = ignored = 0
        route = self._route
        live_line = self._live_line
        stores = self.stores
        last_flow: str | None = None  # a run of one flow's events: one store look-up
        flow_key: ConversationKey = ("flow", "")
        store: ConversationStore | None = None
        for event in events:
            routed += 1
            try:
                # event.key, without the call for a flow's event (a flow id is never "")
                flow = event.flow
                if flow:
                    if flow != last_flow:
                        last_flow, flow_key = flow, ("flow", flow)
                        store = stores.get(flow_key)
                    elif store is None:  # opened by an event before this one?
                        store = stores.get(flow_key)
                    if store is not None and type(event) is MessageEvent:
                        message = live_line(store, event)
                        if message is not None:
                            changed.add(flow_key)
                            appended += 1
                            if message.mention:
                                done.notable.append(
                                    RouteResult(flow_key, "appended", False, True, message, True)
                                )
                            continue
                    result = route(event, history=False, key=flow_key)
                else:
                    result = route(event, history=False, key=event.key)
            except Exception as exc:  # one bad event must not stop the stream
                done.failed.append((getattr(event, "id", None), self._failed(event, exc)))
                ignored += 1
                continue
            effect = result.effect
            key = result.key
            if key is None or effect == "ignored":
                ignored += 1
                continue
            changed.add(key)
            if effect == "appended":
                appended += 1
                if result.mention or key[0] == "private":
                    done.notable.append(result)
        done.routed, done.appended, done.ignored = routed, appended, ignored
        return done

    def _live_line(self, store: ConversationStore, event: MessageEvent) -> StoredMessage | None:
        """What `_route` + `_append` do for a live chat line of `store` that is newer than
        everything in it and starts a thread or has none (most of a stream), as the stored
        message, or None when that is not the case and nothing was done."""
        event_id = event.id
        if type(event_id) is not int:
            return None
        thread_id = event.thread_id
        if thread_id is not None:
            # thread_info's first case: the thread's first message (not a reply)
            thread = event.thread
            initial = thread.get("initial_message") if thread is not None else None
            if type(initial) is not int or initial != event_id:
                return None
            # new_thread_id, inline: the call costs as much as the test
            if not (
                len(thread_id) <= MAX_THREAD_ID
                and thread_id.isascii()
                and thread_id.isprintable()
                and " " not in thread_id
            ):
                thread_id = clean_thread_id(thread_id)
        external = event.raw.get("external_user_name")
        content = event.content
        if (
            type(content) is str
            and content.isascii()
            and content.isprintable()
            and len(content) <= MAX_TEXT_CHARS
        ):
            # clean_text's answer for printable ASCII (no control, no tab or newline) is the
            # text itself: most chat lines, without the call (two thirds of its cost here)
            text = content
        else:
            text = clean_text(content, MAX_TEXT_CHARS) if isinstance(content, str) else ""
        user_id = event.user
        if user_id is not None:
            user_id = sys.intern(user_id)
        own = user_id is not None and user_id == self.me_id
        tags = event.tags
        mention = not own and bool(tags or "@" in text) and self._is_mention(text, tags)
        message = StoredMessage(
            -1,  # append_newest gives it the store's next seq
            event_id,
            "message",
            event.sent,
            user_id,
            text,
            "",
            clean_name(external) if external and isinstance(external, str) else None,
            thread_id,
            None,
            False,
            False,
            None,
            bounded_tags(tags) if tags else tags,
            mention,
        )
        return message if store.append_newest(message, unread=not own) else None

    def merge_history(self, key: ConversationKey, events: Iterable[Event]) -> int:
        """Merge REST history into ``key``'s store: ordered by id, no duplicates, never
        counted as unread. Returns how many lines were added."""
        return self._merge(key, events, history=True)

    def _merge(self, key: ConversationKey, events: Iterable[Event], *, history: bool) -> int:
        added = 0
        for event in events:
            try:
                result = self._route(event, history=history, key=key)
            except Exception as exc:  # one bad history item must not lose the rest
                self._failed(event, exc)
                continue
            if result.effect == "appended":
                added += 1
        return added

    def open_gap(self, key: ConversationKey, after_id: int | None, reason: str = "") -> RouteResult:
        """Show "messages may be missing — fetching" right after `after_id` in `key`.

        For the stream client's GapOpened: the hole stays until `close_gap` with the same
        (key, after_id); opening it again (the client re-announces after a reconnect) changes
        nothing.  Back-filled events are placed by id below the marker as they arrive.  The
        conversation is created if new (a first private message lost in an outage).
        """
        store, opened = self.open(key)
        seq = self._gaps.get((key, after_id))
        if seq is not None and store.by_seq(seq) is not None:
            return RouteResult(key, "ignored")
        text = GAP_TEXT
        why = printable(reason, 200)
        if why:
            text = f"{GAP_TEXT} ({why})"
        message = StoredMessage(store.new_seq(), None, "gap", None, None, text)
        store.add_after(message, after_id)
        self._gaps[(key, after_id)] = message.seq
        log.info("gap opened in %s after id %s: %s", key[0], after_id, why)
        if store.by_seq(message.seq) is None:
            # older than everything a full store keeps: nothing to show it next to
            return RouteResult(key, "ignored", opened_conversation=opened)
        return RouteResult(key, "appended", opened, message=message)

    def close_gap(self, key: ConversationKey, after_id: int | None, recovered: int) -> RouteResult:
        """The hole of `open_gap(key, after_id)` is filled: its marker goes away (the
        `recovered` events were routed before this call, placed by id)."""
        seq = self._gaps.pop((key, after_id), None)
        store = self.stores.get(key)
        log.info("gap closed in %s after id %s: %d recovered", key[0], after_id, recovered)
        if seq is None or store is None:
            return RouteResult(key, "ignored")
        removed = store.remove(seq)
        if removed is None:
            return RouteResult(key, "ignored")
        return RouteResult(key, "updated", message=removed)

    @property
    def open_gaps(self) -> list[tuple[ConversationKey, int | None]]:
        """(key, after_id) of every hole still being fetched, for the status bar."""
        return list(self._gaps)

    def insert_gap(self, key: ConversationKey, backfilled: int = 0) -> StoredMessage:
        """Add a gap marker line (messages after it were back-filled after a reconnect)."""
        store, _ = self.open(key)
        text = "messages back-filled after reconnect"
        if backfilled:
            text = f"{backfilled} messages back-filled after reconnect"
        message = StoredMessage(store.new_seq(), None, "gap", None, None, text)
        store.add(message)
        return message

    def _route(self, event: Event, *, history: bool, key: ConversationKey | None) -> RouteResult:
        if type(event) is MessageEvent:
            # Chat lines, the bulk of a stream: what build_line/chat_line do, inlined.
            if key is None:
                return RouteResult(None, "ignored")
            # event.external_user_name and event.text, read without their two calls each
            external = event.raw.get("external_user_name")
            content = event.content
            text = clean_text(content, MAX_TEXT_CHARS) if isinstance(content, str) else ""
            author = clean_name(external) if external and isinstance(external, str) else None
            return self._append(key, event, history, "message", text, "", author)
        handler = _STATE_HANDLERS.get(type(event))
        if handler is not None:
            return handler(self, event, key)
        if key is None:
            return RouteResult(None, "ignored")
        built = build_line(self, event)
        if built is None:
            return RouteResult(key, "ignored")
        return self._append(key, event, history, *built)

    # -- lines

    def _is_mention(self, text: str, tags: tuple[str, ...]) -> bool:
        if tags and self.me_id is not None:
            wanted = (f":user:{self.me_id}", f":highlight:{self.me_id}", ":user:everyone")
            if any(tag in wanted for tag in tags):
                return True
        return mentions_nick(text, self.me_nick)

    def _append(
        self,
        key: ConversationKey,
        event: Event,
        history: bool,
        kind: Kind,
        text: str,
        title: str,
        author: str | None,
    ) -> RouteResult:
        # The hot path of a stream (every chat line): attributes read once into locals, and
        # the common cases tested inline before any call (each call costs ~0.3 us here).
        store = self.stores.get(key)
        opened = store is None
        if store is None:
            store = self.open(key)[0]
        event_id = event.id
        if event_id is not None and store.get(event_id) is not None:
            return RouteResult(key, "ignored", opened_conversation=opened)
        if event.thread_id is not None:
            thread_id, thread_title = thread_info(event, store)
        else:
            thread_id = thread_title = None
        user_id = event.user
        if user_id is not None:
            user_id = sys.intern(user_id)
        own = user_id is not None and user_id == self.me_id
        tags = event.tags
        # _is_mention is False for a text without "@" and no tags: most lines
        mention = (
            not own and kind in UNREAD_KINDS and bool(tags or "@" in text)
        ) and self._is_mention(text, tags)
        message = StoredMessage(
            store.new_seq(),
            event_id,
            kind,
            event.sent,
            user_id,
            text,
            title,
            author,
            thread_id,
            thread_title,
            False,
            False,
            None,
            bounded_tags(tags) if tags else tags,
            mention,
        )
        if history:
            message.edited = bool(event.raw.get("edited"))
            message.reactions = reactions_from_raw(event.raw)
        elif event_id is not None and store.window == "detached" and store.beyond_window(event_id):
            return self._hide(key, store, event, message, opened, own)
        if event.uuid is not None and store.pending_count:
            # Our own outbox line's echo (or REST answer): it becomes this message in place.
            confirmed = store.confirm_pending(event.uuid, message)
            if confirmed is not None:
                return RouteResult(key, "updated", opened, message=confirmed)
        # Not a duplicate (checked above): add_new skips add's second look-up.
        if not store.add_new(message):
            # pruned at once: older than everything kept in a full store
            return RouteResult(key, "ignored", opened_conversation=opened)
        unread = not history and not own and kind in UNREAD_KINDS
        if unread:
            store.count_unread(message)
        return RouteResult(key, "appended", opened, mention and not history, message, unread)

    def _hide(
        self,
        key: ConversationKey,
        store: ConversationStore,
        event: Event,
        message: StoredMessage,
        opened: bool,
        own: bool,
    ) -> RouteResult:
        """A live line below a detached window (the user reads older messages): archived by
        the caller, not stored here, but counted (unread, mention) and alerted like any."""
        if event.uuid is not None and store.pending_line(event.uuid) is not None:
            store.drop_pending(event.uuid)  # our own line: it comes back from the archive
        unread = not own and message.kind in UNREAD_KINDS
        store.hide(message, unread=unread)
        return RouteResult(key, "appended", opened, message.mention, message, unread)

    def merge_older(self, key: ConversationKey, events: Iterable[Event]) -> int:
        """`merge_history` for a page older than what is stored: a full store drops its
        newest messages, not the page (the store detaches: see ConversationStore.window)."""
        store, _ = self.open(key)
        with store.older_page():
            return self.merge_history(key, events)

    def merge_below(self, key: ConversationKey, events: Iterable[Event]) -> int:
        """History that happened below a detached window (a seam after a reconnect): routed
        like live lines, so the ones newer than the window are counted but not stored."""
        return self._merge(key, events, history=False)

    def merge_newer(self, key: ConversationKey, events: Iterable[Event]) -> int:
        """`merge_history` for a page read back below a detached window (the oldest go);
        what was counted about those messages while hidden is theirs again."""
        store, _ = self.open(key)
        added: list[StoredMessage] = []
        for event in events:
            try:
                result = self._route(event, history=True, key=key)
            except Exception as exc:  # one bad history item must not lose the rest
                self._failed(event, exc)
                continue
            if result.effect == "appended" and result.message is not None:
                added.append(result.message)
        store.readmit(added)
        return len(added)

    # -- in-place updates

    def _target(
        self, key: ConversationKey | None, message_id: int | None
    ) -> tuple[ConversationStore, StoredMessage] | None:
        if key is None or message_id is None:
            return None
        store = self.stores.get(key)
        if store is None:
            return None
        message = store.get(message_id)
        return None if message is None else (store, message)

    def _edit(self, event: MessageEditEvent, key: ConversationKey | None) -> RouteResult:
        found = self._target(key, event.message_id)
        if found is None:
            hidden = event.deleted and self._hidden_mention_gone(key, event.message_id)
            return RouteResult(key, "state" if hidden else "ignored")
        store, message = found
        new_title = event.new_title
        store.edit(
            message.id,  # type: ignore[arg-type]  # found by id, so not None
            text=clean_text(event.new_text, MAX_TEXT_CHARS),
            title=html_to_text(new_title, single_line=True) if new_title is not None else None,
            deleted=event.deleted,
        )
        if not event.deleted and message.kind in UNREAD_KINDS:
            message.mention = message.user_id != self.me_id and self._is_mention(
                message.text, message.tags
            )
        return RouteResult(key, "updated", message=message)

    def _retag(self, event: TagChangeEvent, key: ConversationKey | None) -> RouteResult:
        found = self._target(key, event.message_id)
        if found is None:
            read = self.me_id is not None and f":unread:{self.me_id}" in event.remove
            hidden = read and self._hidden_mention_gone(key, event.message_id)
            return RouteResult(key, "state" if hidden else "ignored")
        store, message = found
        store.retag(message.id, event.add, event.remove)  # type: ignore[arg-type]
        return RouteResult(key, "updated", message=message)

    def _hidden_mention_gone(self, key: ConversationKey | None, message_id: int | None) -> bool:
        """A mention below a detached window (not stored) was deleted or read."""
        store = self.stores.get(key) if key is not None else None
        return (
            store is not None and message_id is not None and store.drop_hidden_mention(message_id)
        )

    def _react(self, event: EmojiReactionEvent, key: ConversationKey | None) -> RouteResult:
        found = self._target(key, event.message_id)
        emoji = clean_name(event.emoji, max_chars=32)
        if found is None or not emoji:
            return RouteResult(key, "ignored")
        store, message = found
        message_id: int = message.id  # type: ignore[assignment]  # found by id
        if event.user == self.me_id and self.forget_reaction(key, message_id, emoji, event.added):
            return RouteResult(key, "updated", message=message)  # shown when it was sent
        store.react(message.id, emoji, event.added, event.user)  # type: ignore[arg-type]
        return RouteResult(key, "updated", message=message)

    def expect_reaction(self, key: ConversationKey, message_id: int, emoji: str, add: bool) -> None:
        """Our own reaction, counted when it was sent: its stream event is not counted again."""
        self._own_reactions[(key, message_id, emoji, add)] = (
            self._own_reactions.get((key, message_id, emoji, add), 0) + 1
        )

    def forget_reaction(
        self, key: ConversationKey | None, message_id: int, emoji: str, add: bool
    ) -> bool:
        """Stop expecting that event (it came, or the reaction was refused); False if it was
        not expected."""
        wanted = (key, message_id, emoji, add)
        count = self._own_reactions.get(wanted)  # type: ignore[arg-type]
        if not count:
            return False
        if count > 1:
            self._own_reactions[wanted] = count - 1  # type: ignore[index]
        else:
            del self._own_reactions[wanted]  # type: ignore[arg-type]
        return True


# Dispatch by exact event type (parse_event builds exactly these classes): one dict lookup
# instead of a chain of isinstance tests, and one small function per event kind (the
# membership ones are module functions of membership.py, called the same way).
_STATE_HANDLERS: Final[
    dict[type[Event], Callable[[Router, Any, ConversationKey | None], RouteResult]]
] = {
    MessageEditEvent: Router._edit,
    TagChangeEvent: Router._retag,
    EmojiReactionEvent: Router._react,
    UserActivityEvent: Router._activity,
    PresenceEvent: Router._presence,
    UserEditEvent: Router._user_edit,
    FlowAddEvent: flow_add,
    FlowRemoveEvent: flow_remove,
    UserJoinEvent: user_join,
    UserBlockEvent: user_block,
}
