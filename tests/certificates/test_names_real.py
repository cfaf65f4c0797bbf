"""Names and certificates on two real front-ends (sshd + Apache with mod_ssl), checked with a TLS client over
loopback with SNI: another customer's name on an uploaded certificate, or a name a renamed site no longer owns,
is never answered with that site's certificate; a wildcard certificate is served and its site is live; a site
the deployment left out is not live and the API says why."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from api.services import api_token_create
from balancers.choices import DeploymentStatus
from balancers.models import Deployment
from balancers.services import deployment_start
from certificates.models import Certificate
from devrig.fleet import add_site
from devrig.net import https_get
from hostpanel.audit import Actor
from sites import services as site_services
from sites.models import Site
from sites.services import site_certificate_upload
from tests.factories import ACTOR, give_certificate

pytestmark = [pytest.mark.real]


@pytest.fixture
def billing(farm, settings, test_pki, secrets_key) -> APIClient:
    settings.HOSTPANEL_AUTO_DEPLOY = False  # the test deploys itself, one deployment per step
    _token, key = api_token_create(actor=Actor.command("tests"), name="whmcs", scope="billing")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def deploy() -> Deployment:
    deployment = deployment_start(actor=ACTOR)
    deployment.refresh_from_db()
    return deployment


def serial(site: Site) -> int:
    return int(Certificate.objects.get(site=site).serial, 16)


def presented(port: int, name: str) -> int:
    """The serial of the certificate a front-end presents for SNI `name` (nothing verified)."""
    return https_get(port, name, root_pem=None).serial


def test_a_name_the_site_does_not_own_is_never_answered_with_its_certificate(farm, billing, test_pki):
    theirs = add_site("theirs.example", farm.balancer, "/plone/theirs")
    give_certificate(theirs, test_pki)
    mine = site_services.site_create(
        actor=ACTOR,
        domain="mine.example",
        aliases=["www.mine.example"],
        balancer=farm.balancer,
        plone_path="/plone/mine",
        tls="custom",
    )
    # the customer uploads a certificate that also names another customer's site: accepted, that name ignored
    upload = test_pki.issue(["mine.example", "www.mine.example", "theirs.example"])
    answer = billing.put("/api/v1/sites/mine.example/certificate/", upload, format="json")
    assert answer.status_code == 200 and answer.json()["unused_names"] == ["theirs.example"], answer.json()
    assert deploy().status == DeploymentStatus.SUCCEEDED
    root = test_pki.root_pem
    for host in farm.hosts:
        seen = https_get(host.https_port, "theirs.example", root_pem=root)  # verified for theirs.example
        assert seen.serial == serial(theirs) != serial(mine), host.name
        assert json.loads(seen.body)["path"].startswith("/VirtualHostBase/https/theirs.example:443/plone/theirs/")
        for name in ("mine.example", "www.mine.example"):
            assert https_get(host.https_port, name, root_pem=root).serial == serial(mine)

    # renamed: its certificate no longer covers its domain, and a new customer takes the old name
    mine = site_services.site_update(mine, actor=ACTOR, domain="renamed.example")
    newcomer = add_site("mine.example", farm.balancer, "/plone/newcomer")
    site = billing.get("/api/v1/sites/renamed.example/").json()
    assert site["certificate"]["status"] == "mismatch" and "renamed.example" in site["certificate"]["last_error"]
    assert deploy().status == DeploymentStatus.SUCCEEDED
    for host in farm.hosts:
        # the old name is the newcomer's now: never answered with the renamed site's certificate and key
        assert presented(host.https_port, "mine.example") != serial(mine), host.name
        assert host.backend_for("mine.example")["path"].endswith("/plone/newcomer/VirtualHostRoot/")
        # the renamed domain is not offered a certificate that does not cover it; HTTP serves it, no redirect
        assert presented(host.https_port, "renamed.example") != serial(mine)
        assert host.backend_for("renamed.example")["path"].endswith("/plone/mine/VirtualHostRoot/")
        # the name it still owns and its certificate covers keeps HTTPS
        assert https_get(host.https_port, "www.mine.example", root_pem=root).serial == serial(mine)
    assert newcomer.domain == "mine.example"


def test_a_wildcard_certificate_site_is_served_over_https_and_live_and_a_left_out_site_is_not(farm, billing, test_pki):
    shop = site_services.site_create(
        actor=ACTOR,
        domain="shop.example",
        aliases=["www.shop.example"],
        balancer=farm.balancer,
        plone_path="/plone/shop",
        tls="custom",
    )
    site_certificate_upload(shop, actor=ACTOR, **test_pki.issue(["shop.example", "*.shop.example"]))
    add_site("plain.example", farm.balancer, "/plone/plain")
    deployment = deploy()
    assert deployment.status == DeploymentStatus.SUCCEEDED, deployment.message
    for host in farm.hosts:
        for name in ("shop.example", "www.shop.example"):
            seen = https_get(host.https_port, name, root_pem=test_pki.root_pem)  # chain + name verified
            assert seen.status == 200 and seen.serial == serial(shop), host.apache.error_log()[-2000:]
    answer = billing.get("/api/v1/sites/shop.example/").json()
    assert (answer["live"], answer["left_out"], answer["certificate"]["status"]) == (True, "", "valid")

    # a row planted past the models' validation: the deployment leaves that site out, and says so
    Site.objects.filter(domain="plain.example").update(plone_path='/plone/x"\nInclude /etc/shadow\n#')
    deployment = deploy()
    assert deployment.status == DeploymentStatus.PARTIAL
    left_out = billing.get("/api/v1/sites/plain.example/").json()
    assert left_out["live"] is False and "plone_path" in left_out["left_out"]
    assert billing.get("/api/v1/sites/shop.example/").json()["live"] is True
