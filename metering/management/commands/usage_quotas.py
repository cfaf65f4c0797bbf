"""manage.py usage_quotas: evaluate every site's traffic quota for the current month, and bring back the sites
the quota suspended in an earlier month (`reap --loop` does the second every round)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from metering.services import quota_unsuspend_due, quotas_evaluate


class Command(BaseCommand):
    help = (
        "Evaluate the monthly traffic quotas now (notices at 80 %/100 %, suspension by the suspend policy; each "
        "once per site and month) and unsuspend the sites the quota suspended in an earlier month."
    )

    def handle(self, *args, **options):
        back = quota_unsuspend_due()
        events = quotas_evaluate()
        self.stdout.write(
            f"{len(back)} site(s) unsuspended for the new month"
            + (f" ({', '.join(s.domain for s in back)})" if back else "")
            + f"; {len(events)} quota event(s): "
            + (", ".join(f"{e.site.domain} {e.kind}" for e in events) or "none")
        )
