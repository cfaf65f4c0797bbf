"""REST API tokens (stored only as a hash) and the responses remembered for Idempotency-Key retries."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from hostpanel.validators import normalize_networks, validate_no_control_characters, validate_slug_name


class TokenScope(models.TextChoices):
    BILLING = "billing", "Billing (client sites only)"
    OPERATOR = "operator", "Operator (everything)"
    READ = "read", "Read only (GET)"
    USAGE = "usage", "Usage (read traffic usage only)"


def hash_key(key: str) -> str:
    """sha256 of the key: the key is 256 bits of randomness, so a fast hash is enough (no dictionary to guess)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    """A key a billing system or an operator's script sends as `Authorization: Token <key>`.

    Only the sha256 of the key is stored; `prefix` (the key's first characters) finds the row, and
    the hash is compared in constant time. The token's name is the actor in the audit log."""

    PREFIX_LENGTH = 12

    name = models.CharField(
        max_length=64,
        validators=[validate_slug_name],
        help_text="Shown in the audit log as the actor, e.g. whmcs or ops-script.",
    )
    scope = models.CharField(max_length=16, choices=TokenScope.choices, default=TokenScope.READ)
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False, help_text="The key's first characters.")
    key_hash = models.CharField(max_length=64, editable=False)
    allowed_networks = models.JSONField(
        default=list,
        blank=True,
        help_text="Client networks in CIDR notation the token may be used from; empty: any address.",
    )
    description = models.CharField(max_length=200, blank=True, validators=[validate_no_control_characters])
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    audit_redacted_fields = ("key_hash",)

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                name="apitoken_name_unique",
                violation_error_code="unique",
                violation_error_message="An API token with this name already exists.",
            ),
            models.UniqueConstraint(fields=["prefix"], name="apitoken_prefix_unique"),
            models.CheckConstraint(
                condition=models.Q(scope__in=TokenScope.values),
                name="apitoken_scope_valid",
                violation_error_message="Unknown token scope.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        try:
            self.allowed_networks = normalize_networks(self.allowed_networks)
        except ValidationError as exc:
            raise ValidationError({"allowed_networks": exc.error_list}) from None

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(self.key_hash, hash_key(key))

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def allows_address(self, address: str | None) -> bool:
        if not self.allowed_networks:
            return True
        try:
            client = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        if client.version == 6 and client.ipv4_mapped:
            client = client.ipv4_mapped
        return any(
            client.version == net.version and client in net
            for net in (ipaddress.ip_network(n, strict=False) for n in self.allowed_networks)
        )


class IdempotencyRecord(models.Model):
    """The response to a POST sent with an Idempotency-Key: a retry with the same key and body gets
    it again instead of doing the work twice. status 0 means the first request is still running."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path and body.")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    response_status = models.PositiveSmallIntegerField(default=0)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotency_token_key_unique")]

    def __str__(self) -> str:
        return f"{self.token_id}:{self.key}"
