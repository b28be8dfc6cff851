"""rows.message_params (the writer's hot path, written out for speed) gives exactly what the
plain rules give: message_row's fields, stored_raw's JSON, the NULL stand-ins -- for every kind
of line event, flow or private, with odd contents (non-str content, missing fields, hostile
text, integers orjson refuses)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowview.archive import codec, rows
from flowview.protocol.events import parse_event

_TEXT = st.text(max_size=30)  # any code point, lone surrogates included
_CONTENT = st.one_of(
    _TEXT,
    st.none(),
    st.integers(),
    st.fixed_dictionaries({"title": _TEXT, "text": _TEXT}),
    st.fixed_dictionaries({"file_name": _TEXT}),
    st.fixed_dictionaries({"description": _TEXT}),
)
_MAYBE_ID = st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 2**70))


@st.composite
def wire_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(rows.LINE_KINDS | {"message-edit", "presence"})))
    obj: dict[str, Any] = {"event": kind}
    if draw(st.booleans()):
        obj["flow"] = draw(st.one_of(st.text(min_size=1, max_size=10), st.none()))
    else:
        obj["to"] = draw(st.text(min_size=1, max_size=6))
    optional = {
        "id": st.one_of(st.none(), st.integers(0, 2**70), st.text(max_size=4)),
        "user": _MAYBE_ID,
        "sent": st.one_of(st.none(), st.integers(-5, 2**70), st.text(max_size=6)),
        "content": _CONTENT,
        "tags": st.lists(st.sampled_from(["#a", "B", ":user:1", ":thread", "influx:x", ""])),
        "uuid": _MAYBE_ID,
        "thread_id": _MAYBE_ID,
        "huge": st.integers(2**64, 2**70),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            obj[name] = draw(values)
    return obj


def _reference(event: Any) -> tuple[Any, ...] | None:
    """The rules the fast path must follow, spelled out with message_row."""
    row = rows.message_row(event)
    if row is None:
        return None
    return (
        row.conv,
        row.id,
        row.kind,
        rows.NO_TEXT if row.user is None else row.user,
        rows.NO_INT if row.sent is None else row.sent,
        row.text,
        row.tags,
        rows.NO_TEXT if row.thread_id is None else row.thread_id,
        rows.NO_TEXT if row.uuid is None else row.uuid,
        codec.dumps_text(rows.stored_raw(row.kind, row.raw, row.text)),
    )


@settings(max_examples=400, deadline=None)
@given(wire_events())
def test_message_params_follow_the_row_rules(obj: dict[str, Any]) -> None:
    event = parse_event(obj)
    params = rows.message_params(event)
    reference = _reference(event)
    assert params == reference
    if params is not None and reference is not None:
        assert all(type(a) is type(b) for a, b in zip(params, reference, strict=True))
        # The stored raw reads back as the event (restored_raw puts the content back).
        if "content" in obj:
            stored = codec.loads(params[9])
            assert rows.restored_raw(params[2], stored, params[5]) == event.raw
    assert event.raw == obj  # the event itself is never changed


def test_a_flow_message_drops_its_content_from_raw() -> None:
    event = parse_event({"event": "message", "id": 7, "flow": "f", "content": "hi", "user": "u"})
    params = rows.message_params(event)
    assert params is not None
    assert params[:3] == ("flow:f", 7, "message")
    assert params[5] == "hi"
    assert "content" not in codec.loads(params[9])
    assert event.raw["content"] == "hi"


def test_an_integer_beyond_64_bits_reads_back_exactly() -> None:
    # orjson reads 2**64 + 1 as a float without an error; the stored raw must stay exact.
    huge = 2**64 + 1
    event = parse_event({"event": "action", "id": 3, "flow": "f", "content": "", "huge": huge})
    params = rows.message_params(event)
    assert params is not None
    for stored in (params[9], params[9].encode()):
        restored = codec.loads(stored)
        assert restored["huge"] == huge and type(restored["huge"]) is int
    assert codec.loads(b'{"n": 12345}') == {"n": 12345}  # the common case, through orjson
