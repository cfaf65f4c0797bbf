"""Ordering what is due: `renewal_scan` is one look at the certificates (new, renewal, retry after the
backoff). Three callers:

- the ACME worker (certificates.worker, `manage.py renew_certificates --loop`, started by bin/run when
  HOSTPANEL_ACME_DIRECTORY is set): woken the moment a certificate is due (certificates.wake), and every
  HOSTPANEL_ACME_SCAN_SECONDS anyway (renewals, retries); it keeps a batch open so certificates issued
  close together go live in one deployment;
- `order_due_certificates`, the task the wake enqueues on the rq / immediate task backends;
- `manage.py renew_certificates` once (cron).

It orders through the registered front-ends publisher (certificates.publishing) and puts what it issued
live in one deployment (certificates.services).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.tasks import task

from certificates.choices import AttemptOutcome
from certificates.publishing import frontends_publisher
from certificates.services import CertificateBatch, certificates_run_due

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanResult:
    attempts: int
    issued: int
    failures: list[str]  # "<domain>: <outcome>: <error>" of every failed attempt


def renewal_scan(limit: int = 50, *, batch: CertificateBatch | None = None) -> ScanResult:
    """One scan (see the module docstring); nothing is ordered while no publisher is registered. Without a
    batch, what it issued goes live at its end; with one, when the batch's window closes."""
    publisher = frontends_publisher()
    if publisher is None:
        log.warning("no front-ends publisher registered: certificates are not ordered yet")
        return ScanResult(0, 0, [])
    attempts = certificates_run_due(frontends_publisher=publisher, limit=limit, batch=batch)
    issued = [a for a in attempts if a.outcome == AttemptOutcome.ISSUED and not a.ca_error]
    failures = [
        f"{a.certificate.site.domain}: {a.outcome}: {a.ca_error}"
        for a in attempts
        if a.outcome != AttemptOutcome.ISSUED
    ]
    return ScanResult(len(attempts), len(issued), failures)


@task()
def order_due_certificates() -> str:
    """The wake on the rq / immediate backends (certificates.wake): order what is due now."""
    if not settings.HOSTPANEL_ACME_DIRECTORY:
        return "no ACME CA configured"
    result = renewal_scan(settings.HOSTPANEL_ACME_SCAN_LIMIT)
    return f"{result.attempts} ACME attempts, {result.issued} certificates issued"
