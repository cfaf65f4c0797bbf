"""Writes to certificates, and the ACME issue/renew step. Every door (web, API, tasks) comes through here.

API for the doors and the integration phase::

    certificate_ensure(site, *, actor) -> Certificate
        the site's certificate row, created `pending` (ACME) when missing: the scan will order it
    certificate_set_custom(site, *, certificate_pem, private_key_pem, chain_pem="", actor) -> Certificate
        validated at the door (certificates.validation; ValidationError keyed by field), atomic, audited
        without key material; replaces an ACME certificate (and cancels an order in flight); deploys it.
        Extra names (another site's, a wildcard covering none of the site's names) are accepted and
        ignored: never served with this site; `certificate.unused_names` lists them for the door's message
    certificate_request_renewal(site, *, actor) -> Certificate
        "Renew now": due at once, bypassing the backoff; the next scan orders it
    certificate_issue(certificate, *, frontends_publisher, now=None, worker="") -> AcmeAttempt | None
        one issue/renew step (worker side). None when another worker holds the certificate. Never
        raises for CA, network or publishing errors: the AcmeAttempt row and the certificate's
        last_error / next_attempt_at say what happened
    certificates_run_due(*, frontends_publisher, now=None, limit=20, batch=None) -> list[AcmeAttempt]
        the periodic scan (certificates.tasks): marks expired certificates, then issues what is due; what
        it issued (or marked expired) goes live in ONE automatic deployment at the end (one graceful
        reload per front-end for the whole batch; certificate_issue alone deploys nothing), or, with
        the ACME worker's CertificateBatch, when the batch's window closes (HOSTPANEL_ACME_BATCH_SECONDS)
    certificate_claim(certificate_id, *, worker, now) -> bool
        the conditional UPDATE that gives one worker the certificate (lease: order timeout + 5 min)
    certificate_key_pem(certificate) -> str
        the decrypted private key, for the deploy step only (never logged, never shown)

Pacing and failure: a scan runs HOSTPANEL_ACME_PARALLEL_ORDERS orders at once; one order per site at a
time (a conditional UPDATE claims the row for HOSTPANEL_ACME_ORDER_TIMEOUT + 5 min, across workers and
machines); after a failure the site waits
1 h, doubling, at most a day, or longer when the CA's Retry-After says so; other sites go on. Names that
fail the pre-flight check are left out (reported in last_error); when the site's own domain fails,
nothing is ordered. A live certificate stays in place until a new one replaces it.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from balancers.services import config_changed
from certificates import acme_client, preflight
from certificates.account import acme_session
from certificates.choices import AttemptOutcome, CertificateSource, CertificateStatus
from certificates.crypto import decrypt_secret, encrypt_secret
from certificates.models import AcmeAttempt, Certificate
from certificates.publishing import ChallengePublisher
from certificates.selectors import certificates_due
from certificates.validation import ParsedCertificate, parse_issued, unused_names, validate_custom_certificate
from hostpanel import audit
from hostpanel.audit import Actor
from sites.models import Site

log = logging.getLogger(__name__)

BACKOFF_FIRST = datetime.timedelta(hours=1)
BACKOFF_MAX = datetime.timedelta(days=1)
CLAIM_MARGIN = datetime.timedelta(minutes=5)
AUDIT_EXCLUDE = ("certificate_pem", "chain_pem", "claimed_by", "claimed_until", "updated_at", "created_at")


# --- pure helpers -----------------------------------------------------------------------------
def backoff_delay(failures: int) -> datetime.timedelta:
    """1 h after the first failure, doubling, at most a day."""
    if failures <= 0:
        return datetime.timedelta(0)
    return min(BACKOFF_FIRST * 2 ** min(failures - 1, 16), BACKOFF_MAX)


def next_attempt_after_failure(
    now: datetime.datetime, failures: int, retry_after: datetime.datetime | None
) -> datetime.datetime:
    """The backoff, or the CA's Retry-After when that is later."""
    due = now + backoff_delay(failures)
    return max(due, retry_after) if retry_after is not None else due


def site_names(site: Site) -> list[str]:
    """The names one certificate covers: the domain first, then every alias."""
    return [site.domain, *sorted(alias.name for alias in site.aliases.all())]


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:100]


def _snapshot(certificate: Certificate) -> dict | None:
    return audit.snapshot(certificate, exclude=AUDIT_EXCLUDE)


def certificate_key_pem(certificate: Certificate) -> str:
    return (
        decrypt_secret(certificate.private_key_encrypted).decode("ascii") if certificate.private_key_encrypted else ""
    )


# --- door writes ------------------------------------------------------------------------------
def certificate_ensure(site: Site, *, actor: Actor) -> Certificate:
    """The site's certificate row; a new one is `pending` (ACME) and due now."""
    certificate = Certificate.objects.filter(site=site).first()
    if certificate is not None:
        return certificate
    try:
        with transaction.atomic():
            certificate = Certificate.objects.create(
                site=site,
                source=CertificateSource.ACME,
                status=CertificateStatus.PENDING,
                next_attempt_at=timezone.now(),
            )
            audit.record(
                actor, "certificate.create", certificate, key=site.domain, before=None, after=_snapshot(certificate)
            )
    except IntegrityError:  # another door created it at the same moment
        return Certificate.objects.get(site=site)
    return certificate


def _apply_parsed(certificate: Certificate, parsed: ParsedCertificate) -> None:
    certificate.names = parsed.names
    certificate.not_before = parsed.not_before
    certificate.not_after = parsed.not_after
    certificate.issuer = parsed.issuer
    certificate.serial = parsed.serial
    certificate.certificate_pem = parsed.certificate_pem
    certificate.chain_pem = parsed.chain_pem
    certificate.private_key_encrypted = encrypt_secret(parsed.private_key_pem.encode("ascii"))


def certificate_set_custom(
    site: Site, *, certificate_pem: str, private_key_pem: str, chain_pem: str = "", actor: Actor
) -> Certificate:
    """Store a customer's own certificate after every check; nothing is saved when one fails. Names on it
    that are not the site's are accepted but never served with it (`certificate.unused_names` says which)."""
    names = site_names(site)
    parsed = validate_custom_certificate(
        certificate_pem=certificate_pem, private_key_pem=private_key_pem, chain_pem=chain_pem, names=names
    )
    with transaction.atomic():
        certificate = Certificate.objects.select_for_update().filter(site=site).first()
        before = _snapshot(certificate) if certificate is not None else None
        if certificate is None:
            certificate = Certificate(site=site)
        _apply_parsed(certificate, parsed)
        certificate.source = CertificateSource.CUSTOM
        certificate.status = CertificateStatus.VALID
        certificate.missing_names = []
        certificate.renew_after = None
        certificate.next_attempt_at = None  # the scan never orders for a custom certificate
        certificate.last_error = ""
        certificate.failures = 0
        certificate.claimed_by, certificate.claimed_until = "", None  # an order in flight is discarded
        certificate.full_clean(exclude=["site"], validate_unique=False)
        certificate.save()
        audit.record(
            actor, "certificate.set_custom", certificate, key=site.domain, before=before, after=_snapshot(certificate)
        )
        config_changed(actor=actor, cause=("certificate.set_custom", site.domain))
    certificate.unused_names = unused_names(parsed.names, names)
    return certificate


def certificate_request_renewal(site: Site, *, actor: Actor) -> Certificate:
    """Order (again) as soon as a worker is free, ignoring the backoff. ACME certificates only."""
    certificate = certificate_ensure(site, actor=actor)
    with transaction.atomic():
        certificate = Certificate.objects.select_for_update().get(pk=certificate.pk)
        if certificate.source == CertificateSource.CUSTOM:
            raise ValidationError(
                "This site uses its own certificate: upload a new one to renew it.", code="custom_certificate"
            )
        before = _snapshot(certificate)
        now = timezone.now()
        certificate.renew_after = now
        certificate.next_attempt_at = now
        if certificate.status == CertificateStatus.VALID:
            certificate.status = CertificateStatus.RENEWING
        certificate.save(update_fields=["renew_after", "next_attempt_at", "status", "updated_at"])
        audit.record(
            actor, "certificate.renew", certificate, key=site.domain, before=before, after=_snapshot(certificate)
        )
    return certificate


# --- the issue / renew step -------------------------------------------------------------------
def certificate_claim(certificate_id: int, *, worker: str, now: datetime.datetime) -> bool:
    """Take the certificate for one worker (a conditional UPDATE: exactly one of racing workers wins)."""
    lease = datetime.timedelta(seconds=settings.HOSTPANEL_ACME_ORDER_TIMEOUT) + CLAIM_MARGIN
    unclaimed = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    claimed = Certificate.objects.filter(unclaimed, pk=certificate_id, source=CertificateSource.ACME).update(
        claimed_by=worker, claimed_until=now + lease
    )
    return claimed == 1


def _finish(certificate: Certificate, worker: str, **fields) -> bool:
    """Write the result and release the claim, only if the claim is still ours (a custom upload wins)."""
    fields.update(claimed_by="", claimed_until=None, updated_at=timezone.now())
    return Certificate.objects.filter(pk=certificate.pk, claimed_by=worker).update(**fields) == 1


def _failed(
    certificate: Certificate,
    attempt: AcmeAttempt,
    worker: str,
    now: datetime.datetime,
    *,
    outcome: str,
    message: str,
    retry_after: datetime.datetime | None = None,
    order_url: str = "",
) -> AcmeAttempt:
    failures = certificate.failures + 1
    if certificate.has_live_certificate:
        expired = certificate.not_after is not None and certificate.not_after <= now
        status = CertificateStatus.EXPIRED if expired else CertificateStatus.RENEWING
    else:
        status = CertificateStatus.FAILED
    next_attempt = next_attempt_after_failure(now, failures, retry_after)
    _finish(
        certificate, worker, status=status, failures=failures, last_error=message[:5000], next_attempt_at=next_attempt
    )
    attempt.outcome = outcome
    attempt.ca_error = message[:5000]
    attempt.retry_after = retry_after
    attempt.order_url = order_url[:500] or attempt.order_url
    attempt.finished_at = timezone.now()
    attempt.save(update_fields=["outcome", "ca_error", "retry_after", "order_url", "finished_at"])
    log.info("certificate for %s: %s (%s), next attempt %s", certificate.site.domain, outcome, message, next_attempt)
    return attempt


class _Issued(NamedTuple):
    """What the CA gave for one order."""

    order_url: str
    parsed: ParsedCertificate
    renew_after: datetime.datetime


def certificate_issue(
    certificate: Certificate,
    *,
    frontends_publisher: ChallengePublisher,
    now: datetime.datetime | None = None,
    worker: str = "",
) -> AcmeAttempt | None:
    """One issue/renew step for one certificate (see the module docstring)."""
    now = now or timezone.now()
    worker = worker or default_worker()
    if not certificate_claim(certificate.pk, worker=worker, now=now):
        return None
    certificate = Certificate.objects.select_related("site").get(pk=certificate.pk)
    names = site_names(certificate.site)
    attempt = AcmeAttempt.objects.create(
        certificate=certificate,
        names=names,
        worker=worker,
        # when this order really started: a round's orders share its `now`, but run one after another or a few
        # at a time (a `now` in the future is a test's clock)
        started_at=max(now, timezone.now()),
        outcome=AttemptOutcome.RUNNING,
    )
    try:
        checked = _preflight(names, frontends_publisher)
        order_names = _names_to_order(certificate, checked, now)
        if order_names is None:
            return _failed(
                certificate, attempt, worker, now, outcome=AttemptOutcome.PREFLIGHT_FAILED, message=checked.report()
            )
        attempt.names = order_names
        attempt.save(update_fields=["names"])
        issued = _order(order_names, frontends_publisher)
    except acme_client.AcmeError as exc:
        return _failed(
            certificate,
            attempt,
            worker,
            now,
            outcome=exc.outcome,
            message=exc.ca_error,
            retry_after=exc.retry_after,
            order_url=exc.order_url,
        )
    except Exception as exc:  # one site's surprise must not stop the others
        log.exception("certificate for %s: unexpected error", certificate.site.domain)
        return _failed(
            certificate, attempt, worker, now, outcome=AttemptOutcome.ERROR, message=f"{type(exc).__name__}: {exc}"
        )
    missing = [name for name in names if name not in order_names]
    return _succeeded(certificate, attempt, worker, now, issued=issued, missing=missing, report=checked.report())


def _preflight(names: list[str], publisher: ChallengePublisher) -> preflight.PreflightResult:
    """Which names reach the front-ends over HTTP. AcmeError when a front-end refused the check file."""
    try:
        return preflight.preflight_check(
            names,
            frontend_addresses=publisher.frontend_addresses,
            publish=publisher.publish,
            unpublish=publisher.unpublish,
            http_port=publisher.http_port,
            resolver=settings.HOSTPANEL_DNS_RESOLVER,
        )
    except Exception as exc:  # a front-end refused the check file
        raise acme_client.AcmeError(
            f"Publishing the pre-flight check file failed: {exc}", outcome=AttemptOutcome.PUBLISH_FAILED
        ) from exc


def _names_to_order(
    certificate: Certificate, checked: preflight.PreflightResult, now: datetime.datetime
) -> list[str] | None:
    """The names that passed the check; None when nothing is to be ordered (the site's own domain failed)."""
    if certificate.site.domain not in checked.reachable:
        return None
    renewal_due = not certificate.has_live_certificate or (
        certificate.renew_after is not None and certificate.renew_after <= now
    )
    if not renewal_due and set(checked.reachable) <= set(certificate.names):
        # a re-check of names left out earlier: still out, so no (duplicate) order
        return None
    return checked.reachable


def _order(names: list[str], publisher: ChallengePublisher) -> _Issued:
    """Order the certificate from the configured CA (raises AcmeError) and read what it gave."""
    session = acme_session()
    issued = acme_client.order_certificate(
        session,
        names,
        publish=publisher.publish,
        unpublish=publisher.unpublish,
        timeout=settings.HOSTPANEL_ACME_ORDER_TIMEOUT,
    )
    parsed = parse_issued(issued.fullchain_pem, issued.private_key_pem)
    return _Issued(issued.order_url, parsed, acme_client.renewal_time(session, issued.fullchain_pem))


def _succeeded(
    certificate: Certificate,
    attempt: AcmeAttempt,
    worker: str,
    now: datetime.datetime,
    *,
    issued: _Issued,
    missing: list[str],
    report: str,
) -> AcmeAttempt:
    """Store the issued certificate (unless the claim was lost meanwhile), close the attempt, audit."""
    site = certificate.site
    before = _snapshot(certificate)
    updated = Certificate(pk=certificate.pk, site=site)
    _apply_parsed(updated, issued.parsed)
    failures = 1 if missing else 0  # left-out names are re-checked with the backoff
    next_attempt = min(issued.renew_after, now + backoff_delay(failures)) if missing else issued.renew_after
    written = _finish(
        certificate,
        worker,
        source=CertificateSource.ACME,
        status=CertificateStatus.VALID,
        names=updated.names,
        missing_names=missing,
        not_before=updated.not_before,
        not_after=updated.not_after,
        issuer=updated.issuer,
        serial=updated.serial,
        certificate_pem=updated.certificate_pem,
        chain_pem=updated.chain_pem,
        private_key_encrypted=updated.private_key_encrypted,
        renew_after=issued.renew_after,
        last_error=report,
        failures=failures,
        next_attempt_at=next_attempt,
    )
    attempt.outcome = AttemptOutcome.ISSUED
    attempt.order_url = issued.order_url[:500]
    attempt.ca_error = "" if written else "Issued, but discarded: the site got another certificate meanwhile."
    attempt.finished_at = timezone.now()
    attempt.save(update_fields=["outcome", "order_url", "ca_error", "finished_at"])
    if written:
        certificate.refresh_from_db()
        audit.record(
            Actor.system(),
            "certificate.issued",
            certificate,
            key=site.domain,
            before=before,
            after=_snapshot(certificate),
        )
    return attempt


def certificates_mark_expired(now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    return Certificate.objects.filter(
        status__in=[CertificateStatus.VALID, CertificateStatus.RENEWING, CertificateStatus.MISMATCH], not_after__lte=now
    ).update(status=CertificateStatus.EXPIRED, updated_at=now)


class CertificateBatch:
    """Certificates issued (or found expired) and not live yet: ONE deployment puts them all live.

    The ACME worker (certificates.worker) keeps a batch open while more certificates are due, at most
    `window` seconds from its first certificate, so a burst of new sites costs one graceful reload per
    front-end per window, not one per site; a scan without a worker closes its batch at its end (window None)."""

    def __init__(self, window: float | None = None) -> None:
        self.window = window
        self.opened_at: float | None = None  # time.monotonic() of the first certificate not live yet
        self.deployments = 0  # how many times this batch object put certificates live

    @property
    def pending(self) -> bool:
        return self.opened_at is not None

    def add(self) -> None:
        if self.opened_at is None:
            self.opened_at = time.monotonic()

    def remaining(self) -> float:
        """Seconds until the window closes (0 when nothing is pending or it has closed)."""
        if self.opened_at is None or self.window is None:
            return 0.0
        return max(self.opened_at + self.window - time.monotonic(), 0.0)

    def publish_if_due(self) -> bool:
        if self.pending and self.window is not None and self.remaining() <= 0:
            return self.publish()
        return False

    def publish(self) -> bool:
        """One automatic deployment for everything pending (coalesced with one already queued)."""
        if not self.pending:
            return False
        config_changed(actor=Actor.system(), cause=("renewal.run", "new or expired certificates go live"))
        self.opened_at = None
        self.deployments += 1
        return True


def certificates_run_due(
    *,
    frontends_publisher: ChallengePublisher,
    now: datetime.datetime | None = None,
    limit: int = 20,
    batch: CertificateBatch | None = None,
) -> list[AcmeAttempt]:
    """The periodic scan: at most `limit` orders per run (the CA's 300 orders / 3 h pace them). What it
    issued or marked expired goes live in one deployment at its end, or, given the worker's open
    `batch`, when that batch's window closes (checked after every order)."""
    now = now or timezone.now()
    own_batch = batch is None
    batch = CertificateBatch() if batch is None else batch
    if certificates_mark_expired(now):
        batch.add()
    due = list(certificates_due(now, limit=limit))
    attempts = []
    for attempt in _issue_each(due, frontends_publisher=frontends_publisher, now=now):
        attempts.append(attempt)
        if attempt.outcome == AttemptOutcome.ISSUED and not attempt.ca_error:
            batch.add()
        batch.publish_if_due()
    if own_batch:
        # one deployment for the whole scan: 50 renewals are one graceful reload per front-end, not 50
        batch.publish()
    return attempts


def _issue_each(
    certificates: list[Certificate], *, frontends_publisher: ChallengePublisher, now: datetime.datetime
) -> Iterator[AcmeAttempt]:
    """certificate_issue for each, HOSTPANEL_ACME_PARALLEL_ORDERS at a time (an order mostly waits for the CA
    and the front-ends); the attempts as they finish."""
    workers = min(settings.HOSTPANEL_ACME_PARALLEL_ORDERS, len(certificates))
    if workers <= 1:
        for certificate in certificates:
            attempt = certificate_issue(certificate, frontends_publisher=frontends_publisher, now=now)
            if attempt is not None:
                yield attempt
        return

    def issue(certificate: Certificate) -> AcmeAttempt | None:
        try:
            return certificate_issue(certificate, frontends_publisher=frontends_publisher, now=now)
        finally:
            connection.close()  # the pool thread's own connection

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acme-order") as pool:
        for future in as_completed([pool.submit(issue, c) for c in certificates]):
            attempt = future.result()
            if attempt is not None:
                yield attempt
