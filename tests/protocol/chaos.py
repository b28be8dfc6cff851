"""Issue 8's loss-accounting chaos run, shared by tests/protocol/test_chaos.py (short) and
bench/bench_chaos.py (long).

StreamClients in both content types follow every flow and private messages of the project's
server while a seeded random schedule publishes messages and injects faults: stream cuts,
drops, cuts mid-message, stalls, 5xx/429 on the stream and on REST, outages longer than the
replay buffer, first private messages from new users during outages.  Afterwards each
conversation the client saw is compared with the server's history: nothing missing unless
inside a gap the client reported as open, nothing twice, live events in id order.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowview.protocol.client import ContentType, StreamClient
from flowview.protocol.events import ConversationKey, Event
from flowview.protocol.items import Gap, RawEvent
from tests.protocol.harness import Collector, Env, LoopTime, private_key


@dataclass
class ClientReport:
    name: str
    delivered: int = 0
    missing_reported: int = 0  # missing, inside a gap the client still reports as open
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

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.clients)


def _conversations(env: Env) -> dict[ConversationKey, list[int]]:
    """Server history: message ids per conversation the streaming user can see."""
    state = env.server.state
    me = env.me()
    out: dict[ConversationKey, list[int]] = {}
    for flow in state.flows.values():
        if me in flow.member_ids:
            out[("flow", flow.id)] = _message_ids(flow.log)
    for conv in state.privates.values():
        if me in conv.user_ids:
            out[private_key(*conv.user_ids)] = _message_ids(conv.log)
    return out


def _message_ids(log: Any) -> list[int]:
    return [i for i in log.ids if log.by_id[i].get("event") == "message"]


def _check(
    col: Collector,
    name: str,
    expected: dict[ConversationKey, list[int]],
    start: dict[ConversationKey, int],
) -> ClientReport:
    report = ClientReport(name)
    got: dict[ConversationKey, list[int]] = {}
    last: dict[ConversationKey, int] = {}
    backfilled = 0
    for item in col.items:
        if isinstance(item, Gap):
            backfilled = item.backfilled
            continue
        if not isinstance(item, Event | RawEvent) or item.key is None or item.id is None:
            continue
        event = item.event if isinstance(item, Event) else item.raw.get("event")
        if event != "message":
            continue
        key, ident = item.key, item.id
        if ident <= start.get(key, 0):
            continue  # before the client started: not its business
        got.setdefault(key, []).append(ident)
        if backfilled:
            backfilled -= 1  # may be older than live ones (placed by id)
        else:
            if ident <= last.get(key, 0):
                report.out_of_order.append((key, ident))
            last[key] = ident
    opened = col.client.open_gaps
    for key, ids in got.items():
        seen: set[int] = set()
        for ident in ids:
            if ident in seen:
                report.duplicates.append((key, ident))
            seen.add(ident)
        report.delivered += len(seen)
    for key, ids in expected.items():
        have = set(got.get(key, ()))
        for ident in ids:
            if ident <= start.get(key, 0) or ident in have:
                continue
            after = opened.get(key, -1) if key in opened else -1
            if key in opened and (after is None or ident > after):
                report.missing_reported += 1
            else:
                report.missing_unreported.append((key, ident))
    report.reconnects = len(col.reconnects())
    report.gaps_opened = len(col.opened())
    report.gaps_closed = len(col.closed())
    return report


async def run_chaos(
    env: Env,
    seed: int,
    rounds: int,
    *,
    settle: float = 300.0,
    say: Callable[[str], None] = print,
) -> ChaosReport:
    """Drive `rounds` rounds of traffic and faults; `env`'s server must have a small replay."""
    say(f"chaos seed {seed} ({rounds} rounds)")
    rng = random.Random(seed)
    report = ChaosReport(seed, rounds)
    time = LoopTime()
    me = env.me()
    state = env.server.state
    slugs = [f.slug for f in state.flows.values() if me in f.member_ids]
    start = {key: max(ids, default=0) for key, ids in _conversations(env).items()}
    contents: list[ContentType] = ["json", "sse"]
    cols = [
        Collector(
            StreamClient(
                env.config(ct, flows=tuple(slugs), private=True, stall_timeout=20.0),
                clock=time.clock,
                sleep=time.sleep,
                rng=random.Random(seed + n).random,
                raw_events=ct == "json",
            )
        ).start()
        for n, ct in enumerate(contents)
    ]
    for col in cols:
        await asyncio.wait_for(col.live.wait(), 60)
    strangers = env.strangers()
    partners = [u for u in state.users if u != me and u not in strangers]
    replay = state.replay

    def publish(n: int) -> None:
        for _ in range(n):
            if rng.random() < 0.2 and (partners or strangers):
                env.whisper(rng.choice(partners or strangers), "psst")
            else:
                env.say(rng.choice(slugs), "hello")
            report.published += 1

    for _ in range(rounds):
        publish(rng.randint(0, 6))
        kind = rng.choice(
            [
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
            ]
        )
        report.faults.append(kind)
        if kind == "cut":
            env.cut_streams()
            publish(rng.randint(1, 4))
        elif kind == "drop":
            await env.fault(kind="drop_after_messages", n=rng.randint(0, 4))
            env.cut_streams()
        elif kind == "cut_mid":
            await env.fault(kind="cut_mid_message", after=rng.randint(0, 3))
            env.cut_streams()
        elif kind == "stall":
            await env.fault(kind="stall", after=rng.randint(0, 2), seconds=5)
            env.cut_streams()
            publish(rng.randint(1, 4))
        elif kind == "status":
            await env.fault(
                kind="status", status=rng.choice([500, 502, 503]), count=rng.randint(1, 2)
            )
            env.cut_streams()
        elif kind == "rate":
            await env.fault(kind="status", status=429, count=1, retry_after=rng.randint(1, 20))
            env.cut_streams()
        elif kind == "rest":
            await env.fault(
                kind="status", status=rng.choice([500, 503]), count=rng.randint(1, 4), scope="rest"
            )
            env.cut_streams()
        elif kind == "rest_rate":
            await env.fault(
                kind="status",
                status=429,
                count=rng.randint(1, 2),
                scope="rest",
                retry_after=rng.randint(1, 10),
            )
            env.cut_streams()
        elif kind == "outage":
            # Longer than the replay buffer, with a first private message from a new user.
            await env.fault(kind="status", status=503, count=4, retry_after=rng.randint(2, 8))
            env.cut_streams()
            publish(replay + rng.randint(1, 10))
            if strangers:
                stranger = strangers.pop()
                env.whisper(stranger, "first words")
                partners.append(stranger)
                report.published += 1
        await asyncio.sleep(rng.uniform(0.05, 0.3))

    # Faults stop; everything published must now arrive (or be reported as an open gap).
    headers = {}
    token = getattr(env.server, "control_token", None)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    await env.control.delete(env.server.base_url + "/_faults", headers=headers)
    publish(len(slugs))
    expected = _conversations(env)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settle
    while loop.time() < deadline:
        checks = [_check(c, c.client.config.content_type, expected, start) for c in cols]
        if all(c.ok and not c.missing_reported for c in checks) and not any(
            c.client.history_busy for c in cols
        ):
            break
        await asyncio.sleep(0.1)
    for col in cols:
        await col.close()
    report.clients = [_check(c, c.client.config.content_type, expected, start) for c in cols]
    for c in report.clients:
        say(
            f"  {c.name}: delivered {c.delivered}, reconnects {c.reconnects}, gaps opened "
            f"{c.gaps_opened}/closed {c.gaps_closed}, missing reported {c.missing_reported}, "
            f"UNREPORTED {len(c.missing_unreported)}, duplicates {len(c.duplicates)}, "
            f"out of order {len(c.out_of_order)}"
        )
    say(f"chaos seed {seed}: {'ok' if report.ok else 'FAILED'}; published {report.published}")
    return report
