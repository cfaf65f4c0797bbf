"""Cross-cutting models: the audit trail of every write, whichever door it came through."""

from __future__ import annotations

from django.db import models


class AuditEntry(models.Model):
    """One write to the panel's data: who (user or API token name), what, and the state before and after."""

    class Source(models.TextChoices):
        WEB = "web", "Web panel"
        API = "api", "REST API"
        ADMIN = "admin", "Django admin"
        COMMAND = "command", "Management command"
        SYSTEM = "system", "System"

    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, help_text="User name, API token name or command.")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.SYSTEM)
    action = models.CharField(max_length=64, help_text="e.g. site.create, member.update")
    object_type = models.CharField(max_length=64, db_index=True)
    object_key = models.CharField(max_length=255, db_index=True, help_text="The object's natural key.")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_key"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_key}"
