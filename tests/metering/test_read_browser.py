"""The site page's traffic chart in a real browser (Debian's Chromium via Playwright): the three charts draw
bars with a labelled scale, a bar's title gives the exact value, and the period selector switches to days."""

from __future__ import annotations

import os

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import sync_playwright

from devrig.browser import launch_chromium
from metering.selectors import floor
from sites.models import Site
from tests.metering.usage_factories import usage_hour
from tests.realparts import require_binary

pytestmark = pytest.mark.real


@pytest.fixture
def page(live_server, demo, django_user_model, monkeypatch):
    require_binary("chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the ORM in the test thread while Playwright runs
    django_user_model.objects.create_user("vic", password="vic-password-1", is_staff=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            pg = browser.new_page()
            pg.goto(live_server.url + "/accounts/login/")
            pg.fill("input[name=username]", "vic")
            pg.fill("input[name=password]", "vic-password-1")
            pg.click("button[type=submit]")
            pg.wait_for_url(live_server.url + "/")
            pg.base = live_server.url
            yield pg
        finally:
            browser.close()
            connections.close_all()
    assert os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")


def test_the_traffic_chart_shows_on_the_site_page(page):
    site = Site.objects.get(domain="linux.co.uk")
    usage_hour(site, floor(timezone.now(), "hour"), requests=1200, bytes_out=3_400_000, status_5xx=12)
    page.goto(page.base + "/sites/linux.co.uk/")
    chart = page.locator('svg.usage-chart[data-metric="bytes_out"]')
    chart.scroll_into_view_if_needed()
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 50  # drawn, not collapsed
    assert page.locator('svg.usage-chart[data-metric="bytes_out"] rect').count() == 48
    tallest = page.locator('svg.usage-chart[data-metric="bytes_out"] rect').last
    assert tallest.bounding_box()["height"] > 50  # the current hour is the top of the scale
    assert "3,400,000 bytes" in tallest.locator("title").text_content()
    scale = page.locator('svg.usage-chart[data-metric="bytes_out"] .scale text').all_text_contents()
    assert scale == ["0 B", "1.7 MB", "3.4 MB"]
    page.locator("#traffic").screenshot(path="/tmp/traffic.png")
    assert page.locator("#traffic").inner_text().count("5xx share") == 1
    page.click("text=Last 30 days")
    page.wait_for_url("**traffic=30d*")
    assert page.locator('svg.usage-chart[data-metric="requests"] rect').count() == 30
