"""Choices of the certificates app."""

from __future__ import annotations

from django.db import models


class CertificateSource(models.TextChoices):
    ACME = "acme", "ACME (issued by the panel)"
    CUSTOM = "custom", "Customer's own certificate"


class CertificateStatus(models.TextChoices):
    """Where a site's certificate stands.

    pending: no certificate yet, the first order is queued. valid: a live certificate, renewal not due.
    renewing: a live certificate whose renewal is due or under way (after a failed renewal attempt it stays
    renewing: the old certificate is served until it expires). failed: no usable certificate and the last
    attempt failed. expired: the certificate's notAfter has passed. mismatch: a certificate that is not
    re-ordered (the customer's own) no longer covers every name of the site (after a rename or a new alias):
    the names it does not cover are served over HTTP only (no redirect) until a certificate covering them is
    uploaded; the names it covers keep HTTPS.
    """

    PENDING = "pending", "Pending"
    VALID = "valid", "Valid"
    RENEWING = "renewing", "Renewing"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    MISMATCH = "mismatch", "Does not cover the site's names"


class AttemptOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    ISSUED = "issued", "Issued"
    PREFLIGHT_FAILED = "preflight_failed", "Names do not reach the front-ends (not ordered)"
    PUBLISH_FAILED = "publish_failed", "Publishing the challenge failed"
    CA_ERROR = "ca_error", "The CA refused"
    RATE_LIMITED = "rate_limited", "Rate limited by the CA"
    CA_UNREACHABLE = "ca_unreachable", "The CA could not be reached"
    ERROR = "error", "Unexpected error"
