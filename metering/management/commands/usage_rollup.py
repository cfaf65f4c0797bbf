"""manage.py usage_rollup: roll hourly usage older than HOSTPANEL_USAGE_HOURLY_DAYS up into daily rows now
(the daily `manage.py cleanup` / `reap --loop` does it too)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from metering.retention import usage_rollup


class Command(BaseCommand):
    help = (
        "Roll hourly usage rows older than HOSTPANEL_USAGE_HOURLY_DAYS up into one row per site and day "
        "(idempotent: safe to rerun), and delete daily rows past HOSTPANEL_USAGE_DAILY_DAYS when set."
    )

    def handle(self, *args, **options):
        result = usage_rollup()
        self.stdout.write(
            f"{result.hours_rolled_up} hourly row(s) of {result.days} day(s) rolled up into "
            f"{result.day_rows_written} daily row(s) (hours kept {settings.HOSTPANEL_USAGE_HOURLY_DAYS} days); "
            f"{result.day_rows_deleted} daily row(s) deleted"
        )
