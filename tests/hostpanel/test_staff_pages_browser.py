"""Issue #28 in Chromium with the demo data: the site page answers "live, and where" (per front-end) and
its "Deployment #n (queued)" message is a link that follows the deployment; the deployment page says why
and what; the dashboard's band lists a balancer running on its hot standby alone, read from a real
Apache's balancer-manager (devrig) after its regular members were disabled and stopped.

Screenshots go to $HOSTPANEL_SCREENSHOTS (default /tmp/hostpanel-screenshots), never into the repository."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from balancers import services as balancer_services
from balancers.models import Deployment, FrontEnd
from deploy.runner import deployment_execute
from status.poller import poll_once
from tests.factories import make_local_frontend
from tests.hostpanel import test_browser as browser_tests
from tests.hostpanel.test_browser import add_site
from tests.status import test_live_apache as live_apache_tests
from tests.status.test_live_apache import member

# the fixtures of the other browser tests (Chromium, a logged-in operator) and of the real-Apache rig
chromium, page, operator_page = browser_tests.chromium, browser_tests.page, browser_tests.operator_page
rig = live_apache_tests.rig

pytestmark = pytest.mark.real

SHOTS = Path(os.environ.get("HOSTPANEL_SCREENSHOTS", "/tmp/hostpanel-screenshots"))


def shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_site_page_shows_where_the_site_is_live_and_follows_its_deployment(
    operator_page, tmp_path, settings, monkeypatch
):
    tab = operator_page
    settings.HOSTPANEL_AUTO_DEPLOY = True
    # no worker picks the deployment up: the test thread runs it, so the page can be seen waiting first
    monkeypatch.setattr("balancers.services.deployments.deployment_enqueue", lambda pk: False)
    make_local_frontend(tmp_path, "local1")
    add_site(tab, "e2e-live.example.com")
    tab.wait_for_url(re.compile(r"/sites/e2e-live\.example\.com/$"))
    deployment = Deployment.objects.get(causes__object_key="e2e-live.example.com")
    note = tab.locator(".messages a.deployment-badge")
    expect(note).to_have_attribute("href", f"/deployments/{deployment.pk}/")
    expect(note).to_contain_text(f"Deployment #{deployment.pk} (queued)")
    card = tab.locator("#site-live")
    expect(card.locator("tr[data-frontend=local1]")).to_have_attribute("data-state", "pending")
    expect(card.locator("tr[data-frontend=local1]")).to_contain_text(f"waits for deployment #{deployment.pk}")

    assert deployment_execute(deployment.pk).status == "succeeded"  # what the worker does
    # without a reload: the message's link and the card follow the deployment
    expect(tab.locator(".messages a.deployment-badge")).to_contain_text("(succeeded)", timeout=10_000)
    card = tab.locator("#site-live")
    expect(card.locator("tr[data-frontend=local1]")).to_have_attribute("data-state", "serving", timeout=10_000)
    expect(card.locator("[data-live]")).to_have_attribute("data-live", "yes")
    expect(card.locator("tr[data-frontend=local1]")).to_contain_text(f"deployment #{deployment.pk}")

    # a second front-end enabled since: the site is not live everywhere, and the page says where it is missing
    FrontEnd.objects.create(name="local2", address="127.0.0.1", transport="local", config_dir=str(tmp_path / "l2"))
    tab.reload()
    card = tab.locator("#site-live")
    expect(card.locator("[data-live]")).to_have_attribute("data-live", "no")
    expect(card.locator("tr[data-frontend=local1]")).to_have_attribute("data-state", "serving")
    expect(card.locator("tr[data-frontend=local2]")).to_have_attribute("data-state", "pending")
    expect(card.locator("tr[data-frontend=local2]")).to_contain_text("no deployment queued")
    expect(tab.locator("#traffic, .traffic, section").filter(has_text="Traffic").first).to_be_visible()
    shot(tab, "site-page")

    # the deployment page: why (the change, who) and what (the site added); no MANIFEST digests
    card.locator(".last-deployment a.deployment-badge").click()
    tab.wait_for_url(re.compile(rf"/deployments/{deployment.pk}/$"))
    expect(tab.locator("#deployment-why")).to_contain_text("site e2e-live.example.com created")
    expect(tab.locator("#deployment-why")).to_contain_text("by olga")
    expect(tab.locator("#deployment-what [data-what=sites_added]")).to_contain_text("e2e-live.example.com")
    diff = tab.locator("pre.diff").first.inner_text()
    assert "+++ b/hostpanel.conf" in diff and "+++ b/MANIFEST" not in diff
    expect(tab.locator("#deployment-progress td.uploaded").first).to_contain_text("file")
    shot(tab, "deployment-page")
    tab.goto("/deployments/")  # one automatic deployment carried both changes: the first named, the count of the rest
    expect(tab.locator(f"tr[data-deployment='{deployment.pk}'] td.why")).to_have_text(
        "front-end local1 created by tester (and 1 more change)"
    )


def test_the_dashboard_band_lists_a_balancer_running_on_its_hot_standby_alone(operator_page, rig, actor):
    tab = operator_page
    assert rig.new_clients() == {"zope1", "zope2"}
    tab.goto("/")
    expect(tab.locator("#summary h2")).to_have_text("Nothing needs attention")

    # zope1 disabled (applied live through balancer-manager), zope2 dead: only the +H member serves
    result = balancer_services.member_set_flags(member("zope1"), actor=actor, disabled=True)
    assert result.all_applied, result.summary()
    rig.backends["zope2"].stop()
    assert rig.new_clients() == {"backup"}  # Apache marks zope2 in error and falls back to the hot standby
    poll_once()  # the status poller's sample of the real balancer-manager

    tab.goto("/")
    band = tab.locator("#summary")
    expect(band.locator("h2")).to_have_text("What needs attention")
    standby = band.locator("[data-key=standby_only]")
    expect(standby).to_contain_text("1 balancer running on hot standby only")
    expect(standby.get_by_role("link", name="bronze on fe1")).to_have_attribute("href", "/#balancer-bronze")
    expect(band.locator("[data-key=members_down]")).to_contain_text("zope2 (bronze) on fe1")
    # the dead member: "down" with the reason, never a bare green "in sync" beside a red badge
    row = tab.locator("#balancer-bronze tr[data-member=zope2]")
    expect(row.locator("td.live")).to_contain_text("down")
    expect(row.locator("td.live")).to_contain_text("Apache could not reach it")
    expect(row.locator("td.sync")).to_contain_text("but the member is down")
    # Apache's words have help: the legend and the abbreviations' titles
    tab.locator("#legend summary").click()
    expect(tab.locator("#legend")).to_contain_text("Backup member")
    assert tab.locator("#balancer-bronze abbr[title^='Member set (lbset)']").count() >= 1
    expect(tab.locator("#balancer-bronze .spark-scale").first).to_contain_text("peak")
    shot(tab, "dashboard")
