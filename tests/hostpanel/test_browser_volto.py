"""End to end in a real browser (Playwright, Debian's Chromium): an operator builds a Volto site through the
staff forms: a Node.js frontend server, a frontend balancer with it as member, then the site itself."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from balancers.models import Balancer
from sites.models import Site
from tests.hostpanel.test_browser import chromium, operator_page, page  # noqa: F401 - the shared fixtures

pytestmark = pytest.mark.real


def test_an_operator_adds_a_node_server_a_frontend_balancer_and_a_volto_site(operator_page):  # noqa: F811
    browser = operator_page
    # a Node.js frontend server: the health path is left empty and becomes /ok
    browser.get_by_role("link", name="Application servers").click()
    browser.get_by_role("link", name="Add application server").click()
    browser.get_by_label("Name").fill("node1")
    browser.get_by_label("Application server").select_option("node")
    browser.get_by_label("Host").fill("127.0.0.1")
    browser.get_by_label("Port").fill("3001")
    browser.get_by_role("button", name="Add application server").click()
    expect(browser.locator("#server-kind")).to_have_text("Node.js frontend (Volto)")
    expect(browser.locator("#health-check")).to_contain_text("GET /ok")

    # a frontend balancer, and node1 as its member (only Node.js servers are offered)
    browser.goto("/balancers/add/")
    browser.get_by_label("Name").fill("volto-acme")
    browser.get_by_label("Groups").select_option("node")
    browser.get_by_role("button", name="Add balancer").click()
    expect(browser.locator("#balancer-kind")).to_contain_text("Node.js frontend servers")
    browser.get_by_role("link", name="Add member").click()
    server = browser.get_by_label("Node.js frontend server")
    expect(server.locator("option")).to_have_text(["- Select an option -", "node1"])
    server.select_option(label="node1")
    browser.get_by_role("button", name="Add member").click()
    expect(browser.get_by_role("heading", name="Node.js frontend members")).to_be_visible()
    expect(browser.locator("#members")).to_contain_text("node1")

    # the Volto site: a missing frontend balancer is a clear error first
    browser.goto("/sites/add/")
    browser.get_by_label("Domain").fill("volto.example")
    browser.get_by_label("Kind").select_option("volto")
    browser.get_by_label("Balancer", exact=True).select_option("bronze")
    browser.get_by_label("Plone path").fill("/Plone")
    browser.get_by_role("button", name="Add site").click()
    error = browser.locator(".field-invalid").filter(has_text="Frontend balancer")
    expect(error).to_contain_text("A Volto site needs a Node.js frontend balancer.")
    assert not Site.objects.filter(domain="volto.example").exists()
    frontend = browser.get_by_label("Frontend balancer")
    expect(frontend.locator("option")).to_have_text(["(none: Classic UI)", "volto-acme"])
    frontend.select_option("volto-acme")
    browser.get_by_label("Classic UI path").fill("/ClassicUI")
    browser.get_by_role("button", name="Add site").click()
    browser.wait_for_url(re.compile(r"/sites/volto\.example/$"))
    expect(browser.locator("#site-kind")).to_have_text("Volto (Node.js frontend, /++api++ to Zope)")
    expect(browser.locator("#site-balancer")).to_contain_text("bronze")
    expect(browser.locator("#site-frontend-balancer")).to_contain_text("volto-acme")
    expect(browser.locator("#site-classic-ui")).to_contain_text("/ClassicUI")
    site = Site.objects.get(domain="volto.example")
    assert (site.kind, site.frontend_balancer, site.classic_ui_path) == (
        "volto",
        Balancer.objects.get(name="volto-acme"),
        "/ClassicUI",
    )
