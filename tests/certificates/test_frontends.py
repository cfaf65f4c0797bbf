"""HTTPS end to end on two real front-ends (sshd + Apache with mod_ssl) against a real ACME CA (pebble):
a site created through the billing API gets its certificate, every front-end serves it, renewals go live
with one graceful reload per front-end, and faults leave every site serving what it served."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from balancers.models import ConfigTree, Deployment, DeploymentHost
from balancers.services import deployment_rollback
from certificates import services as certificate_services
from certificates.choices import AttemptOutcome, CertificateStatus
from certificates.models import AcmeAttempt, Certificate
from certificates.tasks import renewal_scan
from deploy.secrets import open_tree
from deploy.stored import stored_files
from deploy.transport.pool import POOL
from devrig import pki
from devrig.net import http_get, https_get
from hostpanel.models import AuditEntry
from rendering.manifest import KEY_NOT_SHOWN
from sites import services as site_services
from sites.models import Site
from tests.assertions import deployment_diff
from tests.factories import ACTOR

pytestmark = [pytest.mark.real]

NAMES = ["example.com", "www.example.com"]


@pytest.fixture(params=["fe1", "fe2"])
def validating_host(request, farm):
    """The front-end pebble's http-01 validation knocks on (the token must be on every one)."""
    return getattr(farm, request.param)


@pytest.fixture
def challenge_port(validating_host) -> int:
    return validating_host.http_port


def billing_creates(client: APIClient, domain: str, aliases: list[str]) -> Site:
    """POST /api/v1/sites/ (the site's tls defaults to acme: the panel has an ACME CA)."""
    answer = client.post(
        "/api/v1/sites/",
        {"domain": domain, "aliases": aliases, "balancer": "bronze", "plone_path": "/plone/example"},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    return Site.objects.get(domain=domain)


def serial_of(site: Site) -> int:
    return int(Certificate.objects.get(site=site).serial, 16)


def key_body(site: Site) -> str:
    return certificate_services.certificate_key_pem(Certificate.objects.get(site=site)).splitlines()[1]


def test_a_billing_site_gets_a_pebble_certificate_served_by_every_front_end_and_renewals_reload_once(
    acme, farm, validating_host, billing, caplog
):
    caplog.set_level(logging.DEBUG)
    farm.deploy()  # the front-ends serve the challenge directory (server level, for any Host)
    before = {host.name: host.reloads() for host in farm.hosts}
    # the immediate task backend orders at commit (certificates.wake), before the site's deployment runs
    site = billing_creates(billing, "example.com", ["www.example.com"])
    assert site.tls == "acme"
    assert renewal_scan().attempts == 0  # nothing left for the scan
    certificate = Certificate.objects.get(site=site)
    assert certificate.status == CertificateStatus.VALID and certificate.names == NAMES
    root = acme.root_pem()
    for host in farm.hosts:
        # one graceful reload per front-end made the site and its certificate live
        assert host.reloads() == before[host.name] + 1, host.name
        key_file = host.config_dir / "tls" / "example.com.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        for name in NAMES:
            answer = https_get(host.https_port, name, "/front-page", root_pem=root)  # chain + name verified
            assert answer.status == 200, host.apache.error_log()[-2000:]
            assert answer.serial == serial_of(site)
            seen = json.loads(answer.body)
            assert seen["path"] == f"/VirtualHostBase/https/{name}:443/plone/example/VirtualHostRoot/front-page"
            assert any(c.startswith("BALANCEID=") and "Secure" in c for c in answer.cookies), answer.cookies
            redirect = http_get(host.http_port, "/front-page", host=name)
            assert (redirect.status, redirect.headers["Location"]) == (301, f"https://{name}/front-page")
        assert http_get(host.http_port, "/.well-known/acme-challenge/gone", host="example.com").status == 404
    # pebble fetched the tokens from the front-end it was pointed at; every token was taken back
    access = validating_host.apache.workdir / "access.log"
    assert access.read_text().count("/.well-known/acme-challenge/") >= len(NAMES)
    for host in farm.hosts:
        assert list((host.config_dir.parent / "hostpanel.acme-challenge").iterdir()) == []

    # Forced renewal with a slow request in flight: the new serial everywhere, one graceful each.
    first_serial = serial_of(site)
    for backend in farm.backends.values():
        backend.delay = 3
    slow: dict = {}
    thread = threading.Thread(
        target=lambda: slow.update(answer=https_get(farm.fe1.https_port, "example.com", "/slow", root_pem=root))
    )
    thread.start()
    before = {host.name: host.reloads() for host in farm.hosts}
    certificate_services.certificate_request_renewal(site, actor=ACTOR)
    scan = renewal_scan()
    assert (scan.attempts, scan.issued) == (1, 1), scan.failures
    for backend in farm.backends.values():
        backend.delay = 0
    thread.join(30)
    assert slow["answer"].status == 200 and slow["answer"].serial == first_serial  # it survived the reload
    assert serial_of(site) != first_serial
    for host in farm.hosts:
        assert host.reloads() == before[host.name] + 1, host.name
        for name in NAMES:
            assert https_get(host.https_port, name, root_pem=root).serial == serial_of(site)

    # diffs between deployments, the dry run and drift say a key changed, never what it is
    renewal, first = Deployment.objects.filter(status="succeeded").order_by("-pk")[:2]
    bodies = [key_body(site)]
    assert KEY_NOT_SHOWN in deployment_diff(first, renewal)
    (farm.fe2.config_dir / "tls" / "example.com.key").write_text(pki.key_pem(ec.generate_private_key(ec.SECP256R1())))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("drift", "--diff", stdout=out, stderr=err)
    assert "fe2: drift" in out.getvalue() and "changed: tls/example.com.key" in out.getvalue()
    assert KEY_NOT_SHOWN in out.getvalue()
    dry = io.StringIO()
    call_command("deploy", "--dry-run", stdout=dry)
    assert dry.getvalue().count(KEY_NOT_SHOWN) == 1  # fe2's hand-made key; fe1 is in sync
    texts = [deployment_diff(first, renewal), out.getvalue(), dry.getvalue(), caplog.text]

    # a rollback pushes the stored tree again: its sealed key is opened, the old certificate is served
    rollback = deployment_rollback(first, actor=ACTOR)
    rollback.refresh_from_db()
    assert rollback.status == "succeeded", [h.error for h in rollback.hosts.all()]
    for host in farm.hosts:
        assert https_get(host.https_port, "www.example.com", root_pem=root).serial == first_serial
    bodies.append(
        open_tree(stored_files(ConfigTree.objects.get(pk=by_frontend(first)["fe1"])))[
            "tls/example.com.key"
        ].splitlines()[1]
    )

    # the private keys are nowhere in the database in clear, nor in an attempt, an audit entry, a deploy
    # log, a diff, a command's output or a log line
    for rows in (
        ConfigTree.objects.values_list("files", flat=True),
        AuditEntry.objects.values_list("before", "after"),
        DeploymentHost.objects.values_list("output", "error"),
        AcmeAttempt.objects.values_list("ca_error"),
        Certificate.objects.values_list("private_key_encrypted", "certificate_pem", "last_error"),
    ):
        texts.append(json.dumps(list(rows), default=str))
    for body in bodies:
        assert not [text for text in texts if body in text]


def by_frontend(deployment: Deployment) -> dict[str, int]:
    return dict(deployment.hosts.values_list("frontend_name", "tree_id"))


@pytest.mark.parametrize("validating_host", ["fe1"], indirect=True)
def test_faults_leave_every_site_serving_what_it_served(acme, farm, validating_host, billing):
    root = acme.root_pem()
    farm.deploy()
    served = billing_creates(billing, "example.com", ["www.example.com"])  # ordered at commit
    assert Certificate.objects.get(site=served).status == CertificateStatus.VALID
    served_serial = serial_of(served)

    # a name that resolves nowhere is left out (never sent to the CA) and reported on the site
    acme.set_a("www.other.example", ["192.0.2.1"])
    other = billing_creates(billing, "other.example", ["www.other.example"])
    certificate = Certificate.objects.get(site=other)
    assert certificate.names == ["other.example"] and certificate.missing_names == ["www.other.example"]
    assert certificate.last_error == "www.other.example does not point at our front-ends (it resolves to 192.0.2.1)."

    # one front-end down while publishing: the order waits, naming it; everything keeps serving
    farm.fe2.sshd.stop()
    POOL.close_all()
    certificate_services.certificate_request_renewal(served, actor=ACTOR)
    scan = renewal_scan()
    assert scan.issued == 0
    attempt = AcmeAttempt.objects.filter(certificate__site=served).first()
    assert attempt.outcome == AttemptOutcome.PUBLISH_FAILED
    assert "fe2" in attempt.ca_error
    certificate = Certificate.objects.get(site=served)
    assert certificate.status == CertificateStatus.RENEWING and "fe2" in certificate.last_error
    assert serial_of(served) == served_serial
    for host in farm.hosts:
        assert https_get(host.https_port, "www.example.com", root_pem=root).serial == served_serial
    farm.fe2.sshd.start()

    # the CA down: the attempt says so, the new site keeps HTTP, the others keep HTTPS
    acme.stop_pebble()
    late = billing_creates(billing, "late.example", [])  # its order at commit fails; the site is saved
    (failure,) = AcmeAttempt.objects.filter(certificate__site=late)
    assert failure.outcome == AttemptOutcome.CA_UNREACHABLE and "cannot be reached" in failure.ca_error
    assert Certificate.objects.get(site=late).status == CertificateStatus.FAILED
    assert renewal_scan().attempts == 0  # retried after the backoff, not at the next scan
    for host in farm.hosts:
        assert host.backend_for("late.example") is not None  # plain HTTP, straight to Zope
        assert https_get(host.https_port, "example.com", root_pem=root).serial == served_serial
        assert https_get(host.https_port, "other.example", root_pem=root).status == 200

    # deleting a site takes its key and certificate off every front-end
    site_services.site_delete(other, actor=ACTOR)
    assert Deployment.objects.order_by("-pk").first().status == "succeeded"
    for host in farm.hosts:
        tls = sorted(p.name for p in (host.config_dir / "tls").iterdir())
        assert tls == ["example.com.crt", "example.com.key"]
