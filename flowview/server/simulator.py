"""Deterministic simulated traffic for the Flowdock-compatible server.

``populate`` builds the world (organisations, flows, users) from a seed; ``Simulator.step``
performs one action (a chat line, a reply, an edit, a reaction, an integration update...) through
the same ``ServerState`` methods the REST API uses. The content of the event sequence depends only
on the seed: timestamps come from the state's injectable clock, pacing from a separate random
stream, so the same seed gives the same events whatever the rate.

The first actions are a fixed tour through every event type (so each appears within the first
~60 events), then actions are drawn with weights. With ``hostile=True`` every payload of
``hostile.HOSTILE_PAYLOADS`` is posted once during the tour, a 1 MB message early, and hostile
nicks and file names turn up later.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
import uuid as uuid_mod
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from flowview.server import hostile as hostile_mod
from flowview.server.passwords import hash_password
from flowview.server.state import (
    Flow,
    MessageLog,
    Organization,
    ServerState,
    User,
    parameterize,
    random_id,
)

log = logging.getLogger(__name__)

ME = ("Robin Viewer", "robin")
PEOPLE: list[tuple[str, str]] = [
    ("Aino Virtanen", "aino"),
    ("Matti Meikäläinen", "matti"),
    ("Zoë Ångström", "zoe"),
    ("Jürgen Groß", "jurgen"),
    ("Søren Kierkegaard", "soren"),
    ("李雷", "lilei"),
    ("Priya Raman", "priya"),
    ("José Núñez", "jose"),
    ("Ólafur Arnalds", "olafur"),
    ("Ştefan Ionescu", "stefan"),
    ("Nomvula Dlamini", "nomvula"),
    ("Kenji Watanabe", "kenji"),
    ("Fatima Zahra", "fatima"),
    ("Otto Hilska", "otto"),
    ("Ngozi Okafor", "ngozi"),
    ("Mateus Silva", "mateus"),
]
FLOW_NAMES = [
    "Main",
    "Dev Ops",
    "Random",
    "Releases",
    "Design",
    "Support",
    "Ünïcode Lounge",
    "Incidents",
    "Data",
    "Mobile",
]
ORGS = [("Acme Corp", "acme"), ("Globex", "globex")]
FOREIGN_ORG = ("Initech", "initech")

PHRASES = [
    "Deploy went fine 🚀",
    "Kahvi on valmis ☕",
    "¿Alguien vio el informe de ayer?",
    "Größe matters: 42 µs per request",
    "日本語のテキストも大丈夫です",
    "Ça marche ✔ merci !",
    "👍",
    "family emoji 👨\u200d👩\u200d👧 and flags 🇫🇮 🇯🇵",
    "waves 👋🏽 from the other office",
    "Can someone review my PR? It's small, promise.",
    "Build is green again 🟢",
    "lunch? 🍜",
    "Я посмотрю после обеда",
    "the cache hit ratio is 97.3% — not bad",
    "rebooting the staging box, back in 5",
    "שלום לכולם",
    "merhaba 🙂 nasılsınız?",
    "ok",
]
WORDS = [
    "latency",
    "release",
    "cache",
    "deploy",
    "incident",
    "rollback",
    "schema",
    "migration",
    "queue",
    "worker",
    "dashboard",
    "alert",
    "ticket",
    "review",
    "design",
    "sprint",
    "backlog",
    "metrics",
    "index",
    "shard",
    "replica",
]
EMOJI = ["thumbsup", "grinning", "tada", "heart", "eyes", "rocket", "jellyfish", "+1"]
TAGS = ["important", "ops", "release", "question", "bug", "todo"]
FILES = [
    ("Screenshot 2019-09-23 at 17.01.48.png", "image/png", 15557),
    ("report.pdf", "application/pdf", 482113),
    ("globe.rb", "text/x-ruby-script", 1920),
    ("notes ü.txt", "text/plain", 311),
    ("diagram.svg", "image/svg+xml", 7044),
]
INTEGRATIONS = [
    ("GitHub", "https://github.com/acme/widget/pull/{n}", "Pull request #{n}: {w}"),
    ("JIRA", "https://acme.atlassian.net/browse/OPS-{n}", "OPS-{n}: {w} is broken"),
    ("Zendesk", "https://acme.zendesk.com/tickets/{n}", "Ticket #{n}: {w}"),
]
STATUS_COLORS = ["red", "green", "yellow", "cyan", "orange", "grey", "blue", "purple"]


def _uuid_like(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def populate(
    state: ServerState,
    *,
    seed: int = 1,
    flows: int = 4,
    users: int = 8,
    me_token: str | None = None,
) -> None:
    """Create organisations, ``flows`` flows the simulated user has joined (plus one flow in
    an organisation it is not in), ``users`` other users and the simulated user itself."""
    rng = random.Random(seed * 1_000_003 + 1)
    used_ids: set[str] = set()

    def user_id() -> str:
        while True:
            uid = str(rng.randint(100_000, 999_999))
            if uid not in used_ids:
                used_ids.add(uid)
                return uid

    def make_user(name: str, nick: str, token: str | None = None) -> User:
        uid = user_id()
        return User(
            id=uid,
            nick=nick,
            name=name,
            email=f"{nick}@example.com",
            token=token or secrets.token_hex(16),
            avatar=f"https://avatars.example.com/{uid}/",
        )

    me = state.add_user(make_user(*ME, token=me_token), me=True)
    people = list(PEOPLE)
    rng.shuffle(people)
    others: list[User] = []
    for i in range(max(0, users)):
        name, nick = people[i % len(people)]
        if i >= len(people):
            nick, name = f"{nick}{i // len(people) + 1}", f"{name} {i // len(people) + 1}"
        user = state.add_user(make_user(name, nick))
        user.sim_presence = rng.choice(["active", "idle", "offline"])
        others.append(user)

    orgs = [
        state.add_org(Organization(rng.randint(10_000, 99_999), name, slug)) for name, slug in ORGS
    ]
    foreign = state.add_org(Organization(rng.randint(10_000, 99_999), *FOREIGN_ORG))
    all_ids = [me.id] + [u.id for u in others]
    for org in orgs:
        org.member_ids = list(all_ids)
    foreign.member_ids = [u.id for u in others]

    for i in range(max(1, flows)):
        name = FLOW_NAMES[i] if i < len(FLOW_NAMES) else f"Flow {i + 1}"
        members = [me.id] + [u.id for u in others if rng.random() < 0.75]
        for u in others:
            if len(members) >= min(3, len(others) + 1):
                break
            if u.id not in members:
                members.append(u.id)
        state.add_flow(
            Flow(
                id=_uuid_like(rng),
                name=name,
                parameterized_name=parameterize(name),
                org=orgs[i % len(orgs)],
                member_ids=members,
                log=MessageLog(state.history),
                description=f"The {name} flow",
            )
        )
    state.add_flow(
        Flow(
            id=_uuid_like(rng),
            name="Secret Plans",
            parameterized_name="secret-plans",
            org=foreign,
            member_ids=[u.id for u in others[:3]],
            log=MessageLog(state.history),
            description="Not for you",
        )
    )


Action = Callable[[], None]


class Simulator:
    """Generates traffic into ``state``. ``step()`` is synchronous and deterministic."""

    def __init__(self, state: ServerState, *, seed: int = 1, hostile: bool = False) -> None:
        if state.me is None:
            raise ValueError("populate the state first")
        self.state = state
        self.me: User = state.me
        self.rng = random.Random(seed)
        self._pace = random.Random(seed ^ 0x5EED5)
        self.hostile = hostile
        self.flows = state.flows_of(self.me)
        self.others = [u for u in state.users.values() if u is not self.me]
        self.steps = 0
        # recent material for edits, replies, reactions (per flow id)
        self._chat: dict[str, deque[tuple[int, str]]] = {f.id: deque(maxlen=40) for f in self.flows}
        self._comments: dict[str, deque[tuple[int, str]]] = {
            f.id: deque(maxlen=20) for f in self.flows
        }
        self._threads: dict[str, deque[str]] = {f.id: deque(maxlen=20) for f in self.flows}
        self._inbox: dict[str, deque[tuple[int, str]]] = {
            f.id: deque(maxlen=20) for f in self.flows
        }
        self._ext_threads: dict[str, deque[str]] = {f.id: deque(maxlen=10) for f in self.flows}
        self._unread_me: deque[tuple[str, int]] = deque(maxlen=40)
        self._reactions: deque[tuple[str, int, str, str]] = deque(maxlen=40)
        base: list[Action] = [
            self.chat,
            self.chat_mention_me,
            self.thread_reply,
            self.chat_team,
            self.status,
            self.line,
            self.file,
            self.action_join,
            self.action_add_people_real,
            self.activity,
            self.discussion,
            self.comment,
            self.edit_chat,
            self.edit_comment,
            self.delete,
            self.tag_add,
            self.tag_read,
            self.reaction_add,
            self.reaction_remove,
            self.user_edit,
            self.pm_to_me,
            self.pm_from_me,
            self.pm_file,
            self.activity_user,
            self.presence_change,
            self.chat_long,
            self.chat_from_me,
            self.action_add_people_doc,
            self.action_join_real,
            self.chat_everyone,
        ]
        self._tour: deque[Action] = deque()
        payloads = list(hostile_mod.HOSTILE_PAYLOADS) if hostile else []
        for i, action in enumerate(base):
            self._tour.append(action)
            if payloads:
                self._tour.append(self._hostile_action(payloads.pop(0)))
            if hostile and i == 2:
                self._tour.append(self.huge)
        for payload in payloads:
            self._tour.append(self._hostile_action(payload))
        self._weighted: list[tuple[Action, float]] = [
            (self.chat, 30),
            (self.thread_reply, 15),
            (self.chat_mention_me, 4),
            (self.chat_team, 0.5),
            (self.chat_everyone, 0.5),
            (self.chat_long, 1),
            (self.chat_from_me, 2),
            (self.status, 2),
            (self.line, 2),
            (self.file, 2),
            (self.action_join, 0.5),
            (self.action_join_real, 0.5),
            (self.action_add_people_real, 0.5),
            (self.action_add_people_doc, 0.5),
            (self.activity, 2),
            (self.discussion, 2),
            (self.comment, 3),
            (self.edit_chat, 3),
            (self.edit_comment, 0.5),
            (self.delete, 1),
            (self.tag_add, 2),
            (self.tag_read, 2),
            (self.reaction_add, 4),
            (self.reaction_remove, 1),
            (self.user_edit, 0.3),
            (self.pm_to_me, 4),
            (self.pm_from_me, 2),
            (self.pm_file, 0.5),
            (self.activity_user, 5),
            (self.presence_change, 2),
        ]
        if hostile:
            self._weighted.append((self._random_hostile, 3))
        self._actions = [a for a, _ in self._weighted]
        self._weights = [w for _, w in self._weighted]

    # ------------------------------------------------------------------ driving
    def step(self) -> int:
        """Perform one action; returns how many events it published."""
        before = self.state.seq
        self.steps += 1
        action = (
            self._tour.popleft()
            if self._tour
            else self.rng.choices(self._actions, self._weights)[0]
        )
        action()
        return self.state.seq - before

    def run_events(self, n: int) -> int:
        """Step until at least ``n`` events have been published; returns the count."""
        done = 0
        while done < n:
            done += self.step()
        return done

    async def run(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Publish about ``rate`` events per second, with occasional bursts, forever."""
        if rate <= 0:
            return
        tick = min(0.1, max(0.005, 1.0 / rate))
        start = clock()
        emitted = 0
        while True:
            target = int((clock() - start) * rate)
            if target - emitted > rate * 2:
                emitted = target - int(rate)  # fell far behind (suspended): don't flood
            while emitted < target:
                emitted += max(1, self.step())
            if self._pace.random() < tick / 20.0:  # about one burst every 20 s
                for _ in range(self._pace.randint(5, 40)):
                    self.step()
            await sleep(tick)

    async def burst(
        self,
        count: int,
        flow: Flow | None = None,
        *,
        batch: int = 1000,
        max_wait: float = 10.0,
    ) -> tuple[int, int]:
        """Publish ``count`` plain chat messages as fast as subscribers can take them.

        Yields to the loop after every ``batch`` and waits (up to ``max_wait`` s per batch)
        while some subscriber's backlog is over half its limit, so a burst never overflows a
        connection that is reading. Returns (first seq, last seq)."""
        state = self.state
        flows = [flow] if flow is not None else self.flows
        first = state.seq + 1
        rng = self.rng
        for start in range(0, count, batch):
            for i in range(start, min(count, start + batch)):
                f = flows[i % len(flows)]
                sender = f.member_ids[rng.randrange(len(f.member_ids))]
                state.post_flow_message(
                    f,
                    sender,
                    "message",
                    f"burst {i + 1}/{count}: {WORDS[i % len(WORDS)]}",
                    uuid=state.new_id(16),
                )
            await asyncio.sleep(0)
            waited = 0.0
            while state.max_backlog() > state.queue_max // 2 and waited < max_wait:
                await asyncio.sleep(0.002)
                waited += 0.002
        return first, state.seq

    # ------------------------------------------------------------------ helpers
    def _flow(self) -> Flow:
        return self.flows[self.rng.randrange(len(self.flows))]

    def _sender(self, flow: Flow) -> str:
        """A member who posts; someone who posts is online (a poster shown offline in the
        members pane looked wrong), so an offline pick comes online first."""
        candidates = [uid for uid in flow.member_ids if uid != self.me.id]
        if not candidates:
            return self.me.id
        uid = candidates[self.rng.randrange(len(candidates))]
        user = self.state.users[uid]
        if self.state.effective_presence(user) == "offline":
            self.state.set_sim_presence(user, "active")
        return uid

    def _other(self) -> User:
        return self.others[self.rng.randrange(len(self.others))]

    def _uuid(self) -> str:
        return random_id(self.rng, 16)

    def _nick(self, flow: Flow, exclude: str) -> str:
        ids = [uid for uid in flow.member_ids if uid != exclude]
        if not ids:
            return self.me.nick
        return self.state.users[ids[self.rng.randrange(len(ids))]].nick

    def _text(self, flow: Flow, sender: str) -> str:
        rng = self.rng
        kind = rng.randrange(9)
        word = rng.choice(WORDS)
        if kind == 0:
            return f"see https://example.com/docs/{word}?q={rng.randint(1, 99)}#frag for details"
        if kind == 1:
            return f"@{self._nick(flow, sender)} can you look at the {word}?"
        if kind == 2:
            return f"#{rng.choice(TAGS)} {word} done, moving on #{rng.choice(TAGS)}"
        if kind == 3:
            return f"line one about {word}\nline two\n    indented line three"
        if kind == 4:
            return f"```\nfor x in {word}s:\n    print(x)\n```"
        return rng.choice(PHRASES)

    def _post(
        self,
        flow: Flow,
        sender: str,
        text: str,
        *,
        thread_id: str | None = None,
        remember: bool = True,
    ) -> dict[str, Any]:
        msg = self.state.post_flow_message(
            flow, sender, "message", text, uuid=self._uuid(), thread_id=thread_id
        )
        if remember:
            self._chat[flow.id].append((msg["id"], sender))
            self._threads[flow.id].append(msg["thread_id"])
        if f":unread:{self.me.id}" in msg["tags"]:
            self._unread_me.append((flow.id, msg["id"]))
        return msg

    # ------------------------------------------------------------------ actions
    def chat(self) -> None:
        flow = self._flow()
        sender = self._sender(flow)
        self._post(flow, sender, self._text(flow, sender))

    def chat_from_me(self) -> None:
        flow = self._flow()
        self._post(flow, self.me.id, self.rng.choice(PHRASES))

    def chat_mention_me(self) -> None:
        flow = self._flow()
        text = self.rng.choice(
            [
                "@{nick} could you check this?",
                "ping @{nick} 👀",
                "@{nick}: the #release notes are ready",
            ]
        ).format(nick=self.me.nick)
        self._post(flow, self._sender(flow), text)

    def chat_team(self) -> None:
        flow = self._flow()
        self._post(flow, self._sender(flow), "@@team standup in 5 minutes ⏰")

    def chat_everyone(self) -> None:
        flow = self._flow()
        self._post(flow, self._sender(flow), "@everyone the new release is out 🎉 #release")

    def chat_long(self) -> None:
        flow = self._flow()
        words = [self.rng.choice(WORDS) for _ in range(self.rng.randint(80, 400))]
        self._post(flow, self._sender(flow), "long: " + " ".join(words))

    def thread_reply(self) -> None:
        flow = self._flow()
        threads = self._threads[flow.id]
        if not threads:
            self.chat()
            return
        tid = threads[self.rng.randrange(len(threads))]
        sender = self._sender(flow)
        # no "re: ..." prefix: it read as a quote that did not match the thread's first message
        self._post(flow, sender, self._text(flow, sender), thread_id=tid)

    def status(self) -> None:
        flow = self._flow()
        text = self.rng.choice(["working from home 🏠", "in meetings", "on call 📟", "☕ break"])
        self.state.post_flow_message(flow, self._sender(flow), "status", text, uuid=self._uuid())

    def line(self) -> None:
        flow = self._flow()
        text = self.rng.choice(["waves", "is deploying", "shrugs ¯\\_(ツ)_/¯", "goes for lunch"])
        self.state.post_flow_message(flow, self._sender(flow), "line", text, uuid=self._uuid())

    def _attachment(self, base_path: str, name: str | None = None) -> dict[str, Any]:
        file_name, ctype, size = self.rng.choice(FILES)
        if name is not None:
            file_name = name
        key = "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl") for _ in range(22))
        att: dict[str, Any] = {
            "path": f"{base_path}/{key}/{file_name}",
            "file_name": file_name,
            "file_size": size,
            "content_type": ctype,
        }
        if ctype.startswith("image/"):
            att["image"] = {
                "width": self.rng.randint(16, 2000),
                "height": self.rng.randint(16, 2000),
            }
            att["thumbnail"] = {
                "path": f"{base_path}/{key}/thumb/{file_name}",
                "width": 64,
                "height": 64,
            }
            att["content_disposition"] = f"inline; filename*=UTF-8''{file_name.replace(' ', '%20')}"
        return att

    def file(self, name: str | None = None) -> None:
        flow = self._flow()
        att = self._attachment(f"/files/{flow.org.id}", name)
        msg = self.state.post_flow_message(
            flow,
            self._sender(flow),
            "file",
            dict(att),
            tags=[":file"],
            uuid=self._uuid(),
            attachments=[att],
            extra={"edited": None},
        )
        self._threads[flow.id].append(msg["thread_id"])

    def _action(
        self, content: dict[str, Any], flow: Flow | None = None, user: str | None = None
    ) -> None:
        flow = flow or self._flow()
        self.state.post_flow_message(
            flow, user or self._sender(flow), "action", content, uuid=self._uuid()
        )

    def action_join(self) -> None:
        self._action({"type": "join", "description": "joined the flow"})

    def action_join_real(self) -> None:
        flow = self._flow()
        key = f"{self.rng.getrandbits(160):040x}"
        self._action({"type": "join", "id": f"{key}-{flow.parameterized_name}"}, flow)

    def _some_nicks(self) -> list[str]:
        k = min(len(self.others), self.rng.randint(1, 3))
        return [u.nick for u in self.rng.sample(self.others, k)]

    def action_add_people_real(self) -> None:
        self._action({"type": "add_people", "message": self._some_nicks()})

    def action_add_people_doc(self) -> None:
        self._action({"type": "add_people", "description": ", ".join(self._some_nicks())})

    def activity(self) -> None:
        flow = self._flow()
        app, url, title = self.rng.choice(INTEGRATIONS)
        n = self.rng.randint(1, 999)
        word = self.rng.choice(WORDS)
        ext = self._ext_threads[flow.id]
        reuse = ext and self.rng.random() < 0.4
        thread_id = ext[self.rng.randrange(len(ext))] if reuse else None
        link = url.format(n=n)
        fields = None
        if thread_id is None:
            fields = {
                "title": title.format(n=n, w=word),
                "body": f"<p>Details about the <b>{word}</b>.</p>",
                "external_url": link,
                "status": {
                    "value": self.rng.choice(["open", "done", "blocked"]),
                    "color": self.rng.choice(STATUS_COLORS),
                },
                "fields": [
                    {"label": "Assignee", "value": f'<a href="mailto:x@example.com">{word}</a>'}
                ],
                "actions": [{"@type": "ViewAction", "url": link, "name": "View"}],
                "source": {"id": n, "icon": None, "application": app},
            }
        author = self._other()
        msg = self.state.post_flow_message(
            flow,
            "0",
            "activity",
            None,
            uuid=self._uuid(),
            thread_id=thread_id,
            app="influx",
            thread_fields=fields,
            extra={
                "title": f'updated <a href="{link}">{title.format(n=n, w=word)}</a>',
                "body": f"<p>{author.name} changed the {word}</p>",
                "author": {"name": author.name, "avatar": author.avatar, "email": author.email},
            },
        )
        ext.append(msg["thread_id"])
        self._threads[flow.id].append(msg["thread_id"])
        self._inbox[flow.id].append((msg["id"], msg["thread"]["title"]))

    def discussion(self) -> None:
        flow = self._flow()
        ext = self._ext_threads[flow.id]
        if not ext:
            self.activity()
            return
        author = self._other()
        word = self.rng.choice(WORDS)
        msg = self.state.post_flow_message(
            flow,
            "0",
            "discussion",
            None,
            uuid=self._uuid(),
            thread_id=ext[self.rng.randrange(len(ext))],
            app="influx",
            extra={
                "title": "commented",
                "body": f"<p>I think the <i>{word}</i> needs another look &amp; a test.</p>",
                "author": {"name": author.name, "avatar": author.avatar, "email": author.email},
            },
        )
        self._inbox[flow.id].append((msg["id"], msg["thread"]["title"]))

    def comment(self) -> None:
        flow = self._flow()
        inbox = self._inbox[flow.id]
        if not inbox:
            self.activity()
            return
        parent_id, title = inbox[self.rng.randrange(len(inbox))]
        parent = flow.log.get(parent_id)
        sender = self._sender(flow)
        msg = self.state.post_flow_message(
            flow,
            sender,
            "comment",
            {"title": title, "text": self._text(flow, sender)},
            tags=[f"influx:{parent_id}"],
            uuid=self._uuid(),
            thread_id=parent["thread_id"] if parent else None,
        )
        self._comments[flow.id].append((msg["id"], sender))

    def _edit(self, pool: dict[str, deque[tuple[int, str]]], make: Callable[[str], str]) -> bool:
        flow = self._flow()
        recent = pool[flow.id]
        if not recent:
            return False
        msg_id, author = recent[self.rng.randrange(len(recent))]
        stored = flow.log.get(msg_id)
        if stored is None or stored["content"] == "":
            return False
        old = stored["content"] if isinstance(stored["content"], str) else stored["content"]["text"]
        self.state.edit_message(flow, msg_id, make(old), author)
        return True

    def edit_chat(self) -> None:
        def make(old: str) -> str:
            if "#" in old and self.rng.random() < 0.5:
                return " ".join(w for w in old.split(" ") if not w.startswith("#")) or "edited"
            # a real correction: the viewer marks edits itself, so "(edited)" in the text showed
            # the mark twice
            return (old.rstrip(".!?") + ", I mean it!")[:8096]

        if not self._edit(self._chat, make):
            self.chat()

    def edit_comment(self) -> None:
        if not self._edit(self._comments, lambda old: old + " — fixed typo"):
            self.comment()

    def delete(self) -> None:
        flow = self._flow()
        recent = self._chat[flow.id]
        if not recent:
            self.chat()
            return
        msg_id, author = recent.pop()
        stored = flow.log.get(msg_id)
        if stored is None or stored["content"] == "":
            self.chat()
            return
        self.state.edit_message(flow, msg_id, "", author)

    def tag_add(self) -> None:
        flow = self._flow()
        recent = self._chat[flow.id]
        if not recent:
            self.chat()
            return
        msg_id, _ = recent[self.rng.randrange(len(recent))]
        self.state.change_tags(flow, msg_id, [self.rng.choice(TAGS)], [], self._sender(flow))

    def tag_read(self) -> None:
        """The simulated user reads a mention elsewhere: ``:unread:<me>`` is removed."""
        if not self._unread_me:
            self.chat_mention_me()
        if not self._unread_me:
            return
        flow_id, msg_id = self._unread_me.popleft()
        self.state.change_tags(
            self.state.flows[flow_id], msg_id, [], [f":unread:{self.me.id}"], self.me.id
        )

    def reaction_add(self) -> None:
        flow = self._flow()
        recent = self._chat[flow.id]
        if not recent:
            self.chat()
            return
        msg_id, _ = recent[self.rng.randrange(len(recent))]
        emoji = self.rng.choice(EMOJI)
        user = self._sender(flow)
        self.state.react(flow, msg_id, emoji, user, True)
        self._reactions.append((flow.id, msg_id, emoji, user))

    def reaction_remove(self) -> None:
        if not self._reactions:
            self.reaction_add()
        if not self._reactions:
            return
        flow_id, msg_id, emoji, user = self._reactions.popleft()
        self.state.react(self.state.flows[flow_id], msg_id, emoji, user, False)

    def user_edit(self) -> None:
        """A profile change. Outside hostile mode it is a new avatar: renaming people to
        ``aino_42`` put one person under two names in the demo (lines before and after)."""
        user = self._other()
        if self.hostile and self.rng.random() < 0.5:
            self.state.edit_user(user, nick=self.rng.choice(hostile_mod.HOSTILE_NICKS))
            return
        self.state.edit_user(
            user, avatar=f"https://avatars.example.com/{user.id}/{self.rng.randint(1, 999)}/"
        )

    def pm_to_me(self) -> None:
        other = self._other()
        self.state.post_private_message(
            other.id, self.me.id, "message", self.rng.choice(PHRASES), uuid=self._uuid()
        )

    def pm_from_me(self) -> None:
        other = self._other()
        self.state.post_private_message(
            self.me.id, other.id, "message", self.rng.choice(PHRASES), uuid=self._uuid()
        )

    def pm_file(self) -> None:
        other = self._other()
        a, b = sorted((other.id, self.me.id))
        att = self._attachment(f"/private/{a}/{b}/files")
        self.state.post_private_message(
            other.id,
            self.me.id,
            "file",
            dict(att),
            tags=[":file"],
            uuid=self._uuid(),
            attachments=[att],
        )

    def activity_user(self) -> None:
        flow = self._flow()
        uid = self._sender(flow)
        user = self.state.users[uid]
        self.state.user_activity(user, [flow], "active" if self.rng.random() < 0.7 else "idle")

    def presence_change(self) -> None:
        user = self._other()
        choices = [p for p in ("active", "idle", "offline") if p != user.sim_presence]
        self.state.set_sim_presence(user, self.rng.choice(choices))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ hostile
    def _hostile_action(self, payload: str) -> Action:
        def act() -> None:
            flow = self._flow()
            self._post(flow, self._sender(flow), payload)

        return act

    def huge(self) -> None:
        flow = self._flow()
        self._post(flow, self._sender(flow), hostile_mod.huge_message(), remember=False)

    def _random_hostile(self) -> None:
        roll = self.rng.randrange(3)
        if roll == 0:
            self.file(name=self.rng.choice(hostile_mod.HOSTILE_NICKS) + ".png")
        else:
            self._hostile_action(self.rng.choice(hostile_mod.HOSTILE_PAYLOADS))()


def add_user(
    state: ServerState, nick: str, *, email: str | None = None, password: str | None = None
) -> User:
    """A new user (fresh id and token) in every organisation; ``me`` if there is none yet.
    With ``password`` the user can also log in with ``email:password``."""
    if not nick or len(nick) > 100:
        raise ValueError("a nick is 1..100 characters")
    if any(u.nick.lower() == nick.lower() for u in state.users.values()):
        raise ValueError(f"nick {nick!r} is taken")
    uid = str(secrets.randbelow(900_000) + 100_000)
    while uid in state.users:
        uid = str(secrets.randbelow(900_000) + 100_000)
    email = email or f"{nick}@example.com"
    if any(u.email.lower() == email.lower() for u in state.users.values()):
        raise ValueError(f"email {email!r} is taken")
    user = User(id=uid, nick=nick, name=nick, email=email, token=secrets.token_hex(16))
    if password:
        user.password_hash = hash_password(password)
    state.add_user(user, me=state.me is None)
    if not state.orgs:
        state.add_org(Organization(secrets.randbelow(90_000) + 10_000, "Flowview", "flowview"))
    for org in state.orgs:
        org.member_ids.append(uid)
    for flow in state.flows.values():
        flow.member_ids.append(uid)
    log.info("added user %s (%s)", nick, uid)
    return user


def add_flow(state: ServerState, org_name: str, flow_name: str) -> Flow:
    """A new flow (and its organisation, if new) with every member of the organisation."""
    org_slug = parameterize(org_name)
    org = next((o for o in state.orgs if o.parameterized_name == org_slug), None)
    if org is None:
        org = state.add_org(
            Organization(secrets.randbelow(90_000) + 10_000, org_name, org_slug, list(state.users))
        )
    slug = f"{org.parameterized_name}/{parameterize(flow_name)}"
    if slug in state.flows_by_slug:
        raise ValueError(f"flow {slug} exists")
    flow = Flow(
        id=str(uuid_mod.uuid4()),
        name=flow_name,
        parameterized_name=parameterize(flow_name),
        org=org,
        member_ids=list(org.member_ids),
        log=MessageLog(state.history),
        description="",
    )
    log.info("added flow %s", slug)
    state.add_flow(flow)
    for uid in flow.member_ids:  # each member was added to it: their streams are told
        state.announce_membership(flow, uid, added=True)
    return flow
