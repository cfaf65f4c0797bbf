"""Front-ends held back from deploys: imported with equivalence differences nobody has accepted yet.

The equivalence check of an import from a front-end (balancers.importer.service) records its result as
an `import.equivalence` audit entry on that front-end; `deployment_start(accept_differences=True)` records
`import.differences_accepted`. A front-end is held while its latest such entry is a check that found
differences (or could not run). Manual deploys refuse a held front-end unless accepted; automatic
deploys leave it out (and say so). Read-only here: the audit log is the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hostpanel.models import AuditEntry

EQUIVALENCE_ACTION = "import.equivalence"
ACCEPTED_ACTION = "import.differences_accepted"
OBJECT_TYPE = "frontend"


@dataclass(frozen=True)
class Hold:
    frontend: str
    differences: int
    error: str
    checked_at: str
    entry_id: int

    def __str__(self) -> str:
        what = f"the check could not run ({self.error[:120]})" if self.error else f"{self.differences} difference(s)"
        return f"{self.frontend}: imported config checked {self.checked_at}, {what}"


def import_holds(frontends: Iterable[str] | None = None) -> dict[str, Hold]:
    """{front-end name: Hold} for the front-ends (default: all) whose import differences are unresolved."""
    entries = AuditEntry.objects.filter(object_type=OBJECT_TYPE, action__in=(EQUIVALENCE_ACTION, ACCEPTED_ACTION))
    if frontends is not None:
        entries = entries.filter(object_key__in=list(frontends))
    latest: dict[str, AuditEntry] = {}
    for entry in entries.order_by("object_key", "-id"):
        latest.setdefault(entry.object_key, entry)
    holds = {}
    for name, entry in latest.items():
        after = entry.after or {}
        if entry.action == EQUIVALENCE_ACTION and (after.get("differences") or after.get("error")):
            holds[name] = Hold(
                name,
                int(after.get("differences") or 0),
                str(after.get("error") or ""),
                f"{entry.timestamp:%Y-%m-%d %H:%M}",
                entry.pk,
            )
    return holds
