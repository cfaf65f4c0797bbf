"""The staff pages of traffic: the site page's traffic card (three inline SVG charts with a labelled scale, a
period selector, human numbers with the exact count in a title), the quota in the site form, and the staff-only
"Top sites" page (month picker, order, pages)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from metering.models import QuotaPolicy, SiteQuota
from metering.selectors import floor
from sites.models import Site
from tests.metering.usage_factories import at, client_sites, usage_day, usage_hour

NOW = datetime.datetime(2026, 11, 20, 12, 30, tzinfo=datetime.UTC)
SITE_DATA = {"domain": "new.example.com", "aliases": "", "balancer": "bronze", "plone_path": "/plone/new"}


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def site(demo) -> Site:
    return Site.objects.get(domain="linux.co.uk")


CHART = re.compile(r'<svg class="usage-chart" data-metric="(\w+)".*?</svg>', re.S)


def charts(body: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in CHART.finditer(body)}


def test_the_site_page_charts_the_last_48_hours_by_default(viewer_client, site):
    usage_hour(site, floor(NOW, "hour"), requests=1500, bytes_out=2_500_000, status_5xx=15)
    usage_hour(site, at("2026-11-19 10"), requests=500, bytes_out=500_000)
    usage_hour(site, at("2026-11-17 10"), requests=999_999)  # before the 48 hours
    body = viewer_client.get(reverse("sites:site_detail", args=["linux.co.uk"])).content.decode()
    found = charts(body)
    assert set(found) == {"requests", "bytes_out", "share_5xx"}
    assert all(svg.count("<rect") == 48 for svg in found.values())
    assert "scale 0 to 2.5 MB" in found["bytes_out"]  # the labelled scale: 0, half and top
    assert ">1.2 MB</text>" in found["bytes_out"] and ">0 B</text>" in found["bytes_out"]
    assert "2026-11-20 12:00 UTC: 2,500,000 bytes" in found["bytes_out"]  # the exact value on the bar
    assert "15 of 1,500 requests answered 5xx" in found["share_5xx"]
    assert '<span title="2,000">2.0 k</span>' in body  # requests over the 48 hours
    assert '<span title="3,000,000 bytes">3.0 MB</span>' in body
    assert "0.75 %" in body  # 15 of 2000
    assert 'aria-current="true">Last 48 hours' in body


@pytest.mark.parametrize(("span", "bars"), [("30d", 30), ("12m", 12)])
def test_the_period_selector_shows_days_or_months_with_rolled_up_days(viewer_client, site, span, bars):
    usage_day(site, datetime.date(2026, 11, 1), requests=4000, bytes_out=7 * 10**9)
    body = viewer_client.get(reverse("sites:site_detail", args=["linux.co.uk"]), {"traffic": span}).content.decode()
    found = charts(body)
    assert found["requests"].count("<rect") == bars
    assert "scale 0 to 7.0 GB" in found["bytes_out"]


def test_the_site_page_shows_the_quota_and_this_months_use(viewer_client, site):
    SiteQuota.objects.create(site=site, monthly_bytes_out=10 * 10**9, policy=QuotaPolicy.SUSPEND)
    usage_hour(site, at("2026-11-02 10"), bytes_out=8 * 10**9)
    body = viewer_client.get(reverse("sites:site_detail", args=["linux.co.uk"])).content.decode()
    assert "8.0 GB</span> out of a" in body and "10.0 GB</span> quota (80.00 %" in body


def test_the_site_page_reads_traffic_in_a_fixed_number_of_queries(viewer_client, site, django_assert_max_num_queries):
    for hour in range(48):
        usage_hour(site, floor(NOW, "hour") - datetime.timedelta(hours=hour))
    url = reverse("sites:site_detail", args=["linux.co.uk"])
    viewer_client.get(url)
    with django_assert_max_num_queries(40) as captured:
        viewer_client.get(url)
    traffic = [q["sql"] for q in captured.captured_queries if "metering_" in q["sql"]]
    assert len(traffic) == 4  # the 48 hours, the quota, the month's bytes out (hours and rolled-up days)
    # ... and the number does not grow with the rows
    usage_day(site, datetime.date(2026, 11, 1))
    with django_assert_max_num_queries(len(captured.captured_queries)):
        viewer_client.get(url)


def test_an_operator_sets_changes_and_removes_a_quota_in_the_site_form(operator_client, site):
    url = reverse("sites:site_update", args=["linux.co.uk"])
    form = operator_client.get(url).content.decode()
    assert 'name="quota_monthly"' in form and 'name="quota_policy"' in form
    data = {"domain": "linux.co.uk", "aliases": "www.linux.co.uk", "balancer": "bronze", "plone_path": "/plone/linux"}
    response = operator_client.post(url, {**data, "quota_monthly": "1.5 GB", "quota_policy": "suspend"})
    assert response.status_code == 302
    quota = SiteQuota.objects.get(site=site)
    assert (quota.monthly_bytes_out, quota.policy) == (1_500_000_000, "suspend")
    assert 'value="1500000000"' in operator_client.get(url).content.decode()
    operator_client.post(url, {**data, "quota_monthly": "", "quota_policy": "notify"})
    assert not SiteQuota.objects.exists()


@pytest.mark.parametrize("bad", ["lots", "0", "1.5 B", "-3 GB"])
def test_a_bad_quota_is_shown_under_its_field_and_nothing_is_saved(operator_client, demo, bad):
    response = operator_client.post(reverse("sites:site_create"), {**SITE_DATA, "quota_monthly": bad})
    assert response.status_code == 200
    assert "Give a" in response.content.decode()
    assert not Site.objects.filter(domain="new.example.com").exists() and not SiteQuota.objects.exists()


def test_a_new_site_gets_its_quota_with_it(operator_client, demo):
    response = operator_client.post(
        reverse("sites:site_create"), {**SITE_DATA, "quota_monthly": "500 GB", "quota_policy": "notify"}
    )
    assert response.status_code == 302
    assert SiteQuota.objects.get(site__domain="new.example.com").monthly_bytes_out == 500 * 10**9


def test_top_sites_is_staff_only_and_in_the_menu(viewer_client, demo, django_user_model):
    url = reverse("metering:top_sites")
    assert Client().get(url).status_code == 302  # to the login page
    outsider = Client()
    outsider.force_login(django_user_model.objects.create_user("cust", password="pw-cust-1"))
    assert outsider.get(url).status_code == 403
    page = viewer_client.get(reverse("balancers:dashboard")).content.decode()
    assert f'href="{url}"' in page


def test_top_sites_ranks_a_month_pages_and_picks_the_order(viewer_client, demo, monkeypatch):
    monkeypatch.setattr("metering.views.PAGE_SIZE", 3)
    sites = client_sites(5)
    for index, site in enumerate(sites):
        usage_hour(site, at("2026-11-03 10"), requests=100 - index, bytes_out=10**6 * (index + 1))
    usage_hour(sites[0], at("2026-10-03 10"), bytes_out=10**12)  # October
    url = reverse("metering:top_sites")
    body = viewer_client.get(url).content.decode()
    assert 'value="2026-11"' in body  # the current month by default
    rows = re.findall(r'<td data-label="Site"><a href="[^"]+">([^<]+)</a>', body)
    assert rows == [sites[4].domain, sites[3].domain, sites[2].domain]
    assert '<span title="5,000,000 bytes">5.0 MB</span>' in body and "Page 1 of 2" in body
    second = viewer_client.get(url, {"page": 2}).content.decode()
    assert re.findall(r'<td data-label="Site"><a href="[^"]+">([^<]+)</a>', second) == [
        sites[1].domain,
        sites[0].domain,
    ]
    by_requests = viewer_client.get(url, {"order": "requests"}).content.decode()
    assert re.findall(r'<td data-label="Site"><a href="[^"]+">([^<]+)</a>', by_requests)[0] == sites[0].domain
    october = viewer_client.get(url, {"month": "2026-10"}).content.decode()
    assert re.findall(r'<td data-label="Site"><a href="[^"]+">([^<]+)</a>', october) == [sites[0].domain]
    assert "1.0 TB" in october
    bad = viewer_client.get(url, {"month": "2026-13"}).content.decode()
    assert "Give a calendar month as YYYY-MM" in bad
