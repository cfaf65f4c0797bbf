"""Who is acting, and the audit entry every service writes."""

from __future__ import annotations

import datetime
import decimal
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import models

from hostpanel.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """The user, API token or command on whose behalf a service acts."""

    name: str
    source: str = AuditEntry.Source.SYSTEM
    superuser: bool = False  # a person's superuser flag (shell-command fields: balancers.services.inventory)

    @classmethod
    def system(cls) -> Actor:
        return cls(name="system", source=AuditEntry.Source.SYSTEM)

    @classmethod
    def command(cls, name: str = "manage.py") -> Actor:
        return cls(name=name, source=AuditEntry.Source.COMMAND)

    @classmethod
    def from_user(cls, user: Any, source: str = AuditEntry.Source.WEB) -> Actor:
        name = getattr(user, "get_username", lambda: str(user))() or "anonymous"
        return cls(name=name, source=source, superuser=bool(getattr(user, "is_superuser", False)))

    @property
    def may_set_commands(self) -> bool:
        """Shell commands run on a front-end as its deploy user, and the config_dir a deploy replaces: set by
        superusers, and from the panel host's own shell (management commands, the system), never by an API
        token or an operator."""
        return self.superuser or self.source in (AuditEntry.Source.COMMAND, AuditEntry.Source.SYSTEM)

    def __str__(self) -> str:
        return self.name


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def snapshot(instance: models.Model | None, *, exclude: tuple[str, ...] = ()) -> dict | None:
    """A JSON-safe dict of an instance's concrete fields (foreign keys by their natural name)."""
    if instance is None:
        return None
    data: dict[str, Any] = {}
    redacted = getattr(instance, "audit_redacted_fields", ())
    for field in instance._meta.concrete_fields:
        if field.name in exclude or field.name == "id":
            continue
        if field.name in redacted:
            # secrets never reach the audit log
            data[field.name] = "********" if field.value_from_object(instance) else ""
            continue
        if field.is_relation:
            related = getattr(instance, field.name, None)
            data[field.name] = str(related) if related is not None else None
        else:
            data[field.name] = _json_safe(field.value_from_object(instance))
    return data


def record(
    actor: Actor, action: str, instance: models.Model | str, *, key: str, before: dict | None, after: dict | None
) -> AuditEntry:
    """The one writer of audit entries. instance: the object acted on, or the name of what it is when
    there is no row (an imported "apache_config")."""
    return AuditEntry.objects.create(
        actor=actor.name[:150],
        source=actor.source,
        action=action,
        object_type=instance if isinstance(instance, str) else instance._meta.model_name or "",
        object_key=key[:255],
        before=before,
        after=after,
    )
