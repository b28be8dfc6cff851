"""Rate limit for repeated log lines: at the open-file limit the accept loop failed thousands of
times a second, each with the same traceback, and the log grew by megabytes a second."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class RepeatFilter(logging.Filter):
    """Pass at most ``burst`` identical records (same logger, level, text, exception type) per
    ``window`` seconds of their own timestamps; the first one after a quiet spell says how many
    were dropped."""

    def __init__(self, burst: int = 5, window: float = 10.0, max_keys: int = 1000) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.max_keys = max_keys
        # key -> [window start, records passed in it, records dropped since the last one passed]
        self._seen: dict[tuple[str, int, str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, record.levelno, str(record.msg)[:500], exc)
        entry = self._seen.get(key)
        if entry is None or record.created - entry[0] >= self.window:
            dropped = int(entry[2]) if entry is not None else 0
            if len(self._seen) >= self.max_keys:
                self._seen.clear()
            self._seen[key] = [record.created, 1, 0]
            if dropped:
                record.msg = f"{record.getMessage()} [{dropped} identical lines suppressed]"
                record.args = None
            return True
        if entry[1] < self.burst:
            entry[1] += 1
            return True
        entry[2] += 1
        return False
