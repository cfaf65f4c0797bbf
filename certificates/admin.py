"""Read-mostly admin for certificates: no PEM of a key, ever."""

from django.contrib import admin

from certificates.models import AcmeAccount, AcmeAttempt, Certificate


@admin.register(Certificate)
class CertificateAdmin(admin.ModelAdmin):
    list_display = ("site", "source", "status", "not_after", "issuer", "failures", "next_attempt_at")
    list_filter = ("status", "source")
    search_fields = ("site__domain", "serial")
    exclude = ("private_key_encrypted",)
    readonly_fields = [
        f.name for f in Certificate._meta.concrete_fields if f.name not in {"id", "private_key_encrypted"}
    ]

    def has_add_permission(self, request) -> bool:
        return False  # through the services only (validation, audit)


@admin.register(AcmeAttempt)
class AcmeAttemptAdmin(admin.ModelAdmin):
    list_display = ("certificate", "started_at", "finished_at", "outcome", "order_url")
    list_filter = ("outcome",)
    readonly_fields = [f.name for f in AcmeAttempt._meta.concrete_fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AcmeAccount)
class AcmeAccountAdmin(admin.ModelAdmin):
    list_display = ("directory_url", "account_url", "email", "created_at")
    exclude = ("key_encrypted",)
    readonly_fields = ("directory_url", "account_url", "email", "created_at")

    def has_add_permission(self, request) -> bool:
        return False
