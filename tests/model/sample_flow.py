"""The flow of the verbatim protocol samples (tests/protocol/samples.py), which the model
tests' router knows (a helper module, no fixtures)."""

from __future__ import annotations

SAMPLE_FLOW = "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8"
