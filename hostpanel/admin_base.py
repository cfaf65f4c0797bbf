"""Admin classes whose saves and deletes go through the service layer (validation, audit, deploy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from hostpanel.audit import Actor
from hostpanel.models import AuditEntry


class ServiceAdmin(admin.ModelAdmin):
    """Subclasses name the services: create(actor=..., **fields), update(obj, actor=..., **fields),
    delete(obj, actor=...). The admin's form has already run full_clean(); the service runs it again
    with the same validators, audits, and triggers the automatic deploy."""

    service_create: Callable[..., Any]
    service_update: Callable[..., Any]
    service_delete: Callable[..., Any]
    service_fields: tuple[str, ...] = ()

    def actor(self, request) -> Actor:
        return Actor.from_user(request.user, source=AuditEntry.Source.ADMIN)

    def changed_fields(self, form) -> dict[str, Any]:
        return {name: form.cleaned_data[name] for name in self.service_fields if name in form.cleaned_data}

    def save_model(self, request, obj, form, change):
        fields = self.changed_fields(form)
        if change:
            fresh = type(obj).objects.get(pk=obj.pk)
            saved = type(self).service_update(fresh, actor=self.actor(request), **fields)
        else:
            saved = type(self).service_create(actor=self.actor(request), **fields)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        try:
            type(self).service_delete(obj, actor=self.actor(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)
