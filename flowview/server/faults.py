"""Fault plans for the simulated server.

A fault is queued with ``POST /_faults`` and applies to the next ``count`` matching requests,
first in first out, one fault per request. Kinds:

``scope`` says which requests a fault applies to:

* ``"stream"`` (default): streaming requests, with the connect and stream kinds below;
* ``"rest"``: REST ``GET`` requests, kinds ``status``, ``stall``, ``trickle``, ``reset``;
* ``"write"``: REST ``POST``/``PUT``/``DELETE`` requests, kinds ``status``, ``drop_response``,
  ``delay``;
* ``"any"``: ``status`` only, every request of any kind.

connect phase (answered instead of a stream, before authentication, like a proxy would):
  ``status``              answer with ``status`` (5xx, 429, 401, 204, 302...), optional
                          ``retry_after`` (seconds or an HTTP-date string), ``location``,
                          ``message``.
  ``wrong_content_type``  200 with an HTML page instead of a stream.

REST phase (``scope`` ``"rest"`` or ``"write"``; taken before authentication):
  ``status``              as above.
  ``stall``               (rest) no answer at all until the client leaves, the server stops or
                          ``seconds`` pass (then the connection is closed without an answer).
  ``trickle``             (rest) the real answer, one byte every ``delay`` seconds.
  ``reset``               (rest) close the connection without answering.
  ``drop_response``       (write) carry out the change, then close the connection without
                          answering (the client cannot tell whether it happened).
  ``delay``               (write) wait ``delay`` seconds, then handle the request normally.

stream phase (taken by an authenticated, valid stream request):
  ``drop_after_bytes``    send exactly ``n`` body bytes (possibly mid-record), then close.
  ``drop_after_messages`` send ``n`` complete events, then close.
  ``cut_mid_message``     send ``after`` complete events, then half of the next one, then close.
  ``stall``               after ``after`` events (default 0: right after the headers) go silent,
                          no keep-alives, until the client leaves, the server stops or ``seconds``
                          pass (then the connection is aborted).
  ``drip``                every byte in chunks of ``chunk`` bytes (default 1), ``delay`` s apart.
  ``huge_record``         ``n`` bytes (default 2 MiB) without any delimiter, then abort.
  ``retry``               an SSE ``retry: <value>`` field first, then the normal stream.
  ``inject``              raw bytes first (``data`` as UTF-8 text or ``data_hex``), then normal.

``close`` selects how the drop kinds end: ``"abort"`` (default) closes the socket without the
terminating zero-length chunk, so the client sees a truncated chunked body; ``"clean"`` ends the
response properly, so the client sees a clean end of stream.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Phase = Literal["connect", "stream", "request"]
Scope = Literal["stream", "rest", "write", "any"]

CONNECT_KINDS = frozenset({"status", "wrong_content_type"})
STREAM_KINDS = frozenset(
    {
        "drop_after_bytes",
        "drop_after_messages",
        "cut_mid_message",
        "stall",
        "drip",
        "huge_record",
        "retry",
        "inject",
    }
)
REST_KINDS = frozenset({"status", "stall", "trickle", "reset"})
WRITE_KINDS = frozenset({"status", "drop_response", "delay"})
SCOPE_KINDS: dict[str, frozenset[str]] = {
    "stream": CONNECT_KINDS | STREAM_KINDS,
    "rest": REST_KINDS,
    "write": WRITE_KINDS,
    "any": frozenset({"status"}),
}
FAULT_KINDS = CONNECT_KINDS | STREAM_KINDS | REST_KINDS | WRITE_KINDS

log = logging.getLogger(__name__)

_MAX_HUGE = 64 << 20


@dataclass
class Fault:
    kind: str
    id: int = 0
    count: int = 1
    scope: Scope = "stream"
    n: int = 0
    status: int = 503
    retry_after: str | None = None
    location: str | None = None
    message: str | None = None
    after: int = 0
    close: Literal["abort", "clean"] = "abort"
    delay: float = 0.01
    chunk: int = 1
    seconds: float | None = None
    value: str = "0"
    data: bytes = field(default=b"", repr=False)
    applied: int = 0

    @property
    def phase(self) -> Phase:
        if self.scope in ("rest", "write"):
            return "request"
        return "connect" if self.kind in CONNECT_KINDS else "stream"

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["data"] = self.data.hex()
        return out


def _int(obj: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{key} must be an integer in {lo}..{hi}")
    return value


def _float(obj: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ValueError(f"{key} must be a number in {lo}..{hi}")
    return float(value)


def parse_fault(obj: Any, fault_id: int) -> Fault:
    """Validate one JSON fault description; ValueError explains what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("a fault is a JSON object")
    kind = obj.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {sorted(FAULT_KINDS)}")
    fault = Fault(kind=kind, id=fault_id)
    fault.count = _int(obj, "count", 1, 1, 1_000_000)
    scope = obj.get("scope", "stream")
    if scope not in SCOPE_KINDS:
        raise ValueError(f"scope must be one of {sorted(SCOPE_KINDS)}")
    if kind not in SCOPE_KINDS[scope]:
        raise ValueError(f"scope {scope} takes kinds {sorted(SCOPE_KINDS[scope])}")
    fault.scope = scope
    close = obj.get("close", "abort")
    if close not in ("abort", "clean"):
        raise ValueError('close must be "abort" or "clean"')
    fault.close = close
    params = _PARAMS.get((kind, scope)) or _PARAMS.get((kind, None))
    if params is not None:
        params(obj, fault)
    return fault


# One parser per kind (and scope, where a kind means two things): each reads and checks the
# kind's own parameters into the fault.


def _optional_str(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _status_params(obj: dict[str, Any], fault: Fault) -> None:
    fault.status = _int(obj, "status", 503, 100, 599)
    if fault.status == 200:
        raise ValueError("a status fault needs a non-200 status")
    retry_after = obj.get("retry_after")
    if retry_after is not None:
        if isinstance(retry_after, bool) or not isinstance(retry_after, int | str):
            raise ValueError("retry_after must be seconds or an HTTP-date string")
        fault.retry_after = str(retry_after)
    fault.location = _optional_str(obj, "location")
    fault.message = _optional_str(obj, "message")


def _drop_after_bytes_params(obj: dict[str, Any], fault: Fault) -> None:
    if "n" not in obj:
        raise ValueError("drop_after_bytes needs n")
    fault.n = _int(obj, "n", 0, 0, 1 << 40)


def _drop_after_messages_params(obj: dict[str, Any], fault: Fault) -> None:
    fault.n = _int(obj, "n", 1, 0, 1 << 40)


def _cut_mid_message_params(obj: dict[str, Any], fault: Fault) -> None:
    fault.after = _int(obj, "after", 0, 0, 1 << 40)


def _seconds_params(obj: dict[str, Any], fault: Fault) -> None:
    if obj.get("seconds") is not None:
        fault.seconds = _float(obj, "seconds", 0.0, 0.0, 86400.0)


def _stream_stall_params(obj: dict[str, Any], fault: Fault) -> None:
    fault.after = _int(obj, "after", 0, 0, 1 << 40)
    _seconds_params(obj, fault)


def _trickle_params(obj: dict[str, Any], fault: Fault) -> None:
    fault.delay = _float(obj, "delay", 0.01, 0.0, 10.0)


def _delay_params(obj: dict[str, Any], fault: Fault) -> None:
    fault.delay = _float(obj, "delay", 1.0, 0.0, 3600.0)


def _drip_params(obj: dict[str, Any], fault: Fault) -> None:
    fault.delay = _float(obj, "delay", 0.01, 0.0, 10.0)
    fault.chunk = _int(obj, "chunk", 1, 1, 1 << 20)


def _huge_record_params(obj: dict[str, Any], fault: Fault) -> None:
    fault.n = _int(obj, "n", 2 << 20, 1, _MAX_HUGE)


def _retry_params(obj: dict[str, Any], fault: Fault) -> None:
    value = obj.get("value", "0")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError("value must be a string or an integer")
    fault.value = str(value)
    if "\n" in fault.value or "\r" in fault.value:
        raise ValueError("value must be a single line")


def _inject_params(obj: dict[str, Any], fault: Fault) -> None:
    if "data_hex" in obj:
        try:
            fault.data = bytes.fromhex(str(obj["data_hex"]))
        except ValueError as exc:
            raise ValueError("data_hex must be hexadecimal") from exc
    elif isinstance(obj.get("data"), str):
        fault.data = obj["data"].encode("utf-8", "surrogatepass")
    else:
        raise ValueError("inject needs data (text) or data_hex")


# (kind, scope): scope None fits every scope the kind is allowed in.
_PARAMS: dict[tuple[str, str | None], Callable[[dict[str, Any], Fault], None]] = {
    ("status", None): _status_params,
    ("drop_after_bytes", None): _drop_after_bytes_params,
    ("drop_after_messages", None): _drop_after_messages_params,
    ("cut_mid_message", None): _cut_mid_message_params,
    ("stall", "rest"): _seconds_params,
    ("stall", None): _stream_stall_params,
    ("trickle", None): _trickle_params,
    ("delay", None): _delay_params,
    ("drip", None): _drip_params,
    ("huge_record", None): _huge_record_params,
    ("retry", None): _retry_params,
    ("inject", None): _inject_params,
}


class FaultBook:
    """Pending faults (FIFO) and a short history of applied ones."""

    def __init__(self, history: int = 200) -> None:
        self.pending: list[Fault] = []
        self.applied: deque[dict[str, Any]] = deque(maxlen=history)
        self._ids = itertools.count(1)

    def add(self, obj: Any) -> Fault:
        fault = parse_fault(obj, next(self._ids))
        self.pending.append(fault)
        return fault

    def clear(self) -> int:
        dropped = len(self.pending)
        self.pending.clear()
        return dropped

    def take(self, phase: Phase, scope: Literal["stream", "rest", "write"]) -> Fault | None:
        """Consume one use of the first pending fault for this phase and request kind.

        ``"any"`` status faults match the first phase of every request (connect or request)."""
        for fault in self.pending:
            if fault.scope == "any":
                if phase == "stream":
                    continue
            elif fault.scope != scope or fault.phase != phase:
                continue
            fault.count -= 1
            fault.applied += 1
            if fault.count <= 0:
                self.pending.remove(fault)
            return fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.pending]
