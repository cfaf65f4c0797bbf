"""History and audit pages read as words: field labels, yes/no, times to the second, no "∅", and never a
secret (not even its field name); the favicon is served; the menu names what each import imports."""

from __future__ import annotations

from hostpanel import audit
from hostpanel.audit import Actor
from hostpanel.models import AuditEntry
from sites import services as site_services
from sites.models import Site

BILLING = Actor(name="billing-token", source="api")


def test_a_sites_history_uses_words_and_hides_bookkeeping(demo, operator_client):
    site = Site.objects.get(domain="linux.co.uk")
    site_services.site_update(site, actor=BILLING, plone_path="/plone/moved", https_redirect=False)
    html = operator_client.get("/sites/linux.co.uk/").content.decode()
    history = html.split("<h2>History</h2>", 1)[1]
    assert "<strong>Plone path</strong>" in history and "/plone/moved" in history
    assert "∅" not in history and "plone_path" not in history
    assert "<time datetime=" in history  # relative, with the exact time in its title


def test_secrets_never_show_in_the_audit_views(demo, operator_client):
    entry = audit.record(
        BILLING,
        "certificate.set_custom",
        "certificate",
        key="linux.co.uk",
        before={"private_key_encrypted": "", "not_after": None},
        after={"private_key_encrypted": "********", "not_after": "2027-01-02T03:04:05.123456+00:00"},
    )
    assert entry.pk
    html = operator_client.get("/audit/?object_key=linux.co.uk").content.decode()
    assert "private_key" not in html and "********" not in html
    assert "valid until" in html and "2027-01-02 03:04:05" in html and ".123456" not in html


def test_the_audit_log_is_paged_and_searchable(demo, operator_client):
    for i in range(60):
        AuditEntry.objects.create(actor="olga", action="site.update", object_type="site", object_key=f"s{i}.example")
    first = operator_client.get("/audit/").content.decode()
    assert 'href="?page=2"' in first or "page=2" in first
    found = operator_client.get("/audit/?object_key=s42.example").content.decode()
    assert "s42.example" in found and "s41.example" not in found


def test_the_favicon_is_served_and_linked(demo, operator_client, client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("hostpanel/favicon.svg")
    html = operator_client.get("/").content.decode()
    assert 'rel="icon"' in html and "favicon.svg" in html


def test_the_menu_names_each_import_by_what_it_imports(demo, operator_client):
    html = operator_client.get("/sites/").content.decode()
    nav = html.split('aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    assert ">Import Apache config<" in nav and ">Import<" not in nav
    assert ">Import CSV<" in html  # the sites list's own import
