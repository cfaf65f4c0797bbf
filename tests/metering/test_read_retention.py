"""Retention: hourly rows older than HOSTPANEL_USAGE_HOURLY_DAYS are rolled up into one row per site and day;
the roll-up moves each count exactly once, so it is safe to rerun and to run after late hours arrive."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from freezegun import freeze_time

from balancers.models import FrontEnd
from deploy.retention import cleanup_once
from metering import selectors
from metering.models import CollectedFile, UsageDay, UsageHour
from metering.retention import usage_rollup
from sites.models import Site
from tests.metering.usage_factories import at, client_sites, usage_day, usage_hour

NOW = "2026-11-20 12:30:00"  # with 62 days kept, hours before 2026-09-19 00:00 UTC are rolled up


@pytest.fixture
def sites(demo) -> list[Site]:
    return client_sites(3)


def month_totals(site_ids, month):
    start, end = selectors.month_range(month)
    return selectors.usage_by_site(start, end, site_ids=site_ids)


@freeze_time(NOW)
def test_old_hours_become_days_and_the_totals_do_not_change(sites, settings):
    settings.HOSTPANEL_USAGE_HOURLY_DAYS = 62
    a, b, c = sites
    for hour in range(24):
        usage_hour(a, at(f"2026-09-17 {hour:02d}"), requests=1, bytes_out=10, status_5xx=hour % 2)
    usage_hour(b, at("2026-09-18 23"), requests=5, bytes_out=50)
    usage_hour(c, at("2026-09-19 00"), requests=7, bytes_out=70)  # the first kept day: stays hourly
    before = month_totals([a.pk, b.pk, c.pk], datetime.date(2026, 9, 1))

    result = usage_rollup()

    assert (result.days, result.hours_rolled_up, result.day_rows_written) == (2, 25, 2)
    assert list(UsageHour.objects.values_list("site_id", "hour")) == [(c.pk, at("2026-09-19 00"))]
    day = UsageDay.objects.get(site=a, day=datetime.date(2026, 9, 17))
    assert (day.requests, day.bytes_out, day.bytes_in, day.status_2xx, day.status_5xx) == (24, 240, 2400, 24, 12)
    assert month_totals([a.pk, b.pk, c.pk], datetime.date(2026, 9, 1)) == before


@freeze_time(NOW)
def test_the_roll_up_is_idempotent_and_adds_a_late_hour_to_its_day(sites):
    a, _b, _c = sites
    usage_hour(a, at("2026-09-01 10"), requests=3, bytes_out=30)
    usage_rollup()
    again = usage_rollup()
    assert (again.days, again.hours_rolled_up) == (0, 0)
    assert UsageDay.objects.get(site=a, day=datetime.date(2026, 9, 1)).requests == 3

    usage_hour(a, at("2026-09-01 11"), requests=4, bytes_out=40)  # a front-end that was down for months
    usage_rollup()
    day = UsageDay.objects.get(site=a, day=datetime.date(2026, 9, 1))
    assert (day.requests, day.bytes_out) == (7, 70)
    assert UsageDay.objects.count() == 1 and not UsageHour.objects.exists()


@freeze_time(NOW)
def test_a_day_that_failed_midway_is_left_whole(sites, monkeypatch):
    a, b, _c = sites
    usage_hour(a, at("2026-09-01 10"), requests=3)
    usage_hour(b, at("2026-09-01 12"), requests=4)

    def boom(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(UsageDay.objects, "bulk_create", boom)
    with pytest.raises(RuntimeError):
        usage_rollup()
    assert UsageHour.objects.count() == 2 and not UsageDay.objects.exists()  # the transaction rolled back
    monkeypatch.undo()
    usage_rollup()
    assert sorted(UsageDay.objects.values_list("requests", flat=True)) == [3, 4]


@freeze_time(NOW)
def test_daily_rows_are_kept_for_good_unless_a_limit_is_set(sites, settings):
    a, _b, _c = sites
    usage_day(a, datetime.date(2020, 1, 1))
    usage_rollup()
    assert UsageDay.objects.count() == 1
    settings.HOSTPANEL_USAGE_DAILY_DAYS = 400
    assert usage_rollup().day_rows_deleted == 1


@freeze_time(NOW)
def test_the_daily_cleanup_rolls_usage_up(sites, capsys):
    usage_hour(sites[0], at("2026-08-01 00"))
    assert cleanup_once().usage_hours_rolled_up == 1
    usage_hour(sites[0], at("2026-08-01 01"))
    call_command("usage_rollup")
    assert "1 hourly row(s)" in capsys.readouterr().out
    assert not UsageHour.objects.exists()


def test_counted_files_are_forgotten_only_once_removed_from_their_front_end_long_enough(db, settings, tmp_path):
    settings.HOSTPANEL_USAGE_HOURLY_DAYS = 62
    now = datetime.datetime(2026, 12, 7, 12, tzinfo=datetime.UTC)
    frontend = FrontEnd.objects.create(name="fe-usage", address="127.0.0.1", transport="local")
    old = now - datetime.timedelta(days=63)

    def counted(name: str, removed: datetime.datetime | None) -> None:
        CollectedFile.objects.create(frontend=frontend, name=name, counted_at=old, removed_at=removed)

    counted("usage.1.log", old)  # removed long ago: history only
    counted("usage.2.log", None)  # counted long ago, still on the front-end: its row keeps it from a 2nd count
    counted("usage.3.log", now - datetime.timedelta(days=1))
    assert usage_rollup(now=now).collected_files_deleted == 1
    assert set(CollectedFile.objects.values_list("name", flat=True)) == {"usage.2.log", "usage.3.log"}
