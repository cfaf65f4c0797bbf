"""The importer on hand-written Plone configs from public sources (tests/fixtures/importer/corpus, origins in
its README): what each tree becomes, the sites left out and why, certificates imported from the tree, and
the equivalence check on real Apache (the old config and HostPanel's answer, recording backends)."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from balancers.choices import DeploymentStatus
from balancers.models import Balancer, BalancerMember, ZopeServer
from balancers.services import deployment_start
from certificates.crypto import decrypt_secret
from certificates.models import Certificate
from deploy.holds import import_holds
from deploy.transport.pool import open_transport
from devrig import pki
from devrig.net import https_get
from importer.equivalence import check_equivalence
from importer.reader import DirectorySource, MappingSource, read_config
from importer.remote import fetch_certificates
from importer.service import import_apply, import_check_equivalence, import_preview
from sites.models import Site
from tests.factories import ACTOR, make_local_frontend
from tests.importer.corpus import CORPUS, https_tree, preview
from tests.realparts import require_binary

TREES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())

pytestmark = pytest.mark.django_db


def sites_of(plan) -> dict[str, tuple]:
    return {
        p.candidate.domain: (p.candidate.balancer, p.candidate.plone_path, p.candidate.tls, p.candidate.https_redirect)
        for p in plan.sites
    }


def test_the_corpus_has_at_least_twelve_trees_each_with_its_origin_in_the_readme():
    readme = (CORPUS / "README.md").read_text()
    assert len(TREES) >= 12
    for name in TREES:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize("name", TREES)
def test_every_tree_is_read_and_no_directive_is_lost(name):
    plan = preview(name)
    counted = len(plan.unrecognised) + len(plan.ignored) + len(plan.translated)
    assert counted > 0
    for item in plan.unrecognised:
        assert item.why and item.line > 0, item  # each with its reason, file and line


# (tree, {domain: (balancer, plone path, tls, https_redirect)}, options by domain)
EXPECTED = [
    ("01-plone-docs-localhost", {"yoursite.com": ("localhost", "/Plone", None, None)}, {}),
    ("02-eea-cache-port", {"www.eea-example.org": ("localhost", "/www", None, None)}, {}),
    ("03-codesyntax-deflate-redirect", {"www.cs-example.eus": ("127-0-0-1-8080", "/Plone", None, None)}, {}),
    ("04-codesyntax-ssl-twin", {}, {}),  # no certificate files in the tree as committed: left out
    ("05-isotoma-ssl-rewrite-twin", {}, {}),
    (
        "06-plone-docs-proxypass-balancer",
        {"production.yourorganization.org": ("lbyourorganization", "/yourorganization_plone_site", None, None)},
        {},
    ),
    ("07-routeid-sticky-balancer", {"demo.example.ch": ("plone", "/Plone", None, None)}, {}),
    ("08-plone-kb-vh-subpath", {}, {}),
    (
        "09-betabug-exclusions",
        {"www.betabug-example.ch": ("127-0-0-1-8080", "/site", None, None)},
        # `!^/(stats|manual)` is a prefix: each name and everything under it (the validators sort the list)
        {"www.betabug-example.ch": {"passthrough_paths": ["/icons/", "/manual", "/manual/", "/stats", "/stats/"]}},
    ),
    (
        "10-freia-manage-block",
        {"intranet.freia-example.jp": ("zope", "/intranet", None, None)},
        {
            "intranet.freia-example.jp": {
                "manage_access": "blocked",
                "blocked_methods": [
                    "PUT",
                    "DELETE",
                    "PROPFIND",
                    "PROPPATCH",
                    "MKCOL",
                    "COPY",
                    "MOVE",
                    "LOCK",
                    "UNLOCK",
                ],
            }
        },
    ),
    (
        "11-codesyntax-edit-host",
        {"www.complex-example.eus": ("127-0-0-1-8080", "/Plone", None, None)},
        {"www.complex-example.eus": {"edit_host": "edit.complex-example.eus"}},
    ),
    ("12-isotoma-basic-auth", {"staging.example.com": ("localhost", "/portal", None, None)}, {}),
    ("13-shared-hoster-htaccess", {}, {}),
    (
        "14-volto-node-and-varnish",
        {
            "cached.example.org": ("127-0-0-1-6081", "/Plone", None, None),
            "volto.example.org": ("127-0-0-1-8080", "/Plone", None, None),  # a Volto site (test_volto.py)
        },
        {},
    ),
    ("15-debian-stock-noise", {"plone.example.com": ("127-0-0-1-8080", "/Plone", None, None)}, {}),
]


@pytest.mark.parametrize(("name", "sites", "options"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_each_tree_becomes_these_sites_and_options(name, sites, options):
    plan = preview(name)
    assert sites_of(plan) == sites
    assert {p.candidate.domain: p.candidate.options for p in plan.sites if p.candidate.options} == options
    assert not plan.blocked, [*plan.errors, *plan.blocking_conflicts]


def test_a_direct_zope_target_is_a_one_member_balancer_named_after_the_zope_server():
    plan = preview("15-debian-stock-noise")
    (server,) = plan.zope_servers
    (balancer,) = plan.balancers
    (member,) = plan.members
    assert (server.candidate.host, server.candidate.port, server.candidate.name) == (
        "127.0.0.1",
        8080,
        "127-0-0-1-8080",
    )
    assert (balancer.action, balancer.candidate.name, balancer.candidate.direct) == ("create", "127-0-0-1-8080", True)
    assert (member.candidate.balancer, member.candidate.server) == ("127-0-0-1-8080", "127-0-0-1-8080")
    assert not [
        p for p in plan.warnings if p.code in ("no-sticky-cookie", "not-sticky")
    ]  # one member: nothing to stick


def test_an_existing_balancer_whose_only_member_is_that_zope_is_used_instead(actor):
    zope = ZopeServer.objects.create(name="zope1", host="127.0.0.1", port=8080)
    gold = Balancer.objects.create(name="gold", lbmethod="bybusyness")
    BalancerMember.objects.create(balancer=gold, zope_server=zope)
    plan = preview("15-debian-stock-noise")
    assert [(p.action, p.candidate.name) for p in plan.balancers] == [("match", "gold")]
    assert sites_of(plan) == {"plone.example.com": ("gold", "/Plone", None, None)}
    assert any(p.code == "direct-balancer" and "gold" in p.message for p in plan.warnings)
    import_apply(plan, actor=actor, accept_warnings=True)
    assert Site.objects.get(domain="plone.example.com").balancer == gold
    assert Balancer.objects.count() == 1 and BalancerMember.objects.count() == 1


def test_stock_server_level_directives_are_classified_alike_and_include_dev_null_is_accepted():
    plan = preview("15-debian-stock-noise")
    ignored = {i.text.split()[0]: i.why for i in plan.ignored}
    assert ignored["MinSpareServers"] == ignored["MaxSpareServers"] == ignored["StartServers"] == "server-level"
    assert not [u for u in plan.unrecognised if "SpareServers" in u.text]
    assert "conf-enabled/localized-error-pages.conf" in plan.files  # its `Include /dev/null` read as nothing


def test_a_line_apache_refuses_in_a_vhost_is_flagged_as_such(recognised):
    r = recognised(
        "<VirtualHost *:80>\n    ServerAlias *\n    ServerRoot /var/www\n    ServerSignature On\n</VirtualHost>\n"
    )
    (problem,) = [p for p in r.problems if p.code == "configtest"]
    assert problem.line == 3 and "`apache2 -t` rejects this line: ServerRoot" in problem.message


def test_authentication_in_front_of_plone_is_reported_per_directive_with_the_reason():
    plan = preview("12-isotoma-basic-auth")
    auth = [u for u in plan.unrecognised if u.text.split()[0] in ("AuthType", "AuthName", "AuthUserFile", "Require")]
    assert [u.line for u in auth] == [7, 8, 9, 10]
    assert {u.why for u in auth} == {
        "authentication in front of Plone is not managed by HostPanel: the site would become public"
    }
    assert any(p.code == "auth-dropped" for p in plan.warnings)


def test_a_sub_path_mount_and_a_htaccess_docroot_are_reported_not_imported():
    vh = preview("08-plone-kb-vh-subpath")
    assert any("mounted under a sub-path" in u.why and "_vh_foo" in u.why for u in vh.unrecognised)
    htaccess = preview("13-shared-hoster-htaccess")
    assert [p.code for p in htaccess.warnings] == ["htaccess"]
    assert len(htaccess.recognition.proxying) == 1  # counted as a vhost that may proxy


def test_a_node_frontend_is_imported_as_a_node_js_server_not_as_a_zope_server():
    plan = preview("14-volto-node-and-varnish")
    kinds = {p.candidate.port: p.candidate.kind for p in plan.zope_servers}
    assert kinds == {3000: "node", 8080: "zope", 6081: "zope"}  # Node's 3000; Zope's API; the cache before Zope
    other = preview("21-frontend-only-pool")  # a proxy to a server nobody says is a Plone frontend
    assert any("not to a Zope VirtualHostMonster path" in u.why for u in other.unrecognised)


def test_a_zope_root_site_is_left_out_and_the_other_site_of_the_tree_is_imported(actor):
    plan = preview("10-freia-manage-block")
    assert [(s.domain, s.reasons) for s in plan.skipped] == [
        ("www.freia-example.jp", ("its VirtualHostMonster rule serves the Zope root, not a Plone site",))
    ]
    assert [p.candidate.name for p in plan.balancers] == ["zope"]  # the left-out site's balancer is not made
    result = import_apply(plan, actor=actor, accept_warnings=True)
    assert list(Site.objects.values_list("domain", flat=True)) == ["intranet.freia-example.jp"]
    assert result.audit_entry.after["sites_left_out"][0]["domain"] == "www.freia-example.jp"
    assert "intranet.freia-example.jp: manage_access=blocked" in result.audit_entry.after["site_options"]
    site = Site.objects.get()  # the extra rules are the site's structured options now
    assert (site.manage_access, site.blocked_methods) == (
        "blocked",
        ["PUT", "DELETE", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK"],
    )
    again = preview("10-freia-manage-block")  # the same options in the panel: a match, not a conflict
    assert again.conflicts == [] and not again.creates_anything


def test_a_hand_written_option_the_validators_refuse_leaves_only_that_site_out(tree, actor):
    vhost = (
        "<VirtualHost *:80>\n ServerName {d}.example\n RewriteEngine On\n{extra}"
        " RewriteRule ^/(.*) http://127.0.0.1:8080/VirtualHostBase/http/%{{SERVER_NAME}}:80/plone/{d}"
        "/VirtualHostRoot/$1 [L,P]\n</VirtualHost>\n"
    )
    refuse_get = " RewriteCond %{REQUEST_METHOD} ^(GET|PUT)$\n RewriteRule .* - [F]\n"
    root = tree({"apache2.conf": vhost.format(d="a", extra=refuse_get) + vhost.format(d="b", extra="")})
    plan = import_preview(root)
    assert not plan.blocked and plan.errors == []
    (skipped,) = plan.skipped
    assert skipped.domain == "a.example"
    assert skipped.reasons == (
        "its site option blocked_methods (GET,PUT) is refused: GET cannot be blocked: choose among PUT, DELETE, "
        "PATCH, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK, OPTIONS, TRACE.",
    )
    import_apply(plan, actor=actor, accept_warnings=True)
    assert list(Site.objects.values_list("domain", flat=True)) == ["b.example"]


def test_a_site_conflict_leaves_only_that_site_out(tree, actor):
    other = Balancer.objects.create(name="silver")
    Site.objects.create(domain="a.example", balancer=other, plone_path="/plone/other")
    root = tree(
        {
            "apache2.conf": "".join(
                f"<VirtualHost *:80>\n ServerName {d}.example\n RewriteEngine On\n"
                f" RewriteRule ^/(.*) http://127.0.0.1:8080/VirtualHostBase/http/%{{SERVER_NAME}}:80/plone/{d}"
                "/VirtualHostRoot/$1 [L,P]\n</VirtualHost>\n"
                for d in ("a", "b")
            )
        }
    )
    plan = import_preview(root)
    assert not plan.blocked and [c.kind for c in plan.conflicts] == ["site"]
    assert [s.domain for s in plan.skipped] == ["a.example"]
    assert "balancer silver -> 127-0-0-1-8080" in plan.skipped[0].reasons[0]
    import_apply(plan, actor=actor, accept_warnings=True)
    assert Site.objects.get(domain="b.example").plone_path == "/plone/b"
    assert Site.objects.get(domain="a.example").balancer == other  # untouched


# --- HTTPS: the certificate and key imported from the tree -----------------------------------------------


def test_an_https_site_and_its_redirect_twin_import_as_tls_custom_with_the_certificate_stored_encrypted(
    tmp_path, tls_pki, actor
):
    plan = import_preview(https_tree(tmp_path, tls_pki))
    assert sites_of(plan) == {"www.ssl-example.eus": ("127-0-0-1-8080", "/Plone", "custom", True)}
    assert any("the redirect to https of site www.ssl-example.eus" in t.as_ for t in plan.translated)
    result = import_apply(plan, actor=actor, accept_warnings=True)
    site = Site.objects.get(domain="www.ssl-example.eus")
    assert (site.tls, site.https_redirect) == ("custom", True)
    certificate = Certificate.objects.get(site=site)
    key_text = (tmp_path / "04-codesyntax-ssl-twin" / "ssl" / "www.ssl-example.eus.key").read_text()
    assert "PRIVATE KEY" not in certificate.private_key_encrypted  # encrypted at rest
    assert decrypt_secret(certificate.private_key_encrypted).decode().strip() == key_text.strip()
    assert result.created["certificates"] == 1


def test_an_https_site_whose_key_is_missing_is_left_out_not_a_crash(tmp_path, tls_pki):
    root = https_tree(tmp_path, tls_pki)
    (root / "ssl" / "www.ssl-example.eus.key").unlink()
    plan = import_preview(root)
    (skipped,) = plan.skipped
    assert "www.ssl-example.eus.key cannot be read" in skipped.reasons[0]
    assert not plan.blocked and plan.sites == []


def test_a_certificate_for_other_names_is_refused_like_an_upload(tmp_path, tls_pki):
    root = https_tree(tmp_path, tls_pki)
    cert, key = pki.leaf(tls_pki.intermediate, ["other.example"])
    (root / "ssl" / "www.ssl-example.eus.crt").write_text(pki.pem(cert))
    (root / "ssl" / "www.ssl-example.eus.key").write_text(pki.key_pem(key))
    (skipped,) = import_preview(root).skipped
    assert "is refused" in skipped.reasons[0]


# --- the equivalence check: honest counts ---------------------------------------------------------------


def test_nothing_recognised_is_never_called_equivalent():
    report = check_equivalence(import_preview(MappingSource({"apache2.conf": b"Listen 80\n"})))
    assert not report.equivalent and report.nothing_to_compare
    assert report.headline() == "nothing to compare: no site recognised (NOT equivalent)"
    assert report.difference_count == 1  # holds a deploy


def test_a_proxying_vhost_that_is_not_imported_is_a_difference_without_running_apache():
    report = check_equivalence(preview("08-plone-kb-vh-subpath"))
    assert not report.equivalent and not report.nothing_to_compare
    (left,) = report.left_out
    assert "www.example.org" in left.differences[0] and "not imported" in left.differences[0]
    assert report.headline() == "0 of 1 vhosts equivalent: NOT equivalent"


# (tree, equivalent?, N of M): each shape through real Apache, old config vs HostPanel's rendering
SHAPES = [
    ("01-plone-docs-localhost", True, (1, 1)),  # VHM straight to localhost:8080
    ("02-eea-cache-port", True, (1, 1)),  # to a cache port (Pound) in front of Zope
    ("03-codesyntax-deflate-redirect", False, (1, 1)),  # %{HTTP_HOST}; the www redirect vhost is not a site
    # ProxyPass to a balancer inside the vhost: the members' trailing slash (http://127.0.0.1:13001/) makes Zope
    # get //VirtualHostBase/... today; HostPanel sends /VirtualHostBase/...: a real difference, reported
    ("06-plone-docs-proxypass-balancer", False, (0, 1)),
    ("07-routeid-sticky-balancer", True, (1, 1)),  # ROUTEID idiom, stickysession
    ("08-plone-kb-vh-subpath", False, (0, 1)),  # _vh_ mount: not imported, so a difference
    ("09-betabug-exclusions", True, (1, 1)),  # pass-through paths: structured options, served by Apache on both
    # the Zope-root site left out; the management interface is refused (403) on both, but the blocked methods are
    # 403 today and 405 from HostPanel: a status that differs is a difference (an operator may accept it)
    ("10-freia-manage-block", False, (0, 2)),
    # the edit host is restricted to 192.0.2.0/24 today, HostPanel keeps it to HOSTPANEL_STAFF_NETWORKS
    # (127.0.0.1 is refused today and let through by HostPanel); it also went to another Zope (port 8090)
    ("11-codesyntax-edit-host", False, (0, 2)),
    ("12-isotoma-basic-auth", False, (0, 1)),  # 401 today, public in HostPanel's config
    ("13-shared-hoster-htaccess", False, (0, 1)),  # may proxy through .htaccess: not read
    # the Volto vhost: `ProxyPass /++api++ .../VirtualHostRoot/` sends Zope VirtualHostRoot//path today, HostPanel one /
    ("14-volto-node-and-varnish", False, (1, 2)),
    ("15-debian-stock-noise", True, (1, 1)),  # stock Debian noise around a direct VHM vhost
]


@pytest.mark.real
@pytest.mark.parametrize(("name", "equivalent", "count"), SHAPES, ids=[s[0] for s in SHAPES])
def test_each_shape_through_the_equivalence_check_on_real_apache(name, equivalent, count):
    require_binary("apache2")
    report = check_equivalence(preview(name))
    assert not report.error, report.error
    assert report.equivalent == equivalent, [c.differences for c in report.differing]
    assert (report.vhosts_equivalent, len(report.vhosts)) == count, report.vhosts


@pytest.mark.real
def test_the_trailing_slash_difference_of_tree_06_is_the_path_zope_gets():
    require_binary("apache2")
    report = check_equivalence(preview("06-plone-docs-proxypass-balancer"))
    differences = [d for c in report.differing for d in c.differences]
    assert any(
        "Zope gets the path //VirtualHostBase/http/production.yourorganization.org:80/" in d for d in differences
    )


def differences_of(report) -> list[str]:
    return [d for c in report.differing for d in c.differences]


@pytest.mark.real
def test_the_options_of_tree_10_are_compared_and_only_the_method_status_differs():
    require_binary("apache2")
    report = check_equivalence(preview("10-freia-manage-block"))
    differences = [d for d in differences_of(report) if d.startswith("intranet.")]
    assert len(differences) == 9, differences  # one per blocked method, and nothing about /manage_main
    assert all(
        "today answered 403 by Apache itself (no Zope server reached), HostPanel's config answered 405" in d
        for d in differences
    )
    assert "intranet.freia-example.jp, method PUT (PUT /hostpanel-check/" in differences[0]


@pytest.mark.real
def test_an_edit_host_kept_to_other_networks_than_the_staff_networks_is_a_difference(settings):
    require_binary("apache2")
    settings.HOSTPANEL_STAFF_NETWORKS = ("127.0.0.0/8", "::1/128")
    differences = differences_of(check_equivalence(preview("11-codesyntax-edit-host")))
    assert (
        "edit.complex-example.eus: restricted today to the networks 192.0.2.0/24; HostPanel keeps an edit host to "
        "its staff networks (HOSTPANEL_STAFF_NETWORKS: 127.0.0.0/8 ::1/128) instead" in differences[-1]
    )
    assert any(
        d.startswith("edit.complex-example.eus, edit host (GET /hostpanel-check/")
        and "today answered 403 by Apache itself" in d
        for d in differences
    ), differences


@pytest.mark.real
def test_an_option_the_old_config_does_not_apply_shows_as_a_difference():
    """The option probes decide, on both sides: a pass-through path or a management block HostPanel's config
    would apply and the old one does not (its rule taken out of the tree) is a difference."""
    require_binary("apache2")
    files = {
        p.relative_to(CORPUS / "09-betabug-exclusions").as_posix(): p
        for p in (CORPUS / "09-betabug-exclusions").rglob("*")
        if p.is_file()
    }
    mapping = {path: f.read_bytes() for path, f in files.items()}
    vhost = "sites-enabled/www.betabug-example.ch.conf"
    mapping[vhost] = mapping[vhost].replace(b"RewriteRule ^/icons/ - [L]", b"")
    plan = import_preview(MappingSource(mapping))
    options = plan.sites[0].candidate.options
    options["passthrough_paths"] = sorted([*options["passthrough_paths"], "/icons/"])  # as the plan normalises
    report = check_equivalence(plan)
    assert not report.error, report.error
    differences = differences_of(report)
    assert any(
        d.startswith("www.betabug-example.ch, pass-through /icons/ (GET /icons/hostpanel-check/")
        and "today 127-0-0-1-8080, HostPanel's config answered 404 by Apache itself" in d
        for d in differences
    ), differences
    no_rule = "".join(line for line in REDIRECTED_MANAGE.splitlines(keepends=True) if "manage" not in line)
    plan = import_preview(MappingSource({"apache2.conf": no_rule.encode()}))
    plan.sites[0].candidate.options["manage_access"] = "blocked"
    differences = differences_of(check_equivalence(plan))
    assert any(
        "management interface (GET /hostpanel-check/" in d
        and "today 127-0-0-1-8080, HostPanel's config answered 403" in d
        for d in differences
    ), differences


REDIRECTED_MANAGE = """Listen 80
<VirtualHost *:80>
    ServerName www.a.example
    RewriteEngine On
    RewriteRule ^/(.*/)?manage(_.*)?$ http://edit.a.example/$1manage$2 [R,L]
    RewriteRule ^/(.*) http://127.0.0.1:8080/VirtualHostBase/http/%{SERVER_NAME}:80/Plone/VirtualHostRoot/$1 [L,P]
</VirtualHost>
"""


@pytest.mark.real
def test_a_management_interface_redirected_to_an_edit_host_is_not_hostpanel_s_403():
    require_binary("apache2")
    plan = import_preview(MappingSource({"apache2.conf": REDIRECTED_MANAGE.encode()}))
    assert any("the management interface sent to http://edit.a.example/" in u.why for u in plan.unrecognised)
    report = check_equivalence(plan)  # not imported: HostPanel's config proxies it to Zope
    assert any("management interface" in d and "today answered 302" in d for d in differences_of(report))
    plan.sites[0].candidate.options["manage_access"] = "blocked"  # as an operator would set it
    report = check_equivalence(plan)
    assert not report.equivalent
    assert any(
        "management interface" in d and "today answered 302 by Apache itself" in d and "answered 403" in d
        for d in differences_of(report)
    ), differences_of(report)


@pytest.mark.real
def test_an_import_with_a_left_out_proxying_vhost_is_not_equivalent_and_holds_the_deploy(tmp_path):
    require_binary("apache2")
    frontend = make_local_frontend(tmp_path)
    report = import_check_equivalence(preview("22-volto-bad-shapes"), actor=ACTOR, frontend=frontend)
    assert not report.equivalent
    assert {c.domain for c in report.left_out} == {"late-api.example.org", "split.example.org"}
    assert import_holds()[frontend.name].differences == report.difference_count > 0


@pytest.mark.real
def test_an_imported_https_site_is_served_over_https_by_hostpanel_with_the_imported_certificate(
    farm, test_pki, secrets_key, settings, tmp_path
):
    """The HTTPS shape (tree 04) pointed at the farm's balancer: imported with its certificate from the tree,
    deployed over SSH to real Apaches, and answered over HTTPS (SNI, chain verified) with that certificate."""
    settings.HOSTPANEL_AUTO_DEPLOY = False
    root = https_tree(tmp_path, test_pki)
    conf = root / "sites-enabled" / "www.ssl-example.eus.conf"
    conf.write_text(
        conf.read_text().replace(
            "http://127.0.0.1:8080/VirtualHostBase", f"balancer://{farm.balancer.name}/VirtualHostBase"
        )
    )
    plan = import_preview(root)
    assert sites_of(plan) == {"www.ssl-example.eus": (farm.balancer.name, "/Plone", "custom", True)}
    import_apply(plan, actor=ACTOR, accept_warnings=True)
    deployment = deployment_start(actor=ACTOR)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.SUCCEEDED, deployment.message
    imported = x509.load_pem_x509_certificate((root / "ssl" / "www.ssl-example.eus.crt").read_bytes())
    for host in farm.hosts:
        seen = https_get(host.https_port, "www.ssl-example.eus", root_pem=test_pki.root_pem)
        assert seen.status == 200 and seen.serial == imported.serial_number, host.apache.error_log()[-2000:]
        assert json.loads(seen.body)["path"].startswith("/VirtualHostBase/https/www.ssl-example.eus:443/Plone/")


def test_certificate_files_outside_the_root_are_read_over_ssh_only_from_the_tls_directories(
    ssh_frontend, tmp_path, test_pki
):
    """--frontend: /etc/ssl/private/... style files are fetched over the transport, only those the vhost names
    and only under the TLS directories; a path elsewhere stays unread (its site left out, with the reason)."""
    ssl = tmp_path / "ssl"
    ssl.mkdir()
    cert, key = pki.leaf(test_pki.intermediate, ["www.ssl-example.eus"])
    (ssl / "site.crt").write_text(pki.pem(cert))
    (ssl / "site.key").write_text(pki.key_pem(key))
    (tmp_path / "elsewhere.key").write_text(pki.key_pem(key))
    root = https_tree(tmp_path / "tree", test_pki)
    conf = root / "sites-enabled" / "www.ssl-example.eus.conf"
    text = conf.read_text().replace("/etc/apache2/ssl/www.ssl-example.eus.crt", f"{ssl}/site.crt")
    conf.write_text(text.replace("/etc/apache2/ssl/www.ssl-example.eus.key", f"{tmp_path}/elsewhere.key"))
    tree = read_config(DirectorySource(root))
    assert "outside the config root" in tree.certificates[f"{ssl}/site.crt"].error
    transport = open_transport(ssh_frontend())
    try:
        fetch_certificates(transport, tree, dirs=(f"{ssl}/",))
    finally:
        transport.close()
    assert tree.certificates[f"{ssl}/site.crt"].text == pki.pem(cert)
    assert tree.certificates[f"{tmp_path}/elsewhere.key"].text is None
    assert "not read" in tree.certificates[f"{tmp_path}/elsewhere.key"].error


def vhost(*lines: str, name: str = "a.example") -> str:
    body = "".join(f"    {line}\n" for line in lines)
    return f"<VirtualHost *:80>\n    ServerName {name}\n    RewriteEngine On\n{body}</VirtualHost>\n"


VHM = "http://127.0.0.1:8080/VirtualHostBase/http/%{SERVER_NAME}:80/plone/a/VirtualHostRoot/"


def test_the_root_url_twin_before_the_catch_all_is_read_as_the_same_rule(recognised):
    r = recognised(vhost(f"RewriteRule ^$ {VHM} [L,P]", f"RewriteRule ^/(.*) {VHM}$1 [L,P]"))
    assert [(s.domain, s.plone_path) for s in r.sites] == [("a.example", "/plone/a")]
    assert r.unrecognised == []


def test_a_plone_path_captured_from_the_host_name_is_reported_not_an_invalid_site(recognised):
    r = recognised(
        vhost(
            r"RewriteCond %{HTTP_HOST} ^([a-z]+)\.example\.org$",
            "RewriteRule ^/(.*) http://127.0.0.1:8080/VirtualHostBase/http/%{HTTP_HOST}:80/sites/%1"
            "/VirtualHostRoot/$1 [L,P]",
        )
    )
    assert r.sites == [] and not [p for p in r.problems if p.severity == "error"]
    assert any("built from the request" in u.why and "%1" in u.why for u in r.unrecognised)


def test_stickysession_on_proxypass_is_the_balancer_s_cookie(recognised):
    r = recognised(
        "<Proxy balancer://plone>\n    BalancerMember http://127.0.0.1:8081 route=a\n"
        "    BalancerMember http://127.0.0.1:8082 route=b\n</Proxy>\n"
        + "<VirtualHost *:80>\n    ServerName a.example\n"
        "    ProxyPass / balancer://plone/VirtualHostBase/http/a.example:80/plone/a/VirtualHostRoot/ "
        "stickysession=JSESSIONID|jsessionid\n</VirtualHost>\n"
    )
    assert [(s.domain, s.balancer) for s in r.sites] == [("a.example", "plone")]
    assert [b.sticky_cookie for b in r.balancers] == ["JSESSIONID"]


@pytest.mark.real
@pytest.mark.parametrize(
    ("name", "domain"),
    [("04-codesyntax-ssl-twin", "www.ssl-example.eus"), ("05-isotoma-ssl-rewrite-twin", "www.example.com")],
)
def test_an_https_site_and_its_redirect_twin_are_compared_over_tls_on_real_apache(tmp_path, tls_pki, name, domain):
    """HostPanel's side answers over TLS with the imported certificate; the old HTTPS vhost runs as plain
    HTTP in the throwaway copy (its SSL directives are not on the allowlist); the port-80 twins compared."""
    require_binary("apache2")
    report = check_equivalence(import_preview(https_tree(tmp_path, tls_pki, name=name, domain=domain)))
    assert not report.error, report.error
    assert report.equivalent, [c.differences for c in report.differing]
    (check,) = report.sites
    assert any(label.startswith(domain) for label in check.names)
    assert report.requests >= 4 and report.headline() == "2 of 2 vhosts equivalent"  # the HTTPS vhost and its twin


def test_include_dev_null_reads_as_nothing_and_a_vhost_with_only_aliases_takes_its_first_alias(recognised):
    r = recognised(
        "Include /dev/null\n<VirtualHost *>\n    ServerAlias yoursite.com www.yoursite.com\n    RewriteEngine on\n"
        f"    RewriteRule ^/(.*) {VHM}$1 [P,L]\n</VirtualHost>\n"
    )
    assert [(s.domain, [a for a, _ in s.aliases]) for s in r.sites] == [("yoursite.com", ["www.yoursite.com"])]


def test_a_key_outside_the_config_root_of_an_archive_leaves_its_site_out_with_the_reason(tmp_path, tls_pki):
    root = https_tree(tmp_path, tls_pki)
    conf = root / "sites-enabled" / "www.ssl-example.eus.conf"
    conf.write_text(conf.read_text().replace("/etc/apache2/ssl/www.ssl-example.eus.key", "/etc/ssl/private/x.key"))
    (skipped,) = import_preview(root).skipped
    assert "/etc/ssl/private/x.key cannot be read (outside the config root /etc/apache2)" in skipped.reasons[0]


def test_members_ending_in_a_slash_behind_proxypass_are_a_warning():
    (warning,) = [p for p in preview("06-plone-docs-proxypass-balancer").warnings if p.code == "member-slash"]
    assert "//VirtualHostBase" in warning.message and warning.line == 32
