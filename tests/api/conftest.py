"""Fixtures for the REST API tests: tokens of each scope and a JSON client (the two real front-ends, `farm`,
come from tests/harness/fixtures.py)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api.services import api_token_create
from hostpanel.audit import Actor


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_token(db):
    def make(scope: str = "operator", name: str | None = None, **kwargs) -> str:
        _token, key = api_token_create(
            actor=Actor.command("tests"), name=name or f"{scope}-token", scope=scope, **kwargs
        )
        return key

    return make


@pytest.fixture
def client_for(make_token):
    """An APIClient sending `Authorization: Token <key>` for a new token of the given scope."""

    def build(scope: str = "operator", **kwargs) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(scope, **kwargs)}")
        return client

    return build


@pytest.fixture
def operator(client_for) -> APIClient:
    return client_for("operator")


@pytest.fixture
def billing(client_for) -> APIClient:
    return client_for("billing")


@pytest.fixture
def reader(client_for) -> APIClient:
    return client_for("read")
