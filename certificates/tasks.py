"""The periodic renewal scan: `manage.py renew_certificates --loop` runs `renewal_scan` every
HOSTPANEL_ACME_SCAN_SECONDS (bin/run starts it when HOSTPANEL_ACME_DIRECTORY is set). It orders what is
due through the registered front-ends publisher (certificates.publishing) and puts what it issued live
in one deployment (certificates.services).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from certificates.choices import AttemptOutcome
from certificates.publishing import frontends_publisher
from certificates.services import certificates_run_due

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanResult:
    attempts: int
    issued: int
    failures: list[str]  # "<domain>: <outcome>: <error>" of every failed attempt


def renewal_scan(limit: int = 50) -> ScanResult:
    """One scan (see the module docstring); nothing is ordered while no publisher is registered."""
    publisher = frontends_publisher()
    if publisher is None:
        log.warning("no front-ends publisher registered: certificates are not ordered yet")
        return ScanResult(0, 0, [])
    attempts = certificates_run_due(frontends_publisher=publisher, limit=limit)
    issued = [a for a in attempts if a.outcome == AttemptOutcome.ISSUED and not a.ca_error]
    failures = [
        f"{a.certificate.site.domain}: {a.outcome}: {a.ca_error}"
        for a in attempts
        if a.outcome != AttemptOutcome.ISSUED
    ]
    return ScanResult(len(attempts), len(issued), failures)
