"""End to end in a real browser: Playwright driving Debian's Chromium against live_server.

A screenshot (and the page's HTML) of every failing test is saved under test-artifacts/.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import tarfile

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect, sync_playwright

from balancers.choices import ChangeKind
from balancers.models import Balancer, BalancerMember, Deployment, DeploymentHost, FrontEnd, ZopeServer
from devrig.browser import launch_chromium
from devrig.handwritten import handwritten_tree
from hostpanel.models import AuditEntry
from rendering.routes import map_entries
from sites.models import Site
from tests.assertions import whole_map_at
from tests.realparts import require_binary
from tests.samples import ROOT

pytestmark = pytest.mark.real

ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def chromium():
    require_binary("chromium")

    # Playwright's sync API keeps an event loop running in this thread while the browser is open;
    # the tests' own ORM calls (and the database flush between tests) are synchronous and safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(chromium, live_server, transactional_db, request):
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.html").write_text(page.content())
        except Exception as exc:  # noqa: BLE001 - a failed screenshot must not hide the real failure
            print(f"screenshot failed: {exc}")
    context.close()


@pytest.fixture
def operator_page(page, demo, django_user_model):
    user = django_user_model.objects.create_user(username="olga", password="pw-olga-123", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="operators")[0])  # flushed by transactional_db
    page.goto("/")
    assert "/accounts/login/" in page.url
    page.get_by_label("User name").fill("olga")
    page.get_by_label("Password").fill("pw-olga-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("navigation", name="Main").is_visible()
    return page


def add_site(page, domain: str, plone_path: str = "/plone/e2e") -> None:
    page.goto("/sites/")
    page.get_by_role("link", name="Add site").click()
    page.get_by_label("Domain").fill(domain)
    page.get_by_label("Aliases").fill(f"www.{domain}")
    page.get_by_label("Balancer", exact=True).select_option("bronze")
    page.get_by_label("Plone path").fill(plone_path)
    page.get_by_role("button", name="Add site").click()


def test_an_operator_logs_in_adds_a_site_and_finds_it_through_search(operator_page):
    page = operator_page
    add_site(page, "e2e-shop.example.com")
    page.wait_for_url(re.compile(r"/sites/e2e-shop\.example\.com/$"))
    assert "Site e2e-shop.example.com added." in page.get_by_role("status").first.inner_text()
    page.get_by_role("link", name="Sites", exact=True).click()
    page.get_by_role("searchbox", name="Search").fill("www.e2e-shop")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"q=www\.e2e-shop"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link", name="e2e-shop.example.com")).to_be_visible()


def test_a_hostile_domain_shows_the_validation_message(operator_page):
    page = operator_page
    page.goto("/sites/add/")
    # a newline cannot be typed into an <input>: plant it the way a crafted request would
    page.get_by_label("Domain").evaluate(
        "el => { el.outerHTML = el.outerHTML.replace('<input', '<textarea').replace('>', '></textarea>') }"
    )
    page.get_by_label("Domain").fill("evil.example.com\nInclude /etc/passwd")
    page.get_by_label("Balancer", exact=True).select_option("bronze")
    page.get_by_label("Plone path").fill("/plone/evil")
    page.get_by_role("button", name="Add site").click()
    error = page.locator(".field-invalid").filter(has_text="Domain")
    expect(error).to_be_visible()
    # browsers send a textarea's line break as CRLF: the validator names the first bad character
    assert "A host name must not contain a carriage return." in error.inner_text()
    # a value that can be typed: the path field gets the validator's message too
    page.get_by_label("Domain").fill("evil.example.com")
    page.get_by_label("Plone path").fill("/plone/x</VirtualHost>")
    page.get_by_role("button", name="Add site").click()
    error = page.locator(".field-invalid").filter(has_text="Plone path")
    expect(error).to_be_visible()
    assert "must not contain" in error.inner_text()
    assert "'<'" in error.inner_text()
    assert not Site.objects.filter(plone_path="/plone/evil").exists()


def test_an_operator_suspends_and_unsuspends_a_site(operator_page):
    page = operator_page
    page.goto("/sites/linux.co.uk/")
    page.get_by_role("link", name="Suspend").click()
    page.get_by_label("Reason").fill("unpaid invoice")
    page.get_by_role("button", name="Suspend").click()
    page.wait_for_url(re.compile(r"/sites/linux\.co\.uk/$"))
    assert page.locator("h1 .status").inner_text() == "Suspended"
    assert "unpaid invoice" in page.locator("dl.props").first.inner_text()  # the site's own properties
    page.get_by_role("link", name="Unsuspend").click()
    page.get_by_role("button", name="Unsuspend").click()
    page.wait_for_url(re.compile(r"/sites/linux\.co\.uk/$"))
    assert page.locator("h1 .status").inner_text() == "Active"
    assert Site.objects.get(domain="linux.co.uk").status == "active"


def test_a_csv_import_with_one_bad_row_imports_nothing_then_a_good_one_imports_all(operator_page, tmp_path):
    page = operator_page
    header = "domain,aliases,balancer,plone_path,customer_ref\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "one.example.com,,bronze,/plone/one,C1\ntwo.example.com,,bronze,/plone/</VirtualHost>,C2\n")
    page.goto("/sites/")
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#import-preview")).to_be_visible()
    assert "1 of 2 row(s) have errors" in page.get_by_role("alert").first.inner_text()
    assert "must not contain" in page.locator("#import-preview tr.row-error").inner_text()
    assert page.get_by_role("button", name=re.compile("^Import")).count() == 0
    assert not Site.objects.filter(domain="one.example.com").exists()
    # fix the bad row in the textarea and check again, then import
    page.get_by_label("CSV (edit and check again)").fill(
        header + "one.example.com,,bronze,/plone/one,C1\ntwo.example.com,www.two.example.com,silver,/plone/two,C2\n"
    )
    page.get_by_role("button", name="Check again").click()
    page.get_by_role("button", name="Import 2 site(s)").click()  # auto-waits for the new page
    page.wait_for_url(re.compile(r"/sites/$"))
    assert "2 site(s) imported." in page.get_by_role("status").first.inner_text()
    assert set(Site.objects.filter(customer_ref__in=["C1", "C2"]).values_list("domain", flat=True)) == {
        "one.example.com",
        "two.example.com",
    }


def test_an_operator_toggles_a_member_to_hot_standby(operator_page, demo):
    page = operator_page
    page.goto(demo.get_absolute_url())
    row = page.locator("#member-zope2")
    assert row.locator("[data-state]").inner_text() == "active"
    row.get_by_role("link", name="Hot standby").click()
    expect(page.locator("main")).to_contain_text("Currently: active")
    page.get_by_role("button", name="Hot standby").click()
    page.wait_for_selector("text=is now")
    if page.url.rstrip("/").endswith(f"/balancers/{demo.pk}"):
        assert page.locator("#member-zope2 [data-state]").inner_text() == "hot standby"
    else:  # the live toggle (member_set_flags) shows the per-front-end results first
        assert page.locator("#toggle-results").is_visible()
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    assert (member.hot_standby, member.drain, member.disabled) == (True, False, False)


DEPLOY_MISSING = importlib.util.find_spec("deploy.runner") is None


@pytest.mark.skipif(
    DEPLOY_MISSING,
    reason="REMAINS: needs deploy (deployment_start) from branch deploy; runs once it is merged",
)
def test_an_operator_starts_a_deploy_and_sees_it_finish(operator_page, tmp_path, settings):
    page = operator_page
    config_dir = tmp_path / "frontend" / "hostpanel"
    config_dir.parent.mkdir(parents=True)
    FrontEnd.objects.create(
        name="local1",
        address="127.0.0.1",
        transport="local",
        config_dir=str(config_dir),
        configtest_command="/bin/true",
        reload_command="/bin/true",
    )
    page.goto("/deployments/")
    page.get_by_role("link", name="Deploy now").click()
    expect(page.locator("main")).to_contain_text("local1")
    page.get_by_role("button", name="Deploy to all front-ends").click()
    page.wait_for_url(re.compile(r"/deployments/\d+/$"))
    status = page.locator("#deployment-status")
    page.wait_for_function(
        "() => ['succeeded', 'partial', 'failed']"
        ".includes(document.querySelector('#deployment-status').dataset.status)",
        timeout=60_000,
    )
    deployment = Deployment.objects.order_by("-pk").first()
    assert status.get_attribute("data-status") == deployment.status == "succeeded", deployment.message
    assert page.locator("#deployment-progress").get_by_text("local1").is_visible()
    assert (config_dir / "hostpanel.conf").exists() or any(config_dir.parent.rglob("hostpanel.conf"))
    # the first deployment's diff shows every file as new
    expect(page.locator("pre.diff").first).to_contain_text("hostpanel.conf")

    # a site added, deployed again, then rolled back to the first revision
    Site.objects.create(domain="later.example.com", balancer=Balancer.objects.get(name="bronze"), plone_path="/p/l")
    page.goto("/deployments/new/")
    expect(page.locator("pre.diff")).to_contain_text("later.example.com")
    page.get_by_role("button", name="Deploy to all front-ends").click()
    page.wait_for_url(re.compile(r"/deployments/\d+/$"))
    expect(page.locator("#deployment-status")).to_have_attribute("data-status", "succeeded", timeout=60_000)
    assert "later.example.com" in map_entries(whole_map_at(config_dir))  # config_dir points at the live release
    assert Deployment.objects.order_by("-pk").first().hosts.get().change_kind == ChangeKind.MAP  # no reload
    page.goto(deployment.get_absolute_url())
    page.get_by_role("link", name="Roll back to this revision").click()
    page.get_by_role("button", name="Roll back to this revision").click()
    page.wait_for_url(re.compile(r"/deployments/\d+/$"))
    expect(page.locator("#deployment-status")).to_have_attribute("data-status", "succeeded", timeout=60_000)
    rollback = Deployment.objects.get(rollback_of=deployment)
    assert rollback.status == "succeeded"
    assert "later.example.com" not in map_entries(whole_map_at(config_dir))
    assert "linux.co.uk" in map_entries(whole_map_at(config_dir))


def test_the_deployment_page_follows_a_running_deployment_live(operator_page):
    page = operator_page
    deployment = Deployment.objects.create(actor="olga", status="running")
    host = DeploymentHost.objects.create(
        deployment=deployment, frontend_name="fe-live", status="running", stage="upload"
    )
    page.goto(f"/deployments/{deployment.pk}/")
    assert page.locator("#deployment-status").get_attribute("data-status") == "running"
    assert page.locator("#deployment-progress li.current").inner_text() == "Upload"
    # the worker moves on: the page shows it within a few seconds, without a reload
    DeploymentHost.objects.filter(pk=host.pk).update(status="succeeded", stage="done", duration=1.5)
    Deployment.objects.filter(pk=deployment.pk).update(status="succeeded")
    page.wait_for_selector("#deployment-status[data-status='succeeded']", timeout=10_000)
    assert "1.50 s" in page.locator("#deployment-progress").inner_text()
    assert page.locator("#deployment-progress[data-finished='true']").count() == 1


def test_an_operator_imports_a_hand_written_config_after_a_passing_equivalence_check(operator_page, settings, tmp_path):
    require_binary("apache2")
    settings.VAR_DIR = tmp_path / "var"
    Site.objects.all().delete()
    BalancerMember.objects.all().delete()
    Balancer.objects.all().delete()
    ZopeServer.objects.all().delete()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in handwritten_tree(5).items():
            info = tarfile.TarInfo(f"apache2/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    page = operator_page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()
    page.get_by_label("Archive").set_input_files(
        files=[{"name": "etc-apache2.tgz", "mimeType": "application/gzip", "buffer": buffer.getvalue()}]
    )
    page.get_by_role("button", name="Read and preview").click()
    page.wait_for_url(re.compile(r"/import/preview/$"))
    expect(page.get_by_role("heading", name="Sites: 5")).to_be_visible()
    expect(page.locator("#sites tbody tr")).to_have_count(5)
    page.get_by_role("button", name="Run the equivalence check").click()
    expect(page.get_by_role("status").filter(has_text="Equivalent: 5 of 5 sites")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Import 5 sites").click()
    page.wait_for_url(re.compile(r"/import/$"))
    message = "Imported: 4 zope servers, 3 balancers, 9 members, 5 sites, 1 aliases."
    expect(page.get_by_role("status").filter(has_text=message)).to_be_visible()
    assert Site.objects.count() == 5
    assert AuditEntry.objects.filter(action="import.apply").count() == 1


def test_a_delete_after_the_password_window_asks_for_the_password_again(operator_page, settings):
    settings.HOSTPANEL_REAUTH_MINUTES = 0  # the login is already "too long ago"
    server = ZopeServer.objects.create(name="spare", host="10.0.0.9", port=8080)
    page = operator_page
    page.goto(server.get_absolute_url())
    page.get_by_role("link", name="Delete").click()
    page.get_by_label("Your password").fill("not-my-password")
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("main")).to_contain_text("That is not your password.")
    assert ZopeServer.objects.filter(pk=server.pk).exists()
    page.get_by_label("Your password").fill("pw-olga-123")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").filter(has_text="Zope server spare deleted.")).to_be_visible()
    assert not ZopeServer.objects.filter(pk=server.pk).exists()


def test_an_operator_adds_a_node_server_a_frontend_balancer_and_a_volto_site(operator_page):
    browser = operator_page  # a Node.js frontend server, a frontend balancer with it as member, a Volto site
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
