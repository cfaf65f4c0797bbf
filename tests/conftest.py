"""Shared fixtures: the actor, the demo data, staff users and their clients. The rig's fixtures
(Apache, fake backends, the farm, pebble, ports) come from tests/harness/fixtures.py and the test PKI's
from tests/harness/tls.py, both over the one rig, devrig/; area-specific fixtures live in
tests/<app>/.../conftest.py. Helpers shared by test modules live in tests/factories.py, tests/assertions.py
and tests/samples.py (test modules never import each other, nor a conftest)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from balancers import services as balancer_services
from balancers.models import Balancer, FrontEnd
from hostpanel.audit import Actor

pytest_plugins = [
    "tests.harness.fixtures",
    "tests.harness.tls",
]


@pytest.fixture
def actor() -> Actor:
    return Actor(name="tester", source="command")


@pytest.fixture
def demo(db):
    """The seed how-to's setup: zope1, zope2 (lbset 1), backup (lbset 2, hot standby), balancer
    bronze (and silver), site linux.co.uk at /plone/linux with alias www.linux.co.uk."""
    call_command("seed_demo", sites=0, no_user=True, verbosity=0)
    return Balancer.objects.get(name="bronze")


def _staff(django_user_model, username: str, group: str | None):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def operator(db, django_user_model):
    return _staff(django_user_model, "olga", "operators")


@pytest.fixture
def viewer(db, django_user_model):
    return _staff(django_user_model, "victor", "viewers")


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(viewer) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def frontend(db, actor) -> FrontEnd:
    """The demo front-end (deploys locally): config in /etc/apache2/hostpanel, site vhosts on *:80."""
    return balancer_services.frontend_create(actor=actor, name="demo-fe", address="127.0.0.1", transport="local")
