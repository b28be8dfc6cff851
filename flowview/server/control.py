"""Test controls: ``/_faults`` (fault injection, connection log) and ``/_sim`` (traffic)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from flowview.server.faults import parse_fault
from flowview.server.responses import (
    ApiError,
    error_response,
    json_response,
    read_json_body,
    truthy,
)
from flowview.server.simulator import Simulator
from flowview.server.state import (
    ServerState,
)

log = logging.getLogger(__name__)


class ControlApi:
    """The control endpoints; they answer 403 unless the server runs with faults enabled."""

    def __init__(self, state: ServerState, simulator: Simulator | None) -> None:
        self.state = state
        self.simulator = simulator

    # ------------------------------------------------------------------ control plane
    def _control_allowed(self) -> None:
        if not self.state.faults_enabled:
            raise ApiError(403, "fault injection and simulation controls are disabled")

    async def faults(self, request: Request) -> Response:
        state = self.state
        try:
            self._control_allowed()
            if request.method == "POST":
                try:
                    data = json.loads(await request.body() or b"null")
                except ValueError:
                    raise ApiError(400, "body is not valid JSON") from None
                items = data if isinstance(data, list) else [data]
                for item in items:  # validate all before queueing any
                    try:
                        parse_fault(item, 0)
                    except ValueError as exc:
                        raise ApiError(400, str(exc)) from None
                added = [state.faults.add(item) for item in items]
                for f in added:
                    log.warning("fault #%d queued: %s x%d", f.id, f.kind, f.count)
                return json_response({"faults": [f.describe() for f in added]}, 201)
            if request.method == "DELETE":
                dropped = state.faults.clear()
                if truthy(request.query_params.get("log")):
                    state.connections.clear()
                    state.connections.extend(state.open_connections)
                log.warning("faults cleared (%d pending dropped)", dropped)
                return json_response({"cleared": dropped})
        except ApiError as exc:
            return error_response(exc)
        return json_response(
            {
                "enabled": True,
                "pending": state.faults.describe(),
                "open_connections": len(state.open_records),
                "open": [r.describe() for r in state.open_connections],
                "connections": [r.describe() for r in state.connections],
                "seq": state.seq,
            }
        )

    async def sim_burst(self, request: Request) -> Response:
        try:
            self._control_allowed()
            if self.simulator is None:
                raise ApiError(404, "no simulator")
            data = await read_json_body(request)
            count = data.get("count", 1000)
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10**7:
                raise ApiError(400, "count must be an integer in 1..10000000")
            flow = None
            if data.get("flow") is not None:
                flow = self.state.resolve_flow(str(data["flow"]))
                if (
                    flow is None
                    or self.state.me is None
                    or not self.state.can_access(self.state.me, flow)
                ):
                    raise ApiError(404, "unknown flow")
        except ApiError as exc:
            return error_response(exc)
        sim = self.simulator
        started = time.perf_counter()
        if data.get("wait", True) is False:
            task = asyncio.get_running_loop().create_task(sim.burst(count, flow))
            _background.add(task)
            task.add_done_callback(_background.discard)
            return json_response({"count": count, "first_seq": self.state.seq + 1}, 202)
        first, last = await sim.burst(count, flow)
        seconds = time.perf_counter() - started
        log.info("burst of %d messages published in %.3f s", count, seconds)
        return json_response(
            {"count": count, "first_seq": first, "last_seq": last, "seconds": seconds}
        )

    async def sim_step(self, request: Request) -> Response:
        try:
            self._control_allowed()
            if self.simulator is None:
                raise ApiError(404, "no simulator")
            data = await read_json_body(request)
            n = data.get("events", 1)
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100_000:
                raise ApiError(400, "events must be an integer in 1..100000")
        except ApiError as exc:
            return error_response(exc)
        first = self.state.seq + 1
        done = self.simulator.run_events(n)
        return json_response({"events": done, "first_seq": first, "last_seq": self.state.seq})

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/burst", self.sim_burst, methods=["POST"]),
            Route("/_sim/step", self.sim_step, methods=["POST"]),
        ]


_background: set[asyncio.Task[Any]] = set()
