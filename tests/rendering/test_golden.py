"""Golden files: the demo data (seed_demo: bronze and silver over zope1, zope2 and the hot-standby
backup; linux.co.uk with www.linux.co.uk) rendered for the demo front-end, in both modes.

The HTTPS variants (tests/golden/https-<mode>) give linux.co.uk a live certificate (PEM-shaped stand-ins,
not a real key) and HSTS, and add a suspended HTTPS site.

Regenerate after an intended template change, then review the diff like code:

    HOSTPANEL_UPDATE_GOLDEN=1 /work/main/.venv/bin/pytest tests/rendering/test_golden.py
    git diff tests/golden/
"""

import os

import pytest

from balancers import services as balancer_services
from balancers.models import ZopeServer
from certificates.crypto import encrypt_secret
from certificates.models import Certificate
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from sites.models import Site
from tests.factories import set_render_mode
from tests.samples import GOLDEN

UPDATE = os.environ.get("HOSTPANEL_UPDATE_GOLDEN") == "1"
STAND_IN_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nTEVBRg==\n-----END CERTIFICATE-----\n"
STAND_IN_CHAIN = "-----BEGIN CERTIFICATE-----\nSU5URVJNRURJQVRF\n-----END CERTIFICATE-----\n"
STAND_IN_KEY = "-----BEGIN PRIVATE KEY-----\nTk9UIEEgS0VZ\n-----END PRIVATE KEY-----\n"


def _live_certificate(site: Site) -> None:
    Certificate.objects.update_or_create(
        site=site,
        defaults=dict(
            status="valid",
            serial="01",
            names=[site.domain, *site.aliases.values_list("name", flat=True)],
            certificate_pem=STAND_IN_CERTIFICATE,
            chain_pem=STAND_IN_CHAIN,
            private_key_encrypted=encrypt_secret(STAND_IN_KEY.encode()),
        ),
    )


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_the_demo_data_renders_exactly_the_golden_tree(demo, frontend, actor, mode):
    set_render_mode(mode, actor)
    compare_with_golden(render_tree(load_snapshot(), frontend), mode)


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_https_sites_render_exactly_the_golden_tree(demo, frontend, actor, mode, secrets_key):
    set_render_mode(mode, actor)
    linux = Site.objects.get(domain="linux.co.uk")
    site_services.site_update(linux, actor=actor, tls="acme", hsts_seconds=31536000)
    suspended = site_services.site_create(
        actor=actor, domain="suspended.example", balancer="bronze", plone_path="/plone/suspended", tls="custom"
    )
    site_services.site_suspend(suspended, actor=actor, reason="unpaid")
    for site in (linux, suspended):
        _live_certificate(site)
    compare_with_golden(render_tree(load_snapshot(), frontend), f"https-{mode}")


HCHECK_FACTS = {
    "checked_at": "2026-12-07T12:00:00+00:00",
    "version": "2.4.71",
    "modules": ["proxy", "proxy_http", "proxy_balancer", "proxy_hcheck", "watchdog"],
}


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_a_frontend_with_mod_proxy_hcheck_renders_health_checks_exactly_like_the_golden_tree(
    demo, frontend, actor, mode
):
    """The golden tree of a front-end whose readiness check found mod_proxy_hcheck: every member carries its
    Zope server's hc* parameters (zope2 with its own path, method and counts; the others the defaults)."""
    set_render_mode(mode, actor)
    frontend.apache_facts = HCHECK_FACTS
    frontend.save(update_fields=["apache_facts"])
    ZopeServer.objects.filter(name="zope2").update(
        health_path="/@@ok", health_method="HEAD", health_interval=3, health_passes=2, health_fails=4
    )
    compare_with_golden(render_tree(load_snapshot(), frontend), f"hcheck-{mode}")


def test_volto_and_frontend_only_sites_render_exactly_the_golden_tree(demo, frontend, actor):
    """A Node.js frontend pool (two members, one hot standby, mod_proxy_hcheck on /ok), a Volto site with a
    Classic UI path and options, a frontend-only site: the balancers and the map lines (the routing files are
    the same for every kind)."""
    frontend.apache_facts = HCHECK_FACTS
    frontend.save(update_fields=["apache_facts"])
    front = balancer_services.balancer_create(actor=actor, name="shop-front", kind="node", lbmethod="bybusyness")
    for index, name in enumerate(("volto1", "volto2")):
        server = balancer_services.zope_server_create(
            actor=actor, name=name, kind="node", host=f"10.0.1.{index + 1}", port=3000
        )
        balancer_services.member_create(actor=actor, balancer=front, zope_server=server, hot_standby=index == 1)
    site_services.site_create(
        actor=actor,
        domain="shop.example",
        aliases=["www.shop.example"],
        balancer="bronze",
        plone_path="/Plone",
        kind="volto",
        frontend_balancer="shop-front",
        classic_ui_path="/ClassicUI",
        manage_access="staff",
    )
    site_services.site_create(
        actor=actor,
        domain="next.example",
        balancer="bronze",
        plone_path="/plone/next",
        kind="frontend_only",
        frontend_balancer=front,
    )
    compare_with_golden(render_tree(load_snapshot(), frontend), "volto-single-pass")


def compare_with_golden(tree: dict[str, str], mode: str) -> None:
    directory = GOLDEN / mode
    if UPDATE:
        for old in directory.rglob("*"):
            if old.is_file():
                old.unlink()
        for path, text in tree.items():
            (directory / path).parent.mkdir(parents=True, exist_ok=True)
            (directory / path).write_text(text, encoding="utf-8")
    files = [p for p in directory.rglob("*") if p.is_file()]
    golden = {p.relative_to(directory).as_posix(): p.read_text(encoding="utf-8") for p in files}
    assert sorted(tree) == sorted(golden), "files differ; see the module docstring to regenerate"
    for path in tree:
        assert tree[path] == golden[path], f"{mode}/{path} differs from tests/golden; see the module docstring"
