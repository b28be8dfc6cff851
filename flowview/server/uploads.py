"""File uploads: a small multipart/form-data parser (the stdlib's MIME parser on a body the
request guard has already bounded) and the value it yields for the file part."""

from __future__ import annotations

import email.parser
import email.policy
import logging
from dataclasses import dataclass, field
from typing import Any

from flowview.server.responses import ApiError

log = logging.getLogger(__name__)

MAX_PARTS = 20


@dataclass
class Upload:
    file_name: str
    content_type: str
    data: bytes = field(repr=False)


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Form fields as strings, file parts as ``Upload``; ApiError 400 if malformed."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    try:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    except (ValueError, TypeError, LookupError):
        raise ApiError(400, "malformed multipart body") from None
    if not message.is_multipart():
        raise ApiError(400, "malformed multipart body")
    out: dict[str, Any] = {}
    for count, part in enumerate(message.iter_parts()):
        if count >= MAX_PARTS:
            raise ApiError(400, f"at most {MAX_PARTS} parts")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        file_name = part.get_filename()
        if file_name is not None:
            ctype = part.get_content_type() if part.get("content-type") else ""
            out[name] = Upload(str(file_name)[:200], ctype, data)
        else:
            out[name] = data.decode("utf-8", "replace")
    return out
