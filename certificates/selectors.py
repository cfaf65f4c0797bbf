"""Reads of certificates: the renewal scan, the dashboard, the site page.

API::

    certificates_due(now, *, limit=None) -> list[Certificate]      # one query, whatever the number of rows
    certificates_needing_attention(now, *, within=14 days) -> list[Certificate]   # dashboard: failing or expiring
    certificate_for_site(site) -> Certificate | None
    certificate_attempts(certificate, *, limit=20) -> list[AcmeAttempt]
"""

from __future__ import annotations

import datetime

from django.db.models import F, Q

from certificates.choices import CertificateSource, CertificateStatus
from certificates.models import AcmeAttempt, Certificate
from sites.models import SiteTls

ATTENTION_WINDOW = datetime.timedelta(days=14)


def certificates_due(now: datetime.datetime, *, limit: int | None = None) -> list[Certificate]:
    """ACME certificates whose order, renewal or retry time has come and that no worker holds, oldest first.
    Only for sites that still want ACME (Site.tls): a site switched to none or custom is never ordered."""
    queryset = (
        Certificate.objects.filter(source=CertificateSource.ACME, next_attempt_at__lte=now, site__tls=SiteTls.ACME)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .select_related("site")
        .order_by("next_attempt_at", "pk")
    )
    return list(queryset[:limit] if limit is not None else queryset)


def certificates_needing_attention(
    now: datetime.datetime, *, within: datetime.timedelta = ATTENTION_WINDOW
) -> list[Certificate]:
    """Failed or expired certificates, failing renewals, and certificates expiring within `within`."""
    return list(
        Certificate.objects.filter(
            Q(status__in=[CertificateStatus.FAILED, CertificateStatus.EXPIRED])
            | Q(failures__gt=0)
            | Q(not_after__lte=now + within)
        )
        .select_related("site")
        .order_by(F("not_after").asc(nulls_first=True), "site__domain")
    )


def certificate_for_site(site) -> Certificate | None:
    return Certificate.objects.filter(site=site).first()


def certificate_attempts(certificate: Certificate, *, limit: int = 20) -> list[AcmeAttempt]:
    return list(certificate.attempts.all()[:limit])
