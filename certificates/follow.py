"""The certificate follows its site: called by sites.services after every site write.

    certificate_follow_site(site, *, actor, names_before) -> None

- `tls` acme: the site's certificate row exists (certificate_ensure, pending and due); a certificate
  that was the customer's own, or whose ordering was stopped, is ordered (again); when the site's names
  changed (domain or aliases), the certificate is renewed so it covers the new names.
- `tls` custom or none: the panel stops ordering for the site (no order would be used, and each one
  spends the CA's limits). A live certificate stays where it is until replaced (the renderer decides
  what is served).

A certificate in service is never deleted here: deleting the site deletes it (cascade).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from certificates.choices import CertificateSource, CertificateStatus
from certificates.models import Certificate
from certificates.services import AUDIT_EXCLUDE, certificate_ensure, certificate_request_renewal, site_names
from hostpanel import audit
from hostpanel.audit import Actor
from sites.models import Site, SiteTls


def certificate_follow_site(site: Site, *, actor: Actor, names_before: list[str] | None) -> None:
    certificate = Certificate.objects.filter(site=site).first()
    if site.tls == SiteTls.ACME:
        if certificate is None:
            certificate_ensure(site, actor=actor)
        elif certificate.source == CertificateSource.CUSTOM or certificate.next_attempt_at is None:
            _order_again(certificate, actor=actor)
        elif names_before is not None and names_before != site_names(site) and certificate.has_live_certificate:
            certificate_request_renewal(site, actor=actor)
    elif certificate is not None and certificate.source == CertificateSource.ACME and certificate.next_attempt_at:
        _stop_ordering(certificate, actor=actor)


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
        if certificate.status == CertificateStatus.VALID:
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
