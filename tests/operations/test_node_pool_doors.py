"""Rolling restarts of a Node.js frontend pool without real parts: the restart settings page of a Node.js
server, what the runner checks and warms on (health_path_of, warm_requests)."""

from __future__ import annotations

import pytest

from balancers import services as balancer_services
from hostpanel.audit import Actor
from operations.models import ZopeServerOps
from operations.selectors import WarmRequest, health_path_of, warm_requests
from sites import services as site_services
from tests.factories import add_frontend_pool

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
ACTOR = Actor(name="tester", source="command")


@pytest.fixture
def pool(demo):
    balancer = add_frontend_pool()
    for domain in ("b.example", "a.example"):
        site_services.site_create(
            actor=ACTOR, domain=domain, balancer=demo, plone_path="/Plone", kind="volto", frontend_balancer=balancer
        )
    return balancer


def test_a_node_pool_is_warmed_with_its_sites_front_page_and_a_zope_pool_with_vhm_paths(demo, pool):
    assert warm_requests(pool, limit=3) == [WarmRequest("/", "a.example"), WarmRequest("/", "b.example")]
    assert warm_requests(pool, limit=1) == [WarmRequest("/", "a.example")]
    zope = warm_requests(demo, limit=1)
    assert zope[0].host == "" and zope[0].path.startswith("/VirtualHostBase/http/")


def test_a_node_server_is_checked_on_its_own_health_path_a_zope_server_on_its_restart_settings(demo, pool):
    node = pool.members.get(zope_server__name="node1").zope_server
    assert health_path_of(node) == "/ok"
    balancer_services.zope_server_update(node, actor=ACTOR, health_path="/health")
    assert health_path_of(node) == "/health"
    zope1 = demo.members.get(zope_server__name="zope1").zope_server
    assert health_path_of(zope1) == "/@@ok"


def test_a_node_servers_restart_settings_page_has_no_health_path_of_its_own(pool, admin_client):
    node = pool.members.get(zope_server__name="node1").zope_server
    url = f"/operations/zope-servers/{node.pk}/restart-settings/"
    page = admin_client.get(url).content.decode()
    assert 'name="health_path"' not in page and "SSH host key of the Node.js server&#x27;s host" in page
    response = admin_client.post(
        url,
        {
            "restart_command": "sudo systemctl restart volto-acme@1",
            "ssh_address": "",
            "ssh_port": 22,
            "ssh_user": "volto",
            "ssh_host_key": HOST_KEY,
        },
    )
    assert response.status_code == 302
    assert ZopeServerOps.objects.get(zope_server=node).restart_command == "sudo systemctl restart volto-acme@1"
