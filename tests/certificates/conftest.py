"""Fixtures for the certificates tests: a secrets key for every test, and a site (example.com with alias
www.example.com). The test PKI (`test_pki`) comes from tests/harness/tls.py."""

from __future__ import annotations

import pytest

from balancers.models import Balancer
from sites.services import site_create


@pytest.fixture(autouse=True)
def _secrets(secrets_key):
    """Every certificates test has a secrets key (tests/harness/tls.py)."""
    return secrets_key


@pytest.fixture
def site(db, actor):
    balancer = Balancer.objects.create(name="bronze")
    return site_create(
        actor=actor,
        domain="example.com",
        balancer=balancer,
        plone_path="/plone/example",
        aliases=["www.example.com"],
        tls="acme",
    )
