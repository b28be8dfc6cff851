"""Test controls: ``/_faults`` (fault injection, connection log) and ``/_sim`` (traffic)."""

from __future__ import annotations

import asyncio
import hmac
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
    local_host,
    local_origin,
    parse_json,
    read_json_body,
    truthy,
)
from flowview.server.simulator import Simulator, add_flow
from flowview.server.state import (
    ServerState,
)

log = logging.getLogger(__name__)

MAX_FAULTS_PER_POST = 100
MAX_PENDING_FAULTS = 1000
MAX_BURST = 1_000_000


class ControlApi:
    """The control endpoints; they answer 403 unless the server runs with faults enabled."""

    def __init__(self, state: ServerState, simulator: Simulator | None) -> None:
        self.state = state
        self.simulator = simulator

    # ------------------------------------------------------------------ control plane
    def _control_allowed(self, request: Request) -> None:
        """Only the local test harness may drive the server: a web page the user visits can
        reach loopback, so demand the control token (which a page cannot know), a loopback
        ``Host`` (defeats DNS rebinding), no foreign ``Origin`` and a JSON body (no "simple"
        cross-site form POST)."""
        if not self.state.faults_enabled:
            raise ApiError(403, "fault injection and simulation controls are disabled")
        bound = request.scope.get("server") or ("", 0)
        if not local_host(request.headers.get("host", ""), str(bound[0])):
            raise ApiError(403, "control endpoints answer only to a loopback Host")
        origin = request.headers.get("origin")
        if origin is not None and not local_origin(origin):
            raise ApiError(403, "control endpoints refuse cross-origin requests")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode("utf-8", "replace"), self.state.control_token.encode()
        ):
            raise ApiError(
                401,
                "control endpoints need Authorization: Bearer <FLOWVIEW_CONTROL_TOKEN>",
                {"WWW-Authenticate": 'Bearer realm="flowview-control"'},
            )
        if request.method == "POST":
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise ApiError(415, "control endpoints take application/json bodies")

    async def faults(self, request: Request) -> Response:
        state = self.state
        try:
            self._control_allowed(request)
            if request.method == "POST":
                data = parse_json(await request.body() or b"null")
                items = data if isinstance(data, list) else [data]
                if len(items) > MAX_FAULTS_PER_POST:
                    raise ApiError(400, f"at most {MAX_FAULTS_PER_POST} faults per request")
                if len(state.faults.pending) + len(items) > MAX_PENDING_FAULTS:
                    raise ApiError(400, f"at most {MAX_PENDING_FAULTS} pending faults")
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
            self._control_allowed(request)
            if self.simulator is None:
                raise ApiError(404, "no simulator")
            data = await read_json_body(request)
            count = data.get("count", 1000)
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BURST:
                raise ApiError(400, f"count must be an integer in 1..{MAX_BURST}")
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
            self._control_allowed(request)
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

    async def sim_flows(self, request: Request) -> Response:
        """Create a flow (``{"name": …, "org": …}``; org defaults to the streaming user's
        first): every member of the organisation joins it and gets ``flow-add``."""
        try:
            self._control_allowed(request)
            data = await read_json_body(request)
            name = data.get("name")
            if not isinstance(name, str) or not name.strip() or len(name) > 100:
                raise ApiError(400, "name must be a string of 1..100 characters")
            org = data.get("org")
            if org is None:
                me = self.state.me
                mine = [o for o in self.state.orgs if me is not None and me.id in o.member_ids]
                if not mine:
                    raise ApiError(404, "no organisation to add the flow to")
                org = mine[0].parameterized_name
            if not isinstance(org, str) or not org.strip() or len(org) > 100:
                raise ApiError(400, "org must be a string of 1..100 characters")
            try:
                flow = add_flow(self.state, org.strip(), name.strip())
            except ValueError as exc:
                raise ApiError(409, str(exc)) from exc
        except ApiError as exc:
            return error_response(exc)
        return json_response({"id": flow.id, "slug": flow.slug}, 201)

    async def sim_members(self, request: Request) -> Response:
        """Add (POST) or remove (DELETE) a user (default: the streaming user) to/from a
        flow: ``{"flow": slug or id, "user": id}``; ``flow-add``/``flow-remove`` follow."""
        state = self.state
        try:
            self._control_allowed(request)
            data = await read_json_body(request)
            flow = state.resolve_flow(str(data.get("flow", "")))
            if flow is None:
                raise ApiError(404, "unknown flow")
            uid = data.get("user", state.me.id if state.me is not None else None)
            if not isinstance(uid, str) or uid not in state.users:
                raise ApiError(404, "unknown user")
        except ApiError as exc:
            return error_response(exc)
        if request.method == "POST":
            changed = state.add_member(flow, uid)
        else:
            changed = state.remove_member(flow, uid)
        return json_response({"changed": changed, "flow": flow.id, "user": uid})

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/burst", self.sim_burst, methods=["POST"]),
            Route("/_sim/step", self.sim_step, methods=["POST"]),
            Route("/_sim/flows", self.sim_flows, methods=["POST"]),
            Route("/_sim/members", self.sim_members, methods=["POST", "DELETE"]),
        ]


_background: set[asyncio.Task[Any]] = set()
