"""Credentials: a masked Token, an httpx auth hook and text redaction.

A token only ever travels in the Authorization header.  Everything that might print it
(repr, str, exception text, logs) goes through the masking here.

This module does not import httpx (importing it costs ~0.15 s, and the viewer's first frame
needs a Token but no network): the httpx hook, ``TokenAuth``, lives in
``flowview.protocol.httpauth``.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

log = logging.getLogger(__name__)

__all__ = ["MASK", "Token", "TokenKind", "redact"]

TokenKind = Literal["personal", "oauth"]
MASK = "****"


@dataclass(frozen=True, repr=False)
class Token:
    """An API credential whose repr/str never show the value."""

    value: str
    kind: TokenKind = "personal"

    def __post_init__(self) -> None:
        # Messages deliberately never include the value.
        if not isinstance(self.value, str):
            raise ValueError("token is not a string")
        # Token files and env vars often end with a newline; that is not part of the token.
        object.__setattr__(self, "value", self.value.strip())
        if not self.value:
            raise ValueError("token is empty")
        if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in self.value):
            raise ValueError("token contains whitespace or control characters")
        if not self.value.isascii():
            raise ValueError("token contains non-ASCII characters")
        if self.kind not in ("personal", "oauth"):
            raise ValueError("token kind must be 'personal' or 'oauth'")

    def authorization(self) -> str:
        """Authorization header value: Basic with the token as username, or Bearer."""
        if self.kind == "oauth":
            return f"Bearer {self.value}"
        return "Basic " + _basic(self.value)

    def __repr__(self) -> str:
        return f"Token({self.kind}, {MASK})"

    __str__ = __repr__


def _basic(user: str, password: str = "") -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _forms(secret: str) -> set[str]:
    """Every spelling of a secret that might appear in text: raw, Basic, URL-encoded."""
    forms = {secret, _basic(secret), base64.b64encode(secret.encode()).decode("ascii")}
    forms.add(_basic(secret).rstrip("="))
    forms.add(quote(secret, safe=""))
    return {f for f in forms if f}


def redact(text: str, *secrets: str | Token) -> str:
    """Replace every secret (and its base64 Basic form) in `text` with "****"."""
    forms: set[str] = set()
    for secret in secrets:
        value = secret.value if isinstance(secret, Token) else secret
        if isinstance(value, str) and value:
            forms |= _forms(value)
    # Longest first so a secret that contains another is replaced whole.
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text
