"""Fixtures of the web panel tests: an operator, a viewer and logged-in clients for each."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client


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
