"""Issue 8's loss-accounting chaos run, shared by tests/protocol/test_chaos.py (short) and
bench/bench_chaos.py (long).

Subjects follow every flow and the private messages of the project's server while a seeded
random schedule publishes messages and injects faults: stream cuts, drops, cuts mid-message,
stalls, 5xx/429 on the stream and on REST, outages longer than the replay buffer, and during
outages: the first message ever of a subscribed flow kept silent until then (the subject has
never seen it on the stream), first private messages from new users, and a flow created and
joined (its flow-add may be lost with the connection; messages are posted in it at once and
later).  The subjects:

* StreamClients in both content types (JSON in raw mode, as `flowview tail` uses it), each
  with a FlowFollower (protocol/follow.py), as a consumer following all flows runs it;
* the viewer's store: a Router fed by a StreamClient through the app's StreamPump (no Textual),
  following all flows as the viewer does with no flows chosen (FlowFollower fed its states
  and routed events, as tui/joined_flows.py does);
* `flowview tail` processes in both content types (JSON Lines on stdout, gap lines on stderr);
  tail streams the flows named on its command line only, so flows joined during the run are
  not expected from it: their messages are reported as "not followed".

Subjects that follow all flows are expected to show every flow the user is in at the end,
joined flows included, from their first message.

Afterwards each conversation is compared with the server's history: nothing missing unless
inside a gap the subject still reports as open, nothing twice, and the order kept (live
events in id order for the clients; the store's lines in id order; tail's back-filled lines
may follow newer live ones, so only its live lines are not checked for order).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from flowview.model.router import Router
from flowview.protocol.client import ContentType, StreamClient
from flowview.protocol.events import ConversationKey, Event
from flowview.protocol.follow import FlowFollower
from flowview.protocol.follow import Phase as FollowPhase
from flowview.protocol.items import Gap, RawEvent
from flowview.protocol.urls import Presence
from flowview.tui.stream_pump import FlushBatch, StreamPump
from tests.protocol.harness import Collector, Env, LoopTime, private_key

ROOT = Path(__file__).resolve().parents[2]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- accounting


@dataclass
class Seen:
    """What a subject shows, per conversation: message ids in the subject's order, the ids
    exempt from the order check (back-filled), and the gaps it still reports as open."""

    ids: dict[ConversationKey, list[int]] = field(default_factory=dict)
    unordered: set[tuple[ConversationKey, int]] = field(default_factory=set)
    open_gaps: dict[ConversationKey, int | None] = field(default_factory=dict)


@dataclass
class ClientReport:
    name: str
    delivered: int = 0
    missing_reported: int = 0  # missing, inside a gap the subject still reports as open
    missing_unreported: list[tuple[ConversationKey, int]] = field(default_factory=list)
    duplicates: list[tuple[ConversationKey, int]] = field(default_factory=list)
    out_of_order: list[tuple[ConversationKey, int]] = field(default_factory=list)
    reconnects: int = 0
    gaps_opened: int = 0
    gaps_closed: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing_unreported or self.duplicates or self.out_of_order)


@dataclass
class ChaosReport:
    seed: int
    rounds: int
    published: int = 0
    faults: list[str] = field(default_factory=list)
    clients: list[ClientReport] = field(default_factory=list)
    # What happened during outages (issue 8's list): flows whose first message came then,
    # first private messages from new users, flows created and joined then.
    silent_woken: int = 0
    first_private: int = 0
    flows_joined: int = 0
    # messages in flows joined during the run, expected only from subjects following all
    # flows (the others, `flowview tail`, name their flows at start)
    unfollowed: int = 0
    joined_messages: int = 0  # messages in flows joined during the run

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.clients)


def account(
    name: str,
    seen: Seen,
    expected: dict[ConversationKey, list[int]],
    start: dict[ConversationKey, int],
) -> ClientReport:
    """Compare what a subject shows with the server's history (ids after `start` only)."""
    report = ClientReport(name)
    for key, ids in seen.ids.items():
        mine = [i for i in ids if i > start.get(key, 0)]
        once: set[int] = set()
        last = 0
        for ident in mine:
            if ident in once:
                report.duplicates.append((key, ident))
            once.add(ident)
            if (key, ident) in seen.unordered:
                continue
            if ident <= last:
                report.out_of_order.append((key, ident))
            last = ident
        report.delivered += len(once)
    for key, ids in expected.items():
        have = set(seen.ids.get(key, ()))
        gap = seen.open_gaps.get(key, -1) if key in seen.open_gaps else None
        for ident in ids:
            if ident <= start.get(key, 0) or ident in have:
                continue
            if key in seen.open_gaps and (gap is None or ident > gap):
                report.missing_reported += 1
            else:
                report.missing_unreported.append((key, ident))
    return report


def conversations(env: Env, slugs: list[str] | None) -> dict[ConversationKey, list[int]]:
    """Server history: message ids per conversation the subjects subscribe to (the flows
    `slugs`, or every flow of the streaming user if None, and every private conversation of
    the streaming user)."""
    state = env.server.state
    me = env.me()
    out: dict[ConversationKey, list[int]] = {}
    for flow in state.flows.values():
        if me in flow.member_ids and (slugs is None or flow.slug in slugs):
            out[("flow", flow.id)] = _message_ids(flow.log)
    for conv in state.privates.values():
        if me in conv.user_ids:
            out[private_key(*conv.user_ids)] = _message_ids(conv.log)
    return out


def unfollowed(env: Env, slugs: list[str]) -> int:
    """Messages in flows the streaming user is in but did not subscribe at start (joined
    during the run)."""
    me = env.me()
    return sum(
        len(_message_ids(flow.log))
        for flow in env.server.state.flows.values()
        if me in flow.member_ids and flow.slug not in slugs
    )


def _message_ids(log: Any) -> list[int]:
    return [i for i in log.ids if log.by_id[i].get("event") == "message"]


# ----------------------------------------------------------------------------- subjects


class Subject(Protocol):
    name: str
    follows_all: bool  # expected to follow flows joined during the run

    async def start(self) -> None: ...

    def seen(self) -> Seen: ...

    def busy(self) -> bool: ...

    async def close(self) -> None: ...

    def counts(self) -> tuple[int, int, int]:
        """(reconnects, gaps opened, gaps closed)."""
        ...


def _message_event(item: object) -> tuple[ConversationKey, int] | None:
    if not isinstance(item, Event | RawEvent) or item.key is None or item.id is None:
        return None
    event = item.event if isinstance(item, Event) else item.raw.get("event")
    return (item.key, item.id) if event == "message" else None


def _follower(
    env: Env, client: StreamClient, sleep: Callable[[float], Awaitable[Any]]
) -> FlowFollower:
    return FlowFollower(lambda: client, env.rest, sleep=sleep)


class ClientSubject:
    """A StreamClient; every item it yields is recorded.  With a FlowFollower (fed every
    item first), it follows flows joined while running."""

    def __init__(
        self, name: str, client: StreamClient, follower: FlowFollower | None = None
    ) -> None:
        self.name = name
        self.follower = follower
        self.follows_all = follower is not None
        self.col = Collector(client, on_item=follower.observe if follower else None)

    async def start(self) -> None:
        self.col.start()
        await asyncio.wait_for(self.col.live.wait(), 60)

    def seen(self) -> Seen:
        seen = Seen(open_gaps=dict(self.col.client.open_gaps))
        backfilled = 0  # a Gap announces this many back-filled events right after it
        for item in self.col.items:
            if isinstance(item, Gap):
                backfilled = item.backfilled
                continue
            found = _message_event(item)
            if found is None:
                continue
            key, ident = found
            seen.ids.setdefault(key, []).append(ident)
            if backfilled:
                backfilled -= 1
                seen.unordered.add(found)
        return seen

    def busy(self) -> bool:
        return self.col.client.history_busy or _following(self.follower)

    def counts(self) -> tuple[int, int, int]:
        col = self.col
        return len(col.reconnects()), len(col.opened()), len(col.closed())

    async def close(self) -> None:
        if self.follower is not None:
            await self.follower.aclose()
        await self.col.close()


def _following(follower: FlowFollower | None) -> bool:
    return follower is not None and follower.phase is not FollowPhase.IDLE


class _Timer:
    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self.handle = handle

    def stop(self) -> None:
        self.handle.cancel()


class StoreSubject:
    """The viewer's stores: a Router fed by a StreamClient through the app's StreamPump,
    as the app runs it, without Textual.  What counts is what the stores hold, in order."""

    def __init__(
        self, name: str, client: StreamClient, me: str, follower: FlowFollower | None = None
    ) -> None:
        self.name = name
        self.client = client
        self.follower = follower
        self.follows_all = follower is not None
        self.router = Router(me_id=me)
        self.states: list[str] = []
        self.live = asyncio.Event()
        loop = asyncio.get_running_loop()

        def set_timer(delay: float, callback: Callable[[], Awaitable[None]]) -> _Timer:
            return _Timer(loop.call_later(delay, lambda: asyncio.ensure_future(callback())))

        async def on_flush(batch: FlushBatch) -> None:
            return None

        def on_state(change: Any) -> None:
            if follower is not None:
                follower.observe(change)
            self.states.append(change.state)
            if change.state == "live":
                self.live.set()

        self.pump = StreamPump(
            self.router,
            clock=loop.time,
            wall_clock=datetime.now,
            set_timer=set_timer,
            on_flush=on_flush,
            wants_alert=lambda key: False,
            on_state=on_state,
            on_events=self._routed,
        )
        self.task: asyncio.Task[None] | None = None
        self.opened = self.closed = 0
        for attr, bump in (("_gap_opened", "opened"), ("_gap_closed", "closed")):
            self._count(attr, bump)

    def _routed(self, events: list[Event]) -> None:
        """As the app's hook: flow-add/flow-remove among the routed events."""
        if self.follower is not None:
            for event in events:
                if event.event in ("flow-add", "flow-remove"):
                    self.follower.observe(event)

    def _count(self, attr: str, counter: str) -> None:
        original = getattr(self.pump, attr)

        def counted(item: Any) -> None:
            setattr(self, counter, getattr(self, counter) + 1)
            original(item)

        setattr(self.pump, attr, counted)

    async def start(self) -> None:
        self.task = asyncio.create_task(self.pump.run(self.client))
        await asyncio.wait_for(self.live.wait(), 60)

    def seen(self) -> Seen:
        seen = Seen(open_gaps=dict(self.router.open_gaps))
        for key, store in self.router.stores.items():
            seen.ids[key] = [m.id for m in store if m.kind == "message" and m.id is not None]
        return seen

    def busy(self) -> bool:
        return self.client.history_busy or _following(self.follower)

    def counts(self) -> tuple[int, int, int]:
        return self.states.count("reconnecting"), self.opened, self.closed

    async def close(self) -> None:
        if self.follower is not None:
            await self.follower.aclose()
        await self.client.aclose()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)
        self.pump.close()


_AFTER = r"(\(start\)|\d+)"
_GAP = re.compile(r"flowview: gap: (flow|private conversation) (\S+): messages after id " + _AFTER)
_FILLED = re.compile(r"flowview: gap filled: (flow|private conversation) (\S+): after id " + _AFTER)


def tail_seen(out: list[dict[str, Any]], err: list[str]) -> Seen:
    """What `flowview tail` showed: its JSON Lines, and the gaps its stderr left open."""
    seen = Seen()
    for raw in out:
        if raw.get("event") != "message" or not isinstance(raw.get("id"), int):
            continue
        if raw.get("flow"):
            key: ConversationKey = ("flow", str(raw["flow"]))
        else:
            key = private_key(str(raw.get("user")), str(raw.get("to")))
        seen.ids.setdefault(key, []).append(raw["id"])
        seen.unordered.add((key, raw["id"]))  # back-filled lines follow live ones
    for line in err:
        for pattern, is_open in ((_GAP, True), (_FILLED, False)):
            m = pattern.search(line)
            if m is None:
                continue
            key = ("flow" if m[1] == "flow" else "private", m[2])
            after = None if m[3] == "(start)" else int(m[3])
            if is_open:
                seen.open_gaps.setdefault(key, after)
            else:
                seen.open_gaps.pop(key, None)
    return seen


class TailSubject:
    """A `flowview tail` process (needs real time: it runs its own event loop)."""

    def __init__(
        self,
        name: str,
        env: Env,
        content_type: ContentType,
        slugs: list[str],
        presence: Presence = "active",
    ) -> None:
        self.name = name
        self.follows_all = False  # tail streams the flows on its command line
        self.env = env
        self.argv = [
            sys.executable,
            "-m",
            "flowview",
            "tail",
            "--private",
            "--content-type",
            content_type,
            "--stall-timeout",
            "3",
            "--presence",
            presence,
            *slugs,
        ]
        self.proc: asyncio.subprocess.Process | None = None
        self.out: list[dict[str, Any]] = []
        self.err: list[str] = []
        self.readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        import os

        server = self.env.server
        environ = dict(os.environ)
        environ.update(
            FLOWDOCK_TOKEN=self.env.token.value,
            FLOWDOCK_STREAM_URL=server.stream_url,
            FLOWDOCK_API_URL=server.api_url,
        )
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=ROOT,
            env=environ,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.readers = [
            asyncio.create_task(self._read(self.proc.stdout, self._on_out)),
            asyncio.create_task(self._read(self.proc.stderr, self.err.append)),
        ]
        async with asyncio.timeout(30):
            while not any("live" in line for line in self.err):
                await asyncio.sleep(0.05)

    @staticmethod
    async def _read(stream: asyncio.StreamReader, sink: Callable[[str], None]) -> None:
        while line := await stream.readline():
            sink(line.decode("utf-8", "replace").rstrip("\n"))

    def _on_out(self, line: str) -> None:
        self.out.append(json.loads(line))

    def seen(self) -> Seen:
        return tail_seen(self.out, self.err)

    def busy(self) -> bool:
        return False

    def counts(self) -> tuple[int, int, int]:
        err = self.err
        return (
            sum("reconnecting" in line for line in err),
            sum(bool(_GAP.search(line)) for line in err),
            sum(bool(_FILLED.search(line)) for line in err),
        )

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)
        await asyncio.gather(*self.readers, return_exceptions=True)


# Presence matters: a connection that appears active makes the server post an activity.user
# event (with an id) into every subscribed flow, for every connection of that user, so each
# subject has then "seen" even a silent flow.  Appearing offline posts nothing: a silent
# flow's first message is then truly the first thing a subject could know of it.  The
# subjects of one run share the user, so a run has one presence for all (run both).
PRESENCES: tuple[Presence, ...] = ("active", "offline")
SubjectFactory = Callable[[Env, int, list[str]], list[Subject]]


def in_process_subjects(presence: Presence = "active") -> SubjectFactory:
    """StreamClients (JSON raw, SSE) and the viewer's store (SSE, the viewer's default), each
    following all flows (FlowFollower)."""

    def make(env: Env, seed: int, slugs: list[str]) -> list[Subject]:
        time = LoopTime()

        def client(ct: ContentType, n: int, raw: bool) -> StreamClient:
            config = env.config(
                ct, flows=tuple(slugs), private=True, stall_timeout=20.0, presence=presence
            )
            rng = random.Random(seed + n).random
            return StreamClient(config, clock=time.clock, sleep=time.sleep, rng=rng, raw_events=raw)

        clients = [client("json", 0, True), client("sse", 1, False), client("sse", 2, False)]
        json_c, sse_c, store_c = (_follower(env, c, time.sleep) for c in clients)
        return [
            ClientSubject("json", clients[0], json_c),
            ClientSubject("sse", clients[1], sse_c),
            StoreSubject("store", clients[2], env.me(), store_c),
        ]

    return make


def tail_subjects(presence: Presence = "active") -> SubjectFactory:
    """`flowview tail` processes in both content types."""

    def make(env: Env, seed: int, slugs: list[str]) -> list[Subject]:
        return [TailSubject(f"tail-{ct}", env, ct, slugs, presence) for ct in ("json", "sse")]

    return make


# ----------------------------------------------------------------------------- the schedule


@dataclass
class Profile:
    """How hard the schedule hits: the in-process run takes any delay (virtual time); the
    tail run is on real time, so its waits stay short."""

    retry_after_max: int = 20
    rest_retry_after_max: int = 10
    stall_seconds: float = 5.0
    outage_statuses: int = 4
    # Between rounds: long enough for most reconnects to happen, so most faults queued get
    # applied (a fault waits for the next request; the run clears what is left at the end).
    pause: tuple[float, float] = (0.5, 15.0)
    kinds: tuple[str, ...] = (
        "cut",
        "drop",
        "cut_mid",
        "stall",
        "status",
        "rate",
        "rest",
        "rest_rate",
        "outage",
        "quiet",
    )


REAL_TIME = Profile(
    retry_after_max=1,
    rest_retry_after_max=1,
    stall_seconds=1.0,
    outage_statuses=1,
    pause=(0.1, 0.4),
    kinds=("cut", "drop", "cut_mid", "stall", "status", "rest", "outage", "quiet"),
)


@dataclass
class Schedule:
    """The traffic and what happens during outages.  `slugs` are the subscribed flows that
    get traffic; `silent` ones are subscribed too but get none until an outage brings their
    first message ever; `strangers` never wrote to the streaming user until an outage."""

    env: Env
    rng: random.Random
    report: ChaosReport
    profile: Profile
    slugs: list[str]
    silent: list[str]
    strangers: list[str]
    partners: list[str]

    def publish(self, n: int) -> None:
        env, rng = self.env, self.rng
        for _ in range(n):
            if rng.random() < 0.2 and (self.partners or self.strangers):
                if not self.partners:  # keep the other strangers for outages
                    self.partners.append(self.strangers.pop())
                env.whisper(rng.choice(self.partners), "psst")
            else:
                env.say(rng.choice(self.slugs), "hello")
            self.report.published += 1

    def plan(self, rounds: int) -> list[str]:
        """The fault kind of each round, with enough outages to wake every silent flow."""
        kinds = [self.rng.choice(self.profile.kinds) for _ in range(rounds)]
        want = min(rounds, max(1, len(self.silent)))
        while kinds.count("outage") < want:
            kinds[self.rng.randrange(rounds)] = "outage"
        return kinds

    async def round(self, kind: str) -> None:
        self.publish(self.rng.randint(0, 6))
        self.report.faults.append(kind)
        await _FAULTS[kind](self)

    def during_outage(self) -> None:
        """While the subjects are disconnected: a silent flow's first message (sometimes
        followed by more than the replay buffer holds, so the replay cannot carry it), a new
        user's first private message, and sometimes a flow created and joined."""
        env, rng, report = self.env, self.rng, self.report
        if self.silent:
            slug = self.silent.pop(0)
            burst = env.server.state.replay + 1 if rng.random() < 0.5 else 0
            for _ in range(1 + burst):
                env.say(slug, "first words")
            self.slugs.append(slug)
            report.silent_woken += 1
            report.published += 1 + burst
        if self.strangers:
            stranger = self.strangers.pop()
            env.whisper(stranger, "first words")
            self.partners.append(stranger)
            report.first_private += 1
            report.published += 1
        if not report.flows_joined or rng.random() < 0.5:  # every run joins at least one
            slug = env.join_new_flow(f"Joined {report.flows_joined + 1}")
            for _ in range(rng.randint(1, 3)):
                env.say(slug, "in a flow joined during an outage")
                report.published += 1
            report.flows_joined += 1
            self.slugs.append(slug)  # later traffic too (live, once followed)


async def _cut(s: Schedule) -> None:
    s.env.sever_streams()
    s.publish(s.rng.randint(1, 4))


async def _drop(s: Schedule) -> None:
    await s.env.fault(kind="drop_after_messages", n=s.rng.randint(0, 4))
    s.env.sever_streams()


async def _cut_mid(s: Schedule) -> None:
    await s.env.fault(kind="cut_mid_message", after=s.rng.randint(0, 3))
    s.env.sever_streams()


async def _stall(s: Schedule) -> None:
    await s.env.fault(kind="stall", after=s.rng.randint(0, 2), seconds=s.profile.stall_seconds)
    s.env.sever_streams()
    s.publish(s.rng.randint(1, 4))


async def _status(s: Schedule) -> None:
    status = s.rng.choice([500, 502, 503])
    await s.env.fault(kind="status", status=status, count=s.rng.randint(1, 2))
    s.env.sever_streams()


async def _rate(s: Schedule) -> None:
    wait = s.rng.randint(1, s.profile.retry_after_max)
    await s.env.fault(kind="status", status=429, count=1, retry_after=wait)
    s.env.sever_streams()


async def _rest(s: Schedule) -> None:
    status = s.rng.choice([500, 503])
    await s.env.fault(kind="status", status=status, count=s.rng.randint(1, 4), scope="rest")
    s.env.sever_streams()


async def _rest_rate(s: Schedule) -> None:
    wait = s.rng.randint(1, s.profile.rest_retry_after_max)
    count = s.rng.randint(1, 2)
    await s.env.fault(kind="status", status=429, count=count, scope="rest", retry_after=wait)
    s.env.sever_streams()


async def _outage(s: Schedule) -> None:
    """Longer than the replay buffer, with first messages of new conversations."""
    wait = s.rng.randint(1, max(1, min(8, s.profile.retry_after_max)))
    await s.env.fault(kind="status", status=503, count=s.profile.outage_statuses, retry_after=wait)
    s.env.sever_streams()
    s.during_outage()
    s.publish(s.env.server.state.replay + s.rng.randint(1, 10))


async def _quiet(s: Schedule) -> None:
    return None


_FAULTS: dict[str, Callable[[Schedule], Awaitable[None]]] = {
    "cut": _cut,
    "drop": _drop,
    "cut_mid": _cut_mid,
    "stall": _stall,
    "status": _status,
    "rate": _rate,
    "rest": _rest,
    "rest_rate": _rest_rate,
    "outage": _outage,
    "quiet": _quiet,
}


# ----------------------------------------------------------------------------- the run


async def run_chaos(
    env: Env,
    seed: int,
    rounds: int,
    *,
    subjects: SubjectFactory | None = None,
    profile: Profile | None = None,
    settle: float = 300.0,
    say: Callable[[str], None] = print,
) -> ChaosReport:
    """Drive `rounds` rounds of traffic and faults; `env`'s server must have a small replay."""
    say(f"chaos seed {seed} ({rounds} rounds)")
    report = ChaosReport(seed, rounds)
    me = env.me()
    state = env.server.state
    slugs = [f.slug for f in state.flows.values() if me in f.member_ids]
    start = {key: max(ids, default=0) for key, ids in conversations(env, slugs).items()}
    subs = (subjects or in_process_subjects())(env, seed, slugs)
    try:
        expected = await _drive(env, subs, seed, rounds, report, profile, slugs, start, settle)
    finally:
        # Always, so a failing run leaves no `flowview tail` process behind.
        for sub in subs:
            try:
                await sub.close()
            except Exception:
                log.exception("closing chaos subject %s", sub.name)
    report.clients = [_final(sub, expected[sub.follows_all], start) for sub in subs]
    for c in report.clients:
        say(
            f"  {c.name}: delivered {c.delivered}, reconnects {c.reconnects}, gaps opened "
            f"{c.gaps_opened}/closed {c.gaps_closed}, missing reported {c.missing_reported}, "
            f"UNREPORTED {len(c.missing_unreported)}, duplicates {len(c.duplicates)}, "
            f"out of order {len(c.out_of_order)}"
        )
    say(
        f"chaos seed {seed}: {'ok' if report.ok else 'FAILED'}; published {report.published}; "
        f"during outages: {report.silent_woken} silent flow(s) got their first message, "
        f"{report.first_private} first private message(s), {report.flows_joined} flow(s) "
        f"joined with {report.joined_messages} message(s) (expected from "
        f"{', '.join(s.name for s in subs if s.follows_all) or 'no subject'}; not followed by "
        f"{', '.join(s.name for s in subs if not s.follows_all) or 'any subject'}: "
        f"{report.unfollowed} message(s))"
    )
    return report


async def _drive(
    env: Env,
    subs: list[Subject],
    seed: int,
    rounds: int,
    report: ChaosReport,
    profile: Profile | None,
    slugs: list[str],
    start: dict[ConversationKey, int],
    settle: float,
) -> dict[bool, dict[ConversationKey, list[int]]]:
    """Start the subjects, run the rounds, stop the faults, let everything arrive; the
    server's history afterwards: what a subject following all flows must show (True), and
    what one streaming the flows it started with must show (False)."""
    rng = random.Random(seed)
    for sub in subs:
        await sub.start()
    me = env.me()
    state = env.server.state
    strangers = env.strangers()
    partners = [u for u in state.users if u != me and u not in strangers]
    profile = profile or Profile()
    silent = rng.sample(slugs, max(1, len(slugs) // 3)) if len(slugs) > 1 else []
    active = [slug for slug in slugs if slug not in silent]
    schedule = Schedule(env, rng, report, profile, active, silent, strangers, partners)
    for kind in schedule.plan(rounds):
        await schedule.round(kind)
        await asyncio.sleep(rng.uniform(*profile.pause))
    # Faults stop; everything published must now arrive (or be reported as an open gap).
    await env.control.delete(env.server.base_url + "/_faults", headers=env.server.control_headers)
    schedule.publish(len(slugs))
    expected = {False: conversations(env, slugs), True: conversations(env, None)}
    report.joined_messages = unfollowed(env, slugs)
    if not all(sub.follows_all for sub in subs):
        report.unfollowed = report.joined_messages
    await _settle(subs, expected, start, settle)
    return expected


async def _settle(
    subs: list[Subject],
    expected: dict[bool, dict[ConversationKey, list[int]]],
    start: dict[ConversationKey, int],
    settle: float,
) -> None:
    """Until every subject shows everything (or `settle` s pass: then the report tells)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settle
    while loop.time() < deadline:
        checks = [account(s.name, s.seen(), expected[s.follows_all], start) for s in subs]
        if all(c.ok and not c.missing_reported for c in checks) and not any(s.busy() for s in subs):
            return
        await asyncio.sleep(0.5)


def _final(
    sub: Subject, expected: dict[ConversationKey, list[int]], start: dict[ConversationKey, int]
) -> ClientReport:
    report = account(sub.name, sub.seen(), expected, start)
    report.reconnects, report.gaps_opened, report.gaps_closed = sub.counts()
    return report
