"""The effect of an action, computed before it is confirmed (balancers.selectors.effects): from trees the
pure renderer makes with the change applied, or from the stored tree a rollback would push back."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from balancers.models import ActivatedRelease, BalancerMember, Deployment, DeploymentHost
from balancers.selectors.effects import (
    ACTIVE,
    NOTHING,
    STANDBY_ONLY,
    change_effect,
    rollback_effect,
    rollback_offered,
    routing_changes,
    with_member_state,
    with_site_status,
    without_member,
    without_site,
)
from deploy.stored import store_tree
from deploy.trees import render_result_for
from rendering import cache
from rendering.manifest import MANIFEST
from sites import services as site_services

pytestmark = pytest.mark.django_db

DISABLED = {"hot_standby": False, "drain": False, "disabled": True}


def test_disabling_one_member_names_the_balancer_and_its_sites_but_takes_no_site_offline(demo, frontend):
    effect = change_effect(with_member_state("bronze", "zope1", **DISABLED))
    assert effect.offline == []
    (bronze,) = effect.balancers
    assert bronze.balancer == "bronze" and bronze.loses_capacity
    assert set(bronze.before) - set(bronze.after) == {"zope1"} and bronze.left_with == ACTIVE
    assert "linux.co.uk" in bronze.sites
    (fe,) = effect.frontends
    assert not fe.same and any(line.startswith("+") and "+D" in line for line in fe.lines)
    assert not any("MANIFEST" in line for line in fe.lines)


def test_disabling_both_active_members_leaves_the_balancer_on_its_hot_standby_only(demo, frontend):
    def edit(snapshot):
        snapshot = with_member_state("bronze", "zope1", **DISABLED)(snapshot)
        return with_member_state("bronze", "zope2", **DISABLED)(snapshot)

    (bronze,) = change_effect(edit).balancers
    assert bronze.left_with == STANDBY_ONLY and bronze.after == ("backup",)
    assert "hot standby only" in bronze.summary


def test_removing_every_member_leaves_the_balancer_with_nothing(demo, frontend):
    def edit(snapshot):
        for server in ("zope1", "zope2", "backup"):
            snapshot = without_member("bronze", server)(snapshot)
        return snapshot

    (bronze,) = change_effect(edit).balancers
    assert bronze.left_with == NOTHING and bronze.after == ()
    assert "503" in bronze.summary


def test_back_to_active_adds_capacity_and_loses_none(demo, frontend):
    (bronze,) = change_effect(with_member_state("bronze", "backup", hot_standby=False)).balancers
    assert not bronze.loses_capacity and "backup" in bronze.after


def test_deleting_a_site_names_it_as_going_offline_on_every_front_end(demo, frontend):
    effect = change_effect(without_site("linux.co.uk"))
    assert effect.offline == ["linux.co.uk"]
    (change,) = effect.sites
    assert change.change == "removed" and change.after == "not served (404)"


def test_suspending_a_site_is_going_offline_too(demo, frontend):
    effect = change_effect(with_site_status("linux.co.uk", "suspended"))
    assert effect.offline == ["linux.co.uk"] and "503" in effect.sites[0].after


def test_a_routing_change_that_keeps_the_site_served_is_not_offline(demo, frontend, actor):
    before = render_result_for(frontend).tree
    site_services.site_create(actor=actor, domain="new.example.com", balancer="bronze", plone_path="/plone/new")
    cache.clear()
    after = render_result_for(frontend).tree
    changes = routing_changes(before, after)
    assert [(c.domain, c.change, c.offline) for c in changes] == [("new.example.com", "added", False)]
    assert [(c.domain, c.offline) for c in routing_changes(after, before)] == [("new.example.com", True)]


def _deployed(frontend, tree) -> Deployment:
    stored = store_tree(tree)
    deployment = Deployment.objects.create(actor="x", status="succeeded")
    DeploymentHost.objects.create(
        deployment=deployment, frontend=frontend, frontend_name=frontend.name, tree=stored, status="succeeded"
    )
    ActivatedRelease.objects.update_or_create(frontend=frontend, defaults={"tree": stored, "digest": stored.digest})
    return deployment


def test_a_rollback_names_the_sites_it_would_take_offline_and_the_newest_is_not_offered(demo, frontend, actor):
    old = _deployed(frontend, render_result_for(frontend).tree)
    for domain in ("shop.example.com", "blog.example.com"):
        site_services.site_create(actor=actor, domain=domain, balancer="bronze", plone_path="/plone/x")
    cache.clear()
    new = _deployed(frontend, render_result_for(frontend).tree)

    effect = rollback_effect(old)
    assert effect.offline == ["blog.example.com", "shop.example.com"]
    assert {c.domain: c.change for c in effect.sites} == {"blog.example.com": "removed", "shop.example.com": "removed"}
    (fe,) = effect.frontends
    assert any(line.startswith("-blog.example.com ") for line in fe.lines)
    assert not any(MANIFEST in line for line in fe.lines)
    assert rollback_offered(old)
    assert not rollback_offered(new)
    assert rollback_effect(new).unchanged


def test_the_member_disable_page_shows_the_capacity_lost_before_confirming(demo, frontend, operator_client):

    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")
    page = operator_client.get(reverse("balancers:member_toggle", args=[demo.pk, member.pk, "disabled"]))
    body = page.content.decode()
    assert 'data-balancer="bronze"' in body and "linux.co.uk" in body and "Takes no traffic at all." in body
    member.refresh_from_db()
    assert not member.disabled  # only shown


def test_the_site_delete_page_names_the_site_that_goes_offline(demo, frontend, operator_client):

    body = operator_client.get(reverse("sites:site_delete", args=["linux.co.uk"])).content.decode()
    assert 'id="effect-offline"' in body and "take 1 site offline" in body


def test_disabling_a_node_member_names_the_volto_sites_of_its_frontend_balancer(demo, frontend, actor):
    call_command("seed_demo", sites=0, no_user=True, volto=True, verbosity=0)
    effect = change_effect(with_member_state("volto-demo", "volto1", **DISABLED))
    (pool,) = effect.balancers
    assert pool.balancer == "volto-demo" and "volto.example" in pool.sites and pool.left_with == ACTIVE
