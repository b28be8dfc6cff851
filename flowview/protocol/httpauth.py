"""The httpx auth hook for a Token (kept apart from auth.py so a Token needs no httpx)."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from flowview.protocol.auth import Token

__all__ = ["TokenAuth"]


class TokenAuth(httpx.Auth):
    """Sets the Authorization header on every request and nothing else."""

    def __init__(self, token: Token) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._token.authorization()
        yield request

    def __repr__(self) -> str:
        return f"TokenAuth({self._token!r})"
