"""Logging for the viewer and `flowview tail`: a file named by `--log FILE` or FLOWVIEW_LOG.

No token may reach a log line.  Every record passes a RedactingFilter on the handler, which
formats the message (and any traceback) itself and replaces every registered secret, its
Basic-auth form, and anything that looks like an Authorization header value, with "****".
Secrets known when logging starts (FLOWDOCK_TOKEN, the saved token) are registered here;
code that learns a token later (setup, settings) calls `register_secret`.

Nothing is logged anywhere unless a file is named: a terminal UI has no stderr to spare.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

from flowview.protocol.auth import MASK, Token, redact

log = logging.getLogger(__name__)

__all__ = [
    "ENV_LOG",
    "RedactingFilter",
    "log_path_from",
    "redact_known",
    "register_secret",
    "setup_logging",
]

ENV_LOG = "FLOWVIEW_LOG"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# "Authorization: Basic abc=", "Bearer abc" anywhere in a line.
_AUTH_VALUE = re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}")

_secrets: list[str] = []
_lock = threading.Lock()


def register_secret(secret: str | Token | None) -> None:
    """Redact `secret` from every log line from now on."""
    value = secret.value if isinstance(secret, Token) else secret
    if not value:
        return
    with _lock:
        if value not in _secrets:
            _secrets.append(value)


def redact_known(text: str) -> str:
    """`text` without any registered secret nor Authorization-looking value."""
    with _lock:
        secrets = tuple(_secrets)
    text = redact(text, *secrets)
    return _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {MASK}", text)


class RedactingFilter(logging.Filter):
    """Formats each record's message and traceback, then removes every secret from them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact_known(message)
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = redact_known(formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_known(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_known(record.stack_info)
        return True


def log_path_from(option: str | None) -> str | None:
    """The log file: the --log option, else FLOWVIEW_LOG, else None (no logging)."""
    return option or os.environ.get(ENV_LOG) or None


def _known_secrets() -> None:
    from flowview.config import ENV_TOKEN, load_token

    register_secret(os.environ.get(ENV_TOKEN))
    try:
        register_secret(load_token())
    except Exception:  # an unreadable token file is reported elsewhere
        log.debug("no saved token to register for redaction", exc_info=True)


def setup_logging(path: str | None, level: int = logging.INFO) -> logging.Handler | None:
    """Log the `flowview` package to `path` (created 0600), redacted.  None: no logging."""
    if not path:
        return None
    _known_secrets()
    file = Path(path).expanduser()
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    stream = os.fdopen(fd, "a", encoding="utf-8", errors="replace")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("flowview")
    root.addHandler(handler)
    root.setLevel(level)
    return handler
