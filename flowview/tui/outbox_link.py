"""The session's outbox: one `Sender` over the account's own outbox file, and its lines.

Opened once `/user` has answered (the outbox is per server and user, next to the archive:
``<data dir>/outbox-<host>-<user>-<digest>/outbox.json``, 0700/0600).  Starting it resends
what an earlier run left (a crash, a kill -9, a quit that did not wait): those items come back
as pending lines in their conversations.  Sending pauses while the stream is not live
(`set_online`).  When the outbox cannot be opened (another flowview holds it, an unsafe
directory) the viewer runs without sending and says why (`problem`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flowview.archive.paths import archive_name
from flowview.model.pending import PendingLines
from flowview.model.router import Router
from flowview.protocol.datadir import UnsafeDirectory, data_dir, ensure_private_dir
from flowview.protocol.events import ConversationKey
from flowview.protocol.outbox_store import OutboxStore, OutboxStoreError
from flowview.protocol.sender import Destination, Sender, StateChanged

if TYPE_CHECKING:
    from flowview.protocol.rest import RestClient

log = logging.getLogger(__name__)

__all__ = ["OutboxLink", "outbox_dir"]


def outbox_dir(api_url: str, user_id: str, directory: Path | None = None) -> Path:
    """The outbox directory of `user_id` on the server at `api_url` (not created)."""
    stem = archive_name(api_url, user_id).rsplit(".", 1)[0]
    return (directory or data_dir()) / f"outbox-{stem}"


def private_key(me_id: str, other_id: str) -> ConversationKey:
    """The key of the private conversation with `other_id` (as events.Event.key makes it)."""
    low, high = sorted((me_id, other_id))
    return ("private", f"{low}:{high}")


class OutboxLink:
    """Owns the Sender of one session; `on_change(key)` is told which conversation changed."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self.sender: Sender | None = None
        self.pending: PendingLines | None = None
        self.problem: str | None = None
        self.directory: Path | None = None  # the account's outbox directory, once opened
        self._online = False
        self._on_change: Callable[[ConversationKey], None] | None = None

    def start(
        self,
        rest: RestClient,
        router: Router,
        *,
        api_url: str,
        user_id: str,
        slug_to_id: Callable[[str], str | None],
        on_change: Callable[[ConversationKey], None],
        wall_ms: Callable[[], int] | None = None,
    ) -> bool:
        """Open the account's outbox and resend what it holds; False (and `problem`) if not."""
        if self.sender is not None:
            return True

        def key_of(dest: Destination) -> ConversationKey | None:
            if dest.kind == "private":
                return private_key(user_id, dest.id)
            flow_id = slug_to_id(dest.id)
            return ("flow", flow_id) if flow_id is not None else None

        pending = PendingLines(router, key_of)
        pending.online = self._online
        self._on_change = on_change

        def changed(change: StateChanged) -> None:
            key = pending.apply(change)
            if key is not None:
                on_change(key)

        try:
            base = self._directory or data_dir()
            ensure_private_dir(base)
            directory = outbox_dir(api_url, user_id, base)
            store = OutboxStore(directory)
            sender = Sender(rest, store, wall_ms=wall_ms) if wall_ms else Sender(rest, store)
            sender.set_online(self._online)
            sender.add_listener(changed)
            left = sender.start()
        except (OutboxStoreError, UnsafeDirectory, OSError) as exc:
            self.problem = f"sending is off: {exc}"
            log.warning("outbox not opened: %s", exc)
            return False
        self.sender, self.pending, self.directory = sender, pending, directory
        if left:
            log.info("outbox: %d item(s) left by an earlier run are being sent", len(left))
        return True

    def set_online(self, online: bool) -> None:
        self._online = online
        if self.sender is not None:
            self.sender.set_online(online)
        if self.pending is not None and self._on_change is not None:
            for key in self.pending.set_online(online):
                self._on_change(key)

    @property
    def waiting(self) -> int:
        """Items the server has not confirmed (what a quit asks about)."""
        return self.sender.pending if self.sender is not None else 0

    async def aclose(self) -> None:
        sender, self.sender = self.sender, None
        if sender is not None:
            await sender.aclose()
