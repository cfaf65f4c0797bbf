"""Application servers of two kinds (Zope, Node.js frontend) through every door: the staff pages and forms,
the REST API and the model's checks; a balancer groups servers of one kind."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from balancers import services
from balancers.choices import ServerKind
from balancers.models import Balancer, BalancerMember, ZopeServer
from hostpanel.audit import Actor
from sites import services as site_services
from tests.factories import add_frontend_pool

ACTOR = Actor.command("tests")


@pytest.fixture
def node_pool(db):
    """A Node.js frontend balancer `volto-acme` over node1 and node2."""
    return add_frontend_pool()


def test_a_node_server_added_through_the_form_gets_the_health_path_ok(operator_client, db):
    data = {"name": "node7", "kind": "node", "host": "127.0.0.1", "port": "3007", "health_path": ""}
    response = operator_client.post(reverse("balancers:zopeserver_create"), data)
    assert response.status_code == 302
    server = ZopeServer.objects.get(name="node7")
    assert (server.kind, server.health_path) == (ServerKind.NODE, "/ok")


def test_a_zope_server_posted_without_a_kind_stays_zope_with_its_old_default_health_path(operator_client, db):
    data = {"name": "zope9", "host": "127.0.0.1", "port": "8089"}
    assert operator_client.post(reverse("balancers:zopeserver_create"), data).status_code == 302
    server = ZopeServer.objects.get(name="zope9")
    assert (server.kind, server.health_path) == (ServerKind.ZOPE, "/")


def test_the_server_list_shows_and_filters_by_kind(operator_client, demo, node_pool):
    url = reverse("balancers:zopeserver_list")
    page = operator_client.get(url).content.decode()
    assert "Application servers" in page and "node1" in page and "zope1" in page
    nodes = operator_client.get(url, {"kind": "node"}).content.decode()
    assert "node1" in nodes and "node2" in nodes and "zope1" not in nodes
    zopes = operator_client.get(url, {"kind": "zope"}).content.decode()
    assert "zope1" in zopes and "node1" not in zopes


def test_the_balancer_list_filters_by_kind_and_counts_a_frontend_balancers_sites(operator_client, demo, node_pool):
    site_services.site_create(
        actor=ACTOR,
        domain="volto.example",
        balancer=demo,
        plone_path="/Plone",
        kind="volto",
        frontend_balancer=node_pool,
    )
    page = operator_client.get(reverse("balancers:balancer_list"), {"kind": "node"}).content.decode()
    assert "volto-acme" in page and "bronze" not in page
    assert '?balancer=volto-acme">1</a>' in page
    listed = operator_client.get(reverse("sites:site_list"), {"balancer": "volto-acme"}).content.decode()
    assert "volto.example" in listed and "linux.co.uk" not in listed


def test_the_member_form_offers_only_servers_of_the_balancers_kind(operator_client, demo, node_pool):
    spare = services.zope_server_create(actor=ACTOR, name="node3", kind="node", host="127.0.0.1", port=3003)
    form = operator_client.get(reverse("balancers:member_create", args=[demo.pk])).content.decode()
    assert "node3" not in form and "zope1" in form
    form = operator_client.get(reverse("balancers:member_create", args=[node_pool.pk])).content.decode()
    assert "node3" in form and "zope1" not in form and "Node.js frontend server" in form

    data = {"zope_server": spare.pk, "lbset": "0", "loadfactor": "1", "timeout": "10", "retry": "60"}
    response = operator_client.post(reverse("balancers:member_create", args=[demo.pk]), data)
    assert response.status_code == 200
    assert "bronze groups Zope (Plone backend) servers only" in response.content.decode()
    assert not demo.members.filter(zope_server=spare).exists()
    assert operator_client.post(reverse("balancers:member_create", args=[node_pool.pk]), data).status_code == 302
    assert node_pool.members.filter(zope_server=spare).exists()


def test_the_model_refuses_a_member_of_the_other_kind_with_a_clear_message(demo, node_pool):
    with pytest.raises(ValidationError) as caught:
        services.member_create(actor=ACTOR, balancer=demo, zope_server=ZopeServer.objects.get(name="node1"))
    assert "node1 is a Node.js frontend (Volto) server" in caught.value.message_dict["zope_server"][0]


def test_a_balancer_or_server_in_use_keeps_its_kind(demo, node_pool):
    with pytest.raises(ValidationError) as caught:
        services.balancer_update(node_pool, actor=ACTOR, kind="zope")
    assert "node1, node2 are servers of the other kind" in caught.value.message_dict["kind"][0]
    with pytest.raises(ValidationError) as caught:
        services.balancer_update(demo, actor=ACTOR, kind="node")
    assert "site(s) use it as their Zope balancer" in caught.value.message_dict["kind"][0]
    with pytest.raises(ValidationError) as caught:
        services.zope_server_update(ZopeServer.objects.get(name="node1"), actor=ACTOR, kind="zope")
    assert "member of volto-acme" in caught.value.message_dict["kind"][0]
    empty = services.balancer_create(actor=ACTOR, name="spare")
    assert services.balancer_update(empty, actor=ACTOR, kind="node").kind == "node"  # nothing uses it yet


def test_the_balancer_page_labels_node_members_as_frontend_members(operator_client, node_pool):
    page = operator_client.get(reverse("balancers:balancer_detail", args=[node_pool.pk])).content.decode()
    assert "Node.js frontend members" in page and "node1" in page and 'data-kind="node"' in page
    # the same live toggles as Zope members
    member = BalancerMember.objects.get(balancer=node_pool, zope_server__name="node2")
    assert reverse("balancers:member_toggle", args=[node_pool.pk, member.pk, "hot_standby"]) in page


def test_the_balancer_form_sets_the_kind(operator_client, db):
    data = {
        "name": "volto-b",
        "kind": "node",
        "lbmethod": "byrequests",
        "sticky_cookie": "BALANCEID",
        "cookie_ttl": "3600",
        "maxattempts": "1",
        "timeout": "30",
        "render_mode": "single-pass",
    }
    response = operator_client.post(reverse("balancers:balancer_create"), data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert Balancer.objects.get(name="volto-b").kind == ServerKind.NODE


def test_the_dashboard_labels_a_frontend_balancers_members(operator_client, node_pool):
    page = operator_client.get(reverse("balancers:dashboard")).content.decode()
    section = page.split('id="balancer-volto-acme"')[1].split("</section>")[0]
    assert 'data-kind="node"' in page and "Node.js frontend member" in section
    assert 'data-member="node1"' in section and 'data-member="node2"' in section
