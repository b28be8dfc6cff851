"""`flowview tail` never lets a control, bidi or invisible character reach stdout raw.

tail prints a record as the bytes received when they are safe on a terminal (valid UTF-8, one
line, every character printable and visible) and re-encodes it as ASCII-escaped JSON
otherwise. These tests check that rule against Unicode itself: every code point, and generated
records pushed through tail's printer. The end-to-end golden test is in test_tail_output.py.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flowview.protocol.items import RawEvent
from flowview.tail import _Printer, _safe_as_is
from tests.terminal_safe import shows_safely


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise OSError("no descriptor")


def printed(records: list[bytes]) -> list[bytes]:
    """tail's printer on raw events holding these records (parsed as the decoder would)."""
    sink = Sink()
    printer = _Printer(sink, sys.maxsize, None)
    items: list[Any] = [
        RawEvent(json.loads(r.decode("utf-8", "replace")), r, None, None) for r in records
    ]
    assert printer.batch(items) is None
    lines = bytes(sink.data).split(b"\n")
    assert lines.pop() == b""
    return lines


def test_every_code_point_passes_raw_only_when_printable_and_visible() -> None:
    passed = 0
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue  # not encodable in UTF-8 (a record holding one is invalid: re-encoded)
        ch = chr(code)
        record = b'{"c":"' + ch.encode() + b'"}'
        if code < 0x80 and (ch == '"' or ch == "\\" or code < 0x20):
            continue  # not valid JSON inside a string as a raw character
        if _safe_as_is(record):
            # U+FFFD too is escaped: the decoders' stand-in for invalid UTF-8.
            assert shows_safely(ch) and ch != "\ufffd", hex(code)
            passed += 1
    # The screen is not trivially "never": almost every assigned graphic character passes.
    assert passed > 140_000


def test_lines_from_records_with_raw_controls_are_escaped() -> None:
    records = [
        b'{"a":"tab\tin a string?"}'.replace(b"\t", b"\\t"),  # escaped tab: ASCII, as is
        b'{"a":\t"tab between tokens"}',
        b'{"a":"DEL \x7f"}',
        b'{"a":"C1 \xc2\x9b31m"}',
        b'{"a":"bidi \xe2\x80\xae evil"}',
        b'{"a":"ZWJ \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x92\xbb"}',
        b'{"a":"variation selector \xe2\x9d\xa4\xef\xb8\x8f"}',
        b'{"a":"no-break\xc2\xa0space"}',
        b'{"a":"invalid \xff UTF-8"}',
        b'{"a":"caf\xc3\xa9 \xf0\x9f\x99\x82 \xe4\xb8\xad"}',  # safe: as received
    ]
    lines = printed(records)
    assert lines[0] == records[0]
    assert lines[-1] == records[-1]
    for record, line in zip(records[1:-1], lines[1:-1], strict=True):
        assert line.isascii() and line != record
        assert json.loads(line) == json.loads(record.decode("utf-8", "replace"))


json_text = st.text(st.characters(codec="utf-8"), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    value=st.dictionaries(json_text, json_values, min_size=1, max_size=5),
    spaced=st.sampled_from(["compact", "spaced", "tabs", "pretty"]),
)
@example(value={"c": "\u202eevil\u202c \x1b[31m \x7f \u200b \ufe0f \U000e0041"}, spaced="compact")
def test_printed_lines_are_safe_and_mean_the_record(value: dict[str, Any], spaced: str) -> None:
    if spaced == "compact":
        # Raw UTF-8, the worst case for a terminal.
        record = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    elif spaced == "pretty":
        record = json.dumps(value, ensure_ascii=False, indent=1).encode()
    else:
        sep = "\t" if spaced == "tabs" else " "
        record = json.dumps(value, ensure_ascii=False, separators=(",", ":" + sep)).encode()
    (line,) = printed([record])
    text = line.decode()  # valid UTF-8 (JSON Lines)
    assert shows_safely(text)
    assert json.loads(text) == value
    if shows_safely(record.decode()):
        # Printed as received unless it starts like an invisible one (a few scripts' blocks).
        assert line == record or any(ord(ch) >= 0x1100 for ch in record.decode())


def test_a_sequence_broken_by_ascii_bytes_is_never_printed_raw() -> None:
    # Invalid UTF-8 whose non-ASCII bytes alone would make valid, printable characters: the
    # screen runs over the non-ASCII bytes only, so validity must be checked on the whole.
    for record in (
        b'{"a":"\xc3a\xa9"}',  # U+00E9's two bytes around an "a"
        b'{"a":"\xe4 \xb8\xad"}',  # U+4E2D's three bytes around a space
        b'{"a":"\xf0\x9f\x99","b":"\x82"}',  # U+1F642's last byte in the next string
    ):
        assert not _safe_as_is(record), record
        (line,) = printed([record])
        assert line.isascii()
        assert json.loads(line) == json.loads(record.decode("utf-8", "replace"))
