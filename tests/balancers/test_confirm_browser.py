"""Confirmations in a real browser (Playwright driving Debian's Chromium against live_server, demo data):
a rollback that would take sites offline names them before anything is confirmed; a member's disable shows
which balancer loses capacity and its sites; an import lists the sites it would add; a refused certificate
shows plain words under the right field.

HOSTPANEL_SCREENSHOT_DIR (a directory outside the repository, e.g. /tmp/shots) keeps a PNG of the rollback
confirmation, for the issue's closing note."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from balancers.models import ActivatedRelease, BalancerMember, Deployment, DeploymentHost
from deploy.stored import store_tree
from deploy.trees import render_result_for
from devrig.browser import launch_chromium
from rendering import cache
from sites import services as site_services
from sites.models import Site
from tests.balancers.test_effects_import import config_files
from tests.realparts import require_binary
from tests.samples import tgz

pytestmark = pytest.mark.real

TIMEOUT_MS = 15_000
PASSWORD = "pw-olga-123"


@pytest.fixture
def page(live_server, transactional_db, demo, django_user_model, monkeypatch):
    require_binary("chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the ORM in the test thread while Playwright runs
    user = django_user_model.objects.create_user(username="olga", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="operators")[0])
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            pg = context.new_page()
            pg.goto("/accounts/login/")
            pg.get_by_label("User name").fill("olga")
            pg.get_by_label("Password").fill(PASSWORD)
            pg.get_by_role("button", name="Log in").click()
            pg.wait_for_url(re.compile(r"/$"))
            yield pg
        finally:
            browser.close()
            connections.close_all()  # Playwright's greenlet got its own connection


def deployed(frontend) -> Deployment:
    """A succeeded deployment of what the panel renders now, and the front-end serving it."""
    cache.clear()
    tree = store_tree(render_result_for(frontend).tree)
    deployment = Deployment.objects.create(actor="olga", status="succeeded")
    DeploymentHost.objects.create(
        deployment=deployment, frontend=frontend, frontend_name=frontend.name, tree=tree, status="succeeded"
    )
    ActivatedRelease.objects.update_or_create(frontend=frontend, defaults={"tree": tree, "digest": tree.digest})
    return deployment


def test_a_rollback_that_would_take_sites_offline_names_them_before_confirming(page, demo, frontend, actor):
    old = deployed(frontend)
    for domain in ("shop.example.com", "blog.example.com"):
        site_services.site_create(actor=actor, domain=domain, balancer=demo, plone_path="/plone/x")
    newest = deployed(frontend)

    page.goto(f"/deployments/{newest.pk}/")
    expect(page.get_by_role("heading", name=f"Deployment #{newest.pk}")).to_be_visible()
    expect(page.get_by_role("link", name="Roll back to this revision")).to_have_count(0)  # not to itself

    page.goto(f"/deployments/{old.pk}/")
    page.get_by_role("link", name="Roll back to this revision").click()
    offline = page.locator("#effect-offline")
    expect(offline).to_contain_text("2 sites would go offline")
    expect(offline).to_contain_text("blog.example.com")
    expect(offline).to_contain_text("shop.example.com")
    expect(page.locator('tr[data-site="shop.example.com"]')).to_contain_text("not served (404)")
    expect(page.locator('details[data-frontend="demo-fe"] pre.diff')).to_contain_text("-shop.example.com live|")
    expect(page.locator("#effect")).not_to_contain_text("MANIFEST")
    button = page.get_by_role("button", name="Roll back to this revision and take 2 sites offline")
    expect(button).to_be_visible()
    shots = os.environ.get("HOSTPANEL_SCREENSHOT_DIR")
    if shots:
        page.screenshot(path=str(Path(shots) / "rollback-confirmation.png"), full_page=True)
    assert not Deployment.objects.filter(rollback_of=old).exists()  # nothing happened yet

    button.click()
    page.wait_for_url(re.compile(r"/deployments/\d+/$"))
    assert Deployment.objects.filter(rollback_of=old).count() == 1


def test_disabling_a_member_from_the_dashboard_shows_its_effect_first(page, demo, frontend):
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")
    page.goto("/")
    row = page.locator(f'section:has(h2:text("bronze")) tr[data-member="{member.route}"]').first
    action = row.get_by_role("link", name="Disable")
    expect(action).to_have_attribute("title", "Takes no traffic at all.")
    action.click()
    page.wait_for_url(re.compile(rf"/balancers/{demo.pk}/members/{member.pk}/set/disabled/$"))
    effect = page.locator('.effect-balancer[data-balancer="bronze"]')
    expect(effect).to_contain_text("Balancer bronze loses capacity")
    expect(effect).to_contain_text("linux.co.uk")
    expect(page.locator("#effect")).to_contain_text("+D")  # the diff: the member rendered disabled
    member.refresh_from_db()
    assert not member.disabled  # shown, not done
    page.get_by_role("button", name="Disable").click()
    expect(page.locator("#toggle-results")).to_be_visible()
    member.refresh_from_db()
    assert member.disabled


def test_a_reversed_certificate_chain_is_refused_under_the_certificate_field_in_plain_words(page, demo, actor, tls_pki):
    site = site_services.site_create(
        actor=actor, domain="shop.example.com", balancer=demo, plone_path="/plone/shop", tls="none"
    )
    upload = tls_pki.issue(["shop.example.com"])
    page.goto(f"/sites/{site.domain}/certificate/upload/")
    page.get_by_label("Certificate (PEM)").fill(upload["chain_pem"] + upload["certificate_pem"])
    page.get_by_label("Private key (PEM)").fill(upload["private_key_pem"])
    page.get_by_role("button", name="Upload certificate").click()
    field = page.locator(".field:has(#id_certificate_pem)")
    expect(field.get_by_role("alert")).to_contain_text("not the site's own")
    expect(page.locator(".field:has(#id_chain_pem) [role=alert]")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("Certificate(")
    expect(page.get_by_label("Certificate (PEM)")).to_have_value(re.compile("BEGIN CERTIFICATE"))
    expect(page.get_by_label("Private key (PEM)")).to_have_value("")
    expect(page.locator(".field:has(#id_private_key_pem)")).to_contain_text("paste it or choose its file once more")


def test_the_import_confirmation_lists_the_sites_it_would_add_before_applying(page, demo, frontend, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    files = config_files(("adopted.example.org", "gold"), ("second.example.org", "bronze"))
    archive = tmp_path / "etc-apache2.tgz"
    archive.write_bytes(tgz(files).getvalue())
    page.goto("/import/")
    page.locator('input[type="file"]').set_input_files(str(archive))
    page.get_by_role("button", name="Read and preview").click()
    page.wait_for_url(re.compile(r"/import/preview/$"))
    effect = page.locator("#confirm #effect")
    for domain in ("adopted.example.org", "second.example.org"):
        expect(effect.locator(f'tr[data-site="{domain}"]')).to_contain_text("added")
    expect(effect.locator('tr[data-site="adopted.example.org"]')).to_contain_text("not served (404)")
    expect(effect.locator('details[data-frontend="demo-fe"] summary')).to_contain_text("configtest + graceful reload")
    expect(effect.locator('details[data-frontend="demo-fe"] pre.diff')).to_contain_text(
        "+adopted.example.org live|gold|"
    )
    expect(effect).not_to_contain_text("MANIFEST")
    assert not Site.objects.filter(domain="adopted.example.org").exists()  # shown, not done

    page.get_by_label("I have read every warning above and want to import anyway").check()
    page.get_by_role("button", name="Import 2 sites").click()
    page.wait_for_url(re.compile(r"/import/$"))
    expect(page.get_by_text("Imported:")).to_be_visible()
    assert set(Site.objects.values_list("domain", flat=True)) >= {"adopted.example.org", "second.example.org"}
