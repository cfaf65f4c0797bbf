"""Staff sessions end after HOSTPANEL_SESSION_IDLE_MINUTES without use, and a destructive action (delete,
rollback) asks for the password again unless it was given within HOSTPANEL_REAUTH_MINUTES (hostpanel.sessions)."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from balancers import services
from balancers.models import ActivatedRelease, ConfigTree, Deployment, DeploymentHost, FrontEnd, ZopeServer
from hostpanel.sessions import AUTH_AT, REAUTH_FIELD, SEEN_AT

PASSWORD = "pw-olga"  # tests/conftest.py's operator


def _age(client: Client, key: str, minutes: float) -> None:
    session = client.session
    session[key] = time.time() - minutes * 60
    session.save()


# --- idle timeout -----------------------------------------------------------------------------


def test_a_session_unused_for_longer_than_the_setting_ends(operator_client, settings):
    settings.HOSTPANEL_SESSION_IDLE_MINUTES = 30
    assert operator_client.get(reverse("sites:site_list")).status_code == 200
    _age(operator_client, SEEN_AT, 29)
    assert operator_client.get(reverse("sites:site_list")).status_code == 200  # still in time: and counted as use
    assert time.time() - operator_client.session[SEEN_AT] < 5
    _age(operator_client, SEEN_AT, 31)
    answer = operator_client.get(reverse("sites:site_list"))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("login"))
    assert operator_client.get(reverse("sites:site_list")).status_code == 302  # the session is gone for good


def test_background_refreshes_do_not_keep_a_session_alive(operator_client, settings):
    settings.HOSTPANEL_SESSION_IDLE_MINUTES = 30
    _age(operator_client, SEEN_AT, 29)
    refresh = operator_client.get(reverse("balancers:dashboard_grid"), headers={"X-Requested-With": "fetch"})
    assert refresh.status_code == 200
    assert time.time() - operator_client.session[SEEN_AT] > 28 * 60  # not counted as use
    _age(operator_client, SEEN_AT, 31)
    assert operator_client.get(
        reverse("balancers:dashboard_grid"), headers={"X-Requested-With": "fetch"}
    ).status_code in (
        302,
        401,
        403,
    )


# --- re-authentication before destructive actions ----------------------------------------------


def _named_urls(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _named_urls(entry, f"{prefix}{entry.namespace}:" if entry.namespace else prefix)
        elif isinstance(entry, URLPattern) and entry.name:
            yield prefix + entry.name, entry.callback


def test_every_delete_and_the_rollback_of_the_staff_pages_ask_for_the_password_again():
    destructive = {
        name: callback
        for name, callback in _named_urls(get_resolver())
        if name.endswith("_delete") or name.endswith("_rollback")
    }
    assert {"balancers:zopeserver_delete", "sites:site_delete", "balancers:deployment_rollback"} <= set(destructive)
    for name, callback in destructive.items():
        if name.startswith("admin:") or name.startswith("api:"):
            continue  # the admin keeps Django's own confirmation; API tokens have no session
        assert callback.view_class.reauthenticate is True, name


def test_a_recent_login_deletes_without_asking_again(operator_client, db):
    server = ZopeServer.objects.create(name="spare", host="10.0.0.9", port=8080)
    url = reverse("balancers:zopeserver_delete", args=[server.pk])
    assert REAUTH_FIELD not in operator_client.get(url).content.decode()
    assert operator_client.post(url).status_code == 302
    assert not ZopeServer.objects.filter(pk=server.pk).exists()


def test_a_delete_without_a_recent_password_asks_for_it_and_deletes_only_with_the_right_one(operator_client, db):
    server = ZopeServer.objects.create(name="spare", host="10.0.0.9", port=8080)
    url = reverse("balancers:zopeserver_delete", args=[server.pk])
    _age(operator_client, AUTH_AT, 6)
    page = operator_client.get(url).content.decode()
    assert f'name="{REAUTH_FIELD}"' in page and 'type="password"' in page and "csrfmiddlewaretoken" in page

    missing = operator_client.post(url)
    assert missing.status_code == 400 and ZopeServer.objects.filter(pk=server.pk).exists()
    wrong = operator_client.post(url, {REAUTH_FIELD: "not-it"})
    assert wrong.status_code == 400 and "That is not your password." in wrong.content.decode()
    assert ZopeServer.objects.filter(pk=server.pk).exists()

    right = operator_client.post(url, {REAUTH_FIELD: PASSWORD})
    assert right.status_code == 302 and not ZopeServer.objects.filter(pk=server.pk).exists()
    assert time.time() - operator_client.session[AUTH_AT] < 5  # a fresh authentication: no question for a while
    other = ZopeServer.objects.create(name="spare2", host="10.0.0.9", port=8081)
    assert operator_client.post(reverse("balancers:zopeserver_delete", args=[other.pk])).status_code == 302


def test_the_re_authentication_form_is_csrf_protected(operator, db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    _age(client, AUTH_AT, 60)
    server = ZopeServer.objects.create(name="spare", host="10.0.0.9", port=8080)
    answer = client.post(reverse("balancers:zopeserver_delete", args=[server.pk]), {REAUTH_FIELD: PASSWORD})
    assert answer.status_code == 403 and ZopeServer.objects.filter(pk=server.pk).exists()


def test_a_rollback_without_a_recent_password_asks_for_it(operator_client, db, monkeypatch):
    old = Deployment.objects.create(actor="x", status="succeeded")
    frontend = FrontEnd.objects.create(name="fe", address="127.0.0.1", transport="local")
    tree = ConfigTree.objects.create(digest="c" * 64, files={"sites/a.conf": "ServerName a.example.com\n"})
    DeploymentHost.objects.create(deployment=old, frontend=frontend, frontend_name="fe", tree=tree, status="succeeded")
    newer = ConfigTree.objects.create(digest="d" * 64, files={"sites/b.conf": "ServerName b.example.com\n"})
    ActivatedRelease.objects.create(frontend=frontend, tree=newer, digest=newer.digest)  # what fe serves now
    monkeypatch.setattr(
        services,
        "deployment_rollback",
        lambda deployment, *, actor: Deployment.objects.create(
            actor=actor.name, trigger="rollback", rollback_of=deployment
        ),
    )
    url = reverse("balancers:deployment_rollback", args=[old.pk])
    _age(operator_client, AUTH_AT, 10)
    assert REAUTH_FIELD in operator_client.get(url).content.decode()
    assert operator_client.post(url).status_code == 400
    assert operator_client.post(url, {REAUTH_FIELD: "not-it"}).status_code == 400
    assert not Deployment.objects.filter(rollback_of=old).exists()
    done = operator_client.post(url, {REAUTH_FIELD: PASSWORD})
    assert done["Location"] == Deployment.objects.get(rollback_of=old).get_absolute_url()


def test_wrong_passwords_count_towards_the_login_lockout_and_end_the_session(operator_client, db, settings):
    settings.AXES_FAILURE_LIMIT = 3
    server = ZopeServer.objects.create(name="spare", host="10.0.0.9", port=8080)
    url = reverse("balancers:zopeserver_delete", args=[server.pk])
    _age(operator_client, AUTH_AT, 10)
    assert operator_client.post(url, {REAUTH_FIELD: "guess-1"}).status_code == 400
    assert operator_client.post(url, {REAUTH_FIELD: "guess-2"}).status_code == 400
    locked = operator_client.post(url, {REAUTH_FIELD: "guess-3"})
    assert locked.status_code == 429
    assert ZopeServer.objects.filter(pk=server.pk).exists()
    assert operator_client.get(reverse("sites:site_list")).status_code == 302  # logged out
    # and the login page refuses this user from this address for the cool-off, even with the right password
    relogin = Client().post(reverse("login"), {"username": "olga", "password": PASSWORD})
    assert relogin.status_code == 429


@pytest.mark.parametrize("minutes", [0])
def test_a_window_of_zero_minutes_always_asks(operator_client, db, settings, minutes):
    settings.HOSTPANEL_REAUTH_MINUTES = minutes
    server = ZopeServer.objects.create(name="spare", host="10.0.0.9", port=8080)
    assert (
        REAUTH_FIELD in operator_client.get(reverse("balancers:zopeserver_delete", args=[server.pk])).content.decode()
    )
