from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from balancers import services as bs
from balancers.models import Balancer, ZopeServer
from hostpanel.models import AuditEntry
from sites import services as ss
from sites.models import Site, SiteStatus


@pytest.fixture
def balancer(db, actor):
    return bs.balancer_create(actor=actor, name="bronze")


def test_every_write_leaves_an_audit_entry_with_before_and_after(balancer, actor):
    site = ss.site_create(
        actor=actor, domain="a.example", aliases=["www.a.example"], balancer=balancer, plone_path="/p/a"
    )
    ss.site_update(site, actor=actor, plone_path="/p/b", aliases=["www.a.example", "a2.example"])
    ss.site_suspend(site, actor=actor, reason="unpaid invoice")
    ss.site_unsuspend(site, actor=actor)
    ss.site_delete(site, actor=actor)
    entries = list(AuditEntry.objects.filter(object_type="site").order_by("id"))
    assert [e.action for e in entries] == [
        "site.create",
        "site.update",
        "site.suspend",
        "site.unsuspend",
        "site.delete",
    ]
    assert all(e.actor == "tester" and e.object_key == "a.example" for e in entries)
    update = entries[1]
    assert update.before["plone_path"] == "/p/a" and update.after["plone_path"] == "/p/b"
    assert update.after["aliases"] == ["a2.example", "www.a.example"]
    assert entries[2].after["suspended_reason"] == "unpaid invoice"
    assert entries[4].before["domain"] == "a.example" and entries[4].after is None


def test_a_failed_write_changes_nothing_and_audits_nothing(balancer, actor):
    site = ss.site_create(actor=actor, domain="a.example", balancer=balancer, plone_path="/p/a")
    count = AuditEntry.objects.count()
    with pytest.raises(ValidationError):
        ss.site_update(site, actor=actor, plone_path="/p/ok", aliases=["bad alias.example"])
    site.refresh_from_db()
    assert site.plone_path == "/p/a"
    assert AuditEntry.objects.count() == count


def test_suspend_and_unsuspend_are_idempotent(balancer, actor):
    site = ss.site_create(actor=actor, domain="a.example", balancer=balancer, plone_path="/p/a")
    ss.site_suspend(site, actor=actor, reason="unpaid")
    ss.site_suspend(site, actor=actor)
    site.refresh_from_db()
    assert site.status == SiteStatus.SUSPENDED and site.suspended_reason == "unpaid"
    ss.site_unsuspend(site, actor=actor)
    ss.site_unsuspend(site, actor=actor)
    site.refresh_from_db()
    assert site.status == SiteStatus.ACTIVE and site.suspended_reason == ""
    assert AuditEntry.objects.filter(action="site.suspend").count() == 1
    assert AuditEntry.objects.filter(action="site.unsuspend").count() == 1


def test_unknown_fields_are_refused(balancer, actor):
    site = ss.site_create(actor=actor, domain="a.example", balancer=balancer, plone_path="/p/a")
    with pytest.raises(ValidationError, match="status"):
        ss.site_update(site, actor=actor, status="suspended")


def test_a_balancer_used_by_sites_cannot_be_deleted(balancer, actor):
    ss.site_create(actor=actor, domain="a.example", balancer=balancer, plone_path="/p/a")
    with pytest.raises(ValidationError, match="used by: a.example"):
        bs.balancer_delete(balancer, actor=actor)
    assert Balancer.objects.filter(name="bronze").exists()


def test_a_zope_server_in_a_balancer_cannot_be_deleted(balancer, actor):
    server = bs.zope_server_create(actor=actor, name="zope1", host="10.0.0.1", port=8080)
    bs.member_create(actor=actor, balancer=balancer, zope_server=server)
    with pytest.raises(ValidationError, match="cannot be deleted"):
        bs.zope_server_delete(server, actor=actor)
    assert ZopeServer.objects.filter(name="zope1").exists()


def test_the_balancer_is_resolved_by_name_with_a_clear_error(balancer, actor):
    site = ss.site_create(actor=actor, domain="a.example", balancer="bronze", plone_path="/p/a")
    assert site.balancer == balancer
    with pytest.raises(ValidationError) as exc:
        ss.site_create(actor=actor, domain="b.example", balancer="gold", plone_path="/p/b")
    assert exc.value.message_dict["balancer"] == ["There is no balancer named 'gold'."]


def test_secrets_never_reach_the_audit_log(db, actor):
    bs.frontend_create(actor=actor, name="fe1", address="10.0.0.5", transport="local", manager_password="s3cret-pass")
    entry = AuditEntry.objects.get(action="frontend.create")
    assert entry.after["manager_password_encrypted"] == "********"
    assert "s3cret-pass" not in str(entry.after)


def test_seed_demo_is_idempotent_and_builds_the_seed_setup(db, capsys):
    call_command("seed_demo", sites=25)
    call_command("seed_demo", sites=25)
    out = capsys.readouterr().out
    assert "Demo login: user 'demo', password '" in out
    assert Site.objects.count() == 26
    bronze = Balancer.objects.get(name="bronze")
    members = {m.zope_server.name: m for m in bronze.members.select_related("zope_server")}
    assert (members["zope1"].lbset, members["zope2"].lbset, members["backup"].lbset) == (1, 1, 2)
    assert members["backup"].hot_standby and not members["zope1"].hot_standby
    assert Site.objects.get(domain="linux.co.uk").plone_path == "/plone/linux"

    assert get_user_model().objects.get(username="demo").is_staff


def test_site_writes_validate_the_site_exactly_once(balancer, actor, monkeypatch):
    calls = []
    full_clean = Site.full_clean

    def counting(self, *args, **kwargs):
        calls.append(self.domain)
        return full_clean(self, *args, **kwargs)

    monkeypatch.setattr(Site, "full_clean", counting)
    site = ss.site_create(
        actor=actor, domain="once.example", aliases=["www.once.example"], balancer=balancer, plone_path="/p"
    )
    assert calls == ["once.example"]
    ss.site_update(site, actor=actor, plone_path="/q", aliases=["www.once.example", "w2.once.example"])
    assert calls == ["once.example"] * 2
    with pytest.raises(ValidationError) as refused:  # still validated: a bad field and a bad alias, reported together
        ss.site_update(site, actor=actor, plone_path="no slash", aliases=["bad host"])
    assert {"plone_path", "aliases"} <= set(refused.value.message_dict)
    assert calls == ["once.example"] * 3


def test_a_race_that_validation_could_not_see_is_a_validation_error_not_a_crash(balancer, actor, monkeypatch):
    ss.site_create(actor=actor, domain="race.example", balancer=balancer, plone_path="/p")
    # another request saved the same domain between this request's full_clean() and its INSERT
    monkeypatch.setattr(Site, "validate_unique", lambda self, exclude=None: None)
    monkeypatch.setattr(Site, "validate_constraints", lambda self, exclude=None: None)
    with pytest.raises(ValidationError) as refused:
        ss.site_create(actor=actor, domain="race.example", balancer=balancer, plone_path="/p2")
    assert [e.code for e in refused.value.error_dict["domain"]] == ["taken"]  # named, and a 409 in the API
    assert "race.example was just taken" in refused.value.message_dict["domain"][0]
    assert Site.objects.filter(domain="race.example").count() == 1
    assert AuditEntry.objects.filter(action="site.create").count() == 1


def test_the_audit_log_filters_by_actor_action_object_type_and_date(operator_client, demo):
    operator_client.post(reverse("sites:site_suspend", args=["linux.co.uk"]), {"reason": "unpaid"})
    url = reverse("audit_list")
    body = operator_client.get(url, {"actor": "olga", "action": "site.suspend", "object_type": "site"}).content.decode()
    assert "site.suspend" in body and "unpaid" in body
    assert "site.create" not in body.split("<tbody>")[1]
    today = AuditEntry.objects.first().timestamp.date().isoformat()
    assert "site.suspend" in operator_client.get(url, {"date_from": today, "date_to": today}).content.decode()
    assert (
        "site.suspend" not in operator_client.get(url, {"date_to": "2000-01-01"}).content.decode().split("<tbody>")[1]
    )
