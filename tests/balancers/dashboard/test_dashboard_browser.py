"""The dashboard in a real browser (chromium via Playwright): it refreshes itself without a full page
reload, pauses while the operator types, and a toggle button shows the per-front-end result."""

from __future__ import annotations

import os

import pytest
from django.db import connections
from playwright.sync_api import sync_playwright

from balancers.models import BalancerMember
from tests.realparts import require_binary

pytestmark = pytest.mark.real


@pytest.fixture
def page(live_server, demo, django_user_model, monkeypatch):
    chromium = require_binary("chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the ORM in the test thread while Playwright runs
    monkeypatch.setattr("balancers.views.dashboard.REFRESH_MS", 700)

    django_user_model.objects.create_superuser("op", "op@example.invalid", "op-password-1")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            pg = browser.new_page()
            pg.goto(live_server.url + "/accounts/login/")
            pg.fill("input[name=username]", "op")
            pg.fill("input[name=password]", "op-password-1")
            pg.click("button[type=submit]")
            pg.wait_for_url(live_server.url + "/")
            yield pg
        finally:
            browser.close()
            # ORM calls made while Playwright runs get their own connection (its greenlet's context): close it,
            # or PostgreSQL cannot drop the test database at the end of the run
            connections.close_all()
    assert os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")  # still set for the teardown


def generated(pg) -> str:
    return pg.locator("#dashboard-grid > p.small.muted").last.inner_text()


def test_the_grid_refreshes_without_reloading_the_page(page):
    page.evaluate("window.__marker = 'same page'")
    first = generated(page)
    page.wait_for_function(
        "prev => document.querySelector('#dashboard-grid > p.small.muted:last-of-type').innerText !== prev",
        arg=first,
        timeout=8000,
    )
    assert page.evaluate("window.__marker") == "same page"  # no full reload
    assert generated(page) != first


def test_refresh_pauses_while_the_operator_types_a_load_factor(page):
    zope2 = BalancerMember.objects.get(balancer__name="bronze", zope_server__name="zope2")
    field = page.locator(f"#lf-{zope2.pk}")
    field.fill("42")
    field.focus()
    before = generated(page)
    page.wait_for_timeout(2000)  # about three refresh periods
    assert generated(page) == before and field.input_value() == "42"


def test_a_member_action_shows_its_effect_then_saves_and_shows_the_result(page):
    page.locator("#balancer-bronze tr[data-member=zope2] a.member-action", has_text="Drain").click()
    page.wait_for_load_state()
    assert "Drain: Takes no new clients" in page.inner_text("main")  # the same words as the button's help
    assert not BalancerMember.objects.get(balancer__name="bronze", zope_server__name="zope2").drain  # not yet
    page.get_by_role("button", name="Drain").click()
    page.wait_for_load_state()
    assert "zope2 in bronze is now: drain" in page.inner_text(".messages")
    assert "No front-end to apply it to live" in page.inner_text("#toggle-results")
    assert BalancerMember.objects.get(balancer__name="bronze", zope_server__name="zope2").drain
