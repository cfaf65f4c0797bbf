"""HostPanel's own map routing imported back: routes.map groups as sites (through the plan's validation),
HTTPS vhosts, a bad line an error of its site only, collisions with hand-written vhosts, a missing map."""

import pytest

from importer.reader import MappingSource, read_config
from importer.service import ImportRefused, import_apply, import_preview
from rendering.routes import empty_overlay, full_map, split_map
from sites.models import Site, SiteStatus
from tests.samples import GOLDEN

pytestmark = pytest.mark.django_db

MAP = "hostpanel/routes.map"
EXTRA = (
    "# site ok.example\n"
    "ok.example live|bronze|/plone/ok|s|BALANCEID|1200\n"
    "# site evil.example\n"
    "evil.example live|bronze|/plone/evil|s|BALANCEID|1200\n"
    "www.evil.example live|bronze|/plone/evil|s|BALANCEID|1200\n"
)
EVIL_LINE = 9  # www.evil.example (the golden map has 4 lines before EXTRA)


def golden_files(mode: str = "single-pass") -> dict[str, bytes]:
    golden = GOLDEN / mode
    files = {f"hostpanel/{p.relative_to(golden).as_posix()}": p.read_bytes() for p in golden.rglob("*") if p.is_file()}
    files["apache2.conf"] = b"Listen 80\nInclude hostpanel/hostpanel.conf\nIncludeOptional hand/*.conf\n"
    return files


def preview(files: dict[str, bytes]):
    return import_preview(MappingSource(files, label="test"))


def with_map(extra: str, files: dict[str, bytes] | None = None) -> dict[str, bytes]:
    files = files or golden_files()
    files[MAP] += extra.encode()
    return files


def hand_vhost(server_name: str, alias: str = "") -> bytes:
    return (
        f"<VirtualHost *:80>\n    ServerName {server_name}\n"
        + (f"    ServerAlias {alias}\n" if alias else "")
        + "    RewriteEngine On\n"
        "    RewriteRule ^/(.*) balancer://bronze/VirtualHostBase/http/%{SERVER_NAME}:80/plone/hand/VirtualHostRoot/$1"
        " [L,P]\n</VirtualHost>\n"
    ).encode()


@pytest.mark.parametrize("mode", ["https-single-pass", "https-node-vhosts"])
def test_https_trees_give_each_site_once_suspended_and_redirect_states_kept(actor, mode):
    plan = preview(golden_files(mode))
    assert plan.unrecognised == []
    assert sorted(p.candidate.domain for p in plan.sites) == ["linux.co.uk", "suspended.example"]
    assert sorted((p.code, p.file) for p in plan.problems) == [
        ("certificate-not-imported", "hostpanel/sites/linux.co.uk.conf"),
        ("certificate-not-imported", "hostpanel/sites/suspended.example.conf"),
    ]
    import_apply(plan, actor=actor, accept_warnings=True)
    linux, suspended = Site.objects.order_by("domain")
    assert (linux.status, linux.https_redirect, [a.name for a in linux.aliases.all()]) == (
        SiteStatus.ACTIVE,
        True,
        ["www.linux.co.uk"],
    )
    assert (suspended.status, suspended.plone_path) == (SiteStatus.SUSPENDED, "/plone/suspended")
    assert not preview(golden_files(mode)).creates_anything


def test_the_map_s_sites_import_with_their_groups(actor):
    plan = preview(with_map(EXTRA + "# site off.example\noff.example suspended|silver|/plone/off|s|BALANCEID|1200\n"))
    assert plan.problems == [] and plan.unrecognised == [], (plan.problems, plan.unrecognised)
    import_apply(plan, actor=actor)
    assert sorted(Site.objects.values_list("domain", "balancer__name", "plone_path", "status")) == [
        ("evil.example", "bronze", "/plone/evil", "active"),
        ("linux.co.uk", "bronze", "/plone/linux", "active"),
        ("off.example", "silver", "/plone/off", "suspended"),
        ("ok.example", "bronze", "/plone/ok", "active"),
    ]
    assert list(Site.objects.get(domain="evil.example").aliases.values_list("name", flat=True)) == ["www.evil.example"]


@pytest.mark.parametrize(
    ("bad", "code", "says"),
    [
        ("www.evil.example live|bronze|/plone/evil|s|BALANCEID", "map-line", "5 fields"),
        ("www.evil.example owned|bronze|/plone/evil|s|BALANCEID|1200", "map-line", "state 'owned'"),
        ("www.evil.example live|bronze|/plone/evil|s|BALANCEID|1200 extra", "map-line", "3 words"),
        ("www.evil.example live|bronze|/plone/evil|x|BALANCEID|1200", "map-line", "mode 'x'"),
        ("www.evil.example live|bronze|/plone/evil|s|BALANCEID|-1", "map-line", "cookie lifetime"),
        ("www.evil.example live|bronze|/plone/other|s|BALANCEID|1200", "map-line", "differs from the site's line 8"),
        ("www.evil.example live|bronze|/plone/evil|s|BALANCEID|1200" + "x" * 1100, "map-line", "longer than"),
        ("$(reboot).evil.example live|bronze|/plone/evil|s|BALANCEID|1200", "invalid", "alias '$(reboot)"),
        ("*.evil.example live|bronze|/plone/evil|s|BALANCEID|1200", "invalid", "alias '*.evil.example'"),
    ],
)
def test_a_hostile_or_broken_map_line_is_an_error_of_its_site_only(actor, bad, code, says):
    text = EXTRA.replace("www.evil.example live|bronze|/plone/evil|s|BALANCEID|1200", bad)
    plan = preview(with_map(text))
    assert [(p.code, p.file, p.line) for p in plan.errors] == [(code, MAP, EVIL_LINE)]
    assert "evil.example" in plan.errors[0].message and says in plan.errors[0].message
    assert {"linux.co.uk", "ok.example"} <= {p.candidate.domain for p in plan.sites}
    with pytest.raises(ImportRefused, match=f"{MAP}:{EVIL_LINE}"):
        import_apply(plan, actor=actor, accept_warnings=True)
    assert not Site.objects.exists()


@pytest.mark.parametrize(
    ("value", "code", "says"),
    [
        ("live|bronze|/plone/../etc|s|BALANCEID|1200", "invalid", "plone_path"),
        ("live|no_such|/plone/evil|s|BALANCEID|1200", "unknown-balancer", "balancer://no_such"),
    ],
)
def test_a_hostile_value_is_validated_like_every_other_door(value, code, says):
    plan = preview(with_map(EXTRA.replace("live|bronze|/plone/evil|s|BALANCEID|1200", value)))
    assert [(p.code, p.file, p.line) for p in plan.errors] == [(code, MAP, EVIL_LINE - 1)], plan.errors
    assert says in plan.errors[0].message


def test_a_hostile_group_domain_is_refused_with_its_line():
    text = "# site $(reboot).example\n$(reboot).example live|bronze|/plone/x|s|BALANCEID|1200\n"
    plan = preview(with_map(text))
    assert [(p.code, p.file, p.line) for p in plan.errors] == [("invalid", MAP, 6)]


def test_a_group_without_a_line_for_its_domain_is_an_error_and_a_route_outside_groups_is_reported():
    files = golden_files()
    files[MAP] = b"stray.example live|bronze|/plone/s|s|BALANCEID|1200\n" + files[MAP]
    plan = preview(with_map("# site lost.example\nwww.lost.example live|bronze|/plone/l|s|BALANCEID|1200\n", files))
    assert [(p.code, p.severity, p.line) for p in plan.problems] == [
        ("map-stray", "warning", 1),
        ("map-group", "error", 6),
    ]
    assert [p.candidate.domain for p in plan.sites] == ["linux.co.uk"]


def test_a_map_group_whose_names_a_hand_written_vhost_serves_is_reported():
    files = golden_files()
    files["hand/linux.conf"] = hand_vhost("linux.co.uk")
    files["hand/other.conf"] = hand_vhost("other.example", alias="www.ok.example")
    ok_alias = "www.ok.example live|bronze|/plone/ok|s|BALANCEID|1200\n"
    plan = preview(with_map(EXTRA.replace("# site evil.example", ok_alias + "# site evil.example"), files))
    shadowed = [(p.code, p.file, p.line, p.message) for p in plan.problems if p.code == "shadowed"]
    assert [s[:3] for s in shadowed] == [("shadowed", MAP, 3), ("shadowed", MAP, 7)]
    assert "served by the vhost at hand/linux.conf:1" in shadowed[0][3]
    assert "alias www.ok.example is served by the vhost at hand/other.conf:1" in shadowed[1][3]
    sites = {p.candidate.domain: p.candidate for p in plan.sites}
    assert (sites["linux.co.uk"].via, sites["linux.co.uk"].plone_path) == ("vhost", "/plone/hand")
    assert sites["ok.example"].aliases == []


def test_two_groups_claiming_one_name_the_first_keeps_it():
    plan = preview(
        with_map(
            "# site other.example\nother.example live|bronze|/plone/o|s|BALANCEID|1200\n"
            "www.linux.co.uk live|bronze|/plone/o|s|BALANCEID|1200\n"
        )
    )
    (problem,) = plan.problems
    assert (problem.code, problem.line) == ("shadowed", 7)
    assert "already a route of site linux.co.uk" in problem.message


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("live|bronze|/plone/ok|s|BALANCEID|3600", "cookie lifetime 3600 s (imported: 1200 s)"),
        ("live|bronze|/plone/ok|s|OTHER|1200", "cookie OTHER (the balancer reads BALANCEID)"),
        ("live|bronze|/plone/ok|n|BALANCEID|1200", "mode n (balancer bronze is single-pass)"),
    ],
)
def test_a_route_that_disagrees_with_its_balancer_is_reported(value, says):
    plan = preview(with_map(f"# site ok.example\nok.example {value}\n"))
    found = [p for p in plan.problems if p.code == "map-route"]
    assert [(p.file, p.line) for p in found] == [(MAP, 6)]
    assert says in found[0].message


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda files: files.pop(MAP), "no such file"),
        (
            lambda files: files.update(
                {
                    "hostpanel/routing-http.conf": files["hostpanel/routing-http.conf"].replace(
                        b"dbm=sdbm:/etc/apache2/hostpanel/routes.dbm", b"dbm=sdbm:/srv/routes.dbm"
                    )
                }
            ),
            "outside the config root",
        ),
    ],
)
def test_a_missing_or_unreachable_map_is_a_clear_error(actor, change, says):
    files = golden_files()
    change(files)
    plan = preview(files)
    assert [(p.code, p.file, p.line) for p in plan.errors] == [("routes-map", "hostpanel/routing-http.conf", 12)]
    assert says in plan.errors[0].message and "none can be imported" in plan.errors[0].message
    assert plan.sites == [] and plan.unrecognised == []
    with pytest.raises(ImportRefused, match="routing-http.conf:12"):
        import_apply(plan, actor=actor, accept_warnings=True)


def test_the_map_is_part_of_what_was_read():
    files = golden_files()
    before = read_config(MappingSource(files))
    files[MAP] += b"# site x.example\nx.example live|bronze|/plone/x|s|BALANCEID|1200\n"
    after = read_config(MappingSource(files))
    assert before.digest != after.digest and MAP not in after.files
    assert after.maps["/etc/apache2/hostpanel/routes.dbm"].path == MAP  # the SDBM is read as its routes.map


def test_a_map_state_that_differs_from_the_panel_s_site_is_a_conflict(actor):
    import_apply(preview(golden_files()), actor=actor)
    files = golden_files()
    files[MAP] = files[MAP].replace(b" live|", b" suspended|")
    plan = preview(files)
    assert [(c.kind, c.key, c.file) for c in plan.conflicts] == [("site", "linux.co.uk", MAP)]
    assert "status active -> suspended" in plan.conflicts[0].message


def test_the_overlay_s_changes_are_imported_with_the_base():
    files = golden_files()
    overlay = "hostpanel/routes-recent.map"
    base = files[MAP].decode()
    assert files[overlay].decode() == empty_overlay()
    extra = "# site x.example\nx.example live|bronze|/plone/x|s|BALANCEID|1200\n"
    groups = sorted([*base.split("# site ")[1:], extra[len("# site ") :]])
    full = full_map(["# site " + g for g in groups])
    kept, recent = split_map(full, base, 500)
    assert kept == base and "x.example" in recent
    files[overlay] = recent.encode()
    plan = preview(files)
    assert "x.example" in {p.candidate.domain for p in plan.sites}
    assert plan.errors == []
