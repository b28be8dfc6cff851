"""Fixtures of the model tests."""

from __future__ import annotations

import pytest

from flowview.model.router import Router

# The flow of the verbatim protocol samples (tests/protocol/samples.py).
SAMPLE_FLOW = "bed6fa5a-6a31-4a31-9b3b-9184b158c2b8"


@pytest.fixture
def router() -> Router:
    """A router that knows the signed-in user, three others and the samples' flow."""
    r = Router(me_id="263186", me_nick="testbot")
    r.add_users(
        [
            {"id": "345062", "nick": "Marc"},
            {"id": "263186", "nick": "testbot"},
            {"id": "1", "nick": "otto"},
            {"id": "50000", "nick": "ville"},
        ]
    )
    r.add_flows(
        [
            {
                "id": SAMPLE_FLOW,
                "name": "Sandbox",
                "organization": "rulemotion",
                "parameterized_name": "sandbox",
            }
        ]
    )
    return r
