"""The sites pages and forms: operators can change sites and import them, and every form shows the
shared validators' own message for a hostile value (the forms only translate; the services validate)."""

from __future__ import annotations

import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from balancers.models import Deployment
from hostpanel import validators
from hostpanel.models import AuditEntry
from sites import services as site_services
from sites.models import Site
from tests.assertions import message_of, shows

NEWLINE_DOMAIN = "evil.example.com\nInclude /etc/passwd"
VHOST_PATH = "/plone/x</VirtualHost>"


SITE_DATA = {"domain": "new.example.com", "aliases": "", "balancer": "bronze", "plone_path": "/plone/new"}


def test_an_operator_adds_a_site_with_aliases_one_per_line(operator_client, demo):
    data = {**SITE_DATA, "aliases": "www.new.example.com\r\nshop.new.example.com\r\n", "customer_ref": "C-1"}
    response = operator_client.post(reverse("sites:site_create"), data)
    assert response.status_code == 302
    site = Site.objects.get(domain="new.example.com")
    assert sorted(site.aliases.values_list("name", flat=True)) == ["shop.new.example.com", "www.new.example.com"]
    entry = AuditEntry.objects.get(action="site.create", object_key="new.example.com")
    assert (entry.actor, entry.source) == ("olga", "web")


def test_the_site_form_shows_the_validator_message_for_a_newline_in_the_domain(operator_client, demo):
    response = operator_client.post(reverse("sites:site_create"), {**SITE_DATA, "domain": NEWLINE_DOMAIN})
    assert response.status_code == 200
    assert shows(response, message_of(validators.normalize_hostname, NEWLINE_DOMAIN))
    assert "A host name must not contain a newline." in response.content.decode()
    assert not Site.objects.filter(plone_path="/plone/new").exists()


def test_the_site_form_shows_the_validator_message_for_a_closing_vhost_tag_in_the_path(operator_client, demo):
    response = operator_client.post(reverse("sites:site_create"), {**SITE_DATA, "plone_path": VHOST_PATH})
    assert shows(response, message_of(validators.validate_plone_path, VHOST_PATH))
    assert 'class="field field-invalid"' in response.content.decode()


def test_the_site_form_shows_a_bad_alias_under_the_aliases_field(operator_client, demo):
    response = operator_client.post(
        reverse("sites:site_create"), {**SITE_DATA, "aliases": "ok.example.com\nbad<alias>.example.com"}
    )
    body = response.content.decode()
    assert "must not contain" in body
    assert not Site.objects.filter(domain="new.example.com").exists()


def test_an_operator_edits_a_site_and_its_aliases(operator_client, demo):
    url = reverse("sites:site_update", args=["linux.co.uk"])
    assert "www.linux.co.uk" in operator_client.get(url).content.decode()
    data = {"domain": "linux.co.uk", "aliases": "linux.example.net", "balancer": "silver", "plone_path": "/plone/lx"}
    assert operator_client.post(url, data).status_code == 302
    site = Site.objects.get(domain="linux.co.uk")
    assert (site.balancer.name, site.plone_path) == ("silver", "/plone/lx")
    assert list(site.aliases.values_list("name", flat=True)) == ["linux.example.net"]


def test_the_edit_form_shows_the_validator_message_for_a_hostile_path(operator_client, demo):
    url = reverse("sites:site_update", args=["linux.co.uk"])
    data = {"domain": "linux.co.uk", "aliases": "", "balancer": "bronze", "plone_path": VHOST_PATH}
    response = operator_client.post(url, data)
    assert shows(response, message_of(validators.validate_plone_path, VHOST_PATH))
    assert Site.objects.get(domain="linux.co.uk").plone_path == "/plone/linux"


def test_an_operator_suspends_with_a_reason_and_unsuspends(operator_client, demo):
    response = operator_client.post(reverse("sites:site_suspend", args=["linux.co.uk"]), {"reason": "unpaid"})
    assert response.status_code == 302
    site = Site.objects.get(domain="linux.co.uk")
    assert (site.status, site.suspended_reason) == ("suspended", "unpaid")
    assert "Unsuspend" in operator_client.get(site.get_absolute_url()).content.decode()
    operator_client.post(reverse("sites:site_unsuspend", args=["linux.co.uk"]))
    assert Site.objects.get(domain="linux.co.uk").status == "active"


def test_the_suspend_form_shows_the_validator_message_for_a_newline_in_the_reason(operator_client, demo):
    response = operator_client.post(reverse("sites:site_suspend", args=["linux.co.uk"]), {"reason": "a\nb"})
    assert shows(response, message_of(validators.validate_no_control_characters, "a\nb"))
    assert Site.objects.get(domain="linux.co.uk").status == "active"


def test_deleting_a_site_asks_first_then_deletes(operator_client, demo):
    url = reverse("sites:site_delete", args=["linux.co.uk"])
    page = operator_client.get(url).content.decode()
    assert "Delete linux.co.uk" in page
    assert Site.objects.filter(domain="linux.co.uk").exists()
    assert operator_client.post(url).status_code == 302
    assert not Site.objects.filter(domain="linux.co.uk").exists()


def test_the_sites_list_finds_a_site_by_alias_and_by_customer_ref(operator_client, demo):
    url = reverse("sites:site_list")
    assert "linux.co.uk" in operator_client.get(url, {"q": "www.linux"}).content.decode()
    assert "linux.co.uk" in operator_client.get(url, {"q": "demo-0001"}).content.decode()
    assert "linux.co.uk" not in operator_client.get(url, {"q": "nomatch"}).content.decode().split("<tbody>")[1]
    assert "linux.co.uk" not in operator_client.get(url, {"status": "suspended"}).content.decode().split("<tbody>")[1]
    assert "linux.co.uk" not in operator_client.get(url, {"balancer": "silver"}).content.decode().split("<tbody>")[1]


def test_the_sites_list_sorts_and_paginates_by_50(operator_client, demo):
    Site.objects.bulk_create(Site(domain=f"s{i:03d}.example.com", balancer=demo, plone_path="/p") for i in range(120))
    body = operator_client.get(reverse("sites:site_list"), {"sort": "-domain", "page": 3}).content.decode()
    rows = body.split("<tbody>")[1].count("<tr>")
    assert rows == 21  # 121 sites: 50 + 50 + 21
    assert "Page 3 of 3" in body
    first = operator_client.get(reverse("sites:site_list"), {"sort": "-domain"}).content.decode()
    assert first.index("s119.example.com") < first.index("s118.example.com")


HEADER = "domain,aliases,balancer,plone_path,customer_ref\n"


def test_the_import_preview_shows_per_row_errors_and_imports_nothing(operator_client, demo):
    csv_text = (
        HEADER + "a.example.com,www.a.example.com,bronze,/plone/a,C1\nb.example.com,,bronze,/p</VirtualHost>,C2\n"
    )
    response = operator_client.post(reverse("sites:site_import"), {"csv_text": csv_text, "action": "preview"})
    body = response.content.decode()
    assert "1 of 2 row(s) have errors" in body
    assert html.escape(message_of(validators.validate_plone_path, "/p</VirtualHost>")) in body
    assert "Import 2 site(s)" not in body
    # even a forced import saves nothing while a row is bad
    operator_client.post(reverse("sites:site_import"), {"csv_text": csv_text, "action": "import"})
    assert not Site.objects.filter(domain__in=["a.example.com", "b.example.com"]).exists()
    assert not AuditEntry.objects.filter(object_key="a.example.com").exists()


def test_a_good_import_is_previewed_then_saved(operator_client, demo):
    csv_text = (
        HEADER + "a.example.com,www.a.example.com;a.example.org,bronze,/plone/a,C1\nb.example.com,,silver,/plone/b,\n"
    )
    preview = operator_client.post(reverse("sites:site_import"), {"csv_text": csv_text, "action": "preview"})
    assert "Import 2 site(s)" in preview.content.decode()
    assert not Site.objects.filter(domain="a.example.com").exists()
    response = operator_client.post(reverse("sites:site_import"), {"csv_text": csv_text, "action": "import"})
    assert response.status_code == 302
    a = Site.objects.get(domain="a.example.com")
    assert sorted(a.aliases.values_list("name", flat=True)) == ["a.example.org", "www.a.example.com"]
    assert Site.objects.get(domain="b.example.com").balancer.name == "silver"


def test_the_import_accepts_an_uploaded_file(operator_client, demo):
    upload = SimpleUploadedFile("sites.csv", (HEADER + "c.example.com,,bronze,/plone/c,\n").encode())
    response = operator_client.post(reverse("sites:site_import"), {"csv_file": upload, "action": "preview"})
    assert "All 1 row(s) are valid" in response.content.decode()


def test_site_import_is_all_or_nothing_and_catches_duplicates_between_rows(demo, actor):
    rows = [
        {"domain": "x.example.com", "aliases": "", "balancer": "bronze", "plone_path": "/plone/x", "customer_ref": ""},
        {"domain": "y.example.com", "aliases": "x.example.com", "balancer": "nope", "plone_path": "/p"},
        {"domain": "X.example.com", "aliases": "", "balancer": "bronze", "plone_path": "/plone/x2"},
    ]
    result = site_services.site_import(rows, actor=actor)
    assert not result.imported
    assert [bool(r.errors) for r in result.rows] == [False, True, True]
    assert "balancer" in result.rows[1].errors and "aliases" in result.rows[1].errors
    assert "domain" in result.rows[2].errors  # same domain as row 1 once lower-cased
    assert not Site.objects.filter(domain="x.example.com").exists()
    ok = site_services.site_import(rows[:1], actor=actor)
    assert ok.imported and Site.objects.filter(domain="x.example.com").exists()


def test_site_import_dry_run_saves_nothing(demo, actor):
    rows = [{"domain": "z.example.com", "aliases": "", "balancer": "bronze", "plone_path": "/plone/z"}]
    result = site_services.site_import(rows, actor=actor, dry_run=True)
    assert result.error_count == 0 and not result.imported
    assert not Site.objects.filter(domain="z.example.com").exists()


def test_the_sites_list_escapes_what_it_shows(operator_client, demo):
    Site.objects.filter(domain="linux.co.uk").update(customer_ref="<script>alert(1)</script>")
    body = operator_client.get(reverse("sites:site_list")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_an_import_queues_one_automatic_deployment_and_a_failed_one_none(demo, actor, settings):
    pytest.importorskip("deploy")

    settings.HOSTPANEL_AUTO_DEPLOY = True
    row = {"aliases": "", "balancer": "bronze", "customer_ref": ""}
    bad = [
        {**row, "domain": "p.example.com", "plone_path": "/p"},
        {**row, "domain": "q.example.com", "plone_path": "<"},
    ]
    assert not site_services.site_import(bad, actor=actor).imported
    assert Deployment.objects.count() == 0
    good = [{**row, "domain": f"r{i}.example.com", "plone_path": "/plone/r"} for i in range(3)]
    result = site_services.site_import(good, actor=actor)
    assert result.imported
    assert Deployment.objects.count() == 1
    assert result.deployment == Deployment.objects.get()
