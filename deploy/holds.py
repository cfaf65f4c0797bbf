"""Front-ends held back from deploys: imported with equivalence differences nobody has accepted yet.

The equivalence check of an import from a front-end (importer.service) records its result in
the audit log (`import.equivalence`) and, through `hold_record`, as the front-end's `DeployHold` row: a
check that found differences (or could not run) holds it, an equivalent one releases it.
`deployment_start(accept_differences=True)` audits `import.differences_accepted` and releases the holds
(`holds_release`). Manual deploys refuse a held front-end unless accepted; automatic deploys leave it out
(and say so). The rows are the state; the audit log is only the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from balancers.models import DeployHold, FrontEnd

EQUIVALENCE_ACTION = "import.equivalence"
ACCEPTED_ACTION = "import.differences_accepted"
OBJECT_TYPE = "frontend"


@dataclass(frozen=True)
class Hold:
    frontend: str
    differences: int
    error: str
    checked_at: str
    entry_id: int | None

    def __str__(self) -> str:
        what = f"the check could not run ({self.error[:120]})" if self.error else f"{self.differences} difference(s)"
        return f"{self.frontend}: imported config checked {self.checked_at}, {what}"


def import_holds(frontends: Iterable[str] | None = None) -> dict[str, Hold]:
    """{front-end name: Hold} for the front-ends (default: all) whose import differences are unresolved."""
    rows = DeployHold.objects.select_related("frontend")
    if frontends is not None:
        rows = rows.filter(frontend__name__in=list(frontends))
    return {
        row.frontend.name: Hold(
            row.frontend.name, row.differences, row.error, f"{row.checked_at:%Y-%m-%d %H:%M}", row.check_entry
        )
        for row in rows
    }


def hold_record(frontend: FrontEnd, *, differences: int, error: str, checked_at: datetime, entry_id: int) -> None:
    """The front-end's hold after a check: held while differences (or an error), released when equivalent."""
    if differences or error:
        DeployHold.objects.update_or_create(
            frontend=frontend,
            defaults={"differences": differences, "error": error, "checked_at": checked_at, "check_entry": entry_id},
        )
    else:
        DeployHold.objects.filter(frontend=frontend).delete()


def holds_release(frontends: Iterable[str]) -> None:
    """The differences of these front-ends were accepted: they deploy again."""
    DeployHold.objects.filter(frontend__name__in=list(frontends)).delete()
