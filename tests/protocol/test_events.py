"""Typed events: every verbatim sample of the protocol doc, §7 discrepancies, and fuzzing."""

from __future__ import annotations

import copy
import functools
import types
import typing
from typing import Any, get_type_hints

import pytest

from flowview.protocol import events as ev_mod
from flowview.protocol.events import (
    EVENT_TYPES,
    ActionEvent,
    ActivityEvent,
    CommentEvent,
    DiscussionEvent,
    EmojiReactionEvent,
    Event,
    FileEvent,
    FlowAddEvent,
    FlowRemoveEvent,
    LineEvent,
    MessageEditEvent,
    MessageEvent,
    PresenceEvent,
    StatusEvent,
    TagChangeEvent,
    UnknownEvent,
    UserActivityEvent,
    UserBlockEvent,
    UserEditEvent,
    UserJoinEvent,
    event_to_json,
    parse_event,
    timestamp_ms,
)
from tests.protocol import samples as S

# --------------------------------------------------------------------------- catalogue


def test_catalogue_covers_every_documented_type() -> None:
    documented = {
        "message", "comment", "status", "line", "file", "action", "activity", "discussion",
        "message-edit", "tag-change", "emoji-reaction", "activity.user", "presence",
        "user-edit", "flow-add", "flow-remove", "backend.user.join", "backend.user.block",
    }  # fmt: skip
    assert set(EVENT_TYPES) == documented
    assert len(set(EVENT_TYPES.values())) == len(documented)
    assert UnknownEvent not in EVENT_TYPES.values()


@pytest.mark.parametrize("name", sorted(S.ALL_SAMPLES))
def test_every_sample_parses_to_its_class_and_keeps_raw(name: str) -> None:
    obj = S.ALL_SAMPLES[name]
    before = copy.deepcopy(obj)
    ev = parse_event(obj)
    assert type(ev) is EVENT_TYPES.get(obj["event"], UnknownEvent)
    assert ev.event == obj["event"]
    assert ev.raw is obj
    assert event_to_json(ev) is obj
    assert obj == before  # parsing never mutates the input
    assert not hasattr(ev, "__dict__")  # slots all the way down
    _check_all_accessors(ev)


# --------------------------------------------------------------------------- doc samples


def test_doc_message() -> None:
    ev = parse_event(S.DOC_MESSAGE)
    assert isinstance(ev, MessageEvent)
    assert ev.text == "Hello World"
    assert ev.id == 45590
    assert ev.flow == "deadbeefdeadbeef"
    assert ev.user == "2"
    assert ev.sent == 1317715340213
    assert ev.uuid == "4W_LQEybVaX-gJmi"
    assert ev.tags == ()
    assert ev.attachments == ()
    assert ev.key == ("flow", "deadbeefdeadbeef")
    assert ev.dedupe_key == (("flow", "deadbeefdeadbeef"), 45590)
    assert not ev.is_private


def test_doc_comment_parent_from_influx_tag() -> None:
    ev = parse_event(S.DOC_COMMENT)
    assert isinstance(ev, CommentEvent)
    assert ev.title == "Title of parent"
    assert ev.text == "This is a comment"
    assert ev.parent_id == 3838422
    oulu = parse_event(S.OULU_COMMENT)
    assert isinstance(oulu, CommentEvent)
    assert (oulu.title, oulu.text, oulu.parent_id) == ("Team inbox item's title", "test", 12931)


def test_comment_with_plain_string_content_and_bad_tag() -> None:
    ev = parse_event({"event": "comment", "content": "hi", "tags": ["influx:abc", "influx:7"]})
    assert isinstance(ev, CommentEvent)
    assert (ev.title, ev.text, ev.parent_id) == ("", "hi", 7)


def test_doc_message_edit() -> None:
    ev = parse_event(S.DOC_MESSAGE_EDIT)
    assert isinstance(ev, MessageEditEvent)
    assert ev.message_id == 1234
    assert ev.new_text == "foo bar"
    assert ev.new_title is None
    assert not ev.deleted


def test_message_edit_of_comment_has_title_and_text() -> None:
    ev = parse_event(S.OULU_MESSAGE_EDIT_COMMENT)
    assert isinstance(ev, MessageEditEvent)
    assert (ev.message_id, ev.new_title, ev.new_text) == (1904, "test", "test comment edited")
    assert not ev.deleted


def test_message_edit_to_empty_string_is_a_delete() -> None:
    ev = parse_event(S.JF_DELETE_REPLY)
    assert isinstance(ev, MessageEditEvent)
    assert ev.deleted
    assert ev.message_id == 113572
    assert ev.new_text == ""
    missing = parse_event({"event": "message-edit", "content": {"message": 3}})
    assert isinstance(missing, MessageEditEvent)
    assert not missing.deleted  # no updated_content is not a delete


def test_doc_activity_user() -> None:
    ev = parse_event(S.DOC_ACTIVITY_USER)
    assert isinstance(ev, UserActivityEvent)
    assert ev.last_activity == 1317715364447
    go = parse_event(S.GO_ACTIVITY_USER)
    assert isinstance(go, UserActivityEvent)
    assert go.last_activity == 1412938720917


def test_doc_tag_change_and_read_receipt() -> None:
    ev = parse_event(S.DOC_TAG_CHANGE)
    assert isinstance(ev, TagChangeEvent)
    assert (ev.message_id, ev.add, ev.remove) == (1234, ("foo", "bar"), ("test",))
    read = parse_event(S.JF_MENTION_READ)
    assert isinstance(read, TagChangeEvent)
    assert (read.message_id, read.add, read.remove) == (113639, (), (":unread:263186",))


def test_blog_capture_legacy_flow_id() -> None:
    one, two = parse_event(S.BLOG_MESSAGE_1), parse_event(S.BLOG_MESSAGE_2)
    assert one.key == two.key == ("flow", "example:main")
    assert isinstance(two, MessageEvent)
    assert two.text == "test"
    assert (one.id, two.id) == (142790, 142791)
    assert one.sent == 1329307314476


def test_presence_with_top_level_user_id_and_no_user() -> None:
    ev = parse_event(S.OULU_PRESENCE)
    assert isinstance(ev, PresenceEvent)
    assert ev.user_id == "1"
    assert ev.user == "1"
    assert ev.state == "active"
    assert ev.updated_at == 1432732178780
    assert ev.id is None
    assert ev.key is None
    assert ev.dedupe_key is None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (0, "offline"),
        (1000000, "idle"),
        (1500000, "idle"),
        (2000000, "active"),
        ("idle", "idle"),
        ("2000000", "active"),
        (None, "offline"),
        ([1], "offline"),
    ],
)
def test_presence_states(state: Any, expected: str) -> None:
    ev = parse_event({"event": "presence", "content": {"user_id": 5, "state": state}})
    assert isinstance(ev, PresenceEvent)
    assert ev.state == expected
    assert ev.user_id == "5"


def test_flow_add_with_int_user_and_no_id() -> None:
    ev = parse_event(S.OULU_FLOW_ADD)
    assert isinstance(ev, FlowAddEvent)
    assert ev.user == "1"
    assert ev.id is None
    assert ev.dedupe_key is None
    assert (ev.flow_id, ev.name, ev.organization) == ("irc:ottotest", "Ottotest", "Irc")
    obj_org = parse_event(
        {"event": "flow-add", "content": {"id": "f", "organization": {"parameterized_name": "o"}}}
    )
    assert isinstance(obj_org, FlowAddEvent)
    assert obj_org.organization == "o"


def test_flow_remove() -> None:
    ev = parse_event(S.OULU_FLOW_REMOVE)
    assert isinstance(ev, FlowRemoveEvent)
    assert ev.flow_id == "irc:ottotest"
    assert ev.user == "1"


def test_block_content_is_the_user_id() -> None:
    ev = parse_event(S.OULU_BLOCK)
    assert isinstance(ev, UserBlockEvent)
    assert ev.user_id == "50000"
    assert ev.key == ("flow", "irc:ottotest")


def test_line_event() -> None:
    ev = parse_event(S.OULU_LINE)
    assert isinstance(ev, LineEvent)
    assert ev.text == "test"


def test_private_message_key_is_shared_by_both_directions() -> None:
    ev = parse_event(S.OULU_PRIVATE_MESSAGE)
    assert isinstance(ev, MessageEvent)
    assert ev.is_private
    assert ev.flow is None
    assert (ev.user, ev.to) == ("1", "50000")
    assert ev.key == ("private", "1:50000")
    reply = parse_event({**S.OULU_PRIVATE_MESSAGE, "user": 50000, "to": 1, "id": 908})
    assert reply.key == ev.key
    assert reply.dedupe_key == (("private", "1:50000"), 908)
    # ids sort as strings, so "10" < "9"
    assert parse_event({"event": "message", "user": "9", "to": "10"}).key == ("private", "10:9")


def test_external_user_message_has_no_user() -> None:
    ev = parse_event(S.OULU_EXTERNAL_USER_MESSAGE)
    assert ev.user is None
    assert ev.external_user_name == "Robot"
    assert ev.key == ("flow", "irc:ottotest")


def test_action_real_shapes() -> None:
    add = parse_event(S.OULU_ACTION_ADD_PEOPLE)
    assert isinstance(add, ActionEvent)
    assert add.action == "add_people"
    assert add.people == ("test", "foobar")
    assert add.description == "test, foobar"
    join = parse_event(S.OULU_ACTION_JOIN)
    assert isinstance(join, ActionEvent)
    assert (join.action, join.people, join.description) == ("join", (), "")


def test_action_documented_shape() -> None:
    ev = parse_event(
        {"event": "action", "content": {"type": "add_people", "description": "alice, bob"}}
    )
    assert isinstance(ev, ActionEvent)
    assert ev.people == ("alice", "bob")
    assert ev.description == "alice, bob"
    rss = parse_event(
        {"event": "action", "content": {"type": "add_rss_feed", "description": "http://x/feed"}}
    )
    assert isinstance(rss, ActionEvent)
    assert (rss.action, rss.description, rss.people) == ("add_rss_feed", "http://x/feed", ())


def test_threaded_messages_and_thread_created_at_forms() -> None:
    iso = parse_event(S.OULU_THREAD_MESSAGE_2012)
    assert iso.thread_id == "L3AnpcexMyWSkRDYPznxvE7xnI7"
    assert iso.thread_title == "test"
    assert iso.thread_initial_message == 907
    assert iso.thread_created_at == 1334660642345  # ISO string
    integer = parse_event(S.JF_MESSAGE)
    assert integer.thread_created_at == 1569252944983  # int ms
    assert integer.thread_initial_message == 113617
    null = parse_event(S.REST_MESSAGE)
    assert null.thread_created_at is None  # null from REST
    assert null.sent == 1570096207646
    later = parse_event(S.OULU_THREAD_MESSAGE)
    assert isinstance(later, MessageEvent)
    assert later.text == "And I'm commenting to this"
    assert later.thread_initial_message == 388467


def test_private_file_event_uses_content_and_attachments() -> None:
    ev = parse_event(S.OULU_FILE_PRIVATE)
    assert isinstance(ev, FileEvent)
    assert ev.file_name == "globe.rb"
    assert ev.file_size == 1920
    assert ev.content_type == "text/x-ruby-script"
    assert ev.path == "/private/1/2/files/Sse2n5VKLlLeafMsjFLuxA/globe.rb"
    assert ev.key == ("private", "1:50000")
    assert len(ev.attachments) == 1
    # content missing -> the attachment carries the same metadata
    only_att = parse_event({**S.OULU_FILE_PRIVATE, "content": None})
    assert isinstance(only_att, FileEvent)
    assert only_att.file_name == "globe.rb"


def test_image_file_event() -> None:
    ev = parse_event(S.JF_IMAGE)
    assert isinstance(ev, FileEvent)
    assert ev.file_name == "Screenshot 2019-09-23 at 17.01.48.png"
    assert ev.file_size == 15557
    assert ev.content_type == "image/png"


def test_emoji_reaction_add_and_remove() -> None:
    add = parse_event(S.JF_EMOJI_ADD)
    assert isinstance(add, EmojiReactionEvent)
    assert (add.message_id, add.emoji, add.added) == (113617, "grinning", True)
    rem = parse_event(S.JF_EMOJI_REMOVE)
    assert isinstance(rem, EmojiReactionEvent)
    assert (rem.message_id, rem.emoji, rem.added) == (113627, "jellyfish", False)


def test_mentions_from_tags() -> None:
    ev = parse_event(S.JF_MENTION)
    assert ev.mentions("263186")
    assert not ev.mentions("345062")
    assert parse_event({"event": "message", "tags": [":user:everyone"]}).mentions("1")


def test_unknown_event_keeps_raw() -> None:
    ev = parse_event(S.OULU_EMAIL)
    assert type(ev) is UnknownEvent
    assert ev.content["subject"] == "This is the email subject"
    assert ev.key == ("flow", "irc:ottotest")
    assert ev.dedupe_key == (("flow", "irc:ottotest"), 2182)


def test_embedded_flow_and_user_objects() -> None:
    ev = parse_event(S.BROID_SIMPLE)
    assert ev.flow == "bd9b6be2-f2b9-4918-ae6d-370aa68e3f5a"
    assert ev.user == "236036"
    assert ev.thread_created_at == 1485039531281


# --------------------------------------------------------------------------- constructed types
# status/activity/discussion/user-edit/backend.user.join have no verbatim samples in the doc;
# these follow the shapes described in flowdock-protocol.md §3.2.

CONSTRUCTED: dict[str, dict[str, Any]] = {
    "status": {"event": "status", "id": 5, "flow": "f", "user": "2", "content": "away", "sent": 1},
    "activity": {
        "event": "activity", "id": 6, "flow": "f", "user": "0", "app": "influx", "content": None,
        "title": "<a href='x'>PR</a>", "body": "opened", "author": {"name": "CI", "avatar": "a"},
        "thread_id": "T", "thread": {"title": "PR", "created_at": 1, "initial_message": 6},
    },
    "discussion": {
        "event": "discussion", "id": 7, "flow": "f", "user": "0", "content": None,
        "title": "commented", "body": "lgtm", "author": {"name": "Rev"}, "thread_id": "T",
    },
    "user-edit": {
        "event": "user-edit", "flow": "f", "user": "3",
        "content": {"user": {"id": 3, "nick": "neo", "name": "Thomas"}},
    },
    "backend.user.join": {
        "event": "backend.user.join", "flow": "f", "user": "4",
        "content": {"user": {"id": "4", "nick": "trin"}},
    },
}  # fmt: skip


def test_status_event() -> None:
    ev = parse_event(CONSTRUCTED["status"])
    assert isinstance(ev, StatusEvent)
    assert ev.text == "away"


def test_activity_and_discussion() -> None:
    act = parse_event(CONSTRUCTED["activity"])
    assert isinstance(act, ActivityEvent)
    assert not isinstance(act, DiscussionEvent)
    assert (act.title, act.body, act.author_name) == ("<a href='x'>PR</a>", "opened", "CI")
    disc = parse_event(CONSTRUCTED["discussion"])
    assert isinstance(disc, DiscussionEvent)
    assert not isinstance(disc, ActivityEvent)
    assert (disc.title, disc.body, disc.author_name) == ("commented", "lgtm", "Rev")


def test_user_edit_and_join() -> None:
    edit = parse_event(CONSTRUCTED["user-edit"])
    assert isinstance(edit, UserEditEvent)
    assert (edit.user_id, edit.nick, edit.name) == ("3", "neo", "Thomas")
    join = parse_event(CONSTRUCTED["backend.user.join"])
    assert isinstance(join, UserJoinEvent)
    assert (join.user_id, join.nick) == ("4", "trin")


# --------------------------------------------------------------------------- envelope rules


def test_sent_falls_back_to_created_at_and_parses_iso() -> None:
    base = {"event": "message", "created_at": "2011-10-04T08:02:20.213Z"}
    assert parse_event(base).sent == 1317715340213
    assert parse_event({**base, "sent": None}).sent == 1317715340213
    assert parse_event({**base, "sent": "2011-10-04T08:02:20.213Z"}).sent == 1317715340213
    assert parse_event({**base, "sent": 5}).sent == 5
    assert parse_event({**base, "sent": "garbage"}).sent == 1317715340213
    assert parse_event({"event": "message", "created_at": "nope"}).sent is None


def test_timestamp_forms() -> None:
    assert timestamp_ms("2019-10-03T09:50:22.928+02:00") == 1570089022928
    assert timestamp_ms("2019-10-03T07:50:22.928") == 1570089022928  # naive means UTC
    assert timestamp_ms("1569252944983") == 1569252944983
    assert timestamp_ms(1.5e12) == 1500000000000
    bads: list[Any] = [None, True, -1, float("nan"), float("inf"), 10**30, "x" * 1000, [], {}]
    for bad in bads:
        assert timestamp_ms(bad) is None


def test_id_and_user_normalisation() -> None:
    ev = parse_event({"event": "message", "id": "42", "user": 7, "to": 8, "flow": None})
    assert ev.id == 42
    assert (ev.user, ev.to) == ("7", "8")
    assert parse_event({"event": "message", "id": True}).id is None
    assert parse_event({"event": "message", "id": 1.0}).id == 1
    assert parse_event({"event": "message", "user": False}).user is None
    assert parse_event({"event": "message", "flow": ""}).flow is None


def test_tags_and_attachments_keep_only_well_typed_items() -> None:
    ev = parse_event({"event": "message", "tags": ["a", 1, None, "b"], "attachments": [{}, 3]})
    assert ev.tags == ("a", "b")
    assert ev.attachments == ({},)


@pytest.mark.parametrize(
    "bad", [None, 1, "message", [], ["event"], {}, {"event": 1}, {"event": None}, {"x": "y"}]
)
def test_parse_event_rejects_non_events(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_event(bad)


def test_events_are_slotted() -> None:
    ev = parse_event(S.DOC_MESSAGE)
    assert "raw" in Event.__slots__  # generated by dataclass(slots=True)
    for cls in [*EVENT_TYPES.values(), UnknownEvent]:
        instance = cls(**_fields(ev))
        assert not hasattr(instance, "__dict__"), cls
        with pytest.raises(AttributeError):
            setattr(instance, "extra", 1)  # noqa: B010 (a typo'd attribute must fail)


def _fields(ev: Event) -> dict[str, Any]:
    return {name: getattr(ev, name) for name in get_type_hints(Event)}


# --------------------------------------------------------------------------- fuzzing

GARBAGE: list[Any] = [
    None, True, False, 0, -1, 2**70, 1.5, float("nan"), float("inf"), "", " ", "x",
    "\x00\x1b[31m\u202e", "-", "2019-13-45T99:99:99Z", [], [None, 1, "a", {}], {}, {"id": {}},
    {"a": {"b": [[[]]]}}, [[[[[]]]]], {"message": [], "updated_content": {"text": 5}},
]  # fmt: skip

TEMPLATES: dict[str, dict[str, Any]] = {
    **{name: obj for name, obj in S.ALL_SAMPLES.items()},
    **{f"constructed:{k}": v for k, v in CONSTRUCTED.items()},
}


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every dict key path and list index down to depth 3."""
    out: list[tuple[Any, ...]] = []
    if len(prefix) >= 3:
        return out
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.append((*prefix, key))
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(obj, list):
        for i, value in enumerate(obj[:2]):
            out.append((*prefix, i))
            out.extend(_paths(value, (*prefix, i)))
    return out


def _replaced(obj: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> Any:
    """A copy of `obj` with `path` set to `value` (containers on the path are copied)."""
    clone = copy.copy(obj)
    target = clone
    for step in path[:-1]:
        child = copy.copy(target[step])
        target[step] = child
        target = child
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return clone


def _conforms(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_conforms(v, args[0]) for v in value)
        return len(args) == len(value) and all(
            _conforms(v, a) for v, a in zip(value, args, strict=True)
        )
    if origin is dict:
        return isinstance(value, dict)
    if hint is bool:
        return type(value) is bool
    if hint is int:
        return type(value) is int
    if hint is str:
        return type(value) is str
    raise AssertionError(f"unhandled type hint {hint!r}")


@functools.cache
def _declared(cls: type[Event]) -> tuple[tuple[str, Any], ...]:
    """(name, declared type) of every field and property accessor of `cls`."""
    out = list(get_type_hints(Event).items())
    for klass in cls.__mro__:
        for name, attr in vars(klass).items():
            if isinstance(attr, property) and attr.fget is not None:
                out.append((name, get_type_hints(attr.fget, vars(ev_mod))["return"]))
    return tuple(out)


def _check_all_accessors(ev: Event) -> None:
    declared = _declared(type(ev))  # type: ignore[arg-type]  # classes are hashable
    for name, hint in declared:
        value = getattr(ev, name)
        assert _conforms(value, hint), (type(ev).__name__, name, value)
    assert isinstance(ev.mentions("1"), bool)
    str_tail = [*(ev.key or ())]
    assert all(type(part) is str for part in str_tail)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_fuzz_wrong_types_never_raise(template: str) -> None:
    obj = TEMPLATES[template]
    paths = _paths(obj)
    # Also plant fields the type reads but the template may lack.
    extra = [
        ("id",), ("flow",), ("to",), ("user",), ("user_id",), ("sent",), ("created_at",),
        ("tags",), ("uuid",), ("thread_id",), ("thread",), ("attachments",), ("title",),
        ("body",), ("author",), ("content",), ("external_user_name",),
        ("content", "user"), ("content", "state"), ("content", "type"), ("content", "message"),
        ("content", "organization"), ("content", "updated_content"),
    ]  # fmt: skip
    checked = 0
    for path in paths + extra:
        if path == ("event",):
            continue  # a non-string event is the one documented ValueError
        for value in GARBAGE:
            try:
                mutated = _replaced(obj, path, value)
            except (KeyError, IndexError, TypeError):
                continue  # the parent of this path is not a container in this template
            ev = parse_event(mutated)
            assert ev.event == obj["event"]
            _check_all_accessors(ev)
            checked += 1
        if path in paths:
            _check_all_accessors(parse_event(_replaced(obj, path, None, delete=True)))
    assert checked > len(GARBAGE)


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_fuzz_content_garbage_per_type(kind: str) -> None:
    for content in GARBAGE:
        for thread in (None, {"created_at": content}, content):
            ev = parse_event({"event": kind, "content": content, "thread": thread, "tags": content})
            assert type(ev) is EVENT_TYPES[kind]
            _check_all_accessors(ev)


def test_subclasses_of_dict_and_str_parse_as_their_base_types_do() -> None:
    """parse_event tests `type(x) is dict/str` first (the hot path) and only then
    isinstance: a subclass (never from a JSON decoder, but a caller's mapping may be one)
    still parses as the plain value does."""

    class Obj(dict[str, Any]):
        pass

    class Text(str):
        pass

    plain = {
        "event": "message",
        "id": 7,
        "flow": "f",
        "user": "2",
        "content": "hi",
        "sent": 1,
        "uuid": "u-1",
        "thread_id": "t1",
        "thread": {"initial_message": 7},
    }
    odd = Obj(plain, event=Text("message"), uuid=Text("u-1"), thread=Obj(initial_message=7))
    a, b = parse_event(plain), parse_event(odd)
    assert type(a) is type(b) is ev_mod.MessageEvent
    fields = ("event", "id", "flow", "to", "user", "sent", "content", "tags", "uuid", "thread")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert b.raw is odd
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_event([("event", "message")])
    with pytest.raises(ValueError, match="no string 'event'"):
        parse_event(Obj(event=b"message"))
