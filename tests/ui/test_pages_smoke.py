import pytest
from django.urls import reverse

from balancers.models import BalancerMember, Deployment, DeploymentHost, FrontEnd, ZopeServer
from sites.models import Site


@pytest.fixture
def world(demo):
    site = Site.objects.get(domain="linux.co.uk")
    member = BalancerMember.objects.filter(balancer=demo).first()
    frontend = FrontEnd.objects.create(name="fe1", address="127.0.0.1", transport="local")
    deployment = Deployment.objects.create(actor="tester", status="succeeded")
    DeploymentHost.objects.create(deployment=deployment, frontend=frontend, frontend_name="fe1", status="succeeded")
    return {
        "balancer": demo,
        "site": site,
        "member": member,
        "server": ZopeServer.objects.get(name="zope1"),
        "frontend": frontend,
        "deployment": deployment,
    }


def page_urls(world):
    b, s, m, z, f, d = (world[k] for k in ("balancer", "site", "member", "server", "frontend", "deployment"))
    return [
        "/",
        reverse("audit_list"),
        reverse("sites:site_list"),
        reverse("sites:site_create"),
        reverse("sites:site_import"),
        reverse("sites:site_detail", args=[s.domain]),
        reverse("sites:site_update", args=[s.domain]),
        reverse("sites:site_suspend", args=[s.domain]),
        reverse("sites:site_unsuspend", args=[s.domain]),
        reverse("sites:site_delete", args=[s.domain]),
        reverse("balancers:balancer_list"),
        reverse("balancers:balancer_create"),
        reverse("balancers:balancer_detail", args=[b.pk]),
        reverse("balancers:balancer_update", args=[b.pk]),
        reverse("balancers:balancer_delete", args=[b.pk]),
        reverse("balancers:member_create", args=[b.pk]),
        reverse("balancers:member_update", args=[b.pk, m.pk]),
        reverse("balancers:member_delete", args=[b.pk, m.pk]),
        reverse("balancers:member_toggle", args=[b.pk, m.pk, "hot_standby"]),
        reverse("balancers:zopeserver_list"),
        reverse("balancers:zopeserver_create"),
        reverse("balancers:zopeserver_detail", args=[z.pk]),
        reverse("balancers:zopeserver_update", args=[z.pk]),
        reverse("balancers:zopeserver_delete", args=[z.pk]),
        reverse("balancers:frontend_list"),
        reverse("balancers:frontend_create"),
        reverse("balancers:frontend_detail", args=[f.pk]),
        reverse("balancers:frontend_update", args=[f.pk]),
        reverse("balancers:frontend_delete", args=[f.pk]),
        reverse("balancers:deployment_list"),
        reverse("balancers:deploy_now"),
        reverse("balancers:deployment_detail", args=[d.pk]),
        reverse("balancers:deployment_progress", args=[d.pk]),
        reverse("balancers:deployment_rollback", args=[d.pk]),
    ]


def test_every_page_renders_for_an_operator(operator_client, world):
    for url in page_urls(world):
        response = operator_client.get(url)
        assert response.status_code == 200, url
