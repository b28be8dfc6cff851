"""Properties of the decoding hot path, checked on generated input (hypothesis).

- `loads` (orjson fast path) accepts exactly what the stdlib accepts, with the same values;
- the JSON-stream decoder gives the same values however the bytes are chunked;
- the fast `parse_event` builds the same event as the general normalisers.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from flowview.protocol import events as ev_mod
from flowview.protocol.events import Event, parse_event
from flowview.protocol.jsonstream import JsonStreamDecoder, loads, loads_utf8

pytestmark = pytest.mark.timeout(120)

# repr() tells int from float, -0.0 from 0.0 and shows nan; == would not.
same = repr

big_ints = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**70),
    st.integers(min_value=-(2**70), max_value=-(2**62)),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    big_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),  # includes lone surrogates
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    """Valid stdlib JSON in many spellings: indentation, escapes, surrounding whitespace."""
    value = draw(json_values)
    text = json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 0, 2])),
        separators=draw(st.sampled_from([None, (",", ":"), (" , ", " : ")])),
    )
    ws = st.text(alphabet=" \t\n\r", max_size=3)
    return draw(ws) + text + draw(ws)


# Mostly-JSON noise: near misses the two parsers might judge differently.
_NOISE_TOKENS = [
    *'{}[]:,"\\ \t\n\r0123456789-+.eEtrufalsnNIiyb',
    *["\ufeff", "\x00", "\x0b", "\x0c", "é", "\ud800", "\\u", "\\ud83d", "\\ude00", "1e400"],
    *["NaN", "Infinity", "true", "null", "12345678901234567890"],
]
json_noise = st.lists(st.sampled_from(_NOISE_TOKENS), max_size=20).map("".join)


def _stdlib(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _check_loads_agrees(data: str | bytes) -> None:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    ok, expected = _stdlib(text)
    if ok:
        assert same(loads(data)) == same(expected)
    else:
        with pytest.raises(ValueError):
            loads(data)


@given(json_texts())
@example(" 18446744073709551616 ")
@example('{"id": -9223372036854775809}')
@example('[1e400, NaN, -Infinity, "\\udfff"]')
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_loads_agrees_with_stdlib_on_valid_json(text: str) -> None:
    _check_loads_agrees(text)
    _check_loads_agrees(text.encode("utf-8", "surrogatepass"))  # lone surrogates: bad UTF-8


@given(json_noise)
@example("\ufeff[]")
@example("[1,]")
@example('"\\ud83d\\ude00"')
@settings(max_examples=300, deadline=None)
def test_loads_agrees_with_stdlib_on_noise(text: str) -> None:
    _check_loads_agrees(text)
    _check_loads_agrees(text.encode("utf-8", "surrogatepass"))


@given(st.binary(max_size=40))
def test_loads_agrees_with_stdlib_on_arbitrary_bytes(data: bytes) -> None:
    _check_loads_agrees(data)


@given(json_texts() | json_noise)
@example('{"content":"caf\u00e9 \u2615 \U0001f600","id":12345678901234567890}')
@example("[NaN, 1e400]")
@settings(max_examples=300, deadline=None)
def test_loads_utf8_parses_the_encoding_of_a_text_as_loads_parses_the_text(text: str) -> None:
    # The event-stream path: its data is decoded text (never a lone surrogate), encoded once.
    try:
        data = text.encode()
    except UnicodeEncodeError:
        assume(False)
        return
    try:
        expected = same(loads(text))
    except ValueError:
        with pytest.raises(ValueError):
            loads_utf8(data)
        return
    assert same(loads_utf8(data)) == expected


# --------------------------------------------------------------------------- stream chunking


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Any], list[int]]:
    """A CR-framed stream of records (with keep-alives, pretty-printing, invalid UTF-8 and
    malformed records mixed in), the values it should decode to, and cut points."""
    parts: list[bytes] = []
    expected: list[Any] = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["value", "value", "value", "keepalive", "malformed"]))
        if kind == "keepalive":
            parts.append(b"\n")
            continue
        if kind == "malformed":
            parts.append(draw(st.sampled_from([b"{bad}", b"[1,]", b"\xff", b'"x'])) + b"\r\n")
            continue
        text = draw(json_texts())
        raw = text.replace("\r", "").encode("utf-8", "surrogatepass")
        # The decoder's own rule for bytes: UTF-8 with replacement, then the stdlib.
        ok, value = _stdlib(raw.decode("utf-8", "replace"))
        if not ok:  # e.g. a lone surrogate turned into U+FFFD inside an escape-free string
            continue
        parts.append(raw + draw(st.sampled_from([b"\r", b"\r\n", b"\r\n\n"])))
        expected.append(value)
    data = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    return data, expected, cuts


@given(streams())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_stream_values_do_not_depend_on_chunking(case: tuple[bytes, list[Any], list[int]]) -> None:
    data, expected, cuts = case
    whole = JsonStreamDecoder(keep_records=True)
    assert same(whole.feed(data)) == same(expected)
    chunked = JsonStreamDecoder(keep_records=True)
    got: list[Any] = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        got.extend(chunked.feed(data[start:end]))
    assert same(got) == same(expected)
    assert (chunked.skipped, chunked.oversized) == (whole.skipped, whole.oversized)
    assert chunked.take_records() == whole.take_records()


@given(st.lists(json_texts(), min_size=1, max_size=6), st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_kept_records_decode_to_their_values(texts: list[str], data: st.DataObject) -> None:
    raws = [t.replace("\r", "").encode("utf-8", "surrogatepass") for t in texts]
    assume(all(_stdlib(r.decode("utf-8", "replace"))[0] for r in raws))
    stream = b"".join(r + b"\r\n" for r in raws)
    size = data.draw(st.integers(1, max(1, len(stream))))
    dec = JsonStreamDecoder(keep_records=True)
    values: list[Any] = []
    for i in range(0, len(stream), size):
        values.extend(dec.feed(stream[i : i + size]))
    records = dec.take_records()
    assert records is not None and len(records) == len(values)
    for record, value in zip(records, values, strict=True):
        assert record == record.strip(b" \t\n\r")
        assert same(loads(record)) == same(value)


# --------------------------------------------------------------------------- parse_event


def _reference_event(obj: dict[str, Any]) -> Event:
    """parse_event spelled with the general normaliser on every field (its definition)."""
    sent = ev_mod.timestamp_ms(obj.get("sent"))
    if sent is None:
        sent = ev_mod.timestamp_ms(obj.get("created_at"))
    thread = obj.get("thread")
    return ev_mod.EVENT_TYPES.get(obj["event"], ev_mod.UnknownEvent)(
        event=obj["event"],
        id=ev_mod._as_int(obj.get("id")),
        flow=ev_mod._entity_id(obj.get("flow")),
        to=ev_mod._entity_id(obj.get("to")),
        user=ev_mod._entity_id(obj.get("user")) or ev_mod.as_id(obj.get("user_id")),
        sent=sent,
        content=obj.get("content"),
        tags=ev_mod._str_tuple(obj.get("tags")),
        uuid=ev_mod._as_str(obj.get("uuid")),
        thread_id=ev_mod.as_id(obj.get("thread_id")),
        thread=thread if isinstance(thread, dict) else None,
        attachments=ev_mod._dict_tuple(obj.get("attachments")),
        raw=obj,
    )


FIELD_VALUES = st.one_of(
    scalars,
    st.sampled_from(
        [0, -1, 1, 10**14, 10**14 + 1, 2**63, "", "0", "-5", " 7 ", "2011-10-04T08:02:20.213Z"]
    ),
    st.lists(
        st.one_of(
            st.text(max_size=4),
            st.integers(),
            st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
        ),
        max_size=3,
    ),
    st.dictionaries(st.sampled_from(["id", "title", "created_at"]), scalars, max_size=3),
    st.tuples(st.text(max_size=3)),
)
FIELDS = ["id", "flow", "to", "user", "user_id", "sent", "created_at", "content", "tags", "uuid",
          "thread_id", "thread", "attachments"]  # fmt: skip


@given(
    st.sampled_from([*ev_mod.EVENT_TYPES, "mail"]),
    st.dictionaries(st.sampled_from(FIELDS), FIELD_VALUES, max_size=len(FIELDS)),
)
@example("message", {"sent": -1, "created_at": 5})
@example("message", {"sent": 10**14 + 1})
@example("message", {"sent": True, "id": True})
@example("comment", {"user": "", "user_id": 7, "flow": "", "to": "", "thread_id": ""})
@example("file", {"tags": "ab", "attachments": "ab", "uuid": 5, "thread": []})
@example("mail", {"tags": ["a", 1, None], "attachments": [{}, 1]})
@settings(max_examples=300, deadline=None)
def test_fast_parse_event_equals_the_general_normalisers(kind: str, fields: dict[str, Any]) -> None:
    obj = {"event": kind, **fields}
    got = parse_event(obj)
    want = _reference_event(obj)
    assert type(got) is type(want)
    for name in Event.__dataclass_fields__:
        g, w = getattr(got, name), getattr(want, name)
        assert type(g) is type(w) and (g == w or (g != g and w != w)), name
        if isinstance(g, float):
            assert math.copysign(1, g) == math.copysign(1, w)


# --------------------------------------------------------------------------- SSE chunking

_SSE_LINES = st.sampled_from(
    [
        "data: {\"a\": 1}", "data:x", "data", "data:  two spaces", "id: 7", "id", "id: a\x00b",
        "event: ping", "event:", "retry: 1500", "retry: x", ": keep-alive", ":", "other: 1",
        "data: é😀\u2028", "", "", "",
    ]
)  # fmt: skip


@given(
    st.lists(st.tuples(_SSE_LINES, st.sampled_from(["\n", "\r", "\r\n"])), max_size=14),
    st.booleans(),
    st.lists(st.integers(0, 400), max_size=10),
)
@settings(max_examples=300, deadline=None)
def test_sse_events_do_not_depend_on_chunking(
    lines: list[tuple[str, str]], bom: bool, cuts: list[int]
) -> None:
    from flowview.protocol.sse import SSEDecoder

    data = ("\ufeff" if bom else "").encode() + "".join(a + b for a, b in lines).encode()
    whole = SSEDecoder(keep_comments=True)
    expected = whole.feed(data)
    chunked = SSEDecoder(keep_comments=True)
    got = []
    bounds = sorted({min(c, len(data)) for c in cuts})
    for start, end in zip([0, *bounds], [*bounds, len(data)], strict=True):
        got.extend(chunked.feed(data[start:end]))
    assert got == expected
    assert chunked.last_event_id == whole.last_event_id
    assert chunked.reconnection_time_ms == whole.reconnection_time_ms
    assert chunked.comments == whole.comments
