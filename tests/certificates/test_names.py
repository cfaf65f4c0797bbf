"""Which names a site's HTTPS vhost answers for: only the site's own names that its certificate covers (never
another customer's name on the certificate, never a wildcard pattern itself); a customer's own certificate that
no longer covers the site's names is flagged `mismatch`; a wildcard certificate renders; extra names on an upload
are accepted and ignored, said so."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from alerts.conditions import database_conditions
from balancers import services as balancer_services
from balancers.models import Balancer
from certificates import services as certificate_services
from certificates.choices import CertificateStatus
from certificates.models import Certificate
from certificates.selectors import certificate_detail, certificates_needing_attention
from certificates.validation import uncovered_names, unused_names
from rendering.render import render_tree, render_tree_isolated
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site, SiteChange
from sites.services import site_certificate_upload
from tests.factories import ACTOR


@pytest.fixture
def frontend(db):
    return balancer_services.frontend_create(actor=ACTOR, name="fe", address="127.0.0.1", transport="local")


@pytest.fixture
def bronze(db) -> Balancer:
    return Balancer.objects.create(name="bronze")


def make_site(bronze, domain: str, aliases: list[str] | None = None, tls: str = "none") -> Site:
    return site_services.site_create(
        actor=ACTOR, domain=domain, balancer=bronze, plone_path="/plone/x", aliases=aliases or [], tls=tls
    )


def upload(site: Site, test_pki, names: list[str]) -> Certificate:
    return site_certificate_upload(site, actor=ACTOR, **test_pki.issue(names))


def vhost(tree: dict[str, str], domain: str) -> list[str]:
    """The ServerName and ServerAlias lines of a site's HTTPS vhost."""
    return [line.strip() for line in tree[f"sites/{domain}.conf"].splitlines() if line.strip().startswith("Server")]


@pytest.mark.parametrize(
    ("certificate", "names", "uncovered", "unused"),
    [
        (["a.example", "www.a.example"], ["a.example", "www.a.example"], [], []),
        (["a.example", "b.example"], ["a.example"], [], ["b.example"]),
        (["old.example"], ["new.example"], ["new.example"], ["old.example"]),
        (["a.example", "*.a.example"], ["a.example", "www.a.example", "x.y.a.example"], ["x.y.a.example"], []),
        (["*.a.example"], ["a.example"], ["a.example"], ["*.a.example"]),
        (["w*.a.example"], ["www.a.example"], ["www.a.example"], ["w*.a.example"]),  # leftmost whole label only
    ],
)
def test_the_name_rules(certificate, names, uncovered, unused):
    assert uncovered_names(certificate, names) == uncovered
    assert unused_names(certificate, names) == unused


def test_an_upload_with_another_customers_name_is_accepted_but_that_name_is_never_served_with_it(
    bronze, frontend, test_pki
):
    mine = make_site(bronze, "mine.example", ["www.mine.example"])
    make_site(bronze, "theirs.example")
    certificate = upload(mine, test_pki, ["mine.example", "www.mine.example", "theirs.example"])
    assert certificate.status == CertificateStatus.VALID
    assert certificate.unused_names == ["theirs.example"]
    assert certificate_detail(certificate)["unused_names"] == ["theirs.example"]
    tree = render_tree(load_snapshot(), frontend)
    assert vhost(tree, "mine.example") == ["ServerName mine.example", "ServerAlias www.mine.example"]
    assert "theirs.example" not in "".join(text for path, text in tree.items() if path.startswith("sites/"))
    assert "sites/theirs.example.conf" not in tree


def test_a_renamed_custom_site_is_flagged_and_its_vhost_keeps_only_the_names_it_owns_and_the_certificate_covers(
    bronze, frontend, test_pki
):
    site = make_site(bronze, "old.example", ["www.old.example"])
    upload(site, test_pki, ["old.example", "www.old.example"])
    site = site_services.site_update(site, actor=ACTOR, domain="new.example")
    certificate = Certificate.objects.get(site=site)
    assert certificate.status == CertificateStatus.MISMATCH
    assert "new.example" in certificate.last_error and "served over HTTP only" in certificate.last_error
    assert certificate in certificates_needing_attention(timezone.now())
    alerts = database_conditions(timezone.now())
    assert any(c.subject == "new.example" and "does not cover" in c.summary for c in alerts)
    # old.example may be another customer's now: claimed by nobody's HTTPS vhost
    other = make_site(bronze, "old.example")
    tree = render_tree(load_snapshot(), frontend)
    assert vhost(tree, "new.example") == ["ServerName www.old.example"]
    assert "old.example" not in tree["sites/new.example.conf"].replace("www.old.example", "")
    assert "sites/old.example.conf" not in tree
    # every name of the renamed site is served over HTTP (no redirect to a certificate that does not cover it)
    assert "redirect|" not in tree["routes.map"]
    site_services.site_delete(other, actor=ACTOR)
    # the rename undone: covered again, valid again
    site = site_services.site_update(site, actor=ACTOR, domain="old.example")
    certificate.refresh_from_db()
    assert (certificate.status, certificate.last_error) == (CertificateStatus.VALID, "")


def test_a_custom_certificate_covering_none_of_the_names_gives_no_https_vhost(bronze, frontend, test_pki):
    site = make_site(bronze, "old.example")
    upload(site, test_pki, ["old.example"])
    site_services.site_update(site, actor=ACTOR, domain="new.example")
    tree = render_tree(load_snapshot(), frontend)
    assert not [path for path in tree if path.startswith(("sites/", "tls/"))]
    assert "<VirtualHost" not in tree["default.conf"]


def test_a_wildcard_certificate_renders_and_is_never_a_server_alias(bronze, frontend, test_pki):
    site = make_site(bronze, "shop.example", ["www.shop.example", "a.shop.example"])
    certificate = upload(site, test_pki, ["shop.example", "*.shop.example"])
    assert certificate.status == CertificateStatus.VALID and certificate.unused_names == []
    make_site(bronze, "other.shop.example")  # another customer's name the wildcard covers
    result = render_tree_isolated(load_snapshot(), frontend)
    assert result.problems == ()
    assert vhost(result.tree, "shop.example") == [
        "ServerName shop.example",
        "ServerAlias a.shop.example www.shop.example",
    ]
    assert "*.shop.example" not in "".join(result.tree.values())
    assert "routes.map" in result.tree and "other.shop.example" in result.tree["routes.map"]


def test_the_default_vhost_prefers_a_certificate_naming_only_its_own_sites_names(bronze, frontend, test_pki):
    first = make_site(bronze, "a.example")
    upload(first, test_pki, ["a.example", "*.a.example"])
    second = make_site(bronze, "b.example")
    upload(second, test_pki, ["b.example"])
    tree = render_tree(load_snapshot(), frontend)
    assert "tls/b.example.crt" in tree["default.conf"] and "tls/a.example.crt" not in tree["default.conf"]


def test_an_acme_certificate_after_a_rename_serves_only_owned_covered_names_and_is_ordered_again(
    bronze, frontend, test_pki
):
    site = make_site(bronze, "old.example", ["www.old.example"], tls="acme")
    certificate = Certificate.objects.get(site=site)
    issued = test_pki.issue(["old.example", "www.old.example"])
    certificate_services._apply_parsed(
        certificate, certificate_services.parse_issued(issued["certificate_pem"], issued["private_key_pem"])
    )
    certificate.status, certificate.renew_after = CertificateStatus.VALID, timezone.now() + datetime.timedelta(days=30)
    certificate.next_attempt_at = certificate.renew_after
    certificate.save()
    site = site_services.site_update(site, actor=ACTOR, domain="new.example")
    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.RENEWING  # ordered again for the new names
    assert certificate.next_attempt_at <= timezone.now()
    make_site(bronze, "old.example")  # another customer takes the old name
    tree = render_tree(load_snapshot(), frontend)
    assert vhost(tree, "new.example") == ["ServerName www.old.example"]
    assert "sites/old.example.conf" not in tree


def test_a_certificate_change_is_still_journaled_after_the_mismatch_migration(bronze, test_pki):
    # SQLite rebuilds the table for the new status constraint, which drops triggers: the migration restores them
    site = make_site(bronze, "journal.example")
    upload(site, test_pki, ["journal.example"])
    before = SiteChange.objects.count()
    Certificate.objects.filter(site=site).update(serial="renewed")  # past the models, like raw SQL
    assert SiteChange.objects.filter(site_id=site.pk).count() and SiteChange.objects.count() == before + 1
