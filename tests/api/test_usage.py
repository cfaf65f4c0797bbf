"""The usage API for billing: a site's series and every site's month, as paginated JSON or CSV, times in
UTC; who may read it (billing, usage, read and operator tokens, staff); clear 400s; and a site's quota."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from metering.models import SiteQuota
from sites.models import Site
from tests.metering.usage_factories import at, client_sites, usage_day, usage_hour

NOW = datetime.datetime(2026, 11, 20, 12, 30, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch):
    """The panel's clock (django.utils.timezone.now) at NOW; the throttle's time.time keeps running
    (freezegun would replace it under DRF's throttle too)."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def site(demo) -> Site:
    return Site.objects.get(domain="linux.co.uk")


@pytest.fixture
def traffic(site):
    usage_hour(site, at("2026-11-20 09"), requests=5, bytes_out=500, status_5xx=2)
    usage_hour(site, at("2026-11-20 11"), requests=7, bytes_out=700)
    usage_day(site, datetime.date(2026, 9, 1), requests=1000, bytes_out=10**6)
    return site


def test_a_site_series_is_paginated_json_with_totals_in_utc(billing, traffic):
    response = billing.get(
        "/api/v1/sites/linux.co.uk/usage/",
        {"from": "2026-11-20T09:00:00Z", "to": "2026-11-20T12:00:00+00:00", "granularity": "hour", "page_size": 2},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["site"] == "linux.co.uk" and body["granularity"] == "hour"
    assert (body["start"], body["end"], body["count"]) == ("2026-11-20T09:00:00Z", "2026-11-20T12:00:00Z", 3)
    assert body["totals"]["requests"] == 12 and body["totals"]["status_5xx"] == 2
    assert [(r["start"], r["end"], r["requests"]) for r in body["results"]] == [
        ("2026-11-20T09:00:00Z", "2026-11-20T10:00:00Z", 5),
        ("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", 0),
    ]
    assert body["previous"] is None and "page=2" in body["next"]
    second = billing.get(body["next"]).json()
    assert [r["requests"] for r in second["results"]] == [7] and second["next"] is None


def test_days_and_months_read_rolled_up_days_too(reader, traffic):
    months = reader.get("/api/v1/sites/linux.co.uk/usage/", {"granularity": "month"}).json()
    assert (
        months["count"] == 12 and months["start"] == "2025-12-01T00:00:00Z" and months["end"] == "2026-12-01T00:00:00Z"
    )
    assert {r["start"][:7]: r["requests"] for r in months["results"] if r["requests"]} == {
        "2026-09": 1000,
        "2026-11": 12,
    }
    days = reader.get(
        "/api/v1/sites/linux.co.uk/usage/", {"granularity": "day", "from": "2026-09-01", "to": "2026-09-02"}
    ).json()
    assert days["count"] == 1 and days["results"][0]["bytes_out"] == 10**6


def test_a_site_series_as_csv(billing, traffic):
    params = {"from": "2026-11-20T09:00:00Z", "to": "2026-11-20T12:00:00Z", "granularity": "hour"}
    for response in (
        billing.get("/api/v1/sites/linux.co.uk/usage/", {**params, "format": "csv"}),
        billing.get("/api/v1/sites/linux.co.uk/usage/", params, HTTP_ACCEPT="text/csv"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [(r["start"], r["requests"], r["bytes_out"]) for r in rows] == [
            ("2026-11-20T09:00:00Z", "5", "500"),
            ("2026-11-20T10:00:00Z", "0", "0"),
            ("2026-11-20T11:00:00Z", "7", "700"),
        ]
        assert list(rows[0]) == [
            "site", "start", "end", "requests", "bytes_in", "bytes_out",
            "status_2xx", "status_3xx", "status_4xx", "status_5xx",
        ]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-20T10:00:00Z", "to": "2026-11-20T09:00:00Z", "granularity": "hour"}, "to"),
        ({"from": "2026-10-01", "to": "2026-11-20", "granularity": "hour"}, "to"),  # too many hours
        ({"from": "2026-09-01", "to": "2026-09-02", "granularity": "hour"}, "from"),  # rolled up into days
        ({"granularity": "week"}, "granularity"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "0001-01-01T00:00:00Z"}, "from"),
    ],
)
def test_bad_ranges_are_clear_400s(billing, site, params, field):
    for extra in ({}, {"format": "csv"}):
        response = billing.get("/api/v1/sites/linux.co.uk/usage/", {**params, **extra})
        assert response.status_code == 400, response.content
        body = response.json()  # JSON even when CSV was asked for
        assert body["code"] == "invalid" and field in body["errors"], body


def test_an_unknown_site_is_a_404(billing, db):
    assert billing.get("/api/v1/sites/nosuch.example/usage/").status_code == 404
    assert billing.get("/api/v1/sites/bad..name/usage/").status_code == 404


def test_the_fleet_month_pages_every_site_by_domain_with_zeros(billing, demo):
    sites = client_sites(5)
    for index, site in enumerate(sites):
        usage_hour(site, at("2026-11-02 10"), requests=index, bytes_out=index * 10)
    usage_hour(sites[0], at("2026-10-31 23"), requests=99)
    body = billing.get("/api/v1/usage/", {"month": "2026-11", "page_size": 4}).json()
    assert body["month"] == "2026-11" and body["count"] == 6  # five clients and linux.co.uk
    assert [r["site"] for r in body["results"]] == [s.domain for s in sites[:4]]
    assert body["results"][0] | {"customer_ref": ""} == {
        "site": sites[0].domain,
        "customer_ref": "",
        "month": "2026-11",
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-12-01T00:00:00Z",
        **dict.fromkeys(["requests", "bytes_in", "bytes_out", "status_2xx", "status_3xx", "status_4xx"], 0),
        "status_5xx": 0,
    }
    last = billing.get(body["next"]).json()
    assert [(r["site"], r["requests"]) for r in last["results"]] == [(sites[4].domain, 4), ("linux.co.uk", 0)]
    october = billing.get("/api/v1/usage/?month=2026-10").json()
    assert {r["site"]: r["requests"] for r in october["results"]}[sites[0].domain] == 99
    assert billing.get("/api/v1/usage/").json()["month"] == "2026-11"  # default: this month


def test_the_fleet_month_as_csv_has_every_site(billing, demo, monkeypatch):
    monkeypatch.setattr("api.usage.views.FLEET_CHUNK", 2)  # several chunks
    sites = client_sites(5)
    usage_hour(sites[2], at("2026-11-02 10"), requests=3, bytes_out=30)
    Site.objects.filter(pk=sites[1].pk).update(customer_ref="=HYPERLINK(1)")
    response = billing.get("/api/v1/usage/?month=2026-11&format=csv")
    assert response.status_code == 200 and 'filename="usage-2026-11.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 6 and rows[2]["site"] == sites[2].domain and rows[2]["bytes_out"] == "30"
    assert rows[1]["customer_ref"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert rows[0]["month"] == "2026-11" and rows[0]["start"] == "2026-11-01T00:00:00Z"


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "november", "2026-11-01"])
def test_a_bad_month_is_a_400(billing, db, month):
    response = billing.get("/api/v1/usage/", {"month": month})
    assert response.status_code == 400 and "month" in response.json()["errors"]


def test_the_fleet_month_costs_the_same_queries_for_10_or_50_sites(billing, demo, django_assert_max_num_queries):
    sites = client_sites(50)
    for site in sites:
        usage_hour(site, at("2026-11-02 10"))
    billing.get("/api/v1/usage/?month=2026-11&page_size=10")  # warm the token's last_used_at
    with django_assert_max_num_queries(6):  # token, count, page of sites, hours, days (+ throttle slack)
        small = billing.get("/api/v1/usage/?month=2026-11&page_size=10")
    with django_assert_max_num_queries(6):
        large = billing.get("/api/v1/usage/?month=2026-11&page_size=50")
    assert len(small.json()["results"]) == 10 and len(large.json()["results"]) == 50
    with django_assert_max_num_queries(6):
        series = billing.get("/api/v1/sites/client0001.example/usage/?granularity=month")
    assert series.status_code == 200


# --- who may read usage ----------------------------------------------------------------------------------

READS = ["/api/v1/usage/?month=2026-11", "/api/v1/sites/linux.co.uk/usage/"]


@pytest.mark.parametrize("scope", ["billing", "usage", "read", "operator"])
def test_tokens_that_may_read_usage(client_for, site, scope):
    client = client_for(scope)
    for path in READS:
        assert client.get(path).status_code == 200, (scope, path)


def test_a_usage_token_reads_usage_and_nothing_else(client_for, site):
    client = client_for("usage")
    assert client.get("/api/v1/sites/").status_code == 403
    assert client.get("/api/v1/sites/linux.co.uk/").status_code == 403
    assert client.get("/api/v1/status/").status_code == 403
    assert client.get("/api/v1/sites/linux.co.uk/quota/").status_code == 403
    assert client.put("/api/v1/sites/linux.co.uk/quota/", {"monthly_bytes_out": 5}, format="json").status_code == 403
    assert client.post("/api/v1/sites/linux.co.uk/suspend/", {}, format="json").status_code == 403


def test_usage_needs_credentials_and_a_staff_account(site, django_user_model):
    anonymous = APIClient()
    assert anonymous.get(READS[0]).status_code == 401
    viewer = django_user_model.objects.create_user("vera", password="pw-vera-1", is_staff=True)
    viewer.groups.add(Group.objects.get_or_create(name="viewers")[0])
    staff = APIClient()
    staff.force_login(viewer)
    assert staff.get(READS[0]).status_code == 200
    customer = django_user_model.objects.create_user("cust", password="pw-cust-1")
    outsider = APIClient()
    outsider.force_login(customer)
    assert outsider.get(READS[0]).status_code in (401, 403)


# --- a site's quota ----------------------------------------------------------------------------------------


def test_billing_sets_reads_and_removes_a_quota(billing, site):
    assert billing.get("/api/v1/sites/linux.co.uk/quota/").status_code == 404
    usage_hour(site, at("2026-11-02 10"), bytes_out=900)
    response = billing.put(
        "/api/v1/sites/linux.co.uk/quota/", {"monthly_bytes_out": 1000, "policy": "notify"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "site": "linux.co.uk",
        "monthly_bytes_out": 1000,
        "policy": "notify",
        "month": "2026-11",
        "bytes_out": 900,
        "events": [{"kind": "warn80", "at": "2026-11-20T12:30:00Z", "bytes_out": 900}],
    }
    assert billing.get("/api/v1/sites/linux.co.uk/quota/").json()["policy"] == "notify"
    bad = billing.put("/api/v1/sites/linux.co.uk/quota/", {"monthly_bytes_out": 0, "policy": "later"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"monthly_bytes_out", "policy"}
    assert billing.delete("/api/v1/sites/linux.co.uk/quota/").json() == {"deleted": "linux.co.uk", "deployment": None}
    assert not SiteQuota.objects.exists()
    assert billing.delete("/api/v1/sites/linux.co.uk/quota/").status_code == 404


def test_a_read_token_reads_a_quota_but_cannot_set_it(reader, site):
    SiteQuota.objects.create(site=site, monthly_bytes_out=10, policy="suspend")
    assert reader.get("/api/v1/sites/linux.co.uk/quota/").json()["policy"] == "suspend"
    response = reader.put("/api/v1/sites/linux.co.uk/quota/", {"monthly_bytes_out": 5}, format="json")
    assert response.status_code == 403


def test_the_usage_endpoints_are_documented_with_csv_and_their_400s(db):
    document = APIClient().get("/api/v1/schema/?format=json").json()
    series = document["paths"]["/api/v1/sites/{domain}/usage/"]["get"]
    assert set(series["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert {"400", "401", "403", "404"} <= set(series["responses"])
    assert {p["name"] for p in series["parameters"]} >= {"from", "to", "granularity", "format", "page", "domain"}
    fleet = document["paths"]["/api/v1/usage/"]["get"]
    assert {p["name"] for p in fleet["parameters"]} >= {"month", "format", "page", "page_size"}
