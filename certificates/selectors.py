"""Reads of certificates: the renewal scan, the dashboard, the site page.

API::

    certificates_due(now, *, limit=None) -> list[Certificate]      # one query, whatever the number of rows
    certificates_needing_attention(now, *, within=14 days) -> list[Certificate]   # dashboard: failing or expiring
    certificate_for_site(site) -> Certificate | None
    certificate_attempts(certificate, *, limit=20) -> list[AcmeAttempt]

Read models of the doors (API and pages), at the end of this module::

    certificate_of(site) -> Certificate | None            # no query when the site was read with
                                                           # select_related("certificate")
    certificate_summary(certificate, *, addresses=True) -> SiteCertificate | None   # the site's `certificate`
    certificate_detail(certificate, *, addresses=True) -> CertificateDetail          # GET .../certificate/
        addresses=False: IP addresses in last_error and the attempts' ca_error are hidden (where names
        resolve, our front-ends' addresses: for operators only)
"""

from __future__ import annotations

import datetime
from typing import Annotated, TypedDict

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import F, Q

from certificates.choices import CertificateSource, CertificateStatus
from certificates.models import AcmeAttempt, Certificate
from certificates.preflight import hide_addresses
from certificates.validation import unused_names
from hostpanel.readmodel import DATETIME, Help
from sites.choices import SiteTls

ATTENTION_WINDOW = datetime.timedelta(days=14)


def acme_unavailable() -> str:
    """Why the panel cannot order ACME certificates ("" when it can): no CA configured. The site form, "Renew
    now", the site page and the renew service read it, so none of them offers or promises an order that the
    renewal worker (started only when HOSTPANEL_ACME_DIRECTORY is set) would never make."""
    if not settings.HOSTPANEL_ACME_DIRECTORY:
        return (
            "No ACME certificate authority is configured (HOSTPANEL_ACME_DIRECTORY is empty), so the panel cannot "
            "order certificates: use the customer's own certificate, or HTTP only."
        )
    return ""


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
    """Failed, expired or mismatched certificates, failing renewals, and certificates expiring within `within`."""
    return list(
        Certificate.objects.filter(
            Q(status__in=[CertificateStatus.FAILED, CertificateStatus.EXPIRED, CertificateStatus.MISMATCH])
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


# --- read models of the doors: the site's `certificate` object, the certificate endpoint and page -------
class SiteCertificate(TypedDict):
    """A site's certificate as the API and the pages show it. Never any key material."""

    status: Annotated[
        str,
        Help(
            "pending, valid, renewing, failed, expired or mismatch (the customer's own certificate does not cover "
            "every name of the site: those names are served over HTTP only; last_error names them)."
        ),
    ]
    names: Annotated[list[str], Help("Host names the certificate covers (punycode).")]
    not_before: Annotated[datetime.datetime | None, DATETIME]
    not_after: Annotated[datetime.datetime | None, DATETIME]
    issuer: Annotated[str, Help("The issuer's distinguished name (RFC 4514).")]
    serial: Annotated[str, Help("The serial number, hexadecimal.")]
    last_error: Annotated[str, Help("What went wrong last (the CA's or the pre-flight check's words); empty if ok.")]
    next_attempt_at: Annotated[
        datetime.datetime | None, DATETIME, Help("When the panel orders or retries next; null when not planned.")
    ]


class CertificateAttempt(TypedDict):
    names: Annotated[list[str], Help("The names ordered (or checked, when not ordered).")]
    order_url: str
    started_at: Annotated[datetime.datetime, DATETIME]
    finished_at: Annotated[datetime.datetime | None, DATETIME]
    outcome: Annotated[
        str, Help("running, issued, preflight_failed, publish_failed, ca_error, rate_limited, ca_unreachable, error.")
    ]
    ca_error: Annotated[str, Help("The CA's (or the pre-flight check's) own words.")]


class CertificateDetail(SiteCertificate):
    source: Annotated[str, Help("acme (issued by the panel) or custom (the customer's own).")]
    missing_names: Annotated[list[str], Help("Names of the site left out of the last order: they do not reach us.")]
    unused_names: Annotated[
        list[str],
        Help(
            "Names (or wildcards) of the certificate that cover none of the site's names, e.g. another site's: "
            "accepted on an upload but never served with this site."
        ),
    ]
    renew_after: Annotated[datetime.datetime | None, DATETIME]
    attempts: Annotated[list[CertificateAttempt], Help("The last ACME attempts, newest first.")]


def certificate_of(site) -> Certificate | None:
    """The site's certificate through the reverse one-to-one (cached by select_related), or None."""
    try:
        return site.certificate
    except ObjectDoesNotExist:
        return None


def _words(text: str, addresses: bool) -> str:
    return text if addresses else hide_addresses(text)


def certificate_summary(certificate: Certificate | None, *, addresses: bool = True) -> SiteCertificate | None:
    if certificate is None:
        return None
    return SiteCertificate(
        status=certificate.status,
        names=list(certificate.names),
        not_before=certificate.not_before,
        not_after=certificate.not_after,
        issuer=certificate.issuer,
        serial=certificate.serial,
        last_error=_words(certificate.last_error, addresses),
        next_attempt_at=certificate.next_attempt_at,
    )


def certificate_detail(certificate: Certificate, *, attempts: int = 20, addresses: bool = True) -> CertificateDetail:
    summary = certificate_summary(certificate, addresses=addresses)
    assert summary is not None
    site = certificate.site
    return CertificateDetail(
        **summary,
        source=certificate.source,
        missing_names=list(certificate.missing_names),
        unused_names=unused_names(certificate.names, [site.domain, *(alias.name for alias in site.aliases.all())]),
        renew_after=certificate.renew_after,
        attempts=[
            CertificateAttempt(
                names=list(attempt.names),
                order_url=attempt.order_url,
                started_at=attempt.started_at,
                finished_at=attempt.finished_at,
                outcome=attempt.outcome,
                ca_error=_words(attempt.ca_error, addresses),
            )
            for attempt in certificate_attempts(certificate, limit=attempts)
        ],
    )
