"""Certificates through the API: the site's tls fields and read-only certificate, the certificate endpoint
(GET, PUT of the customer's own, POST renew), scopes, errors naming the failed check, and the private key
never in any answer or audit row."""

from __future__ import annotations

import datetime
import json
import logging

import pytest
from django.utils import timezone

from certificates.choices import CertificateSource, CertificateStatus
from certificates.models import Certificate
from devrig import pki
from hostpanel.models import AuditEntry
from sites import services as site_services
from sites.models import Site
from sites.services import site_certificate_upload
from tests.assertions import key_body

NAMES = ["shop.example.com", "www.shop.example.com"]
URL = "/api/v1/sites/shop.example.com/certificate/"


@pytest.fixture
def shop(demo, actor) -> Site:
    return site_services.site_create(
        actor=actor, domain=NAMES[0], balancer=demo, plone_path="/plone/shop", aliases=[NAMES[1]], tls="acme"
    )


def test_a_site_is_created_with_its_https_fields_and_shows_them(demo, billing):
    created = billing.post(
        "/api/v1/sites/",
        {
            "domain": "tls.example.com",
            "balancer": "bronze",
            "plone_path": "/plone/tls",
            "tls": "acme",
            "https_redirect": False,
            "hsts_seconds": 31536000,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["tls"], body["https_redirect"], body["hsts_seconds"]) == ("acme", False, 31536000)
    assert body["certificate"]["status"] == "pending"  # the panel orders it: the row exists at once
    assert body["certificate"]["names"] == []
    assert Certificate.objects.get(site__domain="tls.example.com").next_attempt_at is not None


def test_a_site_without_tls_fields_gets_the_defaults_and_no_certificate(demo, billing, settings):
    settings.HOSTPANEL_ACME_DIRECTORY = ""
    created = billing.post(
        "/api/v1/sites/", {"domain": "plain.example.com", "balancer": "bronze", "plone_path": "/plone/p"}, format="json"
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["tls"], body["https_redirect"], body["hsts_seconds"], body["certificate"]) == ("none", True, 0, None)


@pytest.mark.parametrize(
    ("field", "value"), [("tls", "letsencrypt"), ("hsts_seconds", 2 * 365 * 24 * 3600 + 1), ("hsts_seconds", -1)]
)
def test_bad_https_fields_are_refused_by_the_model(shop, billing, field, value):
    answer = billing.patch("/api/v1/sites/shop.example.com/", {field: value}, format="json")
    assert answer.status_code == 400
    assert field in answer.json()["errors"]


def test_switching_a_site_to_http_only_stops_ordering(shop, billing):
    assert billing.patch("/api/v1/sites/shop.example.com/", {"tls": "none"}, format="json").status_code == 200
    assert Certificate.objects.get(site=shop).next_attempt_at is None
    assert billing.patch("/api/v1/sites/shop.example.com/", {"tls": "acme"}, format="json").status_code == 200
    assert Certificate.objects.get(site=shop).next_attempt_at is not None


def test_the_billing_system_uploads_the_customers_certificate(shop, billing, tls_pki):
    upload = tls_pki.issue(NAMES)
    answer = billing.put(URL, upload, format="json")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["status"] == "valid"
    assert body["source"] == "custom"
    assert body["names"] == NAMES
    assert body["issuer"] == "CN=Test Intermediate"
    assert "private_key_pem" not in body
    shop.refresh_from_db()
    assert shop.tls == "custom"
    site = billing.get("/api/v1/sites/shop.example.com/").json()
    assert site["tls"] == "custom"
    assert site["certificate"]["serial"] == body["serial"]
    assert set(site["certificate"]) == {
        "status",
        "names",
        "not_before",
        "not_after",
        "issuer",
        "serial",
        "last_error",
        "next_attempt_at",
    }


@pytest.mark.parametrize(
    ("make", "field", "words"),
    [
        (lambda p: p.issue(NAMES[:1]), "certificate_pem", "does not cover www.shop.example.com"),
        (
            lambda p: {**p.issue(NAMES), "private_key_pem": p.issue(NAMES)["private_key_pem"]},
            "private_key_pem",
            "match",
        ),
        (lambda p: {**p.issue(NAMES), "chain_pem": ""}, "chain_pem", "does not verify"),
        (lambda p: p.issue(NAMES, key=pki.rsa_key(1024)), "private_key_pem", "1024 bits"),
        (
            lambda p: p.issue(
                NAMES,
                not_before=pki.NOW - datetime.timedelta(days=90),
                not_after=pki.NOW - datetime.timedelta(days=1),
            ),
            "certificate_pem",
            "expired",
        ),
        (lambda p: {**p.issue(NAMES), "certificate_pem": "not a PEM"}, "certificate_pem", "PEM"),
    ],
    ids=["names", "key-mismatch", "chain", "weak-key", "expired", "unreadable"],
)
def test_a_bad_certificate_is_refused_naming_the_check_and_nothing_is_saved(shop, billing, tls_pki, make, field, words):
    before = Certificate.objects.get(site=shop)
    answer = billing.put(URL, make(tls_pki), format="json")
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert list(errors) == [field]
    assert words in " ".join(errors[field])
    after = Certificate.objects.get(site=shop)
    assert (after.source, after.status, after.certificate_pem) == (before.source, before.status, "")
    shop.refresh_from_db()
    assert shop.tls == "acme"
    assert not AuditEntry.objects.filter(action="certificate.set_custom").exists()


def test_the_private_key_is_in_no_answer_no_log_line_and_no_audit_entry(shop, operator, billing, tls_pki, caplog):
    caplog.set_level(logging.DEBUG)
    upload = tls_pki.issue(NAMES)
    bodies = [billing.put(URL, upload, format="json").content]
    bodies.append(billing.put(URL, {**upload, "chain_pem": ""}, format="json").content)  # an error answer too
    bodies += [operator.get(URL).content, operator.get("/api/v1/sites/").content]
    bodies.append(operator.get("/api/v1/sites/shop.example.com/").content)
    audit = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert "certificate.set_custom" in audit
    for line in key_body(upload):
        for body in bodies:
            assert line.encode() not in body
        assert line not in audit
        assert line not in caplog.text
    assert b"PRIVATE KEY" not in b"".join(bodies)


def test_get_answers_404_for_a_site_without_certificate(demo, billing):
    answer = billing.get("/api/v1/sites/linux.co.uk/certificate/")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"
    assert billing.get("/api/v1/sites/nowhere.example/certificate/").status_code == 404


def test_renew_now_is_for_operators_and_makes_the_certificate_due(shop, operator, billing, reader, settings):
    settings.HOSTPANEL_ACME_DIRECTORY = "https://acme.invalid/directory"  # a CA to order from
    certificate = Certificate.objects.get(site=shop)
    Certificate.objects.filter(pk=certificate.pk).update(
        status=CertificateStatus.FAILED, failures=3, next_attempt_at=timezone.now() + datetime.timedelta(hours=4)
    )
    assert billing.post(f"{URL}renew/").status_code == 403
    assert reader.post(f"{URL}renew/").status_code == 403
    answer = operator.post(f"{URL}renew/")
    assert answer.status_code == 202, answer.json()
    certificate.refresh_from_db()
    assert certificate.next_attempt_at <= timezone.now()
    assert answer.json()["status"] == "failed"  # still failed until the worker orders it
    assert AuditEntry.objects.filter(action="certificate.renew", object_key=NAMES[0]).exists()


def test_renew_now_is_refused_for_a_site_with_its_own_certificate_or_http_only(shop, operator, tls_pki, billing):
    assert billing.put(URL, tls_pki.issue(NAMES), format="json").status_code == 200
    answer = operator.post(f"{URL}renew/")
    assert answer.status_code == 400
    assert "own certificate" in answer.json()["errors"]["tls"][0]
    assert Certificate.objects.get(site=shop).source == CertificateSource.CUSTOM
    operator.patch("/api/v1/sites/shop.example.com/", {"tls": "none"}, format="json")
    assert "HTTP only" in operator.post(f"{URL}renew/").json()["errors"]["tls"][0]


def test_the_reader_scope_reads_but_may_not_upload(shop, reader, tls_pki):
    assert reader.get(URL).status_code == 200
    assert reader.put(URL, tls_pki.issue(NAMES), format="json").status_code == 403


def test_sites_filter_by_certificate_status(shop, billing):
    listed = billing.get("/api/v1/sites/?certificate_status=pending").json()["results"]
    assert [site["domain"] for site in listed] == [NAMES[0]]
    without = billing.get("/api/v1/sites/?certificate_status=none").json()["results"]
    assert NAMES[0] not in [site["domain"] for site in without]
    assert "linux.co.uk" in [site["domain"] for site in without]


def _sites_with_certificates(demo, actor, tls_pki, count: int) -> None:
    """`count` sites, each with a certificate: every other one the customer's own, the rest pending ACME."""
    for n in range(count):
        domain = f"c{n}.example.org"
        site = site_services.site_create(actor=actor, domain=domain, balancer=demo, plone_path="/plone/c", tls="acme")
        if n % 2:
            site_certificate_upload(site, actor=actor, **tls_pki.issue([domain]))


@pytest.mark.parametrize("count", [1, 50])
def test_the_site_list_reads_certificates_in_a_constant_number_of_queries(
    demo, actor, billing, tls_pki, count, django_assert_max_num_queries
):
    _sites_with_certificates(demo, actor, tls_pki, count)
    with django_assert_max_num_queries(7):  # token, count, sites, aliases, certificates, front-ends, pending
        answer = billing.get("/api/v1/sites/?page_size=100")
    results = answer.json()["results"]
    assert sum(1 for site in results if site["certificate"]) == count
