"""The Django admin is a fallback door: it too goes through the services (validation, audit)."""

from hostpanel.models import AuditEntry
from sites.models import Site


def test_admin_site_creation_goes_through_the_service(admin_client, demo):
    response = admin_client.post(
        "/admin/sites/site/add/",
        {
            "domain": "Bücher.example",
            "balancer": demo.pk,
            "plone_path": "/plone/buecher",
            "customer_ref": "C-1",
            "aliases_text": "www.bücher.example",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    site = Site.objects.get(domain="xn--bcher-kva.example")
    assert [a.name for a in site.aliases.all()] == ["www.xn--bcher-kva.example"]
    entry = AuditEntry.objects.get(action="site.create", object_key="xn--bcher-kva.example")
    assert entry.source == "admin" and entry.actor == "admin"


def test_admin_shows_the_validator_message_for_a_hostile_path(admin_client, demo):
    response = admin_client.post(
        "/admin/sites/site/add/",
        {"domain": "x.example", "balancer": demo.pk, "plone_path": "/plone/</VirtualHost>", "aliases_text": ""},
    )
    assert response.status_code == 200
    assert "must not contain" in response.content.decode()
    assert not Site.objects.filter(domain="x.example").exists()
