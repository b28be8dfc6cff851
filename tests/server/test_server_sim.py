"""The deterministic simulator, hostile content, and bursts over real connections."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from flowview.server import hostile
from flowview.server.runner import ServerOptions, build, run_server
from flowview.server.state import Published
from tests.server.server_testkit import SSE, WireReader, basic, client

pytestmark = pytest.mark.timeout(60)

EVENT_TYPES = {
    "message",
    "comment",
    "status",
    "line",
    "file",
    "action",
    "activity",
    "discussion",
    "message-edit",
    "tag-change",
    "emoji-reaction",
    "user-edit",
    "activity.user",
    "presence",
}


def fake_clock() -> Any:
    ticks = itertools.count()
    return lambda: 1_569_252_944.983 + next(ticks) * 0.25


def first_events(n: int, **opts: Any) -> list[Published]:
    state, sim = build(ServerOptions(rate=0, clock=fake_clock(), **opts))
    seen: list[Published] = []
    state.listeners.append(seen.append)
    sim.run_events(n)
    return seen[:n]


def as_sent(published: list[Published]) -> list[dict[str, Any]]:
    """Events as they went on the wire (``Published.event`` is the live stored dict)."""
    return [json.loads(p.data) for p in published]


def test_same_seed_same_events_and_other_seed_differs() -> None:
    a = first_events(300, seed=7)
    b = first_events(300, seed=7)
    assert [p.data for p in a] == [p.data for p in b]
    c = first_events(300, seed=8)
    assert [p.data for p in a] != [p.data for p in c]


def test_every_event_type_within_first_200_events() -> None:
    events = as_sent(first_events(200))
    assert {e["event"] for e in events} >= EVENT_TYPES


def test_simulated_content_covers_the_quirks() -> None:
    state, sim = build(ServerOptions(rate=0, clock=fake_clock()))
    me = state.me
    assert me is not None
    seen: list[Published] = []
    state.listeners.append(seen.append)
    sim.run_events(400)
    events = as_sent(seen)
    msgs = [e for e in events if e["event"] == "message"]
    texts = [e["content"] for e in msgs]
    private = [e for e in events if "to" in e]
    assert me.id in {e["to"] for e in private} and any(e["user"] == me.id for e in private)
    assert any(e["user"] == me.id and "flow" in e for e in msgs)  # own messages echo back
    assert any(f":unread:{me.id}" in e["tags"] for e in msgs)
    assert any(":user:everyone" in e["tags"] for e in msgs)
    assert any("@@team" in t for t in texts)
    assert any("\u200d" in t for t in texts)  # ZWJ emoji
    assert any(len(t) > 400 for t in texts)
    assert any("https://" in t for t in texts)
    assert any(not t.isascii() for t in texts)
    # threads: int created_at on a thread's first message, ISO on replies
    created = [e["thread"]["created_at"] for e in msgs if "flow" in e]
    assert any(isinstance(c, int) for c in created) and any(isinstance(c, str) for c in created)
    actions = [e["content"] for e in events if e["event"] == "action"]
    assert any(a["type"] == "add_people" and isinstance(a.get("message"), list) for a in actions)
    assert any(a["type"] == "add_people" and isinstance(a.get("description"), str) for a in actions)
    assert any(a["type"] == "join" and "description" in a for a in actions)
    assert any(a["type"] == "join" and "id" in a for a in actions)
    edits = [e for e in events if e["event"] == "message-edit"]
    assert any(e["content"]["updated_content"] == "" for e in edits)  # a delete
    assert any(isinstance(e["content"]["updated_content"], dict) for e in edits)  # comment edit
    tag_changes = [e["content"] for e in events if e["event"] == "tag-change"]
    assert any(f":unread:{me.id}" in t["remove"] for t in tag_changes)
    reactions = {e["content"]["type"] for e in events if e["event"] == "emoji-reaction"}
    assert reactions == {"add", "remove"}
    integrations = [e for e in events if e["event"] in ("activity", "discussion")]
    assert all(e["user"] == "0" and e["app"] == "influx" and e["author"] for e in integrations)
    assert any("<a href=" in e["title"] for e in integrations)
    comments = [e for e in events if e["event"] == "comment"]
    assert all(any(t.startswith("influx:") for t in c["tags"]) for c in comments)
    files = [e for e in events if e["event"] == "file"]
    assert files and all(f["attachments"] and ":file" in f["tags"] for f in files)


def test_hostile_mode_emits_every_payload_and_a_huge_message_early() -> None:
    texts = [
        e["content"] for e in as_sent(first_events(200, hostile=True)) if e["event"] == "message"
    ]
    for payload in hostile.HOSTILE_PAYLOADS:
        assert payload in texts, repr(payload)
    huge = [t for t in texts if isinstance(t, str) and len(t) >= hostile.HUGE_MESSAGE_CHARS]
    assert len(huge) == 1
    calm = [e.get("content") for e in as_sent(first_events(300))]
    assert not any(c in hostile.HOSTILE_PAYLOADS for c in calm)
    assert not any(isinstance(c, str) and "\x1b" in c for c in calm)


def test_hostile_payload_list_has_what_a_viewer_must_survive() -> None:
    joined = "".join(hostile.HOSTILE_PAYLOADS)
    for needle in (
        "\x1b]52;",
        "\x1b]0;",
        "\x1b]8;",
        "\x1b[31m",
        "\x9b",
        "[bold]",
        "[/]",
        "[@click=app.quit]",
        "[link=file:///etc/passwd]",
        "\u202e",
        "\u200d",
    ):
        assert needle in joined, repr(needle)
    assert len(hostile.huge_message().encode()) == hostile.HUGE_MESSAGE_CHARS


async def test_simulated_traffic_reaches_a_stream() -> None:
    opts = ServerOptions(rate=400, keepalive=30)
    async with run_server(opts) as srv, client(srv) as http:
        flows = ",".join(f.slug for f in srv.state.flows_of(srv.state.me))  # type: ignore[arg-type]
        async with http.stream(
            "GET",
            "/stream/flows",
            params={"filter": flows, "user": "1"},
            headers={**basic(srv.token), **SSE},
        ) as resp:
            items = await WireReader(resp).sse(60, timeout=10)
        kinds = {i.data["event"] for i in items}
        assert len(kinds) >= 5
        seqs = [int(i.id or 0) for i in items]
        assert seqs == sorted(seqs)


async def test_sim_step_endpoint_publishes_events() -> None:
    async with run_server(ServerOptions(rate=0)) as srv, client(srv) as http:
        r = await http.post("/_sim/step", json={"events": 25})
        assert r.status_code == 200
        body = r.json()
        assert body["events"] >= 25 and body["last_seq"] == srv.state.seq
        assert (await http.post("/_sim/step", json={"events": 0})).status_code == 400


async def test_burst_of_20k_arrives_complete_and_in_order_on_two_connections() -> None:
    count = 20_000
    async with run_server(ServerOptions(rate=0)) as srv, client(srv) as http:
        me = srv.state.me
        assert me is not None
        flows = ",".join(f.slug for f in srv.state.flows_of(me))

        async def read(sse: bool) -> list[dict[str, Any]]:
            headers = {**basic(srv.token), **(SSE if sse else {})}
            async with http.stream(
                "GET", "/stream/flows", params={"filter": flows}, headers=headers
            ) as resp:
                reader = WireReader(resp)
                ready.set()
                if sse:
                    return [i.data for i in await reader.sse(count, timeout=40)]
                return await reader.records(count, timeout=40)

        ready = asyncio.Event()
        sse_task = asyncio.create_task(read(True))
        await ready.wait()
        ready.clear()
        json_task = asyncio.create_task(read(False))
        await ready.wait()
        r = await http.post("/_sim/burst", json={"count": count}, timeout=60)
        assert r.status_code == 200 and r.json()["count"] == count
        for got in await asyncio.gather(sse_task, json_task):
            assert len(got) == count
            assert [g["content"].split(":")[0] for g in got] == [
                f"burst {i}/{count}" for i in range(1, count + 1)
            ]
            last_id: dict[str, int] = {}
            for g in got:
                assert g["id"] > last_id.get(g["flow"], 0)
                last_id[g["flow"]] = g["id"]
        log = (await http.get("/_faults")).json()["open"]
        assert all(c["close_reason"] is None for c in log)


async def test_burst_into_one_flow_and_validation() -> None:
    async with run_server(ServerOptions(rate=0)) as srv, client(srv) as http:
        r = await http.post("/_sim/burst", json={"count": 50, "flow": "acme/main"})
        assert r.status_code == 200
        main = srv.state.flows_by_slug["acme/main"]
        assert len(main.log.ids) == 50
        for bad in ({"count": 0}, {"count": "x"}, {"count": 5, "flow": "initech/secret-plans"}):
            assert (await http.post("/_sim/burst", json=bad)).status_code in (400, 404)


def test_simulated_text_reads_right_in_a_viewer() -> None:
    """Issue 10: edits that said "(edited)" (the viewer marks edits itself), thread replies
    that began "re: " as if quoting another message, and posters shown offline."""
    state, sim = build(ServerOptions(rate=0, clock=fake_clock()))
    offline_posters: list[str] = []

    def check(pub: Published) -> None:
        event = pub.event
        if event.get("event") in ("message", "comment", "file") and "flow" in event:
            user = state.users.get(str(event.get("user")))
            # "me" is online exactly when it streams (the viewer itself): not the simulator's
            if (
                user is not None
                and user is not state.me
                and state.effective_presence(user) == "offline"
            ):
                offline_posters.append(user.nick)

    state.listeners.append(check)
    events: list[Published] = []
    state.listeners.append(events.append)
    sim.run_events(3000)
    sent = as_sent(events)
    edits = [e["content"]["updated_content"] for e in sent if e["event"] == "message-edit"]
    assert edits and not any("(edited)" in str(text) for text in edits)
    replies = [
        e["content"] for e in sent
        if e["event"] == "message" and isinstance(e["content"], str)
        and e.get("thread", {}).get("initial_message") not in (None, e["id"])
    ]  # fmt: skip
    assert replies and not any(text.startswith("re: ") for text in replies)
    assert offline_posters == []
    # one person, one name: a user-edit changes the avatar, never the nick or the name
    renames = [e["content"]["user"] for e in sent if e["event"] == "user-edit"]
    assert renames and all(
        (u["nick"], u["name"]) == (state.users[str(u["id"])].nick, state.users[str(u["id"])].name)
        for u in renames
    )
    assert len({u.nick for u in state.users.values()}) == len(state.users)


def test_serve_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    from flowview.server.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for expected in ("(default: 5.0)", "(default: 1000)", "(default: 127.0.0.1", "(default: 8000)"):
        assert expected in out
