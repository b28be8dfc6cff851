"""All 164 shared SSE conformance vectors (format: reliability-and-security.md §2.9).

Each vector runs fed whole, in its recorded chunk splits (when it has any), one byte at a time
and in every two-way split. Test ids carry the vector's name and origin; assertion messages
carry its source (repo@commit + test name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowview.protocol.sse import SSEDecoder, SSEEvent

VECTORS_PATH = Path(__file__).with_name("sse-vectors.json")
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def wire_bytes(vector: dict[str, Any]) -> bytes:
    if "input_bytes_hex" in vector:
        return bytes.fromhex(vector["input_bytes_hex"])
    return str(vector["input"]).encode("utf-8")


def splits(vector: dict[str, Any]) -> dict[str, list[bytes]]:
    raw = wire_bytes(vector)
    modes = {"whole": [raw], "bytewise": [raw[i : i + 1] for i in range(len(raw))]}
    if "chunks" in vector:
        modes["chunks"] = [c.encode("utf-8") for c in vector["chunks"]]
    if "chunks_hex" in vector:
        modes["chunks_hex"] = [bytes.fromhex(c) for c in vector["chunks_hex"]]
    return modes


def vector_id(vector: dict[str, Any]) -> str:
    return f"{vector['name']} [{vector['origin']}]"


CASES = [
    pytest.param(vector, mode, id=f"{vector_id(vector)} {mode}")
    for vector in VECTORS
    for mode in splits(vector)
]


def as_dict(event: SSEEvent) -> dict[str, Any]:
    return {"event": event.type, "data": event.data, "id": event.id, "retry": event.retry}


def run(vector: dict[str, Any], chunks: list[bytes]) -> tuple[list[dict[str, Any]], SSEDecoder]:
    dec = SSEDecoder(
        last_event_id=vector.get("initial_last_event_id", ""),
        keep_comments="expected_comments" in vector,
    )
    events: list[dict[str, Any]] = []
    for chunk in chunks:
        events.extend(as_dict(e) for e in dec.feed(chunk))
    dec.end()
    return events, dec


def check(vector: dict[str, Any], chunks: list[bytes], how: str) -> None:
    where = f"{vector['name']} ({how}); source: {vector['source']}"
    events, dec = run(vector, chunks)
    assert events == vector["expected"], where
    final = {"last_event_id": dec.last_event_id, "reconnection_time_ms": dec.reconnection_time_ms}
    assert final == vector["final_state"], where
    if "expected_comments" in vector:
        assert dec.comments == vector["expected_comments"], where


def test_vector_file_is_complete() -> None:
    assert len(VECTORS) == 164
    assert len({v["name"] for v in VECTORS}) == 164
    for v in VECTORS:
        assert v["origin"] and v["source"], v["name"]
        if "chunks" in v:
            assert "".join(v["chunks"]) == v["input"], v["name"]
        if "chunks_hex" in v:
            assert b"".join(bytes.fromhex(c) for c in v["chunks_hex"]) == wire_bytes(v)


@pytest.mark.parametrize(("vector", "mode"), CASES)
def test_vector(vector: dict[str, Any], mode: str) -> None:
    check(vector, splits(vector)[mode], mode)


@pytest.mark.parametrize("vector", VECTORS, ids=vector_id)
def test_vector_every_two_way_split(vector: dict[str, Any]) -> None:
    raw = wire_bytes(vector)
    step = 1 if len(raw) <= 512 else 97  # the few multi-KB vectors: sample the cut points
    for cut in range(0, len(raw) + 1, step):
        check(vector, [raw[:cut], raw[cut:]], f"split at byte {cut}")
