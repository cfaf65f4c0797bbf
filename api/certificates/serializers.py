"""Serializers of site certificates: the read models come from certificates.selectors' TypedDicts (one
description of each shape); the upload only carries the PEM texts to the service, which checks them.
The private key is write-only: no response ever contains it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.permissions import sees_internal_addresses
from api.readmodels import serializer_for
from certificates.selectors import CertificateDetail, SiteCertificate, certificate_of, certificate_summary

SiteCertificateSerializer = serializer_for(SiteCertificate)
CertificateDetailSerializer = serializer_for(CertificateDetail)


@extend_schema_field(SiteCertificateSerializer(allow_null=True, read_only=True))
class SiteCertificateField(serializers.Field):
    """The site's certificate {status, names, not_before, not_after, issuer, serial, last_error,
    next_attempt_at}, or null when the site has none. Read the sites with select_related("certificate")."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(read_only=True, source="*")
        kwargs.setdefault("help_text", "The site's TLS certificate; null when it has none. Read-only.")
        super().__init__(**kwargs)

    def to_representation(self, instance: Any) -> dict | None:
        addresses = sees_internal_addresses(self.context.get("request"))
        summary = certificate_summary(certificate_of(instance), addresses=addresses)
        return None if summary is None else SiteCertificateSerializer(summary).data


class CertificateUploadSerializer(serializers.Serializer):
    certificate_pem = serializers.CharField(
        trim_whitespace=False, help_text="The certificate (PEM); intermediates may follow it."
    )
    private_key_pem = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        help_text="Its private key (PEM, unencrypted): RSA 2048+ bits or ECDSA P-256/P-384. Stored encrypted; "
        "never returned.",
    )
    chain_pem = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The intermediate certificates (PEM), if not appended to certificate_pem.",
    )


class CertificateSerializer(CertificateDetailSerializer):
    """The answer of sites/{domain}/certificate/ (GET, PUT) and .../renew/ (POST)."""

    deployment = serializers.IntegerField(
        allow_null=True, help_text="Id of the deployment this write triggered; null when none (GET, renew)."
    )

    class Meta:
        ref_name = "Certificate"
