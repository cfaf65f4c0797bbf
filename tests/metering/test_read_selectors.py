"""Reading usage: a site's series per hour, day and month (hourly and rolled-up rows alike), the fleet's month
and the top sites, each in a fixed number of queries; and the ranges a caller may ask for."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from freezegun import freeze_time

from metering import selectors
from metering.selectors import usage_window
from sites.models import Site
from tests.metering.usage_factories import at, client_sites, usage_day, usage_hour

NOW = "2026-11-20 12:30:00"


@pytest.fixture
def site(demo) -> Site:
    return Site.objects.get(domain="linux.co.uk")


@freeze_time(NOW)
def test_an_hourly_series_has_every_hour_with_zeros_where_nothing_was_counted(site, django_assert_num_queries):
    usage_hour(site, at("2026-11-20 09"), requests=5, bytes_out=500, status_5xx=1)
    usage_hour(site, at("2026-11-20 11"), requests=7, bytes_out=700)
    usage_hour(site, at("2026-11-20 12"), requests=100)  # outside [09:00, 12:00)
    window = usage_window(at("2026-11-20 09:15"), at("2026-11-20 11:30"), "hour")
    assert (window.start, window.end) == (at("2026-11-20 09"), at("2026-11-20 12"))
    with django_assert_num_queries(1):
        rows = selectors.site_usage(site, window)
    assert [(r["start"].hour, r["requests"], r["bytes_out"], r["status_5xx"]) for r in rows] == [
        (9, 5, 500, 1),
        (10, 0, 0, 0),
        (11, 7, 700, 0),
    ]
    assert rows[0]["end"] == at("2026-11-20 10")
    assert selectors.totals(rows)["requests"] == 12


@freeze_time(NOW)
def test_a_daily_series_adds_rolled_up_days_and_hours_without_counting_twice(site, django_assert_num_queries):
    usage_day(site, datetime.date(2026, 9, 1), requests=1000, bytes_out=10_000)  # rolled up long ago
    usage_hour(site, at("2026-11-19 23"), requests=3)
    usage_hour(site, at("2026-11-20 00"), requests=4)
    usage_hour(site, at("2026-11-20 01"), requests=5)
    usage_day(site, datetime.date(2026, 11, 19), requests=20)  # a late hour of a rolled-up day: both count
    window = usage_window(at("2026-08-31 00"), at("2026-11-21 00"), "day")
    with django_assert_num_queries(2):
        rows = selectors.site_usage(site, window)
    by_day = {r["start"].date(): r["requests"] for r in rows if r["requests"]}
    assert by_day == {datetime.date(2026, 9, 1): 1000, datetime.date(2026, 11, 19): 23, datetime.date(2026, 11, 20): 9}
    assert len(rows) == 82


@freeze_time(NOW)
def test_months_are_calendar_months_in_utc(site, django_assert_num_queries):
    usage_hour(site, at("2026-10-31 23"), requests=1, bytes_out=10)
    usage_hour(site, at("2026-11-01 00"), requests=2, bytes_out=20)
    usage_day(site, datetime.date(2026, 9, 30), requests=4, bytes_out=40)
    usage_day(site, datetime.date(2026, 10, 1), requests=8, bytes_out=80)
    window = usage_window(at("2026-09-15 00"), at("2026-11-20 00"), "month")
    assert (window.start, window.end) == (at("2026-09-01 00"), at("2026-12-01 00"))
    with django_assert_num_queries(2):
        rows = selectors.site_usage(site, window)
    assert [(r["start"].month, r["requests"], r["bytes_out"]) for r in rows] == [(9, 4, 40), (10, 9, 90), (11, 2, 20)]
    assert rows[-1]["end"] == at("2026-12-01 00")


@freeze_time(NOW)
@pytest.mark.parametrize(
    ("start", "end", "granularity", "field"),
    [
        ("2026-11-20 10", "2026-11-20 09", "hour", "to"),  # reversed
        ("2026-11-20 10", "2026-11-20 10", "day", "to"),  # empty
        ("2026-10-01 00", "2026-11-20 00", "hour", "to"),  # 50 days of hours: too many buckets
        ("2026-09-01 00", "2026-09-02 00", "hour", "from"),  # hours already rolled up into days
        ("2026-11-01 00", "2026-11-02 00", "week", "granularity"),
        ("2000-01-01 00", "2026-11-02 00", "month", "to"),  # 322 months
    ],
)
def test_it_refuses_ranges_it_cannot_answer_with_the_reason(start, end, granularity, field):
    with pytest.raises(ValidationError) as caught:
        usage_window(at(start), at(end), granularity)
    assert field in caught.value.message_dict


@freeze_time(NOW)
def test_the_fleet_month_reads_a_page_of_sites_in_two_queries_whatever_its_size(demo, django_assert_num_queries):
    sites = client_sites(30)
    for index, site in enumerate(sites):
        usage_hour(site, at("2026-11-02 10"), requests=index + 1, bytes_out=100 * (index + 1))
        usage_day(site, datetime.date(2026, 11, 1), requests=1, bytes_out=1)
        usage_hour(site, at("2026-10-31 23"), requests=1000)  # another month
    month = datetime.date(2026, 11, 1)
    with django_assert_num_queries(2):
        few = selectors.month_usage(sites[:3], month)
    with django_assert_num_queries(2):
        many = selectors.month_usage(sites, month)
    assert [r["requests"] for r in few] == [2, 3, 4]
    assert many[-1] == {
        "site": sites[-1].domain,
        "customer_ref": sites[-1].customer_ref,
        "month": month,
        "start": at("2026-11-01 00"),
        "end": at("2026-12-01 00"),
        "requests": 31,
        "bytes_in": 3000 + 100,
        "bytes_out": 3001,
        "status_2xx": 31,
        "status_3xx": 0,
        "status_4xx": 0,
        "status_5xx": 0,
    }


@freeze_time(NOW)
def test_a_site_without_traffic_is_a_line_of_zeros_in_the_month(site):
    (row,) = selectors.month_usage([site], datetime.date(2026, 11, 1))
    assert (row["site"], row["requests"], row["bytes_out"]) == ("linux.co.uk", 0, 0)


@freeze_time(NOW)
def test_top_sites_rank_by_bytes_out_or_requests_in_three_queries(demo, django_assert_num_queries):
    sites = client_sites(12)
    for index, site in enumerate(sites):
        usage_hour(site, at("2026-11-10 10"), requests=100 - index, bytes_out=1000 * index, status_5xx=index)
    usage_day(sites[0], datetime.date(2026, 11, 1), requests=1, bytes_out=50_000)  # rolled-up day counts too
    start, end = at("2026-11-01 00"), at("2026-12-01 00")
    with django_assert_num_queries(3):
        by_bytes = selectors.top_sites(start, end, order="bytes_out")
    assert [t.domain for t in by_bytes[:3]] == [sites[0].domain, sites[11].domain, sites[10].domain]
    assert by_bytes[0].counts["bytes_out"] == 50_000
    with django_assert_num_queries(3):
        by_requests = selectors.top_sites(start, end, order="requests")
    assert [t.domain for t in by_requests[:2]] == [sites[0].domain, sites[1].domain]
    assert by_requests[1].share_5xx == pytest.approx(1 / 99)
    assert selectors.top_sites(at("2026-12-01 00"), at("2027-01-01 00")) == []


def test_a_month_is_parsed_strictly():
    assert selectors.parse_month("2026-02") == datetime.date(2026, 2, 1)
    for bad in ("2026-13", "2026-2", "26-02", "2026-02-01", "x"):
        with pytest.raises(ValidationError):
            selectors.parse_month(bad)
    assert selectors.months_before(at("2026-03-15 00"), 11) == at("2025-04-01 00")
