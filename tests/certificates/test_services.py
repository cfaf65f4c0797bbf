"""Certificate services: custom uploads, renewal requests, backoff, the claim, the renewal scan."""

from __future__ import annotations

import datetime
import json
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from balancers.models import Balancer
from certificates import preflight, services
from certificates.choices import AttemptOutcome, CertificateSource, CertificateStatus
from certificates.crypto import decrypt_secret
from certificates.models import AcmeAttempt, Certificate
from certificates.publishing import DirectoryPublisher
from certificates.selectors import certificates_due, certificates_needing_attention
from hostpanel.models import AuditEntry
from sites.models import Site

HOUR = datetime.timedelta(hours=1)


# --- backoff arithmetic -------------------------------------------------------------------------
@pytest.mark.parametrize(("failures", "hours"), [(0, 0), (1, 1), (2, 2), (3, 4), (5, 16), (6, 24), (40, 24)])
def test_backoff_starts_at_an_hour_doubles_and_stops_at_a_day(failures, hours):
    assert services.backoff_delay(failures) == datetime.timedelta(hours=hours)


def test_a_later_retry_after_wins_over_the_backoff():
    now = timezone.now()
    assert services.next_attempt_after_failure(now, 1, now + 5 * HOUR) == now + 5 * HOUR


def test_an_earlier_retry_after_does_not_shorten_the_backoff():
    now = timezone.now()
    assert services.next_attempt_after_failure(now, 2, now + datetime.timedelta(minutes=1)) == now + 2 * HOUR


# --- custom certificates ------------------------------------------------------------------------
def test_a_custom_certificate_is_stored_encrypted_and_audited_without_key(site, test_pki, actor):
    upload = test_pki.issue(["example.com", "www.example.com"])
    certificate = services.certificate_set_custom(site, actor=actor, **upload)
    certificate.refresh_from_db()
    assert (certificate.source, certificate.status) == (CertificateSource.CUSTOM, CertificateStatus.VALID)
    assert certificate.names == ["example.com", "www.example.com"]
    assert "PRIVATE KEY" not in certificate.private_key_encrypted
    assert decrypt_secret(certificate.private_key_encrypted).decode().strip() == upload["private_key_pem"].strip()
    assert certificate.next_attempt_at is None
    assert "PRIVATE" not in str(certificate) + repr(certificate)
    entry = AuditEntry.objects.get(action="certificate.set_custom")
    payload = json.dumps([entry.before, entry.after])
    assert entry.after["private_key_encrypted"] == "********"
    assert "PRIVATE KEY" not in payload
    assert certificate.private_key_encrypted not in payload
    key_body = upload["private_key_pem"].splitlines()[1]
    assert key_body not in payload


def test_a_bad_custom_certificate_saves_nothing(site, test_pki, actor):
    upload = test_pki.issue(["example.com"])  # misses the alias
    with pytest.raises(ValidationError) as info:
        services.certificate_set_custom(site, actor=actor, **upload)
    assert "certificate_pem" in info.value.error_dict
    certificate = Certificate.objects.get()  # the site's pending ACME row, untouched
    assert (certificate.source, certificate.certificate_pem) == (CertificateSource.ACME, "")
    assert not AuditEntry.objects.filter(action="certificate.set_custom").exists()


def test_a_custom_upload_cancels_an_order_in_flight(site, test_pki, actor):
    certificate = services.certificate_ensure(site, actor=actor)
    assert services.certificate_claim(certificate.pk, worker="w1", now=timezone.now())
    services.certificate_set_custom(site, actor=actor, **test_pki.issue(["example.com", "www.example.com"]))
    certificate.refresh_from_db()
    assert (certificate.claimed_by, certificate.claimed_until) == ("", None)
    assert not services._finish(certificate, "w1", status=CertificateStatus.FAILED)
    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.VALID


# --- renewal requests ---------------------------------------------------------------------------
def test_renew_now_makes_a_new_site_due_at_once(site, actor):
    certificate = services.certificate_request_renewal(site, actor=actor)
    assert certificate.status == CertificateStatus.PENDING
    assert certificate.source == CertificateSource.ACME
    assert [c.pk for c in certificates_due(timezone.now())] == [certificate.pk]
    assert AuditEntry.objects.filter(action="certificate.renew", object_key="example.com").exists()


def test_renew_now_turns_a_valid_certificate_to_renewing_and_bypasses_the_backoff(site, actor, test_pki):
    services.certificate_set_custom(site, actor=actor, **test_pki.issue(["example.com", "www.example.com"]))
    Certificate.objects.filter(site=site).update(
        source=CertificateSource.ACME, failures=3, next_attempt_at=timezone.now() + 4 * HOUR
    )
    certificate = services.certificate_request_renewal(site, actor=actor)
    assert certificate.status == CertificateStatus.RENEWING
    assert certificate.next_attempt_at <= timezone.now()


def test_renew_now_refuses_a_custom_certificate(site, actor, test_pki):
    services.certificate_set_custom(site, actor=actor, **test_pki.issue(["example.com", "www.example.com"]))
    with pytest.raises(ValidationError, match="upload a new one"):
        services.certificate_request_renewal(site, actor=actor)


# --- the issue step, without a CA -----------------------------------------------------------------
@pytest.fixture
def publisher(tmp_path):
    return DirectoryPublisher(tmp_path / "challenges", frontend_addresses=frozenset({"127.0.0.1"}), http_port=9)


def test_a_domain_that_does_not_reach_us_is_not_ordered(site, actor, publisher, monkeypatch, settings):
    settings.HOSTPANEL_ACME_DIRECTORY = "https://127.0.0.1:9/dir"  # never contacted
    monkeypatch.setattr(preflight, "resolve_addresses", lambda name, **kw: {"192.0.2.7"})
    certificate = services.certificate_ensure(site, actor=actor)
    now = timezone.now()
    attempt = services.certificate_issue(certificate, frontends_publisher=publisher, now=now)
    assert attempt.outcome == AttemptOutcome.PREFLIGHT_FAILED
    assert attempt.order_url == ""
    assert "www.example.com does not point at our front-ends (it resolves to 192.0.2.7)." in attempt.ca_error
    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.FAILED
    assert certificate.failures == 1
    assert certificate.next_attempt_at == now + HOUR
    assert certificate.claimed_by == ""
    assert "example.com does not point at our front-ends" in certificate.last_error


def test_an_unexpected_error_is_recorded_and_does_not_raise(site, actor, publisher, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(preflight, "preflight_check", boom)
    certificate = services.certificate_ensure(site, actor=actor)
    attempt = services.certificate_issue(certificate, frontends_publisher=publisher)
    assert attempt.outcome == AttemptOutcome.PUBLISH_FAILED
    assert "disk full" in attempt.ca_error


def test_a_claimed_certificate_is_skipped(site, actor, publisher):
    certificate = services.certificate_ensure(site, actor=actor)
    assert services.certificate_claim(certificate.pk, worker="other", now=timezone.now())
    assert services.certificate_issue(certificate, frontends_publisher=publisher) is None
    assert not AcmeAttempt.objects.exists()
    assert certificates_due(timezone.now()) == []


def test_an_expired_claim_can_be_taken_over(site, actor):
    certificate = services.certificate_ensure(site, actor=actor)
    now = timezone.now()
    assert services.certificate_claim(certificate.pk, worker="dead", now=now)
    assert not services.certificate_claim(certificate.pk, worker="me", now=now + datetime.timedelta(minutes=1))
    assert services.certificate_claim(certificate.pk, worker="me", now=now + 2 * HOUR)


@pytest.mark.django_db(transaction=True)
def test_only_one_of_racing_workers_claims_a_certificate(actor):
    balancer = Balancer.objects.create(name="race")
    sites = [Site.objects.create(domain=f"race{i}.example.com", balancer=balancer, plone_path="/p") for i in range(5)]
    certificates = [services.certificate_ensure(s, actor=actor) for s in sites]
    now = timezone.now()
    for certificate in certificates:
        wins: list[str] = []
        barrier = threading.Barrier(2)

        def claim(worker: str, certificate=certificate, wins=wins, barrier=barrier) -> None:
            try:
                barrier.wait()
                if services.certificate_claim(certificate.pk, worker=worker, now=now):
                    wins.append(worker)
            finally:
                connection.close()

        threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(wins) == 1, (connection.vendor, wins)
        certificate.refresh_from_db()
        assert certificate.claimed_by == wins[0]


# --- selectors ------------------------------------------------------------------------------------
def test_the_renewal_scan_is_one_query_over_ten_thousand_certificates(db, django_assert_num_queries):
    balancer = Balancer.objects.create(name="scale")
    Site.objects.bulk_create(
        [Site(domain=f"s{i}.example.com", balancer=balancer, plone_path="/p", tls="acme") for i in range(10_000)],
        batch_size=1000,
    )
    now = timezone.now()
    sites = list(Site.objects.filter(balancer=balancer).order_by("pk"))
    Certificate.objects.bulk_create(
        [Certificate(site=s, next_attempt_at=now - HOUR if i % 10 == 0 else now + HOUR) for i, s in enumerate(sites)],
        batch_size=1000,
    )
    started = time.perf_counter()
    with django_assert_num_queries(1):
        due = certificates_due(now)
        domains = [c.site.domain for c in due]
    elapsed = time.perf_counter() - started
    assert len(domains) == 1000
    assert elapsed < 1.0, f"renewal scan took {elapsed:.2f} s"


def test_the_dashboard_lists_failing_and_expiring_certificates(site, actor, test_pki, db):
    balancer = site.balancer
    fine = Site.objects.create(domain="fine.example.com", balancer=balancer, plone_path="/p")
    soon = Site.objects.create(domain="soon.example.com", balancer=balancer, plone_path="/p")
    failed = Site.objects.create(domain="failed.example.com", balancer=balancer, plone_path="/p")
    now = timezone.now()
    for s, days in ((fine, 60), (soon, 3)):
        upload = test_pki.issue([s.domain], not_after=now + datetime.timedelta(days=days))
        services.certificate_set_custom(s, actor=actor, **upload)
    Certificate.objects.create(site=failed, status=CertificateStatus.FAILED, failures=2, last_error="nope")
    listed = [c.site.domain for c in certificates_needing_attention(now)]
    assert listed == ["failed.example.com", "soon.example.com"]


def test_the_scan_marks_expired_certificates(site, actor, test_pki):
    services.certificate_set_custom(site, actor=actor, **test_pki.issue(["example.com", "www.example.com"]))
    later = timezone.now() + datetime.timedelta(days=200)
    assert services.certificates_mark_expired(later) == 1
    assert Certificate.objects.get(site=site).status == CertificateStatus.EXPIRED


def test_a_certificate_batch_publishes_once_for_everything_pending_and_only_when_its_window_closed(
    db, settings, monkeypatch
):
    asked: list[str] = []
    monkeypatch.setattr(services, "config_changed", lambda *, actor, cause=None: asked.append(actor.name))
    batch = services.CertificateBatch(window=0.2)
    assert batch.publish() is False and not batch.pending  # nothing issued: no deployment
    batch.add()
    batch.add()
    assert batch.pending and 0 < batch.remaining() <= 0.2
    assert batch.publish_if_due() is False  # the window is still open
    time.sleep(0.25)
    assert batch.remaining() == 0
    assert batch.publish_if_due() is True
    assert (len(asked), batch.deployments, batch.pending) == (1, 1, False)  # two certificates, one deployment
    assert batch.publish_if_due() is False
    assert len(asked) == 1
