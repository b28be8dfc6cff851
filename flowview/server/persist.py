"""``flowview serve --data DIR``: the deployment kept in a SQLite database, so a restart loses
nothing and event-stream ids keep increasing.

What changes is learnt from the events the state publishes (a message, its edits, tag changes
and reactions all name the stored message), so the state's code needs no save calls; the few
things that change without an event (users, flows, ``open`` flags) are small and rewritten at
every flush. Writes are batched: ``flush()`` runs every half second and at shutdown.

Restart rules: ``seq`` (the ``id:`` of the event-stream) and every conversation's last message id
continue from where they stopped; after a crash (no clean close recorded) they jump ahead by a
margin, so no id a client has seen is ever given to a different event. The replay buffers start
empty and say so: a resume from before the restart is answered ``Flowview-Replay: truncated``
(the client back-fills over REST, where everything is).
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import sqlite3
from pathlib import Path

from flowview.server.entities import (
    Flow,
    Organization,
    PrivateConversation,
    StoredFile,
    User,
)
from flowview.server.message_log import MessageLog
from flowview.server.pubsub import Published
from flowview.server.state import ServerState

log = logging.getLogger(__name__)

DB_NAME = "flowview.sqlite3"
SEQ_MARGIN = 1_000_000  # after a crash: ids a client may have seen but we did not save
ID_MARGIN = 100_000
FLUSH_ROWS = 5000  # pending rows that force a flush before the timer

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orgs (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS flows (id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS privates (a TEXT, b TEXT, open INTEGER NOT NULL, PRIMARY KEY (a, b));
CREATE TABLE IF NOT EXISTS convs (conv TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    conv TEXT NOT NULL, id INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY (conv, id)
);
CREATE TABLE IF NOT EXISTS threads (
    flow TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (flow, id)
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, name TEXT NOT NULL, ctype TEXT NOT NULL, data BLOB NOT NULL
);
"""


def _conv_key(target: Flow | PrivateConversation) -> str:
    if isinstance(target, Flow):
        return "flow:" + target.id
    a, b = target.user_ids
    return f"private:{a}:{b}"


def _user_json(user: User) -> str:
    return json.dumps(
        {
            "id": user.id,
            "nick": user.nick,
            "name": user.name,
            "email": user.email,
            "token": user.token,
            "avatar": user.avatar,
            "website": user.website,
            "status": user.status,
            "sim_presence": user.sim_presence,
            "password_hash": user.password_hash,
        }
    )


class Database:
    """The SQLite file behind a ``--data`` server."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path / DB_NAME
        fresh = not self.path.exists()
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if fresh:
            os.chmod(self.path, 0o600)  # it holds tokens
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self.state: ServerState | None = None
        self._messages: set[tuple[str, int]] = set()
        self._threads: set[tuple[str, str]] = set()
        self._files: set[str] = set()

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def is_empty(self) -> bool:
        """Never saved to (a world saved once, even without users, is not empty)."""
        return self.get_meta("seq") is None

    # ------------------------------------------------------------------ loading
    def load(self, state: ServerState) -> None:
        """Fill an empty ``state`` from the database."""
        clean = self.get_meta("clean") == "1"
        state.rng = random.Random(secrets.randbits(64))  # fresh thread ids, never repeated
        for (text,) in self.conn.execute("SELECT json FROM users"):
            d = json.loads(text)
            user = User(
                id=d["id"],
                nick=d["nick"],
                name=d["name"],
                email=d["email"],
                token=d["token"],
                avatar=d.get("avatar"),
                website=d.get("website"),
                status=d.get("status"),
                password_hash=d.get("password_hash"),
            )
            if d.get("sim_presence") in ("active", "idle", "offline"):
                user.sim_presence = d["sim_presence"]
            state.add_user(user)
        me_id = self.get_meta("me")
        me = state.users.get(me_id or "") or next(iter(state.users.values()), None)
        if me is not None:
            state.me = me
        orgs: dict[int, Organization] = {}
        for (text,) in self.conn.execute("SELECT json FROM orgs ORDER BY rowid"):
            d = json.loads(text)
            orgs[d["id"]] = state.add_org(
                Organization(d["id"], d["name"], d["parameterized_name"], d["member_ids"])
            )
        last_ids = dict(self.conn.execute("SELECT conv, last_id FROM convs").fetchall())
        margin = 0 if clean else ID_MARGIN
        for (text,) in self.conn.execute("SELECT json FROM flows ORDER BY rowid"):
            d = json.loads(text)
            flow = state.add_flow(
                Flow(
                    id=d["id"],
                    name=d["name"],
                    parameterized_name=d["parameterized_name"],
                    org=orgs[d["org"]],
                    member_ids=d["member_ids"],
                    log=MessageLog(state.history),
                    description=d.get("description", ""),
                    open=bool(d.get("open", True)),
                    api_token=str(d.get("api_token") or ""),
                )
            )
            self._load_log(flow.log, "flow:" + flow.id, state.history)
            flow.log.last_id = max(flow.log.last_id, int(last_ids.get("flow:" + flow.id, 0)))
            flow.log.last_id += margin
            rows = self.conn.execute(
                "SELECT json FROM threads WHERE flow = ? ORDER BY rowid", (flow.id,)
            ).fetchall()
            for (t,) in rows[-state.history :]:
                thread = json.loads(t)
                flow.threads[thread["id"]] = thread
        for a, b, is_open in self.conn.execute("SELECT a, b, open FROM privates"):
            conv = state.private_conversation(a, b)
            conv.open = bool(is_open)
            key = _conv_key(conv)
            self._load_log(conv.log, key, state.history)
            conv.log.last_id = max(conv.log.last_id, int(last_ids.get(key, 0))) + margin
        for path, name, ctype, data in self.conn.execute(
            "SELECT path, name, ctype, data FROM files ORDER BY rowid"
        ):
            state.files[path] = StoredFile(path, name, ctype, bytes(data))
            state.file_bytes += len(data)
        for flow_id, ext, tid in json.loads(self.get_meta("external_threads") or "[]"):
            state.external_threads[(flow_id, ext)] = tid
        seq = int(self.get_meta("seq") or 0)
        state.seq = seq if clean else seq + SEQ_MARGIN
        # nothing from before the restart is in a replay buffer: say so to a resuming client
        state.replay_floor = state.seq
        for channel in state.channels.values():
            channel.evicted = state.seq
        log.info(
            "loaded %d users, %d flows, %d private conversations from %s (%s shutdown)",
            len(state.users),
            len(state.flows),
            len(state.privates),
            self.path,
            "clean" if clean else "unclean",
        )

    def _load_log(self, mlog: MessageLog, conv: str, limit: int) -> None:
        rows = self.conn.execute(
            "SELECT json FROM (SELECT id, json FROM messages WHERE conv = ? "
            "ORDER BY id DESC LIMIT ?) ORDER BY id",
            (conv, limit),
        ).fetchall()
        for (text,) in rows:
            msg = json.loads(text)
            mlog.store(msg)
            mlog.last_id = max(mlog.last_id, int(msg["id"]))

    # ------------------------------------------------------------------ saving
    def attach(self, state: ServerState) -> None:
        """Save ``state`` from now on (call after loading or populating it)."""
        self.state = state
        state.listeners.append(self._on_publish)
        self.set_meta("clean", "0")
        if state.me is not None:
            self.set_meta("me", state.me.id)
        # a fresh world: everything it holds is new
        for flow in state.flows.values():
            self._messages.update(("flow:" + flow.id, i) for i in flow.log.ids)
            self._threads.update((flow.id, t) for t in flow.threads)
        for conv in state.privates.values():
            self._messages.update((_conv_key(conv), i) for i in conv.log.ids)
        self._files.update(state.files)
        self.flush()

    def _on_publish(self, pub: Published) -> None:
        event = pub.event
        state = self.state
        if state is None:
            return
        kind = event.get("event")
        if kind in ("presence", "activity.user"):
            return
        content = event.get("content")
        msg_id = event.get("id")
        if kind in ("message-edit", "tag-change", "emoji-reaction") and isinstance(content, dict):
            msg_id = content.get("message")
        if not isinstance(msg_id, int):
            return
        if isinstance(event.get("flow"), str):
            conv = "flow:" + event["flow"]
            if isinstance(event.get("thread_id"), str):
                self._threads.add((event["flow"], event["thread_id"]))
        elif "to" in event:
            a, b = sorted((str(event.get("user")), str(event["to"])))
            conv = f"private:{a}:{b}"
        else:
            return
        self._messages.add((conv, msg_id))
        for att in event.get("attachments") or ():
            if isinstance(att, dict) and att.get("path") in state.files:
                self._files.add(att["path"])
        if len(self._messages) >= FLUSH_ROWS:
            self.flush()

    def _target(self, conv: str) -> Flow | PrivateConversation | None:
        assert self.state is not None
        if conv.startswith("flow:"):
            return self.state.flows.get(conv[5:])
        _, a, b = conv.split(":", 2)
        return self.state.privates.get((a, b))

    def flush(self, *, clean: bool = False) -> None:
        """Write what changed since the last flush, in one transaction."""
        state = self.state
        if state is None:
            return
        c = self.conn
        c.execute("BEGIN")
        try:
            c.executemany(
                "INSERT OR REPLACE INTO users VALUES (?, ?)",
                [(u.id, _user_json(u)) for u in state.users.values()],
            )
            c.executemany(
                "INSERT OR REPLACE INTO orgs VALUES (?, ?)",
                [
                    (
                        o.id,
                        json.dumps(
                            {
                                "id": o.id,
                                "name": o.name,
                                "parameterized_name": o.parameterized_name,
                                "member_ids": o.member_ids,
                            }
                        ),
                    )
                    for o in state.orgs
                ],
            )
            flows = []
            convs = []
            for f in state.flows.values():
                d = {
                    "id": f.id,
                    "name": f.name,
                    "parameterized_name": f.parameterized_name,
                    "org": f.org.id,
                    "member_ids": f.member_ids,
                    "description": f.description,
                    "open": f.open,
                    "api_token": f.api_token,
                }
                flows.append((f.id, json.dumps(d)))
                convs.append(("flow:" + f.id, f.log.last_id))
            c.executemany("INSERT OR REPLACE INTO flows VALUES (?, ?)", flows)
            privates = []
            for p in state.privates.values():
                privates.append((*p.user_ids, int(p.open)))
                convs.append((_conv_key(p), p.log.last_id))
            c.executemany("INSERT OR REPLACE INTO privates VALUES (?, ?, ?)", privates)
            c.executemany("INSERT OR REPLACE INTO convs VALUES (?, ?)", convs)
            upserts, deletes = [], []
            for conv, msg_id in self._messages:
                target = self._target(conv)
                msg = target.log.get(msg_id) if target is not None else None
                if msg is None:
                    deletes.append((conv, msg_id))
                else:
                    upserts.append((conv, msg_id, json.dumps(msg, ensure_ascii=False)))
            c.executemany("INSERT OR REPLACE INTO messages VALUES (?, ?, ?)", upserts)
            c.executemany("DELETE FROM messages WHERE conv = ? AND id = ?", deletes)
            threads = []
            for flow_id, tid in self._threads:
                flow = state.flows.get(flow_id)
                thread = flow.threads.get(tid) if flow is not None else None
                if thread is not None:
                    threads.append((flow_id, tid, json.dumps(thread, ensure_ascii=False)))
            c.executemany("INSERT OR REPLACE INTO threads VALUES (?, ?, ?)", threads)
            files = [
                (path, stored.file_name, stored.content_type, stored.data)
                for path in self._files
                if (stored := state.files.get(path)) is not None
            ]
            c.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", files)
            self.set_meta(
                "external_threads",
                json.dumps([[f, e, t] for (f, e), t in state.external_threads.items()]),
            )
            self.set_meta("seq", str(state.seq))
            self.set_meta("clean", "1" if clean else "0")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            log.exception("could not save to %s", self.path)
            raise
        self._messages.clear()
        self._threads.clear()
        self._files.clear()

    def close(self) -> None:
        """Final flush, marked clean: the next start continues ids exactly."""
        try:
            self.flush(clean=True)
        finally:
            self.conn.close()
