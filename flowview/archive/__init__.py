"""The local archive: every event the viewer sees, kept in SQLite, searchable offline.

UI-free: imports flowview.protocol and flowview.model.sanitize, never Textual.
"""

from __future__ import annotations

import logging

from flowview.archive.archive import Archive, ArchivedMessage, FlowInfo
from flowview.archive.paths import ArchiveError, archive_path, data_dir
from flowview.archive.rows import ConversationKey, conv_id, conv_key
from flowview.archive.writer import ArchiveClosed, WriterState

log = logging.getLogger(__name__)

__all__ = [
    "Archive",
    "ArchiveClosed",
    "ArchiveError",
    "ArchivedMessage",
    "ConversationKey",
    "FlowInfo",
    "WriterState",
    "archive_path",
    "conv_id",
    "conv_key",
    "data_dir",
]
