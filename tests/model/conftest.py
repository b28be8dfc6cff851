"""Fixtures of the model tests."""

from __future__ import annotations

import pytest

from flowview.model.router import Router
from tests.model.sample_flow import SAMPLE_FLOW


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
