"""Certificates and names through the API: extra names on an upload are accepted and listed as unused, a
rename the customer's certificate does not cover answers `mismatch`, a site the last deployment left out is
not live and says why, and where names resolve (the pre-flight check's and the CA's words) is for operators."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from certificates.choices import AttemptOutcome
from certificates.models import AcmeAttempt, Certificate
from sites import services as site_services
from sites.models import Site

URL = "/api/v1/sites/shop.example.com/certificate/"
REPORT = (
    "www.shop.example.com does not point at our front-ends (it resolves to 10.20.30.40, 2001:db8::7). "
    "shop.example.com does not reach our front-ends: 192.168.7.1 port 80: [Errno 111] Connection refused."
)
ADDRESSES = ("10.20.30.40", "2001:db8::7", "192.168.7.1")


@pytest.fixture
def shop(demo, actor) -> Site:
    return site_services.site_create(
        actor=actor,
        domain="shop.example.com",
        balancer=demo,
        plone_path="/plone/shop",
        aliases=["www.shop.example.com"],
        tls="acme",
    )


def test_extra_names_on_an_upload_are_accepted_and_listed_as_unused(shop, billing, tls_pki):
    names = ["shop.example.com", "www.shop.example.com", "linux.co.uk"]  # linux.co.uk is another site's
    answer = billing.put(URL, tls_pki.issue(names), format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "valid" and answer.json()["unused_names"] == ["linux.co.uk"]
    assert billing.get(URL).json()["unused_names"] == ["linux.co.uk"]


def test_a_rename_the_customers_certificate_does_not_cover_answers_mismatch(shop, billing, tls_pki):
    assert (
        billing.put(URL, tls_pki.issue(["shop.example.com", "www.shop.example.com"]), format="json").status_code == 200
    )
    renamed = billing.patch("/api/v1/sites/shop.example.com/", {"domain": "store.example.com"}, format="json")
    assert renamed.status_code == 200, renamed.json()
    certificate = renamed.json()["certificate"]
    assert certificate["status"] == "mismatch"
    assert "does not cover store.example.com" in certificate["last_error"]


def test_a_site_the_last_deployment_left_out_is_not_live_and_says_why(shop, billing):
    Site.objects.filter(pk=shop.pk).update(render_error="refusing to render site shop.example.com: bad value")
    read = billing.get("/api/v1/sites/shop.example.com/").json()
    assert read["live"] is False
    assert read["left_out"] == "refusing to render site shop.example.com: bad value"
    listed = {s["domain"]: s for s in billing.get("/api/v1/sites/").json()["results"]}
    assert listed["shop.example.com"]["left_out"] and listed["linux.co.uk"]["left_out"] == ""


@pytest.fixture
def failed_preflight(shop) -> Certificate:
    certificate = Certificate.objects.get(site=shop)
    Certificate.objects.filter(pk=certificate.pk).update(status="failed", last_error=REPORT)
    AcmeAttempt.objects.create(
        certificate=certificate,
        names=["shop.example.com", "www.shop.example.com"],
        started_at=timezone.now(),
        outcome=AttemptOutcome.PREFLIGHT_FAILED,
        ca_error=REPORT,
    )
    return certificate


@pytest.mark.parametrize("scope", ["billing", "read"])
def test_billing_and_read_tokens_get_the_preflight_report_without_addresses(failed_preflight, client_for, scope):
    client = client_for(scope)
    texts = json.dumps([client.get(URL).json(), client.get("/api/v1/sites/shop.example.com/").json()])
    assert "does not point at our front-ends" in texts and "[address hidden]" in texts
    assert not [address for address in ADDRESSES if address in texts]


def test_operators_and_the_site_page_keep_where_names_resolve(failed_preflight, operator, django_user_model):
    detail = operator.get(URL).json()
    assert detail["last_error"] == REPORT and detail["attempts"][0]["ca_error"] == REPORT
    assert operator.get("/api/v1/sites/shop.example.com/").json()["certificate"]["last_error"] == REPORT
    staff = django_user_model.objects.create_user(username="viewer", password="pw-viewer", is_staff=True)
    browser = Client()
    browser.force_login(staff)  # a read-only staff user: the site page keeps the detail
    page = browser.get("/sites/shop.example.com/").content.decode()
    assert all(address in page for address in ADDRESSES)
