"""The certificate page in a real browser (Playwright driving Debian's Chromium against live_server): an
operator uploads a customer's certificate, sees the error for a bad one under its field and the success for
a good one, and "Renew now" (after its confirmation) shows the certificate queued for renewal.

This module covers the panel's certificate page only; HTTPS through a front-end is tested with the
rendering and deploy tests.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from certificates.choices import CertificateSource, CertificateStatus
from certificates.models import Certificate
from certificates.services import certificate_set_custom
from sites import services as site_services
from tests.assertions import key_body
from tests.realparts import require_binary

pytestmark = pytest.mark.real

NAMES = ["shop.example.com", "www.shop.example.com"]
TIMEOUT_MS = 15_000


@pytest.fixture
def page(live_server, transactional_db, demo, django_user_model, monkeypatch):
    chromium = require_binary("chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the ORM in the test thread while Playwright runs
    user = django_user_model.objects.create_user(username="olga", password="pw-olga-123", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="operators")[0])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(base_url=live_server.url)
            context.set_default_timeout(TIMEOUT_MS)
            pg = context.new_page()
            pg.goto("/accounts/login/")
            pg.get_by_label("User name").fill("olga")
            pg.get_by_label("Password").fill("pw-olga-123")
            pg.get_by_role("button", name="Log in").click()
            pg.wait_for_url(re.compile(r"/$"))
            yield pg
        finally:
            browser.close()
            connections.close_all()  # Playwright's greenlet got its own connection (PostgreSQL drops the test DB)


@pytest.fixture
def shop(demo, actor):
    return site_services.site_create(
        actor=actor, domain=NAMES[0], balancer=demo, plone_path="/plone/shop", aliases=[NAMES[1]], tls="acme"
    )


def test_an_operator_uploads_a_bad_then_a_good_certificate(page, shop, tls_pki):
    page.goto(f"/sites/{shop.domain}/")
    expect(page.locator("#certificate-status")).to_have_text("Pending")
    page.get_by_role("link", name="Upload own certificate").click()

    bad = tls_pki.issue(NAMES[:1])  # misses the alias
    page.get_by_label("Certificate (PEM)").fill(bad["certificate_pem"])
    page.get_by_label("Private key (PEM)").fill(bad["private_key_pem"])
    page.get_by_label("Intermediate certificates (PEM)").fill(bad["chain_pem"])
    page.get_by_role("button", name="Upload certificate").click()
    field = page.locator(".field", has=page.get_by_label("Certificate (PEM)"))
    expect(field.get_by_role("alert")).to_contain_text("does not cover www.shop.example.com")
    expect(page.get_by_label("Private key (PEM)")).to_have_value("")  # never sent back to the browser
    for line in key_body(bad):
        assert line not in page.content()

    good = tls_pki.issue(NAMES)
    page.get_by_label("Certificate (PEM)").fill(good["certificate_pem"])
    page.get_by_label("Private key (PEM)").fill(good["private_key_pem"])
    page.get_by_label("Intermediate certificates (PEM)").fill(good["chain_pem"])
    page.get_by_role("button", name="Upload certificate").click()
    page.wait_for_url(re.compile(r"/sites/shop\.example\.com/$"))
    expect(page.get_by_role("status").first).to_contain_text("Own certificate of shop.example.com saved")
    expect(page.locator("#certificate-status")).to_have_text("Valid")
    expect(page.locator("#certificate")).to_contain_text("CN=Test Intermediate")
    expect(page.locator("#certificate")).to_contain_text("www.shop.example.com")
    assert Certificate.objects.get(site=shop).source == CertificateSource.CUSTOM


def test_renew_now_asks_and_then_shows_the_renewal_queued(page, shop, tls_pki, actor, settings):
    settings.HOSTPANEL_ACME_DIRECTORY = "https://acme.invalid/directory"  # a CA is configured: a worker orders
    certificate_set_custom(shop, actor=actor, **tls_pki.issue(NAMES))
    Certificate.objects.filter(site=shop).update(source=CertificateSource.ACME)  # as if the CA had issued it
    page.goto(f"/sites/{shop.domain}/")
    expect(page.locator("#certificate-status")).to_have_text("Valid")
    page.get_by_role("link", name="Renew now").click()
    expect(page.get_by_role("heading", name="Renew the certificate now")).to_be_visible()
    page.get_by_role("button", name="Renew now").click()
    page.wait_for_url(re.compile(r"/sites/shop\.example\.com/$"))
    expect(page.get_by_role("status").first).to_contain_text("Renewal of shop.example.com requested")
    expect(page.locator("#certificate-status")).to_have_text("Renewing")
    expect(page.locator("#certificate")).to_contain_text("the ACME worker orders it")
    assert Certificate.objects.get(site=shop).status == CertificateStatus.RENEWING


def test_without_an_acme_ca_renew_now_is_disabled_and_the_page_says_why(page, shop, settings):
    settings.HOSTPANEL_ACME_DIRECTORY = ""
    page.goto(f"/sites/{shop.domain}/")
    expect(page.get_by_role("button", name="Renew now")).to_be_disabled()
    expect(page.locator("#no-acme-ca")).to_contain_text("No ACME certificate authority is configured")
    expect(page.locator("#certificate")).not_to_contain_text("worker orders it")
