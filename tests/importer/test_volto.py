"""Hand-written Plone 6 deployments imported as Volto sites (issue 26): Volto's own Apache example (the legacy
`/api` form), `++api++` with ProxyPass or RewriteRule, the Classic UI path, the nginx and Traefik examples of
Plone's documentation written for Apache, frontend-only pools and the shapes refused one vhost at a time
(corpus trees 16-22, origins in tests/fixtures/importer/corpus/README.md)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from balancers.models import Balancer, BalancerMember, ZopeServer
from importer.equivalence import check_equivalence
from importer.service import import_apply, import_preview
from sites.models import Site
from tests.importer.corpus import CORPUS, https_tree, preview
from tests.realparts import require_binary
from tests.samples import tgz

pytestmark = pytest.mark.django_db


def volto_sites(plan) -> dict[str, tuple]:
    """{domain: (kind, Zope balancer, frontend balancer, Plone path, Classic UI path, API path today)}"""
    return {
        p.candidate.domain: (
            p.candidate.kind,
            p.candidate.balancer,
            p.candidate.frontend_balancer,
            p.candidate.plone_path,
            p.candidate.classic_ui_path,
            p.candidate.api_path,
        )
        for p in plan.sites
    }


def kinds_of(plan) -> dict[str, str]:
    return {f"{p.candidate.host}:{p.candidate.port}": p.candidate.kind for p in plan.zope_servers}


# HTTPS trees: (tree, the host name its certificate is for)
HTTPS = {
    "16-volto-docs-apache-legacy-api": "www.example.com",
    "18-volto-rewrite-direct-classicui": "intranet.example.net",
    "20-cookieplone-traefik-as-apache": "project.example.com",
}


def plan_of(name: str, tmp_path, authority):
    if name in HTTPS:  # the tree with a certificate for its site written where its vhost names it
        return import_preview(https_tree(tmp_path, authority, name=name, domain=HTTPS[name]))
    return preview(name)


EXPECTED = [
    (
        "16-volto-docs-apache-legacy-api",
        {"www.example.com": ("volto", "plonebackend", "voltofrontend", "/Plone", "", "/api")},
        {"127.0.0.1:8001": "zope", "127.0.0.1:8010": "node"},
    ),
    (
        "17-volto-proxypass-api-pools",
        {"shop.example.org": ("volto", "zope-api", "volto-shop", "/Plone", "", "++api++")},
        {"10.0.0.11:8080": "zope", "10.0.0.12:8080": "zope", "10.0.0.21:3000": "node", "10.0.0.22:3000": "node"},
    ),
    (
        "18-volto-rewrite-direct-classicui",
        {"intranet.example.net": ("volto", "127-0-0-1-8080", "127-0-0-1-3000", "/Plone", "/ClassicUI", "++api++")},
        {"127.0.0.1:8080": "zope", "127.0.0.1:3000": "node"},
    ),
    (
        "19-plone-docs-nginx-as-apache",
        {"plone.localhost": ("volto", "backend", "frontend", "/Plone", "", "++api++")},
        {"backend:8080": "zope", "frontend:3000": "node"},
    ),
    (
        "20-cookieplone-traefik-as-apache",
        {"project.example.com": ("volto", "backend", "frontend", "/Plone", "/ClassicUI", "++api++")},
        {"127.0.0.1:3001": "node", "127.0.0.1:3002": "node", "127.0.0.1:8081": "zope", "127.0.0.1:8082": "zope"},
    ),
    (
        "22-volto-bad-shapes",
        {"good.example.org": ("volto", "127-0-0-1-8080", "127-0-0-1-3000", "/Plone", "", "/api")},
        {"127.0.0.1:8080": "zope", "127.0.0.1:3000": "node"},
    ),
]


@pytest.mark.parametrize(("name", "sites", "servers"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_each_volto_tree_becomes_a_volto_site_whose_node_members_are_frontend_servers(
    name, sites, servers, tmp_path, tls_pki
):
    plan = plan_of(name, tmp_path, tls_pki)
    assert volto_sites(plan) == sites
    assert kinds_of(plan) == servers
    assert not plan.blocked, [*plan.errors, *plan.blocking_conflicts]
    frontends = {p.candidate.frontend_balancer for p in plan.sites}
    assert {p.candidate.name: p.candidate.kind for p in plan.balancers if p.candidate.name in frontends} == {
        name: "node" for name in frontends
    }


def test_node_servers_are_checked_on_volto_s_ok_unless_the_config_says_otherwise():
    plan = preview("19-plone-docs-nginx-as-apache")
    health = {p.candidate.name: p.candidate.health.get("health_path", "/") for p in plan.zope_servers}
    assert health == {"frontend": "/ok", "backend": "/"}  # the Zope server keeps the panel's default


def test_the_legacy_api_form_is_imported_with_a_warning_naming_what_the_volto_build_must_change():
    plan = preview("22-volto-bad-shapes")
    (warning,) = [p for p in plan.warnings if p.code == "volto-legacy-api"]
    assert "good.example.org" in warning.message
    assert "/++api++" in warning.message and "RAZZLE_LEGACY_TRAVERSE" in warning.message


def test_bad_shapes_are_reported_per_vhost_and_the_good_vhost_of_the_tree_is_imported(actor):
    plan = preview("22-volto-bad-shapes")
    problems = {p.line: p.message for p in plan.warnings if p.code == "volto-ambiguous"}
    assert "after the frontend's catch-all" in problems[4]  # late-api.example.org
    assert "different Zope servers, Plone sites or schemes" in problems[12]  # split.example.org
    assert list(volto_sites(plan)) == ["good.example.org"]
    result = import_apply(plan, actor=actor, accept_warnings=True)
    assert result.created["sites"] == 1
    assert not Site.objects.filter(domain__in=["late-api.example.org", "split.example.org"]).exists()


def test_a_frontend_only_pool_is_recognised_and_left_out_until_its_zope_balancer_is_known():
    plan = preview("21-frontend-only-pool")
    assert plan.sites == []
    (skipped,) = plan.skipped
    assert skipped.domain == "next.example.org"
    assert "frontend-only site needs its Zope balancer" in skipped.reasons[0]
    assert any("next-frontend (a frontend-only site)" in t.as_ for t in plan.translated)
    # the port-5000 application is no Plone frontend: not imported, with the reason
    assert any("app.example.org is not imported" in u.why for u in plan.unrecognised)


def test_the_import_writes_the_kinds_and_a_second_import_only_matches(actor, tmp_path, tls_pki):
    plan = plan_of("20-cookieplone-traefik-as-apache", tmp_path, tls_pki)
    import_apply(plan, actor=actor, accept_warnings=True)
    site = Site.objects.select_related("balancer", "frontend_balancer").get(domain="project.example.com")
    assert (site.kind, site.balancer.name, site.frontend_balancer.name) == ("volto", "backend", "frontend")
    assert (site.classic_ui_path, site.plone_path, site.tls) == ("/ClassicUI", "/Plone", "custom")
    assert (site.balancer.kind, site.frontend_balancer.kind) == ("zope", "node")
    members = BalancerMember.objects.filter(balancer__name="frontend").select_related("zope_server")
    assert sorted((m.zope_server.port, m.zope_server.kind, m.zope_server.health_path) for m in members) == [
        (3001, "node", "/ok"),
        (3002, "node", "/ok"),
    ]
    again = plan_of("20-cookieplone-traefik-as-apache", tmp_path / "again", tls_pki)
    assert not again.creates_anything and again.conflicts == []


def test_a_site_that_is_classic_in_the_panel_is_a_site_conflict_that_leaves_only_it_out(actor):
    zope = ZopeServer.objects.create(name="z1", host="10.9.9.9", port=8080)
    balancer = Balancer.objects.create(name="other")
    BalancerMember.objects.create(balancer=balancer, zope_server=zope)
    Site.objects.create(domain="shop.example.org", balancer=balancer, plone_path="/Plone")
    plan = preview("17-volto-proxypass-api-pools")
    (conflict,) = plan.conflicts
    assert "kind classic -> volto" in conflict.message and "frontend balancer (none) -> volto-shop" in conflict.message
    assert not plan.blocked and [s.domain for s in plan.skipped] == ["shop.example.org"]


def test_a_node_server_registered_as_a_zope_server_is_a_conflict():
    ZopeServer.objects.create(name="front1", host="10.0.0.21", port=3000)  # kind zope (the default)
    plan = preview("17-volto-proxypass-api-pools")
    assert any("kind zope -> node" in c.message for c in plan.conflicts)
    assert plan.blocked


def test_an_existing_zope_balancer_is_never_used_as_a_volto_site_s_frontend():
    server = ZopeServer.objects.create(name="n3000", host="127.0.0.1", port=3000, kind="node")
    zope_balancer = Balancer.objects.create(name="n3000-zope")  # kind zope: a one-member balancer of the wrong kind
    BalancerMember.objects.create(balancer=zope_balancer, zope_server=server)
    plan = preview("22-volto-bad-shapes")
    (site,) = plan.sites
    assert site.candidate.frontend_balancer != "n3000-zope"
    assert {p.candidate.name: p.candidate.kind for p in plan.balancers}[site.candidate.frontend_balancer] == "node"


def test_the_preview_page_shows_the_site_kind_and_the_node_servers(operator_client, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    root = CORPUS / "22-volto-bad-shapes"
    files = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    started = operator_client.post(
        reverse("balancers:import_start"), {"archive": tgz(files), "config_root": "/etc/apache2"}
    )
    assert started.status_code == 302
    html = operator_client.get(reverse("balancers:import_preview")).content.decode()
    assert "volto (frontend balancer 127-0-0-1-3000, API at <code>/api</code> today" in html
    assert "Node.js frontend server 127-0-0-1-3000 <code>127.0.0.1:3000</code>" in html
    assert "Zope server 127-0-0-1-8080 <code>127.0.0.1:8080</code>" in html
    assert "late-api.example.org" in html and "never reached today" in html  # the refused vhost, with why


def test_the_command_prints_the_kind_and_the_node_servers(capsys):
    call_command("import_apache", from_dir=str(CORPUS / "17-volto-proxypass-api-pools"))
    out = capsys.readouterr().out
    assert "shop.example.org" in out and "volto " in out and "frontend balancer volto-shop" in out
    assert "Node.js 10-0-0-21-3000 10.0.0.21:3000" in out and "Zope    zope1        10.0.0.11:8080" in out


# --- the equivalence check on real Apache ------------------------------------------------------------------


def test_a_volto_plan_asks_pages_of_the_frontend_and_the_api_of_the_zope_balancer():
    from importer.equivalence import _Check  # noqa: PLC0415 (the probe list, without starting Apache)

    plan = preview("22-volto-bad-shapes")
    check = _Check(plan, None, CORPUS)
    check.site_new, check.https_new = 4, 5  # the ports HostPanel's side would listen on (not started here)
    probes = check.probes(1, 2, {(s.candidate.file, s.candidate.line): 3 for s in plan.sites})
    labels = [p.label for p in probes if p.owner == "good.example.org" and not p.option]
    # the frontend (stateless: no cookie probes), the API where HostPanel serves it and where it is today
    assert labels == [
        "no cookie",
        "/++api++/..., no cookie",
        "/++api++/..., cookie BALANCEID=balancer.127-0-0-1-8080",
        "/api/..., no cookie",
        "/api/..., cookie BALANCEID=balancer.127-0-0-1-8080",
    ]


@pytest.mark.real
def test_the_legacy_api_is_a_difference_on_real_apache_until_the_volto_build_changes():
    require_binary("apache2")
    report = check_equivalence(preview("22-volto-bad-shapes"))
    assert not report.error, report.error
    (good,) = [c for c in report.sites if c.domain == "good.example.org"]
    assert any("/api/..." in d for d in good.differences), good.differences
    assert report.headline() == "0 of 3 vhosts equivalent: NOT equivalent"


# (tree, equivalent?, N of M vhosts): old config and HostPanel's rendering of the import, side by side
VOLTO_SHAPES = [
    ("16-volto-docs-apache-legacy-api", False, (0, 2)),  # /api today, HostPanel /++api++ (+ its port-80 twin)
    ("17-volto-proxypass-api-pools", True, (1, 1)),  # ProxyPass pools: pages, API, sticky API routes agree
    ("18-volto-rewrite-direct-classicui", True, (2, 2)),  # one Zope, one Node, Classic UI; the redirect twin
    ("19-plone-docs-nginx-as-apache", True, (1, 1)),  # the nginx example's routing, written for Apache
    ("20-cookieplone-traefik-as-apache", False, (0, 2)),  # /ClassicUI: a password today (401), staff here
    ("21-frontend-only-pool", False, (0, 2)),  # left out (no Zope balancer), and another application
    ("22-volto-bad-shapes", False, (0, 3)),  # two vhosts refused; the good one's API moves from /api
]


@pytest.mark.real
@pytest.mark.parametrize(("name", "equivalent", "count"), VOLTO_SHAPES, ids=[s[0] for s in VOLTO_SHAPES])
def test_each_volto_shape_through_the_equivalence_check_on_real_apache(name, equivalent, count, tmp_path, tls_pki):
    require_binary("apache2")
    report = check_equivalence(plan_of(name, tmp_path, tls_pki))
    assert not report.error, report.error
    assert report.equivalent == equivalent, [c.differences for c in report.differing]
    assert (report.vhosts_equivalent, len(report.vhosts)) == count, report.vhosts


@pytest.mark.real
def test_a_password_on_the_classic_ui_today_is_the_one_difference_of_the_traefik_stack(tmp_path, tls_pki):
    require_binary("apache2")
    report = check_equivalence(plan_of("20-cookieplone-traefik-as-apache", tmp_path, tls_pki))
    differences = [d for c in report.differing for d in c.differences]
    assert differences and all("Classic UI /ClassicUI" in d for d in differences), differences
    assert any("today answered 401" in d for d in differences), differences
    # `VirtualHostBase/https/project.example.com/Plone` (no port) is what Zope reads as :443: a note, no difference
    notes = [n for c in report.sites for n in c.notes]
    assert any("the scheme's default port" in n for n in notes), notes


# --- shapes written inline ----------------------------------------------------------------------------------

ZOPE = "http://127.0.0.1:8080/VirtualHostBase/http/%{SERVER_NAME}:80/Plone"


def volto_vhost(*rules: str, name: str = "v.example") -> str:
    body = "".join(f"    {rule}\n" for rule in rules)
    return f"<VirtualHost *:80>\n    ServerName {name}\n    RewriteEngine On\n{body}</VirtualHost>\n"


def test_a_condition_on_another_host_name_is_not_read_as_always_true(recognised):
    r = recognised(
        volto_vhost(
            r"RewriteCond %{HTTP_HOST} ^www\.other\.example$",
            rf"RewriteRule ^/\+\+api\+\+($|/.*) {ZOPE}/++api++/VirtualHostRoot$1 [P,L]",
            "RewriteRule ^/(.*) http://127.0.0.1:3000/$1 [P,L]",
        )
    )
    assert [s.kind for s in r.sites] == ["volto"]
    assert any(u.why == "a condition on the site's route is not modelled" for u in r.unrecognised)


def test_a_catch_all_whose_slashes_do_not_join_is_no_frontend(recognised):
    # `^(.*)` keeps the leading '/', so `.../$1` would send //path: not read as a Volto frontend
    r = recognised(
        volto_vhost(
            rf"RewriteRule ^/\+\+api\+\+($|/.*) {ZOPE}/++api++/VirtualHostRoot$1 [P,L]",
            "RewriteRule ^(.*) http://127.0.0.1:3000/$1 [P,L]",
        )
    )
    assert r.sites == [] and not any(s.kind == "node" for s in r.servers)
    assert any("virtual host not imported" in u.why for u in r.unrecognised)  # reported, with why


def test_the_classic_ui_under_any_one_segment_name_is_the_site_s_classic_ui_path(recognised):
    r = recognised(
        volto_vhost(
            rf"RewriteRule ^/\+\+api\+\+($|/.*) {ZOPE}/++api++/VirtualHostRoot$1 [P,L]",
            rf"RewriteRule ^/zope-ui($|/.*) {ZOPE}/VirtualHostRoot/_vh_zope-ui$1 [P,L]",
            "RewriteRule ^/(.*) http://127.0.0.1:3000/$1 [P,L]",
        )
    )
    (site,) = r.sites
    assert (site.kind, site.classic_ui_path, site.api_path) == ("volto", "/zope-ui", "++api++")
