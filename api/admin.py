"""API tokens in the admin: listed and revoked here (created with `manage.py create_api_token`,
which shows the key once). The key is never shown; only its prefix."""

from __future__ import annotations

from django.contrib import admin, messages

from api.models import ApiToken
from api.services import api_token_revoke
from hostpanel.audit import Actor


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "scope", "prefix", "networks", "expires_at", "revoked", "last_used_at", "created_at")
    list_filter = ("scope", "revoked")
    search_fields = ("name", "prefix", "description")
    fields = (
        "name",
        "scope",
        "prefix",
        "allowed_networks",
        "description",
        "expires_at",
        "revoked",
        "created_at",
        "last_used_at",
    )
    readonly_fields = fields
    actions = ["revoke_tokens"]

    @admin.display(description="Networks")
    def networks(self, token: ApiToken) -> str:
        return ", ".join(token.allowed_networks) or "any"

    def has_add_permission(self, request) -> bool:
        return False  # `manage.py create_api_token` creates tokens and shows the key once

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke_tokens(self, request, queryset):
        actor = Actor.from_user(request.user, source="admin")
        count = 0
        for token in queryset:
            if not token.revoked:
                api_token_revoke(token, actor=actor)
                count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
