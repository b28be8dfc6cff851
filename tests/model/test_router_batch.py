"""Router.route_batch: a run of streamed events routed at once leaves the stores exactly as
routing them one by one with `route` does, and its summed result (RoutedBatch) says what the
per-event results said.  Hypothesis draws the runs: duplicates, ids out of order, threads and
replies, mentions by text and by tag, own lines, outbox echoes, private lines, anonymous
posts, every verbatim protocol sample, malformed values."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowview.model.routed import RouteResult
from flowview.model.router import Router
from flowview.model.stored_message import StoredMessage
from flowview.protocol.events import Event, parse_event
from tests.protocol import samples as S

FLOW = "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8"
OTHER_FLOW = "f0000000-0000-0000-0000-000000000002"
ME = "263186"
PENDING_UUID = "pending-uuid-1"


def make_router(setup: str = "pending") -> Router:
    """`setup`: what FLOW's store holds before the run: our own outbox line waiting for its
    echo (a drawn event may carry its uuid), nothing, or a detached window."""
    router = Router(me_id=ME, me_nick="testbot", cap=40)  # small cap: pruning happens too
    router.add_users([{"id": ME, "nick": "testbot"}, {"id": "2", "nick": "otto"}])
    router.add_flows([{"id": FLOW, "name": "Sandbox", "parameterized_name": "sandbox"}])
    store = router.open(("flow", FLOW))[0]
    if setup == "pending":
        store.add_pending(
            StoredMessage(store.new_seq(), None, "message", None, ME, "mine"), PENDING_UUID
        )
    elif setup == "detached":
        store.drop_window()
    return router


@st.composite
def chat(draw: st.DrawFn) -> dict[str, Any]:
    mid = draw(st.integers(1, 60))
    obj: dict[str, Any] = {
        "event": draw(st.sampled_from(["message", "message", "message", "comment", "line"])),
        "id": draw(st.one_of(st.just(mid), st.just(str(mid)), st.none())),
        "user": draw(st.sampled_from(["2", "2", ME, "0", None])),
        "content": draw(
            st.sampled_from(
                ["hi", "hey @testbot", "@team look", "tab\there", "\u202eevil", "", 7, None]
            )
        ),
        "sent": 1_700_000_000_000 + mid,
        "tags": draw(st.sampled_from([[], [], [f":user:{ME}"], [":user:everyone", "#x"], None])),
        "uuid": draw(st.sampled_from([None, None, f"u{mid}", PENDING_UUID])),
    }
    where = draw(st.sampled_from(["flow", "flow", "other", "private", "none"]))
    if where == "flow":
        obj["flow"] = FLOW
    elif where == "other":
        obj["flow"] = OTHER_FLOW
    elif where == "private":
        obj["to"] = ME
    if draw(st.booleans()):
        initial = draw(st.sampled_from([mid, 1, 2, None, "3", True]))
        # plain ids, and ones the router must sanitise (a new thread's id takes a short way)
        obj["thread_id"] = draw(st.sampled_from(["t1", "t2", "t3", "t4", " t1", "t\u202e2"]))
        obj["thread"] = draw(
            st.sampled_from(
                [{"initial_message": initial, "title": "a thread"}, {"initial_message": initial}]
            )
        )
    if draw(st.integers(0, 9)) == 0:
        obj["external_user_name"] = draw(st.sampled_from(["bot", "", 5, "two  spaces"]))
    return obj


def sample() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(list(S.ALL_SAMPLES.values())).map(copy.deepcopy)


runs = st.lists(st.one_of(chat(), chat(), sample()), max_size=60)


FIELDS = (
    "seq", "id", "kind", "sent", "user_id", "text", "title", "author", "thread_id",
    "thread_title", "tags", "mention", "mention_unread", "outbox", "edited", "reactions",
)  # fmt: skip


def state(router: Router) -> Any:
    """Everything routing can change, as plain values."""
    stores = {}
    for key, store in router.stores.items():
        stores[key] = (
            [tuple(getattr(m, name) for name in FIELDS) for m in store],
            (store.unread, store.mentions, store.first_unread_seq, store.version, store.epoch),
            (store.appended, store.dropped, store.pending_count, store.title),
            {t: tuple(store.thread_seqs(t)) for t in store._threads},
        )
    users = {uid: (u.nick, u.presence, u.last_activity) for uid, u in router.users.items()}
    flows = {fid: (f.name, f.removed, sorted(f.members)) for fid, f in router.flows.items()}
    return stores, users, flows, router.errors


def summary(result: RouteResult) -> tuple[Any, ...]:
    message = result.message
    return (result.key, result.effect, result.mention, message.seq if message else None)


@settings(max_examples=300, deadline=None)
@given(
    runs,
    st.lists(st.integers(1, 20), min_size=1, max_size=5),
    st.sampled_from(["pending", "empty", "empty", "detached"]),
)
def test_a_run_routes_as_its_events_one_by_one(
    objs: list[dict[str, Any]], cuts: list[int], setup: str
) -> None:
    """Also the short way of a live chat line (Router._live_line, store.append_newest): an
    empty store takes it, a pending outbox line or a detached window sends lines the general
    way, ids out of order and duplicates too."""
    one, many = make_router(setup), make_router(setup)
    results = [one.route(parse_event(copy.deepcopy(obj))) for obj in objs]
    events: list[Event] = [parse_event(obj) for obj in objs]
    done = []
    at = 0
    for size in cuts * (len(events) // max(1, sum(cuts)) + 1):  # the run in pieces
        if at >= len(events):
            break
        done.append(many.route_batch(events[at : at + size]))
        at += size
    assert state(one) == state(many)

    effects = [r.effect for r in results]
    assert sum(d.routed for d in done) == len(events)
    assert sum(d.appended for d in done) == effects.count("appended")
    ignored = [r for r in results if r.key is None or r.effect == "ignored"]
    assert sum(d.ignored for d in done) == len(ignored)
    assert set().union(*(d.changed for d in done)) == {
        r.key for r in results if r.key is not None and r.effect != "ignored"
    }
    notable = [
        summary(r)
        for r in results
        if r.effect == "appended" and r.key is not None and (r.mention or r.key[0] == "private")
    ]
    assert [summary(r) for d in done for r in d.notable] == notable


def test_a_failing_event_is_counted_and_the_rest_routed() -> None:
    router = make_router()

    class Broken(Event):
        __slots__ = ()

        @property
        def key(self) -> Any:
            raise RuntimeError("no key")

    good = parse_event({"event": "message", "id": 5, "flow": FLOW, "user": "2", "content": "a"})
    raw = {"event": "message", "id": 6}
    bad = Broken("message", 6, None, None, None, None, "b", (), None, None, None, (), raw)
    after = parse_event({"event": "message", "id": 7, "flow": FLOW, "user": "2", "content": "c"})
    done = router.route_batch([good, bad, after])
    assert done.routed == 3 and done.appended == 2 and done.ignored == 1
    assert [event_id for event_id, _ in done.failed] == [6]
    assert "no key" in done.failed[0][1]
    assert router.errors == 1
    assert [m.text for m in router.stores[("flow", FLOW)] if m.id] == ["a", "c"]


def test_a_tag_mention_counts_without_an_at_sign_in_the_text() -> None:
    """The hot path skips the mention check for a text without "@" only when there are no
    tags either: a `:user:<me>` tag alone is a mention."""
    router = make_router()
    tagged = {"event": "message", "id": 9, "flow": FLOW, "user": "2", "content": "look"}
    done = router.route_batch([parse_event(tagged | {"tags": [f":user:{ME}"]})])
    assert [r.mention for r in done.notable] == [True]
    assert router.stores[("flow", FLOW)].mentions == 1


LIVE_TEXTS: list[Any] = ["hi", "hey @testbot", "@team look", "x", "tab\there", "two\nlines"]
LIVE_TEXTS += ["bell\x07", "\u202eevil", "caf\u00e9", "x" * 16_001, "", 7]


@st.composite
def live_run(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A stream as it mostly is: one flow's chat lines with ids going up (now and then a
    repeat or an older one), each starting a thread or answering one of a few."""
    mid = draw(st.integers(1, 5))
    objs: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 50))):
        mid += draw(st.sampled_from([1, 1, 1, 1, 2, 0, -3]))
        thread = draw(st.integers(1, 6))
        obj: dict[str, Any] = {
            "event": "message",
            "id": mid,
            "flow": FLOW,
            "user": draw(st.sampled_from(["2", "2", ME])),
            # plain ASCII takes _live_line's shortest way; the rest goes through clean_text
            "content": draw(st.sampled_from(LIVE_TEXTS)),
            "sent": 1_700_000_000_000 + mid,
            "tags": draw(st.sampled_from([[], [], [f":user:{ME}"]])),
            "thread_id": f"t{thread}",
            "thread": {"initial_message": draw(st.sampled_from([mid, mid, thread]))},
        }
        if draw(st.integers(0, 9)) == 0:
            del obj["thread_id"]
        if draw(st.integers(0, 19)) == 0:
            obj["external_user_name"] = "bot"
        objs.append(obj)
    return objs


@settings(max_examples=300, deadline=None)
@given(live_run(), st.lists(st.integers(1, 20), min_size=1, max_size=5), st.integers(1, 60))
def test_live_chat_lines_route_as_one_by_one(
    objs: list[dict[str, Any]], cuts: list[int], cap: int
) -> None:
    """The short way of a live chat line (Router._live_line, store.append_newest) leaves the
    store as `route` does: seqs, threads (a second message calling itself a thread's first),
    unread and mention counts, the "new" marker, pruning at the cap."""
    one, many = make_router("empty"), make_router("empty")
    one.cap = many.cap = cap
    for router in (one, many):
        router.stores[("flow", FLOW)].cap = cap
    results = [one.route(parse_event(copy.deepcopy(obj))) for obj in objs]
    events = [parse_event(obj) for obj in objs]
    done = []
    at = 0
    for size in cuts * (len(events) // max(1, sum(cuts)) + 1):
        if at >= len(events):
            break
        done.append(many.route_batch(events[at : at + size]))
        at += size
    assert state(one) == state(many)
    assert sum(d.appended for d in done) == [r.effect for r in results].count("appended")
    notable = [summary(r) for r in results if r.effect == "appended" and r.mention]
    assert [summary(r) for d in done for r in d.notable] == notable
