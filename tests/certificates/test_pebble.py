"""Against a real ACME CA (pebble, with challtestsrv as DNS): issuance, names left out, CA down."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import DNSName, PolicyBuilder, Store
from django.utils import timezone

from certificates import services
from certificates.choices import AttemptOutcome, CertificateStatus
from certificates.models import AcmeAccount, AcmeAttempt, Certificate

pytestmark = [pytest.mark.real, pytest.mark.django_db]

HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def acme(settings, pebble_ca, challenge_server):
    settings.HOSTPANEL_ACME_DIRECTORY = pebble_ca.directory_url
    settings.HOSTPANEL_ACME_CA_BUNDLE = pebble_ca.ca_bundle
    settings.HOSTPANEL_ACME_EMAIL = "ops@example.net"
    settings.HOSTPANEL_DNS_RESOLVER = pebble_ca.dns_resolver
    settings.HOSTPANEL_ACME_ORDER_TIMEOUT = 30
    publisher, server = challenge_server
    return pebble_ca, publisher, server


def verify_with_pebble_root(certificate: Certificate, root_pem: str, names: list[str]) -> None:
    store = Store(x509.load_pem_x509_certificates(root_pem.encode()))
    leaf = x509.load_pem_x509_certificate(certificate.certificate_pem.encode())
    chain = x509.load_pem_x509_certificates(certificate.chain_pem.encode())
    for name in names:
        PolicyBuilder().store(store).build_server_verifier(DNSName(name)).verify(leaf, chain)


def test_pebble_issues_one_certificate_for_the_domain_and_its_alias(acme, site, actor):
    ca, publisher, server = acme
    certificate = services.certificate_ensure(site, actor=actor)
    attempt = services.certificate_issue(certificate, frontends_publisher=publisher)

    assert attempt.outcome == AttemptOutcome.ISSUED, attempt.ca_error
    assert attempt.order_url.startswith(f"https://127.0.0.1:{ca.acme_port}/")
    assert attempt.finished_at is not None
    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.VALID
    assert certificate.names == ["example.com", "www.example.com"]
    assert certificate.claimed_by == "" and certificate.failures == 0 and certificate.last_error == ""
    verify_with_pebble_root(certificate, ca.root_pem(), ["example.com", "www.example.com"])
    key = serialization.load_pem_private_key(services.certificate_key_pem(certificate).encode(), password=None)
    leaf = x509.load_pem_x509_certificate(certificate.certificate_pem.encode())
    assert key.public_key() == leaf.public_key()
    # no ARI at pebble 2.4: renewal when a third of the lifetime is left
    lifetime = certificate.not_after - certificate.not_before
    assert abs(certificate.renew_after - (certificate.not_after - lifetime / 3)) < datetime.timedelta(seconds=1)
    assert certificate.next_attempt_at == certificate.renew_after
    # pebble fetched the challenge for both names from our stand-in front-end; nothing is left behind
    hosts = {host.split(":")[0] for host, path in server.requests if "acme-challenge" in path}
    assert hosts == {"example.com", "www.example.com"}
    assert list(publisher.directory.iterdir()) == []

    # a forced renewal: same shared account, a new serial
    first_serial = certificate.serial
    services.certificate_request_renewal(site, actor=actor)
    renewed = services.certificate_issue(certificate, frontends_publisher=publisher)
    assert renewed.outcome == AttemptOutcome.ISSUED, renewed.ca_error
    certificate.refresh_from_db()
    assert certificate.serial != first_serial
    assert AcmeAccount.objects.count() == 1
    assert AcmeAccount.objects.get().account_url.startswith(f"https://127.0.0.1:{ca.acme_port}/")


def test_an_alias_not_pointing_at_us_is_reported_and_left_out(acme, site, actor):
    ca, publisher, _ = acme
    ca.set_a("www.example.com", ["192.0.2.1"])
    certificate = services.certificate_ensure(site, actor=actor)
    now = timezone.now()
    attempt = services.certificate_issue(certificate, frontends_publisher=publisher, now=now)

    assert attempt.outcome == AttemptOutcome.ISSUED, attempt.ca_error
    assert attempt.names == ["example.com"]
    certificate.refresh_from_db()
    assert certificate.names == ["example.com"]
    assert certificate.missing_names == ["www.example.com"]
    assert certificate.last_error == "www.example.com does not point at our front-ends (it resolves to 192.0.2.1)."
    assert certificate.next_attempt_at == now + HOUR  # re-checked later, with the backoff

    # the re-check while the alias still points elsewhere orders nothing (no duplicate certificate)
    later = now + 2 * HOUR
    recheck = services.certificate_issue(certificate, frontends_publisher=publisher, now=later)
    assert recheck.outcome == AttemptOutcome.PREFLIGHT_FAILED
    assert recheck.order_url == ""
    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.RENEWING  # the certificate it has keeps being served
    assert certificate.next_attempt_at == later + 2 * HOUR


def test_a_domain_resolving_elsewhere_is_not_ordered(acme, site, actor):
    ca, publisher, _ = acme
    ca.set_a("example.com", ["192.0.2.1"])
    certificate = services.certificate_ensure(site, actor=actor)
    attempt = services.certificate_issue(certificate, frontends_publisher=publisher)
    assert attempt.outcome == AttemptOutcome.PREFLIGHT_FAILED
    assert attempt.order_url == ""
    assert "example.com does not point at our front-ends" in attempt.ca_error
    assert not AcmeAccount.objects.exists()  # the CA was not even asked


def test_pebble_down_is_recorded_with_backoff(acme, site, actor):
    ca, publisher, _ = acme
    ca.stop_pebble()
    certificate = services.certificate_ensure(site, actor=actor)
    now = timezone.now()
    attempt = services.certificate_issue(certificate, frontends_publisher=publisher, now=now)
    assert attempt.outcome == AttemptOutcome.CA_UNREACHABLE
    assert f"The CA at {ca.directory_url} cannot be reached" in attempt.ca_error
    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.FAILED
    assert (certificate.failures, certificate.next_attempt_at) == (1, now + HOUR)
    assert certificate.last_error == attempt.ca_error

    # the scan does not retry it before the backoff is over, then doubles it
    assert services.certificates_run_due(frontends_publisher=publisher, now=now + HOUR / 2) == []
    [second] = services.certificates_run_due(frontends_publisher=publisher, now=now + HOUR)
    assert second.outcome == AttemptOutcome.CA_UNREACHABLE
    certificate.refresh_from_db()
    assert (certificate.failures, certificate.next_attempt_at) == (2, now + 3 * HOUR)
    assert AcmeAttempt.objects.filter(certificate=certificate).count() == 2


@pytest.mark.parametrize("nonce_reject_percent", [20])
def test_bad_nonces_from_the_ca_are_retried(acme, site, actor, nonce_reject_percent):
    _, publisher, _ = acme
    certificate = services.certificate_ensure(site, actor=actor)
    attempt = services.certificate_issue(certificate, frontends_publisher=publisher)
    assert attempt.outcome == AttemptOutcome.ISSUED, attempt.ca_error
