"""Usage retention: hourly rows are kept HOSTPANEL_USAGE_HOURLY_DAYS days, then rolled up into one UsageDay
row per site and UTC day; daily rows are kept for good, or HOSTPANEL_USAGE_DAILY_DAYS days when set.

The roll-up of a day is one transaction that DELETEs the day's hourly rows RETURNING their counts and adds
exactly those counts to the day's rows: a count is in one table or the other, never both and never lost
(an hour counted late, after its day was rolled up, is added to the day at the next run). Running it again,
or after it was killed mid-way, moves only what is left. Called by deploy.retention.cleanup_once (daily,
`manage.py reap --loop`) and by `manage.py usage_rollup`."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from metering.models import CollectedFile, UsageDay, UsageHour
from metering.selectors import FIELDS, UTC, Counts, hourly_cutoff, zero


@dataclass
class RollupResult:
    days: int = 0
    hours_rolled_up: int = 0
    day_rows_written: int = 0
    day_rows_deleted: int = 0
    collected_files_deleted: int = 0


def _take_hours(start: datetime.datetime, end: datetime.datetime) -> list[tuple]:
    """Delete the hourly rows of [start, end) and return (site_id, *FIELDS) of exactly those rows."""
    table = connection.ops.quote_name(UsageHour._meta.db_table)
    column = {f.name: str(f.column) for f in UsageHour._meta.concrete_fields}
    columns = ", ".join(connection.ops.quote_name(column[n]) for n in ("site", *FIELDS))
    hour = connection.ops.quote_name(column["hour"])
    params = [connection.ops.adapt_datetimefield_value(start), connection.ops.adapt_datetimefield_value(end)]
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {hour} >= %s AND {hour} < %s RETURNING {columns}", params)  # noqa: S608 - names from the model
        return list(cursor.fetchall())


@transaction.atomic
def rollup_day(day: datetime.date) -> tuple[int, int]:
    """Move one UTC day's hourly rows into its UsageDay rows; returns (hours moved, day rows written)."""
    start = datetime.datetime(day.year, day.month, day.day, tzinfo=UTC)
    taken = _take_hours(start, start + datetime.timedelta(days=1))
    if not taken:
        return 0, 0
    sums: dict[int, Counts] = {}
    for site_id, *values in taken:
        counts = sums.setdefault(site_id, zero())
        for name, value in zip(FIELDS, values, strict=True):
            counts[name] += int(value)
    existing = {
        row.site_id: row for row in UsageDay.objects.select_for_update().filter(day=day, site_id__in=list(sums))
    }
    for row in existing.values():
        for name in FIELDS:
            setattr(row, name, getattr(row, name) + sums[row.site_id][name])
    UsageDay.objects.bulk_update(list(existing.values()), list(FIELDS), batch_size=1000)
    UsageDay.objects.bulk_create(
        [UsageDay(site_id=site_id, day=day, **counts) for site_id, counts in sums.items() if site_id not in existing],
        batch_size=1000,
    )
    return len(taken), len(sums)


def usage_rollup(*, now: datetime.datetime | None = None) -> RollupResult:
    """Roll up every day before the hourly cutoff, one transaction per day (oldest first); prune daily rows
        past HOSTPANEL_USAGE_DAILY_DAYS when that is set (0: kept for good); forget counted files removed from
    their front-end more than HOSTPANEL_USAGE_HOURLY_DAYS ago (never one still there)."""
    now = now or timezone.now()
    cutoff = hourly_cutoff(now)
    result = RollupResult()
    while True:
        oldest = UsageHour.objects.filter(hour__lt=cutoff).aggregate(first=Min("hour"))["first"]
        if oldest is None:
            break
        hours, rows = rollup_day(oldest.astimezone(UTC).date())
        result.days += 1
        result.hours_rolled_up += hours
        result.day_rows_written += rows
    keep_days = settings.HOSTPANEL_USAGE_DAILY_DAYS
    if keep_days:
        oldest_day = (now - datetime.timedelta(days=keep_days)).astimezone(UTC).date()
        result.day_rows_deleted = UsageDay.objects.filter(day__lt=oldest_day).delete()[0]
    # The record of a counted file is what keeps it from being counted twice while it is still on its
    # front-end; once removed there it is history only, kept as long as the hourly rows it fed.
    result.collected_files_deleted = CollectedFile.objects.filter(
        removed_at__isnull=False, removed_at__lt=now - datetime.timedelta(days=settings.HOSTPANEL_USAGE_HOURLY_DAYS)
    ).delete()[0]
    return result
