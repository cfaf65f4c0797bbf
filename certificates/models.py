"""Certificates of client sites, the ACME account they are ordered with, and every ACME attempt.

A site has at most one Certificate row (its domain and every alias on one certificate). The private
key is kept Fernet-encrypted (certificates.crypto) and is never part of __str__, repr, the admin or
an audit payload (`audit_redacted_fields`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q

from certificates.choices import AttemptOutcome, CertificateSource, CertificateStatus

if TYPE_CHECKING:
    from balancers.models import Deployment


class AcmeAccount(models.Model):
    """The one ACME account per directory that every worker shares (the CA's limits count per account).

    Created once: `directory_url` is unique, so two workers racing to create it end with one row
    (certificates.services.acme_account_get)."""

    directory_url = models.CharField(max_length=500)
    email = models.CharField(max_length=254, blank=True)
    key_encrypted = models.TextField(help_text="The account's private key (PEM), Fernet-encrypted.")
    account_url = models.CharField(max_length=500, blank=True, help_text="The account's URL at the CA (the JWS kid).")
    created_at = models.DateTimeField(auto_now_add=True)

    audit_redacted_fields = ("key_encrypted",)

    class Meta:
        ordering = ["directory_url"]
        verbose_name = "ACME account"
        constraints = [
            models.UniqueConstraint(
                fields=["directory_url"],
                name="acmeaccount_directory_unique",
                violation_error_message="There is already an ACME account for this directory.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_url or 'unregistered'} at {self.directory_url}"


class Certificate(models.Model):
    """A site's TLS certificate: issued over ACME by the panel or uploaded by the customer.

    `certificate_pem` is the leaf, `chain_pem` the intermediates (front-ends get leaf + chain in one
    file). `renew_after` is when the renewal scan picks it up (ARI window or a third of the lifetime
    left); `next_attempt_at` is the per-site backoff after a failure. A worker owns the certificate
    while `claimed_until` lies in the future (one order per site at a time)."""

    unused_names: list[str]  # not a field: set by certificate_set_custom, its names that cover none of the site's
    deployment: Deployment | None  # not a field: set by the write services, the deployment carrying the change

    site = models.OneToOneField("sites.Site", on_delete=models.CASCADE, related_name="certificate")
    source = models.CharField(max_length=8, choices=CertificateSource.choices, default=CertificateSource.ACME)
    status = models.CharField(max_length=10, choices=CertificateStatus.choices, default=CertificateStatus.PENDING)
    names = models.JSONField(default=list, blank=True, help_text="Host names the certificate covers (punycode).")
    missing_names = models.JSONField(
        default=list, blank=True, help_text="Names of the site left out of the last order: they do not reach us."
    )
    not_before = models.DateTimeField(null=True, blank=True)
    not_after = models.DateTimeField(null=True, blank=True, db_index=True)
    issuer = models.CharField(max_length=500, blank=True)
    serial = models.CharField(max_length=64, blank=True, help_text="Hexadecimal.")
    certificate_pem = models.TextField(blank=True)
    chain_pem = models.TextField(blank=True)
    private_key_encrypted = models.TextField(blank=True, help_text="The private key (PEM), Fernet-encrypted.")
    renew_after = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Consecutive failed attempts (backoff).")
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    audit_redacted_fields = ("private_key_encrypted",)

    class Meta:
        ordering = ["site__domain"]
        indexes = [
            # the renewal scan: ACME certificates whose renewal or retry time has come
            models.Index(fields=["source", "renew_after"], name="certificate_renew_idx"),
            models.Index(fields=["source", "next_attempt_at"], name="certificate_retry_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CertificateStatus.values),
                name="certificate_status_valid",
                violation_error_message="Unknown certificate status.",
            ),
            models.CheckConstraint(
                condition=Q(source__in=CertificateSource.values),
                name="certificate_source_valid",
                violation_error_message="Unknown certificate source.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[CertificateStatus.PENDING, CertificateStatus.FAILED])
                | (~Q(certificate_pem="") & ~Q(private_key_encrypted="")),
                name="certificate_live_has_pem_and_key",
                violation_error_message="A valid, renewing, expired or mismatched certificate needs its PEM and key.",
            ),
            models.CheckConstraint(
                condition=(Q(claimed_by="") & Q(claimed_until__isnull=True))
                | (~Q(claimed_by="") & Q(claimed_until__isnull=False)),
                name="certificate_claim_consistent",
                violation_error_message="A claim needs both its worker and its end.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site} ({self.status})"

    def get_absolute_url(self) -> str:
        return self.site.get_absolute_url()

    @property
    def has_live_certificate(self) -> bool:
        """Whether there is a certificate (and key) the front-ends can serve."""
        return bool(self.certificate_pem and self.private_key_encrypted)

    @property
    def fullchain_pem(self) -> str:
        """Leaf followed by the intermediates: what SSLCertificateFile gets."""
        leaf = self.certificate_pem.strip()
        chain = self.chain_pem.strip()
        return f"{leaf}\n{chain}\n" if chain else f"{leaf}\n"


class AcmeAttempt(models.Model):
    """One attempt to issue or renew a site's certificate: what was asked, when, and what the CA said."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="attempts")
    names = models.JSONField(default=list, help_text="The names ordered (or checked, when not ordered).")
    order_url = models.CharField(max_length=500, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING)
    ca_error = models.TextField(blank=True, help_text="The CA's (or the pre-flight check's) own words.")
    retry_after = models.DateTimeField(null=True, blank=True, help_text="The CA's Retry-After, when it gave one.")

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "ACME attempt"
        indexes = [models.Index(fields=["certificate", "-started_at"], name="acmeattempt_cert_started_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=AttemptOutcome.values),
                name="acmeattempt_outcome_valid",
                violation_error_message="Unknown attempt outcome.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.certificate.site} {self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"
