"""The ASGI application: Streaming API under ``/stream``, REST at the root and under ``/api``,
test controls; every request passes ``guard.RequestGuard`` first.

Routes (``{base}`` is ``http://host:port``; repeated slashes are collapsed):

* ``GET {base}/stream``, ``{base}/stream/``, ``{base}/stream/flows`` (``?filter=``) and
  ``GET {base}/stream/flows/{org}/{flow}`` - the Streaming API (``streaming``).
* ``{base}/...`` and ``{base}/api/...`` - the REST API (``rest``), Flowdock field names.
* ``GET|POST|DELETE {base}/_faults`` - fault injection and the connection log (``control``).
* ``POST {base}/_sim/burst``, ``POST {base}/_sim/step`` - publish messages on demand.

The control routes answer 403 unless the server runs with faults enabled, and demand the control
token (``Authorization: Bearer``), a JSON body, a loopback ``Host`` and no foreign ``Origin``.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
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
    streaming = StreamingApi(state)
    rest = RestApi(state).routes()
    routes: list[BaseRoute] = [
        # clients use the stream URL itself as the resource (the official one's default is
        # https://stream.flowdock.com/flows): {stream} and {stream}/ mean {stream}/flows
        Route(STREAM_PREFIX, streaming.stream, methods=["GET"]),
        Mount(STREAM_PREFIX, routes=streaming.routes()),
        Mount(API_PREFIX, routes=rest),
        *ControlApi(state, simulator).routes(),
        # the real REST API lived at the root of its host; clients drop a base URL's path
        *rest,
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        message = "not found" if status == 404 else str(detail)
        return json_response({"message": message}, status)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return RequestGuard(app)
