"""The certificate on the site pages: what the site page shows, "Renew now" and "Upload own certificate"
(operators only; errors under the field that failed; the key never shown again), the sites list's
certificate filter, the dashboard's certificates needing attention, and internationalised host names."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from certificates.choices import AttemptOutcome, CertificateStatus
from certificates.models import AcmeAttempt, Certificate
from devrig import pki
from hostpanel.models import AuditEntry
from hostpanel.templatetags.panel import hostname, unicode_hostname
from sites import services as site_services
from sites.models import Site
from tests.assertions import key_body

NAMES = ["shop.example.com", "www.shop.example.com"]
IDN = "xn--bcher-shop-9db.example"


@pytest.fixture
def shop(demo, actor) -> Site:
    return site_services.site_create(
        actor=actor, domain=NAMES[0], balancer=demo, plone_path="/plone/shop", aliases=[NAMES[1]], tls="acme"
    )


def upload_url(site: Site) -> str:
    return reverse("certificates:upload", args=[site.domain])


def renew_url(site: Site) -> str:
    return reverse("certificates:renew", args=[site.domain])


# --- host names -------------------------------------------------------------------------------------
def test_an_internationalised_name_is_shown_in_unicode_beside_its_ascii_form():
    assert hostname(IDN) == f"{IDN} (bücher-shop.example)"
    assert hostname("www." + IDN) == f"www.{IDN} (www.bücher-shop.example)"


@pytest.mark.parametrize("name", ["example.com", "xn--zz.example", "xn--a-.example", "", "xn--" + "a" * 70])
def test_a_plain_or_undecodable_name_is_shown_as_it_is(name):
    assert hostname(name) == name
    assert unicode_hostname(name) == name


def test_the_sites_pages_show_an_idn_in_unicode(operator_client, demo, actor):
    site_services.site_create(
        actor=actor,
        domain="bücher-shop.example",
        balancer=demo,
        plone_path="/plone/b",
        aliases=["www.bücher-shop.example"],
    )
    listed = operator_client.get(reverse("sites:site_list")).content.decode()
    assert f"{IDN} (bücher-shop.example)" in listed
    assert f"www.{IDN} (www.bücher-shop.example)" in listed
    detail = operator_client.get(reverse("sites:site_detail", args=[IDN])).content.decode()
    assert f"{IDN} (bücher-shop.example)" in detail
    assert f"www.{IDN} (www.bücher-shop.example)" in detail


# --- the site page ------------------------------------------------------------------------------------
def test_the_site_page_shows_the_certificate_and_its_attempts(operator_client, shop):
    certificate = Certificate.objects.get(site=shop)
    Certificate.objects.filter(pk=certificate.pk).update(
        status=CertificateStatus.FAILED, last_error="www.shop.example.com does not point at our front-ends"
    )
    AcmeAttempt.objects.create(
        certificate=certificate,
        names=NAMES,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        outcome=AttemptOutcome.CA_ERROR,
        ca_error="urn:ietf:params:acme:error:rateLimited: too many failed authorizations",
        order_url="https://ca.example/order/1",
    )
    page = operator_client.get(shop.get_absolute_url()).content.decode()
    assert 'id="certificate-status">Failed' in page
    assert "does not point at our front-ends" in page
    assert "too many failed authorizations" in page
    assert "The CA refused" in page
    assert "Renew now" in page and "Upload own certificate" in page


def test_a_viewer_sees_the_certificate_but_no_buttons_and_may_not_post(viewer_client, shop):
    page = viewer_client.get(shop.get_absolute_url()).content.decode()
    assert 'id="certificate-status">Pending' in page
    assert "Renew now" not in page and "Upload own certificate" not in page
    assert viewer_client.post(renew_url(shop)).status_code == 403
    assert viewer_client.get(upload_url(shop)).status_code == 403


# --- renew now ----------------------------------------------------------------------------------------
def test_renew_now_asks_first_then_makes_the_certificate_due(operator_client, shop, settings):
    settings.HOSTPANEL_ACME_DIRECTORY = "https://acme.invalid/directory"
    Certificate.objects.filter(site=shop).update(
        failures=2, next_attempt_at=timezone.now() + datetime.timedelta(hours=2)
    )
    confirm = operator_client.get(renew_url(shop))
    assert confirm.status_code == 200
    assert "Order a new certificate for shop.example.com" in confirm.content.decode()
    assert Certificate.objects.get(site=shop).next_attempt_at > timezone.now()  # a GET changes nothing
    done = operator_client.post(renew_url(shop), follow=True)
    assert "Renewal of shop.example.com requested" in done.content.decode()
    assert Certificate.objects.get(site=shop).next_attempt_at <= timezone.now()
    assert AuditEntry.objects.filter(action="certificate.renew", actor="olga", source="web").exists()


def test_renew_now_without_an_acme_ca_offers_no_button_and_refuses(operator_client, shop, settings):
    settings.HOSTPANEL_ACME_DIRECTORY = ""
    Certificate.objects.filter(site=shop).update(next_attempt_at=timezone.now() + datetime.timedelta(hours=2))
    confirm = operator_client.get(renew_url(shop)).content.decode()
    assert "No ACME certificate authority is configured" in confirm and ">Renew now</button>" not in confirm
    refused = operator_client.post(renew_url(shop))
    assert refused.status_code == 400 and "HOSTPANEL_ACME_DIRECTORY is empty" in refused.content.decode()
    assert Certificate.objects.get(site=shop).next_attempt_at > timezone.now()


def test_renew_now_for_an_http_only_site_says_why_not(operator_client, shop, actor):
    site_services.site_update(shop, actor=actor, tls="none")
    response = operator_client.post(renew_url(shop))
    assert response.status_code == 400
    assert "HTTP only" in response.content.decode()


# --- upload own certificate ------------------------------------------------------------------------------
def test_an_operator_uploads_the_customers_certificate(operator_client, shop, tls_pki):
    upload = tls_pki.issue(NAMES)
    response = operator_client.post(upload_url(shop), upload, follow=True)
    page = response.content.decode()
    assert "Own certificate of shop.example.com saved" in page
    assert 'id="certificate-status">Valid' in page
    assert "CN=Test Intermediate" in page
    shop.refresh_from_db()
    assert shop.tls == "custom"
    for line in key_body(upload):
        assert line not in page


def test_the_certificate_may_come_as_files(operator_client, shop, tls_pki):
    upload = tls_pki.issue(NAMES)
    files = {
        name.replace("_pem", "_file"): SimpleUploadedFile(f"{name}.pem", text.encode(), "application/x-pem-file")
        for name, text in upload.items()
    }
    response = operator_client.post(upload_url(shop), files)
    assert response.status_code == 302
    assert Certificate.objects.get(site=shop).source == "custom"


def test_a_refused_certificate_file_comes_back_as_text_and_the_key_is_asked_for_again(operator_client, shop, tls_pki):
    upload = tls_pki.issue(NAMES) | {"chain_pem": ""}
    files = {
        name.replace("_pem", "_file"): SimpleUploadedFile(f"{name}.pem", text.encode(), "application/x-pem-file")
        for name, text in upload.items()
        if text
    }
    page = operator_client.post(upload_url(shop), files).content.decode()
    assert "The chain does not verify" in page
    assert upload["certificate_pem"].splitlines()[1] in page  # shown in the certificate's textarea
    for line in key_body(upload):
        assert line not in page
    assert "paste it or choose its file once more" in page


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda p, u: {**p.issue(NAMES[:1]), "private_key_pem": u["private_key_pem"]}, "private_key_pem", "match"),
        (lambda p, u: {**u, "chain_pem": ""}, "chain_pem", "does not verify"),
        (lambda p, u: p.issue(NAMES[:1]), "certificate_pem", "does not cover www.shop.example.com"),
        (lambda p, u: p.issue(NAMES, key=pki.rsa_key(1024)), "private_key_pem", "1024 bits"),
        (
            lambda p, u: {**u, "certificate_pem": u["chain_pem"] + u["certificate_pem"], "chain_pem": ""},
            "certificate_pem",
            "is a certificate authority's (Test Intermediate), not the site's own",
        ),
        (
            lambda p, u: {**u, "certificate_pem": u["certificate_pem"].replace("\n", "\nAAAA", 2)},
            "certificate_pem",
            "is damaged",
        ),
        (lambda p, u: {**u, "chain_pem": u["private_key_pem"]}, "chain_pem", "This is a private key"),
    ],
    ids=["mismatch", "chain", "names", "weak-key", "reversed-chain", "damaged", "key-as-chain"],
)
def test_a_bad_certificate_shows_the_error_under_its_field_and_never_the_key(
    operator_client, shop, tls_pki, change, field, words
):
    data = change(tls_pki, tls_pki.issue(NAMES))
    response = operator_client.post(upload_url(shop), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == [field]
    assert words in " ".join(form.errors[field])
    page = response.content.decode()
    for library_text in ("ParseError", "<Certificate(", "candidates exhausted", "cryptography.io"):
        assert library_text not in page
    assert "The private key is not shown again after a failed try" in page
    key = {"certificate_pem": data["certificate_pem"], "private_key_pem": data["private_key_pem"]}
    for line in key_body(key):
        assert line not in page  # the key's textarea is not filled in again, nor a key pasted elsewhere
    assert data["certificate_pem"].splitlines()[1] in page  # the certificate is, to correct it
    if field == "chain_pem" and "PRIVATE KEY" in data["chain_pem"]:
        assert "PRIVATE KEY" not in response.context["form"]["chain_pem"].value()
    assert Certificate.objects.get(site=shop).source == "acme"
    shop.refresh_from_db()
    assert shop.tls == "acme"


# --- the sites list and the dashboard ----------------------------------------------------------------------
def test_the_sites_list_filters_by_certificate_status(operator_client, shop):
    pending = operator_client.get(reverse("sites:site_list"), {"certificate": "pending"}).content.decode()
    assert "shop.example.com" in pending and "linux.co.uk" not in pending
    without = operator_client.get(reverse("sites:site_list"), {"certificate": "none"}).content.decode()
    assert "linux.co.uk" in without and ">shop.example.com<" not in without
    assert operator_client.get(reverse("sites:site_list"), {"certificate": "bogus"}).status_code == 200


def _expiring(site: Site, days: int) -> None:
    Certificate.objects.filter(site=site).update(
        status=CertificateStatus.VALID,
        certificate_pem="x",
        private_key_encrypted="x",
        not_after=timezone.now() + datetime.timedelta(days=days),
    )


def test_the_dashboard_lists_certificates_failing_or_expiring_within_14_days(
    operator_client, demo, actor, django_assert_max_num_queries
):
    for n, days in enumerate([3, 40]):
        site = site_services.site_create(
            actor=actor, domain=f"e{n}.example.org", balancer=demo, plone_path="/plone/e", tls="acme"
        )
        _expiring(site, days)
    failed = site_services.site_create(actor=actor, domain="f.example.org", balancer=demo, plone_path="/p", tls="acme")
    Certificate.objects.filter(site=failed).update(status=CertificateStatus.FAILED, last_error="CA down")
    operator_client.get("/")
    page = operator_client.get("/").content.decode()
    section = page.split('id="certificates-attention"')[1].split("</section>")[0]
    assert "e0.example.org" in section and "f.example.org" in section and "CA down" in section
    assert "e1.example.org" not in section
    with CaptureQueriesContext(connection) as small:
        operator_client.get("/")
    for n in range(30):
        site = site_services.site_create(
            actor=actor, domain=f"x{n}.example.org", balancer=demo, plone_path="/plone/x", tls="acme"
        )
        _expiring(site, 1)
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = operator_client.get("/").content.decode()
    assert "x29.example.org" in page.split('id="certificates-attention"')[1]


@pytest.mark.parametrize("count", [1, 50])
def test_the_sites_list_reads_certificates_in_a_constant_number_of_queries(
    operator_client, demo, actor, count, django_assert_max_num_queries
):
    for n in range(count):
        site_services.site_create(actor=actor, domain=f"c{n}.example.org", balancer=demo, plone_path="/p", tls="acme")
    operator_client.get(reverse("sites:site_list"))  # warm the session and the user's group cache
    with django_assert_max_num_queries(7):  # session, user, groups, balancers, count, page, aliases
        page = operator_client.get(reverse("sites:site_list")).content.decode()
    assert page.count('<span class="status status-pending">Pending</span>') == count
