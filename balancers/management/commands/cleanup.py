"""manage.py cleanup: the retention round now (old trees, deployments, task results, status samples)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from deploy.retention import cleanup_once


class Command(BaseCommand):
    help = (
        "Delete what retention no longer keeps: stored trees beyond HOSTPANEL_KEEP_TREES per front-end (never "
        "an activated one), deployments older than HOSTPANEL_KEEP_DEPLOYMENT_DAYS, old status samples. "
        "The audit log is kept."
    )

    def handle(self, *args, **options):
        result = cleanup_once()
        self.stdout.write(
            f"{result.trees_deleted} stored tree(s) deleted ({result.host_rows_detached} old host row(s) detached, "
            f"{result.blobs_deleted} large file(s) no tree needs), "
            f"{result.deployments_deleted} deployment(s) older than {settings.HOSTPANEL_KEEP_DEPLOYMENT_DAYS} days, "
            f"{result.task_results_deleted} task result(s), {result.samples_deleted} status sample(s), "
            f"{result.journal_rows_deleted} site change journal row(s), "
            f"{result.usage_hours_rolled_up} hourly usage row(s) rolled up into days, "
            f"{result.usage_days_deleted} daily usage row(s) past HOSTPANEL_USAGE_DAILY_DAYS"
        )
