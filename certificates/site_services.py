"""Certificate writes of the doors (API and pages), on top of certificates.services.

site_certificate_upload(site, *, certificate_pem, private_key_pem, chain_pem="", actor) -> Certificate
    the customer's own certificate: every check at the door (ValidationError keyed by the field that
    failed: certificate_pem, private_key_pem or chain_pem), then, in one transaction, the certificate
    stored and the site switched to tls=custom; the deployment that carries it is queued
    (`certificate.deployment`). Nothing is saved when a check fails.
site_certificate_renew(site, *, actor) -> Certificate
    "Renew now" for a site with tls=acme: due at once, bypassing the backoff.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from balancers.services import config_changed
from certificates.models import Certificate
from certificates.services import certificate_request_renewal, certificate_set_custom
from hostpanel.audit import Actor
from sites.models import Site, SiteTls
from sites.services import site_update


@transaction.atomic
def site_certificate_upload(
    site: Site, *, certificate_pem: str, private_key_pem: str, chain_pem: str = "", actor: Actor
) -> Certificate:
    certificate = certificate_set_custom(
        site, certificate_pem=certificate_pem, private_key_pem=private_key_pem, chain_pem=chain_pem, actor=actor
    )
    if site.tls != SiteTls.CUSTOM:
        site = site_update(site, actor=actor, tls=SiteTls.CUSTOM)  # queues the deployment itself
        certificate.deployment = site.deployment
    else:
        certificate.deployment = config_changed(actor=actor)
    return certificate


def site_certificate_renew(site: Site, *, actor: Actor) -> Certificate:
    if site.tls != SiteTls.ACME:
        what = "uses its own certificate: upload a new one" if site.tls == SiteTls.CUSTOM else "is HTTP only (tls none)"
        raise ValidationError({"tls": ValidationError(f"{site.domain} {what}.", code="not_acme")})
    return certificate_request_renewal(site, actor=actor)
