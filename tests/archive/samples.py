"""The flows and times the archive tests write: two flows of one organisation and a base time
(a helper module, no fixtures; the `wire` fixture in conftest.py builds events with them)."""

from __future__ import annotations

FLOW = "f-acme-main"
OTHER_FLOW = "f-acme-ops"
DAY_MS = 86_400_000
BASE_MS = 1_780_000_000_000  # 2026-05-28
