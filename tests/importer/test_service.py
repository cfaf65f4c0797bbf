"""import_preview / import_apply against the database: the seed (2.2 and 2.4), a generated 300-site
config, HostPanel's own rendered trees, hostile content, conflicts, idempotence and the single audit entry."""

import pytest

from balancers.models import BALANCER_SETTINGS, MEMBER_SETTINGS, Balancer, BalancerMember, Deployment, ZopeServer
from devrig.handwritten import handwritten_tree, write_tree
from hostpanel.models import AuditEntry
from importer.reader import MappingSource
from importer.service import AUDIT_ACTION, ImportRefused, import_apply, import_preview
from importer.tokenizer import ConfigRefused
from sites.models import Site, SiteAlias
from tests.samples import GOLDEN

pytestmark = pytest.mark.django_db


def state() -> dict:
    return {
        "servers": sorted(ZopeServer.objects.values_list("name", "host", "port")),
        "balancers": sorted(Balancer.objects.values_list("name", *BALANCER_SETTINGS)),
        "members": sorted(BalancerMember.objects.values_list("balancer__name", "zope_server__name", *MEMBER_SETTINGS)),
        "sites": sorted(
            Site.objects.values_list(
                "domain",
                "balancer__name",
                "plone_path",
                "manage_access",
                "blocked_methods",
                "passthrough_paths",
                "edit_host",
            )
        ),
        "aliases": sorted(SiteAlias.objects.values_list("site__domain", "name")),
    }


def nothing_imported() -> bool:
    return not (ZopeServer.objects.exists() or Balancer.objects.exists() or Site.objects.exists()) and not (
        AuditEntry.objects.filter(action=AUDIT_ACTION).exists()
    )


def test_the_seed_as_written_previews_its_typos_and_imports_only_when_they_are_accepted(seed22, actor):
    plan = import_preview(seed22)
    assert plan.counts()["sites"] == {"create": 1, "match": 0}
    assert [(p.code, f"{p.file}:{p.line}") for p in plan.warnings] == [
        ("syntax", "httpd.conf:16"),
        ("duplicate-member", "httpd.conf:19"),
        ("undefined-node", "httpd.conf:20"),
        ("rewrite-engine-off", "sites-enabled/linux.co.uk:1"),
    ]
    assert not plan.blocked
    with pytest.raises(ImportRefused) as refused:
        import_apply(plan, actor=actor)
    assert any(r.startswith("httpd.conf:19: member http://node1 route=zope2") for r in refused.value.reasons)
    assert nothing_imported()

    result = import_apply(plan, actor=actor, accept_warnings=True)
    assert result.created == {"zope_servers": 2, "balancers": 1, "members": 2, "sites": 1, "aliases": 0}
    assert state()["servers"] == [("zope1", "zope1", 8080), ("zope2", "zope2", 8080)]
    assert state()["balancers"] == [
        ("bronze", "byrequests", "BALANCEID", 72000, False, 2, 20, "/ERROR_503.html", "node-vhosts")
    ]
    assert state()["members"] == [
        ("bronze", "zope1", 1, 1, 1, 6, 6, 10, 60, False, False, False),
        ("bronze", "zope2", 1, 1, 1, 6, 6, 10, 60, False, False, False),
    ]
    assert state()["sites"] == [("linux.co.uk", "bronze", "/plone/linux", "public", [], [], "")]
    (entry,) = AuditEntry.objects.filter(action=AUDIT_ACTION)
    assert (entry.action, entry.actor, entry.after["created"]["sites"]) == (AUDIT_ACTION, "tester", 1)
    assert len(entry.after["warnings_accepted"]) == 4


def test_importing_twice_creates_nothing_new_and_audits_once(seed24, actor):
    first = import_apply(import_preview(seed24), actor=actor)
    assert first.created == {"zope_servers": 3, "balancers": 1, "members": 3, "sites": 1, "aliases": 1}
    entries = AuditEntry.objects.count()  # the import, and each imported object's first history entry
    assert entries == 1 + 3 + 1 + 3 + 1
    before = state()
    again = import_preview(seed24)
    assert not again.creates_anything and not again.conflicts
    assert again.counts()["sites"] == {"create": 0, "match": 1}
    second = import_apply(again, actor=actor)
    assert set(second.created.values()) == {0} and second.audit_entry is None
    assert state() == before
    assert AuditEntry.objects.count() == entries


def test_the_seed_for_24_imports_cleanly_in_node_vhosts_mode(seed24, actor):
    plan = import_preview(seed24)
    assert plan.problems == [] and plan.conflicts == []
    import_apply(plan, actor=actor)
    assert ("bronze", "backup", 2, 1, 1, 4, 4, 10, 60, True, False, False) in state()["members"]
    assert state()["aliases"] == [("linux.co.uk", "www.linux.co.uk")]
    assert Balancer.objects.get().render_mode == "node-vhosts"


def test_one_automatic_deployment_is_requested_for_the_whole_import(tmp_path, actor, settings):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    result = import_apply(import_preview(write_tree(handwritten_tree(30), tmp_path)), actor=actor)
    assert result.deployment is not None
    assert Deployment.objects.count() == 1


def test_a_generated_300_site_hand_written_config_imports_from_a_directory(tmp_path, actor):
    root = write_tree(handwritten_tree(300), tmp_path)
    plan = import_preview(root)
    assert plan.problems == [] and plan.unrecognised == []
    result = import_apply(plan, actor=actor)
    assert result.created == {"zope_servers": 4, "balancers": 3, "members": 9, "sites": 300, "aliases": 100}
    assert Site.objects.get(domain="client0042.example.com").plone_path == "/plone/client0042"
    assert AuditEntry.objects.filter(action=AUDIT_ACTION).count() == 1
    imported = AuditEntry.objects.get(action="site.import", object_key="client0042.example.com")
    assert imported.after["imported_from"] == plan.source and imported.after["plone_path"] == "/plone/client0042"
    assert not import_preview(root).creates_anything


def golden_source(mode: str) -> MappingSource:
    golden = GOLDEN / mode
    files = {f"hostpanel/{p.relative_to(golden).as_posix()}": p.read_bytes() for p in golden.rglob("*") if p.is_file()}
    files["apache2.conf"] = b"Listen 80\nInclude hostpanel/hostpanel.conf\n"
    return MappingSource(files, label=f"golden/{mode}")


def demo_in_mode(mode: str) -> dict:
    for balancer in Balancer.objects.all():
        balancer.render_mode = mode
        balancer.save()
    expected = state()
    Site.objects.all().delete()
    BalancerMember.objects.all().delete()
    Balancer.objects.all().delete()
    return expected


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_hostpanel_s_own_rendered_tree_imports_back_into_the_same_data(demo, actor, mode):
    """The golden trees are what the demo data renders to: imported, they give the demo data back."""
    expected = demo_in_mode(mode)
    plan = import_preview(golden_source(mode))
    assert plan.problems == [] and plan.unrecognised == [], (plan.problems, plan.unrecognised)
    import_apply(plan, actor=actor)
    assert state() == expected


def test_into_an_empty_panel_only_a_routeless_member_s_name_is_not_in_the_config(demo, actor):
    """Single pass renders a hot-standby member without a route, so its Zope server is named after its address;
    in node-vhosts mode the node's cookie still names it."""
    expected = demo_in_mode("node-vhosts")
    ZopeServer.objects.all().delete()
    import_apply(import_preview(golden_source("node-vhosts")), actor=actor)
    assert state() == expected
    Site.objects.all().delete()
    BalancerMember.objects.all().delete()
    Balancer.objects.all().delete()
    ZopeServer.objects.all().delete()
    import_apply(import_preview(golden_source("single-pass")), actor=actor)
    assert ("127-0-0-1-18103", "127.0.0.1", 18103) in state()["servers"]


@pytest.mark.parametrize(
    "server_name",
    ['"evil.example;rm -rf /"', "$(reboot).example", "a.example%{ENV:X}", "`id`.example", '"a.example>"', "a..example"],
)
def test_a_hostile_server_name_is_refused_with_file_and_line_and_nothing_is_imported(tmp_path, actor, server_name):
    files = handwritten_tree(3)
    files["sites-enabled/evil.conf"] = (
        f"<VirtualHost *:80>\n    ServerName {server_name}\n    RewriteEngine On\n"
        "    RewriteRule ^/(.*) balancer://bronze/VirtualHostBase/http/%{SERVER_NAME}:80/"
        "plone/x/VirtualHostRoot/$1 [L,P]\n"
        "</VirtualHost>\n"
    ).encode()
    plan = import_preview(write_tree(files, tmp_path))
    assert [(p.code, p.file, p.line) for p in plan.errors] == [("invalid", "sites-enabled/evil.conf", 2)]
    with pytest.raises(ImportRefused, match="sites-enabled/evil.conf:2"):
        import_apply(plan, actor=actor, accept_warnings=True)
    assert nothing_imported()


def test_a_hostile_alias_and_plone_path_are_refused_with_their_lines(tmp_path, actor):
    files = handwritten_tree(1)
    files["sites-enabled/evil.conf"] = (
        b"<VirtualHost *:80>\n    ServerName ok.example\n    ServerAlias *.ok.example\n    RewriteEngine On\n"
        b"    RewriteRule ^/(.*) balancer://bronze/VirtualHostBase/http/%{SERVER_NAME}:80/"
        b"plone/../etc/VirtualHostRoot/$1 [L,P]\n"
        b"</VirtualHost>\n"
    )
    plan = import_preview(write_tree(files, tmp_path))
    assert sorted((p.file, p.line) for p in plan.errors) == [
        ("sites-enabled/evil.conf", 3),
        ("sites-enabled/evil.conf", 5),
    ]
    with pytest.raises(ImportRefused):
        import_apply(plan, actor=actor, accept_warnings=True)
    assert nothing_imported()


def test_a_10_mb_line_is_refused_with_file_and_line_before_anything_is_planned(tmp_path):
    files = handwritten_tree(2)
    files["sites-enabled/huge.conf"] = (
        b"<VirtualHost *:80>\nServerName " + b"a" * 10_000_000 + b".example\n</VirtualHost>\n"
    )
    with pytest.raises(ConfigRefused) as refused:
        import_preview(write_tree(files, tmp_path))
    assert (refused.value.file, refused.value.line) == ("sites-enabled/huge.conf", 2)
    assert nothing_imported()


@pytest.mark.parametrize(
    ("extra", "file", "line", "words"),
    [
        ({"conf-enabled/loop.conf": b"Include conf-enabled/loop.conf\n"}, "conf-enabled/loop.conf", 1, "include loop"),
        (
            {"conf-enabled/out.conf": b"Listen 1\nInclude /etc/shadow\n"},
            "conf-enabled/out.conf",
            2,
            "outside the config root",
        ),
    ],
)
def test_include_loops_and_includes_outside_the_root_are_refused(tmp_path, extra, file, line, words):
    with pytest.raises(ConfigRefused, match=words) as refused:
        import_preview(write_tree(handwritten_tree(2) | extra, tmp_path))
    assert (refused.value.file, refused.value.line) == (file, line)
    assert nothing_imported()


def test_a_domain_that_exists_with_another_balancer_is_a_conflict(seed24, actor):
    other = Balancer.objects.create(name="silver")
    Site.objects.create(domain="linux.co.uk", balancer=other, plone_path="/plone/linux")
    plan = import_preview(seed24)
    (conflict,) = plan.conflicts
    assert (conflict.kind, conflict.file, conflict.line) == ("site", "sites-enabled/linux.co.uk.conf", 1)
    assert "balancer silver -> bronze" in conflict.message
    with pytest.raises(ImportRefused):
        import_apply(plan, actor=actor)
    assert not ZopeServer.objects.exists()


def test_a_zope_server_known_under_another_route_is_a_conflict(seed24):
    ZopeServer.objects.create(name="zopeA", host="zope1", port=8080)
    (conflict,) = import_preview(seed24).conflicts
    assert conflict.kind == "zope_server" and "'zopeA' in the panel but route 'zope1'" in conflict.message


def test_a_site_on_an_undefined_balancer_is_an_error(recognised):
    files = {
        "apache2.conf": b"<VirtualHost *:80>\nServerName a.example\nRewriteEngine On\n"
        b"RewriteRule ^/(.*) balancer://nowhere/VirtualHostBase/http/%{SERVER_NAME}:80/"
        b"plone/a/VirtualHostRoot/$1 [L,P]\n"
        b"</VirtualHost>\n"
    }
    plan = import_preview(MappingSource(files))
    assert [(p.code, p.line) for p in plan.errors] == [("unknown-balancer", 4)]


def test_a_plan_is_refused_when_the_panel_changed_since_the_preview(seed24, actor):
    plan = import_preview(seed24)
    ZopeServer.objects.create(name="zope1", host="zope1", port=8080)
    with pytest.raises(ImportRefused, match="changed since the preview"):
        import_apply(plan, actor=actor)
    assert ZopeServer.objects.count() == 1 and not Site.objects.exists()


HEALTH = ("health_path", "health_method", "health_interval", "health_passes", "health_fails")


def health_by_address() -> list[tuple]:
    return sorted(ZopeServer.objects.values_list("host", "port", *HEALTH))


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_a_tree_rendered_with_health_checks_imports_back_into_the_same_health_settings(demo, actor, mode):
    """tests/golden/hcheck-<mode>: the demo rendered for a front-end with mod_proxy_hcheck (zope2 HEAD /@@ok
    every 3 s, 2 passes, 4 fails; the others the defaults). Into the same panel: nothing differs; into an
    empty one: every Zope server is created with the health check its members carry."""
    ZopeServer.objects.filter(name="zope2").update(
        health_path="/@@ok", health_method="HEAD", health_interval=3, health_passes=2, health_fails=4
    )
    expected, health = demo_in_mode(mode), health_by_address()
    plan = import_preview(golden_source(f"hcheck-{mode}"))
    assert plan.problems == [] and plan.unrecognised == [] and plan.conflicts == [], plan.conflicts
    import_apply(plan, actor=actor)
    assert state() == expected and health_by_address() == health
    Site.objects.all().delete()
    BalancerMember.objects.all().delete()
    Balancer.objects.all().delete()
    ZopeServer.objects.all().delete()
    import_apply(import_preview(golden_source(f"hcheck-{mode}")), actor=actor)
    assert health_by_address() == health


def test_a_zope_server_whose_health_check_differs_in_the_panel_is_a_conflict(demo, actor):
    demo_in_mode("single-pass")
    ZopeServer.objects.filter(name="zope2").update(
        health_path="/@@ok", health_method="HEAD", health_interval=3, health_passes=2, health_fails=4
    )
    ZopeServer.objects.filter(name="zope1").update(health_path="/health")
    plan = import_preview(golden_source("hcheck-single-pass"))
    (conflict,) = plan.conflicts
    assert conflict.kind == "zope_server" and "health_path '/health' -> '/'" in conflict.message
