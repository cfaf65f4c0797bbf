"""The plumbing every service shares: validate, save, audit, and report config changes.

Services live in balancers/services.py and sites/services.py; views, API views, the admin and the
management commands call those and nothing else to write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError

from hostpanel import audit
from hostpanel.audit import Actor


def apply_fields(instance: models.Model, fields: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Set the given attributes, refusing names a caller may not change."""
    allowed = set(allowed)
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(f"Unknown or read-only field(s): {', '.join(sorted(unknown))}.", code="unknown_field")
    for name, value in fields.items():
        setattr(instance, name, value)


def save_checked[M: models.Model](instance: M) -> M:
    """full_clean() then save, inside the caller's transaction. A database integrity error (a race
    that full_clean could not see) becomes a ValidationError, never a 500."""
    instance.full_clean()
    return save_cleaned(instance)


def save_cleaned[M: models.Model](instance: M) -> M:
    """Save an instance its caller has JUST validated with full_clean() (to report its errors together
    with those of related rows, as the site service does with aliases), inside the caller's transaction,
    without validating it a second time. A database integrity error becomes a ValidationError."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise ValidationError(
            "This change conflicts with another record that was saved at the same time; try again.",
            code="conflict",
        ) from exc
    return instance


def save_validated[M: models.Model](
    instance: M,
    *,
    actor: Actor,
    action: str,
    key: str | None = None,
    before: dict | None = None,
) -> M:
    """save_checked() and an audit entry with the state before and after."""
    save_checked(instance)
    audit.record(actor, action, instance, key=key or str(instance), before=before, after=audit.snapshot(instance))
    return instance


def delete_audited(
    instance: models.Model, *, actor: Actor, action: str, key: str | None = None, before: dict | None = None
) -> None:
    """Delete and audit; a PROTECTed reference becomes a clear ValidationError."""
    before = before if before is not None else audit.snapshot(instance)
    key = key or str(instance)
    try:
        with transaction.atomic():
            instance.delete()
    except ProtectedError as exc:
        users = sorted({str(obj) for obj in exc.protected_objects})
        shown = ", ".join(users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
        raise ValidationError(f"{key} cannot be deleted while it is used by: {shown}.", code="protected") from None
    audit.record(actor, action, instance, key=key, before=before, after=None)
