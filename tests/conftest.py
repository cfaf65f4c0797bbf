"""Shared fixtures. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import pytest

from hostpanel.audit import Actor


@pytest.fixture
def actor() -> Actor:
    return Actor(name="tester", source="command")


@pytest.fixture
def demo(db):
    """The seed how-to's setup: zope1, zope2 (lbset 1), backup (lbset 2, hot standby), balancer
    bronze (and silver), site linux.co.uk at /plone/linux with alias www.linux.co.uk."""
    from django.core.management import call_command

    call_command("seed_demo", sites=0, no_user=True, verbosity=0)
    from balancers.models import Balancer

    return Balancer.objects.get(name="bronze")
