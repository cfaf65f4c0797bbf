"""Volto sites are reload-free like Classic UI sites, against the real parts: two front-ends (real sshd +
Apache each, the `farm`) over Zope stand-ins and a Node.js frontend pool (devrig.node, Volto's own API proxy
off): once the pool's balancer is deployed (a config change), adding a Volto site, changing a site's kind
and suspending one are routing-map releases (no configtest, no graceful) and both tiers answer at once."""

from __future__ import annotations

import json

import pytest

from balancers.choices import ChangeKind
from devrig.fleet import add_site, add_volto_site, make_frontend_pool
from devrig.net import http_get
from sites import services as site_services
from sites.models import Site
from tests.factories import ACTOR

pytestmark = [pytest.mark.real, pytest.mark.django_db(transaction=True)]


def tiers(host, domain: str) -> tuple[str, str]:
    """(the Node.js server of a page, the VirtualHostBase path Zope saw for an API call) through one front-end."""
    page = http_get(host.http_port, "/", host=domain, timeout=10)
    api = http_get(host.http_port, "/++api++/@site", host=domain, timeout=10)
    zope_path = json.loads(api.body)["path"] if api.headers.get("X-Backend") else f"HTTP {api.status}"
    return page.headers.get("X-Frontend", f"HTTP {page.status}"), zope_path


def test_volto_sites_added_changed_and_suspended_are_map_only_releases(farm, node_factory):
    nodes = [node_factory("volto1"), node_factory("volto2")]
    front = make_frontend_pool(nodes)
    classic = add_site("classic.example", farm.balancer)
    first = farm.deploy()  # the new balancer: a config change
    assert {row.change_kind for row in first.hosts.all()} == {ChangeKind.CONFIG}
    reloads = {host.name: host.reloads() for host in farm.hosts}

    add_volto_site("shop.example", farm.balancer, front, plone_path="/Plone")
    site_services.site_update(classic, actor=ACTOR, kind="volto", frontend_balancer=front)
    deployment = farm.deploy()
    for row in deployment.hosts.all():
        assert row.change_kind == ChangeKind.MAP, row.output
        assert "configtest" not in row.output and "graceful" not in row.output, row.output
    for host in farm.hosts:
        node, api = tiers(host, "shop.example")
        assert node in {"volto1", "volto2"}
        assert api == "/VirtualHostBase/http/shop.example:80/Plone/++api++/VirtualHostRoot/@site"
        node, api = tiers(host, "classic.example")  # a Classic UI site turned Volto
        assert node in {"volto1", "volto2"}
        assert api == "/VirtualHostBase/http/classic.example:80/plone/classic/++api++/VirtualHostRoot/@site"

    site_services.site_update(Site.objects.get(domain="shop.example"), actor=ACTOR, kind="frontend_only")
    site_services.site_suspend(Site.objects.get(domain="classic.example"), actor=ACTOR, reason="unpaid")
    deployment = farm.deploy()
    assert {row.change_kind for row in deployment.hosts.all()} == {ChangeKind.MAP}
    for host in farm.hosts:
        node, api = tiers(host, "shop.example")
        assert node in {"volto1", "volto2"} and api == "HTTP 404"  # the API is the Node.js application's now
        assert host.get("classic.example")[0] == 503
        assert host.reloads() == reloads[host.name]  # no graceful since the pool's balancer arrived
