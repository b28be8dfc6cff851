"""Drafts and input histories per conversation, kept across restarts.

One small JSON file next to the account's outbox (``drafts.json``, 0600, replaced atomically:
see `outbox_store.write_private_file`).  A missing or unreadable file means no drafts, never
an error: what matters (unsent messages) lives in the outbox itself.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from flowview.protocol.outbox_store import write_private_file

log = logging.getLogger(__name__)

__all__ = ["DRAFTS_FILE", "load_drafts", "save_drafts"]

DRAFTS_FILE = "drafts.json"
MAX_BYTES = 4 * 1024 * 1024
MAX_ENTRY_CHARS = 16_000
MAX_HISTORY = 100


def _strings(value: Any, limit: int) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v[:MAX_ENTRY_CHARS] for v in value if isinstance(v, str)][-limit:]


def load_drafts(directory: Path | None) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(drafts, histories) by conversation name ("flow:<id>", "private:<a>:<b>")."""
    if directory is None:
        return {}, {}
    path = directory / DRAFTS_FILE
    try:
        if path.stat().st_size > MAX_BYTES:
            log.warning("%s is too large; ignored", path)
            return {}, {}
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, {}
    except (OSError, ValueError):
        log.exception("drafts in %s cannot be read; starting without them", path)
        return {}, {}
    if not isinstance(doc, dict):
        return {}, {}
    raw_drafts = doc.get("drafts")
    raw_histories = doc.get("histories")
    drafts = {
        k: v[:MAX_ENTRY_CHARS]
        for k, v in (raw_drafts.items() if isinstance(raw_drafts, dict) else ())
        if isinstance(k, str) and isinstance(v, str)
    }
    histories = {
        k: _strings(v, MAX_HISTORY)
        for k, v in (raw_histories.items() if isinstance(raw_histories, dict) else ())
        if isinstance(k, str)
    }
    return drafts, histories


def save_drafts(directory: Path, drafts: dict[str, str], histories: dict[str, list[str]]) -> None:
    doc = {"version": 1, "drafts": drafts, "histories": histories}
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    write_private_file(directory / DRAFTS_FILE, data)
