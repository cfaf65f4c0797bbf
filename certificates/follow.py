"""The certificate follows its site: called by sites.services after every site write.

    certificate_follow_site(site, *, actor, names_before) -> None

- `tls` acme: the site's certificate row exists (certificate_ensure, pending and due); a certificate
  that was the customer's own, or whose ordering was stopped, is ordered (again); when the site's names
  changed (domain or aliases), the certificate is renewed so it covers the new names.
- `tls` custom or none: the panel stops ordering for the site (no order would be used, and each one
  spends the CA's limits). A live certificate stays where it is until replaced (the renderer decides
  what is served: only the site's own names the certificate covers).
- `tls` custom: a certificate that no longer covers every name of the site (a rename, a new alias) is
  flagged `mismatch` with the names it misses in last_error (site page, API, alert); those names are
  served over HTTP only until a certificate covering them is uploaded. Covered again (the change undone),
  it is `valid` again.

Each of the three acme cases wakes the ACME worker (certificates.wake): the order starts when the
site's change commits, not at the next scan.

A certificate in service is never deleted here: deleting the site deletes it (cascade).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from certificates.choices import CertificateSource, CertificateStatus
from certificates.models import Certificate
from certificates.services import AUDIT_EXCLUDE, certificate_ensure, certificate_request_renewal, site_names
from certificates.validation import uncovered_names
from certificates.wake import certificates_wake
from hostpanel import audit
from hostpanel.audit import Actor
from sites.choices import SiteTls
from sites.models import Site


def certificate_follow_site(site: Site, *, actor: Actor, names_before: list[str] | None) -> None:
    certificate = Certificate.objects.filter(site=site).first()
    if site.tls == SiteTls.ACME:
        if certificate is None:
            certificate_ensure(site, actor=actor)
            certificates_wake()
        elif certificate.source == CertificateSource.CUSTOM or certificate.next_attempt_at is None:
            _order_again(certificate, actor=actor)
            certificates_wake()
        elif names_before is not None and names_before != site_names(site) and certificate.has_live_certificate:
            certificate_request_renewal(site, actor=actor)
            certificates_wake()
    elif certificate is not None and certificate.source == CertificateSource.ACME and certificate.next_attempt_at:
        _stop_ordering(certificate, actor=actor)
    if site.tls != SiteTls.ACME and certificate is not None and certificate.has_live_certificate:
        _check_names(certificate, site, actor=actor)


def _check_names(certificate: Certificate, site: Site, *, actor: Actor) -> None:
    """A certificate the panel does not re-order must cover every name of the site; else it is flagged."""
    names = site_names(site)
    uncovered = uncovered_names(certificate.names, names) if site.tls == SiteTls.CUSTOM else []
    expired = certificate.not_after is not None and certificate.not_after <= timezone.now()
    if uncovered:
        status = CertificateStatus.EXPIRED if expired else CertificateStatus.MISMATCH
        listed = ", ".join(certificate.names) or "no DNS names"
        last_error = (
            f"The certificate does not cover {', '.join(uncovered)} (it names {listed}): "
            f"{'these names are' if len(uncovered) > 1 else 'this name is'} served over HTTP only until a "
            "certificate covering every name of the site is uploaded."
        )
    elif certificate.status == CertificateStatus.MISMATCH:
        status = CertificateStatus.EXPIRED if expired else CertificateStatus.VALID
        last_error = ""
    else:
        return
    if (status, last_error) == (certificate.status, certificate.last_error):
        return
    with transaction.atomic():
        certificate = Certificate.objects.select_for_update().get(pk=certificate.pk)
        before = audit.snapshot(certificate, exclude=AUDIT_EXCLUDE)
        certificate.status, certificate.last_error = status, last_error
        certificate.save(update_fields=["status", "last_error", "updated_at"])
        audit.record(
            actor,
            "certificate.mismatch" if uncovered else "certificate.covers",
            certificate,
            key=site.domain,
            before=before,
            after=audit.snapshot(certificate, exclude=AUDIT_EXCLUDE),
        )


def _order_again(certificate: Certificate, *, actor: Actor) -> None:
    """An ACME order as soon as a worker is free; a live certificate keeps being served meanwhile."""
    with transaction.atomic():
        certificate = Certificate.objects.select_for_update().select_related("site").get(pk=certificate.pk)
        before = audit.snapshot(certificate, exclude=AUDIT_EXCLUDE)
        now = timezone.now()
        certificate.source = CertificateSource.ACME
        certificate.renew_after = now
        certificate.next_attempt_at = now
        certificate.failures = 0
        if certificate.status in (CertificateStatus.VALID, CertificateStatus.MISMATCH):
            certificate.status = CertificateStatus.RENEWING
        certificate.save(update_fields=["source", "renew_after", "next_attempt_at", "failures", "status", "updated_at"])
        audit.record(
            actor,
            "certificate.order",
            certificate,
            key=certificate.site.domain,
            before=before,
            after=audit.snapshot(certificate, exclude=AUDIT_EXCLUDE),
        )


def _stop_ordering(certificate: Certificate, *, actor: Actor) -> None:
    with transaction.atomic():
        certificate = Certificate.objects.select_for_update().select_related("site").get(pk=certificate.pk)
        before = audit.snapshot(certificate, exclude=AUDIT_EXCLUDE)
        certificate.next_attempt_at = None
        certificate.renew_after = None
        certificate.save(update_fields=["next_attempt_at", "renew_after", "updated_at"])
        audit.record(
            actor,
            "certificate.stop_ordering",
            certificate,
            key=certificate.site.domain,
            before=before,
            after=audit.snapshot(certificate, exclude=AUDIT_EXCLUDE),
        )
