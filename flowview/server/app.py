"""Starlette application: Streaming API under ``/stream``, REST under ``/api``, test controls.

Routes (``{base}`` is ``http://host:port``):

* ``GET {base}/stream/flows`` and ``GET {base}/stream/flows/{org}/{flow}`` - the Streaming API.
* ``{base}/api/...`` - the REST subset (see ``_rest_routes``), Flowdock field names.
* ``GET|POST|DELETE {base}/_faults`` - fault injection and the connection log.
* ``POST {base}/_sim/burst``, ``POST {base}/_sim/step`` - publish messages on demand.

The control routes answer 403 unless the server runs with faults enabled; they need no token.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from flowview.server.control import ControlApi
from flowview.server.guard import RequestGuard
from flowview.server.responses import json_response
from flowview.server.rest import API_PREFIX, RestApi
from flowview.server.simulator import Simulator
from flowview.server.state import ServerState
from flowview.server.streaming import StreamingApi

__all__ = ["API_PREFIX", "STREAM_PREFIX", "create_app"]

log = logging.getLogger(__name__)

STREAM_PREFIX = "/stream"


def create_app(state: ServerState, simulator: Simulator | None = None) -> ASGIApp:
    """The ASGI app serving ``state`` (and driving ``simulator`` for ``/_sim``)."""
    routes: list[BaseRoute] = [
        Mount(STREAM_PREFIX, routes=StreamingApi(state).routes()),
        Mount(API_PREFIX, routes=RestApi(state).routes()),
        *ControlApi(state, simulator).routes(),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        message = "not found" if status == 404 else str(detail)
        return json_response({"message": message}, status)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return RequestGuard(app)
