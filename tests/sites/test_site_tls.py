"""The site service and the HTTPS fields: defaults, the CSV import's optional columns, and the certificate
following the site (ordered for tls=acme, renewed when the names change, not ordered for custom/none)."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.choices import CertificateSource, CertificateStatus
from certificates.models import Certificate
from sites import services as site_services
from sites.models import Site


@pytest.fixture
def make_site(demo, actor):
    def make(domain: str = "shop.example.com", **kw) -> Site:
        return site_services.site_create(actor=actor, domain=domain, balancer=demo, plone_path="/plone/s", **kw)

    return make


def test_a_new_site_defaults_to_acme_only_when_the_panel_has_an_acme_ca(make_site, settings):
    settings.HOSTPANEL_ACME_DIRECTORY = ""
    assert make_site("a.example.com").tls == "none"
    settings.HOSTPANEL_ACME_DIRECTORY = "https://acme-staging-v02.api.letsencrypt.org/directory"
    site = make_site("b.example.com")
    assert (site.tls, site.https_redirect, site.hsts_seconds) == ("acme", True, 0)
    assert Certificate.objects.get(site=site).status == CertificateStatus.PENDING


def test_an_http_only_site_gets_no_certificate_row(make_site):
    make_site(tls="none")
    assert not Certificate.objects.exists()


def test_changing_the_names_of_an_acme_site_renews_its_live_certificate(make_site, actor):
    site = make_site(tls="acme")
    Certificate.objects.filter(site=site).update(
        status=CertificateStatus.VALID,
        certificate_pem="x",
        private_key_encrypted="x",
        next_attempt_at=timezone.now() + datetime.timedelta(days=60),
    )
    site_services.site_update(site, actor=actor, aliases=["www.shop.example.com"])
    certificate = Certificate.objects.get(site=site)
    assert certificate.status == CertificateStatus.RENEWING
    assert certificate.next_attempt_at <= timezone.now()


def test_switching_to_custom_stops_ordering_and_back_to_acme_orders_again(make_site, actor):
    site = make_site(tls="acme")
    site_services.site_update(site, actor=actor, tls="custom")
    assert Certificate.objects.get(site=site).next_attempt_at is None
    site_services.site_update(site, actor=actor, tls="acme")
    certificate = Certificate.objects.get(site=site)
    assert (certificate.source, certificate.next_attempt_at is not None) == (CertificateSource.ACME, True)


def test_the_csv_import_takes_the_optional_https_columns(demo, actor):
    rows = [
        {"domain": "one.example.com", "balancer": "bronze", "plone_path": "/plone/1", "tls": "none"},
        {
            "domain": "two.example.com",
            "balancer": "bronze",
            "plone_path": "/plone/2",
            "tls": "acme",
            "https_redirect": "no",
            "hsts_seconds": "300",
        },
        {"domain": "three.example.com", "balancer": "bronze", "plone_path": "/plone/3"},
    ]
    result = site_services.site_import(rows, actor=actor)
    assert result.imported, [row.errors for row in result.rows]
    two = Site.objects.get(domain="two.example.com")
    assert (two.tls, two.https_redirect, two.hsts_seconds) == ("acme", False, 300)
    assert Site.objects.get(domain="one.example.com").tls == "none"
    assert Site.objects.get(domain="three.example.com").https_redirect is True


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"tls": "letsencrypt"}, "tls"),
        ({"https_redirect": "maybe"}, "https_redirect"),
        ({"hsts_seconds": "1y"}, "hsts_seconds"),
    ],
)
def test_a_bad_https_cell_is_reported_on_its_row_and_nothing_is_imported(demo, actor, cells, field):
    rows = [{"domain": "one.example.com", "balancer": "bronze", "plone_path": "/plone/1", **cells}]
    result = site_services.site_import(rows, actor=actor)
    assert not result.imported
    assert field in result.rows[0].errors
    assert not Site.objects.filter(domain="one.example.com").exists()


def test_without_an_acme_ca_the_site_form_does_not_offer_it_and_says_why(demo, settings, operator_client):

    settings.HOSTPANEL_ACME_DIRECTORY = ""
    page = operator_client.get(reverse("sites:site_create")).content.decode()
    assert 'value="acme"' not in page and "No ACME certificate authority is configured" in page
    assert 'name="https_redirect" id="id_https_redirect" checked' not in page  # HTTP only: not ticked
    refused = operator_client.post(
        reverse("sites:site_create"),
        {"domain": "a.example.com", "balancer": "bronze", "plone_path": "/plone/a", "tls": "acme"},
    )
    assert refused.status_code == 200 and "tls" in refused.context["form"].errors


def test_with_an_acme_ca_a_new_site_gets_it_and_the_redirect_ticked(demo, settings, operator_client):

    settings.HOSTPANEL_ACME_DIRECTORY = "https://acme-staging-v02.api.letsencrypt.org/directory"
    form = operator_client.get(reverse("sites:site_create")).context["form"]
    assert "acme" in dict(form.fields["tls"].choices)
    assert form["https_redirect"].value() is True and form["tls"].value() == "acme"


def test_an_acme_site_edited_without_a_ca_keeps_its_choice_marked_not_available(make_site, settings, operator_client):

    site = make_site("c.example.com", tls="acme")
    settings.HOSTPANEL_ACME_DIRECTORY = ""
    form = operator_client.get(reverse("sites:site_update", args=[site.domain])).context["form"]
    assert dict(form.fields["tls"].choices)["acme"].endswith("(not available)")
