"""The client's address behind the TLS proxy (HOSTPANEL_TRUSTED_PROXIES), and login lockout by user and
address: five bad passwords lock that user from that address, not every administrator everywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from hostpanel.proxies import client_address
from tests.samples import ROOT, clean_env

PROXY = "10.0.0.1"


def address(remote: str, forwarded: str | None = None) -> str:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **meta))


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        (PROXY, "203.0.113.5", "203.0.113.5"),  # the proxy says who the client is
        (PROXY, "198.51.100.66, 203.0.113.5", "203.0.113.5"),  # the left part is the client's own writing
        (PROXY, "203.0.113.5, 10.0.0.2", "203.0.113.5"),  # two trusted proxies in a row
        (PROXY, "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # only proxies: the left-most
        (PROXY, "not-an-ip, 203.0.113.5", "203.0.113.5"),
        (PROXY, "203.0.113.5, junk", PROXY),  # a hop that is no address: stop at the proxy that passed it
        (PROXY, "[2001:db8::7]:4711", "2001:db8::7"),
        (PROXY, None, PROXY),
        ("198.51.100.1", "10.0.0.9", "198.51.100.1"),  # spoofed: not from a trusted proxy, ignored
        ("198.51.100.1", "203.0.113.5", "198.51.100.1"),
    ],
)
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(settings, remote, forwarded, client):
    settings.HOSTPANEL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert address(remote, forwarded) == client


def test_without_trusted_proxies_it_is_always_remote_addr(settings):
    settings.HOSTPANEL_TRUSTED_PROXIES = []
    assert address(PROXY, "203.0.113.5") == PROXY


def test_a_bad_trusted_proxies_value_stops_the_process_with_its_name(tmp_path):
    env = clean_env(DEBUG="1", HOSTPANEL_VAR_DIR=str(tmp_path), HOSTPANEL_TRUSTED_PROXIES="10.0.0.0/8,not-a-network")
    result = subprocess.run(
        [sys.executable, "-c", "import hostpanel.settings"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "HOSTPANEL_TRUSTED_PROXIES: 'not-a-network'" in result.stderr


# --- login lockout (django-axes): by user and address ------------------------------------------


@pytest.fixture
def admins(db, django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for name in ("ada", "bob"):
        django_user_model.objects.create_user(name, password=f"right-{name}", is_staff=True, is_superuser=True)


def login(username: str, password: str, **meta) -> int:
    """The login page's answer: 302 (logged in), 200 (wrong password), 429 (locked out)."""
    return Client(**meta).post(reverse("login"), {"username": username, "password": password}).status_code


def lock_out(username: str, **meta) -> None:
    for _ in range(5):
        login(username, "wrong", **meta)
    assert login(username, f"right-{username}", **meta) == 429  # locked, even with the right password


def test_a_locked_user_may_log_in_from_another_address_and_others_from_the_same(admins):
    lock_out("ada", REMOTE_ADDR="203.0.113.5")
    assert login("ada", "right-ada", REMOTE_ADDR="203.0.113.6") == 302
    assert login("bob", "right-bob", REMOTE_ADDR="203.0.113.5") == 302


def test_behind_the_trusted_proxy_the_lockout_sees_each_client_not_the_proxy(admins, settings):
    settings.HOSTPANEL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    lock_out("ada", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert login("ada", "right-ada", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.6") == 302
    assert login("bob", "right-bob", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5") == 302


def test_a_spoofed_header_from_an_untrusted_address_does_not_escape_the_lockout(admins, settings):
    settings.HOSTPANEL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    lock_out("ada", REMOTE_ADDR="198.51.100.1")
    assert login("ada", "right-ada", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.99") == 429
