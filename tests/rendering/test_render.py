"""Fast unit tests of the pure renderer (no Apache)."""

import dataclasses
import hashlib
import re

import pytest

from balancers import services as balancer_services
from balancers.models import Balancer, BalancerMember, FrontEnd, ZopeServer
from rendering import cache
from rendering import sites as render_sites
from rendering.manifest import parse_manifest, tree_digest
from rendering.render import UnsafeValue, render_tree
from rendering.routes import RELEASE_FILE, is_map_only, map_entries
from rendering.snapshot import FrontEndRecord, load_snapshot
from sites import services as site_services
from sites.models import Site, SiteAlias
from tests.factories import set_render_mode

LOOKUP = "RewriteCond ${hostpanel-recent:%{SERVER_NAME}|${hostpanel-routes:%{SERVER_NAME}|-}} "  # overlay, then base


def _tree(frontend):
    return render_tree(load_snapshot(), frontend)


def test_it_renders_the_seed_balancer_with_a_routeless_hot_standby(demo, frontend):
    tree = _tree(frontend)
    bronze = tree["balancers.conf"].split('<Proxy "balancer://bronze">')[1].split("</Proxy>")[0]
    assert "BalancerMember http://127.0.0.1:18101 lbset=1 loadfactor=1 timeout=10 retry=60 route=zope1\n" in bronze
    assert "BalancerMember http://127.0.0.1:18102 lbset=1 loadfactor=1 timeout=10 retry=60 route=zope2\n" in bronze
    backup = next(line for line in bronze.splitlines() if "18103" in line)
    assert backup.endswith("lbset=2 loadfactor=1 timeout=10 retry=60 status=+H")
    assert "route=" not in backup
    assert "ProxySet lbmethod=byrequests stickysession=BALANCEID nofailover=Off maxattempts=2 timeout=20\n" in bronze
    assert "Require all granted" in bronze


def test_it_renders_drain_disabled_and_optional_limits(demo, frontend, actor):
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope2")
    balancer_services.member_update(member, actor=actor, drain=True, min=1, max=6, smax=4)
    member = BalancerMember.objects.get(balancer=demo, zope_server__name="zope1")
    balancer_services.member_update(member, actor=actor, disabled=True)
    text = _tree(frontend)["balancers.conf"]
    assert (
        "http://127.0.0.1:18102 lbset=1 min=1 max=6 smax=4 loadfactor=1 timeout=10 retry=60 route=zope2 status=+N"
    ) in text
    assert "http://127.0.0.1:18101 lbset=1 loadfactor=1 timeout=10 retry=60 route=zope1 status=+D" in text


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


LIVE_SINGLE_HTTP = LOOKUP + "^live\\|([^|]+)\\|([^|]+)\\|s\\|([^|]+)\\|([0-9]+)$"
PROXY_HTTP = (
    "RewriteRule ^/(.*) balancer://%1/VirtualHostBase/http/%{SERVER_NAME}:80%2/VirtualHostRoot/$1 "
    "[L,P,E=HP_COOKIE:%3,E=HP_TTL:%4]"
)


def test_a_site_routes_through_the_map_sets_the_seed_cookie_and_serves_the_error_page_before_the_proxy_rule(
    demo, frontend
):
    tree = _tree(frontend)
    assert map_entries(tree["routes.map"]) == {
        "linux.co.uk": "live|bronze|/plone/linux|s|BALANCEID|1200",
        "www.linux.co.uk": "live|bronze|/plone/linux|s|BALANCEID|1200",
    }
    assert "sites/linux.co.uk.conf" not in tree  # no certificate: no vhost of its own
    http = _lines(tree["http.conf"])
    assert http.index("<VirtualHost *:80>") < http.index('Include "/etc/apache2/hostpanel/routing-http.conf"')
    lines = _lines(tree["routing-http.conf"])
    assert 'RewriteMap hostpanel-routes "dbm=sdbm:/etc/apache2/hostpanel/routes.dbm"' in lines
    # one lookup proxies a live single-pass site: its balancer and Plone path from the map, and the
    # cookie name and lifetime for the Set-Cookie below
    proxy = lines.index(PROXY_HTTP)
    assert lines[proxy - 1] == LIVE_SINGLE_HTTP
    assert (
        'Header add Set-Cookie "%{HP_COOKIE}e=balancer.%{BALANCER_WORKER_ROUTE}e; path=/; '
        'Max-Age=%{HP_TTL}e; HttpOnly" '
        "\"expr=-n reqenv('HP_COOKIE') && -n reqenv('BALANCER_ROUTE_CHANGED')\""
    ) in lines
    # the balancer's error document is answered by Apache, for its sites only, before anything is proxied
    error_page = lines.index('RewriteRule ^/ERROR_503\\.html$ "/etc/apache2/hostpanel/errors/503.html" [L]')
    assert lines[error_page - 1] == LOOKUP + "^(?:live|redirect)\\|bronze\\|"
    assert lines.index("RewriteEngine On") < error_page < proxy
    assert "ErrorDocument 503 /hostpanel-503.html" in lines
    assert not any(line.startswith("Alias") for line in lines)


def test_hostpanel_conf_includes_every_file_in_order(demo, frontend, actor):
    before = _tree(frontend)
    site_services.site_create(actor=actor, domain="a-first.example", balancer=demo, plone_path="/plone/a")
    tree = _tree(frontend)
    includes = re.findall(r"^(Include|IncludeOptional) (\S+)$", tree["hostpanel.conf"], re.M)
    assert includes == [
        ("Include", "/etc/apache2/hostpanel/balancers.conf"),
        ("Include", "/etc/apache2/hostpanel/nodes.conf"),
        ("Include", "/etc/apache2/hostpanel/http.conf"),
        ("Include", "/etc/apache2/hostpanel/default.conf"),
        ("IncludeOptional", "/etc/apache2/hostpanel/sites/*.conf"),
    ]
    # adding a site changes only routes.map and the MANIFEST, never hostpanel.conf: no reload
    assert {path for path in tree if tree[path] != before.get(path)} == {"routes.map", "MANIFEST", RELEASE_FILE}
    assert "a-first.example" in map_entries(tree["routes.map"])
    assert not re.search(r"^\s*Listen", tree["hostpanel.conf"], re.M)  # the main config owns it
    assert "# No balancer uses node-vhosts mode." in tree["nodes.conf"]


def test_node_vhosts_mode_points_members_at_one_node_vhost_per_zope_server(demo, frontend, actor):
    set_render_mode("node-vhosts", actor)
    balancer_services.frontend_update(frontend, actor=actor, node_address="127.0.0.1", node_port_base=19000)
    tree = _tree(frontend)
    bronze = tree["balancers.conf"].split('<Proxy "balancer://bronze">')[1].split("</Proxy>")[0]
    # Ports in Zope server name order: backup 19000, zope1 19001, zope2 19002.
    assert "BalancerMember http://127.0.0.1:19001 lbset=1 loadfactor=1 timeout=10 retry=60 route=zope1" in bronze
    assert "BalancerMember http://127.0.0.1:19000 lbset=2 loadfactor=1 timeout=10 retry=60 status=+H" in bronze
    assert "failonstatus=503 failontimeout=On" in bronze
    nodes = tree["nodes.conf"]
    assert nodes.count("<VirtualHost ") == 3
    assert "Listen 127.0.0.1:19001\n<VirtualHost 127.0.0.1:19001>" in nodes
    assert "BalancerInherit Off" in nodes
    assert "RewriteRule ^ - [CO=BALANCEID:balancer.zope1:%1:20:/]" in nodes
    assert "RewriteRule ^/(.*)$ http://127.0.0.1:18101/$1 [L,P]" in nodes
    assert '<Proxy "http://127.0.0.1:18101">\n    ProxySet keepalive=On\n</Proxy>' in nodes
    # mode n in the map: the node vhost sets the cookie, the routing's Set-Cookie is for mode s only
    assert map_entries(tree["routes.map"])["linux.co.uk"] == "live|bronze|/plone/linux|n|BALANCEID|1200"
    routing = _lines(tree["routing-http.conf"])
    node_rule = routing.index(
        "RewriteRule ^/(.*) balancer://%1/VirtualHostBase/http/%{SERVER_NAME}:80%2/VirtualHostRoot/$1 [L,P,E=HP_NODE:1]"
    )
    assert routing[node_rule - 1] == LOOKUP + "^live\\|([^|]+)\\|([^|]+)\\|n\\|[^|]+\\|[0-9]+$"  # no options
    set_cookie = next(line for line in routing if line.startswith("Header add Set-Cookie"))
    assert set_cookie.endswith("\"expr=-n reqenv('HP_COOKIE') && -n reqenv('BALANCER_ROUTE_CHANGED')\"")  # not HP_NODE


def test_a_suspended_site_is_never_proxied(demo, frontend, actor):
    before = _tree(frontend)
    site_services.site_suspend(Site.objects.get(domain="linux.co.uk"), actor=actor, reason="unpaid")
    tree = _tree(frontend)
    assert map_entries(tree["routes.map"]) == {
        "linux.co.uk": "suspended|bronze|/plone/linux|s|BALANCEID|1200",
        "www.linux.co.uk": "suspended|bronze|/plone/linux|s|BALANCEID|1200",
    }
    assert {path for path in tree if tree[path] != before[path]} == {"routes.map", "MANIFEST", RELEASE_FILE}
    for scheme in ("http", "https"):
        lines = _lines(tree[f"routing-{scheme}.conf"])
        suspended = lines.index("RewriteRule ^ - [R=503,L,E=HP_SUSPENDED:1]")
        assert lines[suspended - 1] == LOOKUP + "^suspended\\|"
        # every proxy rule needs a live (or, on HTTPS, redirect) state: a suspended line never matches one
        proxies = [i for i, line in enumerate(lines) if line.startswith("RewriteRule") and "balancer://" in line]
        # a site with options (or a Volto or frontend-only one) is proxied from HP_ROUTE and HP_OPT, which only
        # its live (or redirect) value sets
        optioned = [
            i
            for i in proxies
            if lines[i - 1].startswith(("RewriteCond %{ENV:HP_ROUTE} ", "RewriteCond %{ENV:HP_OPT} "))
        ]
        assert len(proxies) - len(optioned) >= 2 and len(optioned) >= 2
        options = next(i for i, line in enumerate(lines) if "E=HP_ROUTE:" in line)
        for proxy in [*(i for i in proxies if i not in optioned), options]:
            assert proxy == options or lines[proxy].split(" [", 1)[1].startswith("L,P")
            assert re.match(
                r"RewriteCond \$\{hostpanel-recent:%\{SERVER_NAME\}\|\$\{hostpanel-routes:%\{SERVER_NAME\}\|-\}\} "
                r"\^(live|\(\?:live\|redirect\))\\\|",
                lines[proxy - 1],
            )
        assert 'Header always set Retry-After "3600" env=REDIRECT_HP_SUSPENDED' in lines
        # the 503 comes back as an internal redirect and gets the suspended page, never a Zope's
        page = lines.index('RewriteRule ^/hostpanel-503\\.html$ "/etc/apache2/hostpanel/errors/suspended.html" [L]')
        assert lines[page - 1] == "RewriteCond %{ENV:REDIRECT_HP_SUSPENDED} =1" and page < proxies[0]


def test_the_same_database_renders_the_same_bytes_and_a_site_change_touches_only_the_map(demo, frontend, actor):
    site_services.site_create(actor=actor, domain="other.example", balancer=demo, plone_path="/plone/other")
    first, second = _tree(frontend), _tree(frontend)
    assert first == second and tree_digest(first) == tree_digest(second)
    site_services.site_update(Site.objects.get(domain="other.example"), actor=actor, plone_path="/plone/moved")
    third = _tree(frontend)
    changed = {path for path in third if third[path] != first.get(path)}
    assert changed == {"routes.map", "MANIFEST", RELEASE_FILE}
    assert is_map_only(changed - {"MANIFEST"})
    assert map_entries(third["routes.map"])["other.example"] == "live|bronze|/plone/moved|s|BALANCEID|1200"
    assert tree_digest(third) != tree_digest(first)


def test_the_manifest_lists_every_file_with_its_sha256(demo, frontend):
    tree = _tree(frontend)
    manifest = parse_manifest(tree["MANIFEST"])
    assert set(manifest) == set(tree) - {"MANIFEST"}
    for path, digest in manifest.items():
        assert hashlib.sha256(tree[path].encode()).hexdigest() == digest
    assert tree_digest(tree) == hashlib.sha256(tree["MANIFEST"].encode()).hexdigest()
    for bad in ("nothex  x.conf", f"{'a' * 64}  ../etc/passwd", f"{'a' * 64}  /abs", f"{'a' * 64} one-space"):
        with pytest.raises(ValueError, match="malformed"):
            parse_manifest(bad)


def test_it_accepts_a_front_end_model_or_record_and_uses_its_listen_and_config_dir(demo, frontend, actor):
    balancer_services.frontend_update(frontend, actor=actor, http_listen="8080", config_dir="/srv/hp")
    frontend.refresh_from_db()
    tree = render_tree(load_snapshot(), frontend)
    assert "<VirtualHost *:8080>" in tree["http.conf"]
    assert 'Include "/srv/hp/routing-http.conf"' in tree["http.conf"]
    for scheme in ("http", "https"):
        assert 'RewriteMap hostpanel-routes "dbm=sdbm:/srv/hp/routes.dbm"' in tree[f"routing-{scheme}.conf"]
    assert "Include /srv/hp/balancers.conf" in tree["hostpanel.conf"]
    assert "Include /srv/hp/http.conf" in tree["hostpanel.conf"]
    assert tree == render_tree(load_snapshot(), FrontEndRecord.from_model(frontend))
    with pytest.raises(TypeError):
        render_tree(load_snapshot(), "demo-fe")


HOSTILE = [
    (Site, "domain", "linux.co.uk", "evil.example\n<location />"),
    (Site, "plone_path", "/plone/linux", '/plone/linux" [L]\nRewriteRule'),
    (Site, "plone_path", "/plone/linux", "/plone/${APACHE_LOG_DIR}"),
    (Site, "plone_path", "/plone/linux", "/plone/../../etc"),
    (SiteAlias, "name", "www.linux.co.uk", "www.linux.co.uk evil.example"),
    (ZopeServer, "name", "zope1", "zope1 status=+D"),
    (ZopeServer, "host", "127.0.0.1", "127.0.0.1/ x"),
    (Balancer, "sticky_cookie", "BALANCEID", "BALANCEID; Domain=evil"),
    (Balancer, "error_document", "/ERROR_503.html", "/x.html\nProxyPass / http://evil/"),
    (SiteAlias, "name", "www.linux.co.uk", "www.linux.co.uk\ninclude /etc/shadow"),
    (Balancer, "name", "bronze", "bronze>"),
    (FrontEnd, "config_dir", "/etc/apache2/hostpanel", "/etc/apache2 x"),
    (FrontEnd, "http_listen", "*:80", "*:80>\n<VirtualHost *:80"),
    (FrontEnd, "node_address", "127.0.0.1", "127.0.0.1\nListen 1"),
]


@pytest.mark.parametrize(
    ("model", "field", "current", "hostile"), HOSTILE, ids=[f"{h[0].__name__}.{h[1]}" for h in HOSTILE]
)
def test_it_refuses_a_hostile_value_planted_directly_in_the_database(demo, frontend, model, field, current, hostile):
    if field == "node_address":  # only rendered for node-vhosts balancers
        Balancer.objects.update(render_mode="node-vhosts")
    assert model.objects.filter(**{field: current}).update(**{field: hostile}) >= 1  # bypasses validation
    with pytest.raises(UnsafeValue):
        _tree(FrontEnd.objects.get(pk=frontend.pk))


def test_it_refuses_hostile_values_in_records_and_an_integer_out_of_range(demo, frontend):
    snapshot = load_snapshot()
    record = FrontEndRecord.from_model(frontend)
    with pytest.raises(UnsafeValue, match="node_port_base"):
        render_tree(snapshot, dataclasses.replace(record, node_port_base=0))
    bronze = snapshot.balancers[0]
    bad_member = dataclasses.replace(bronze.members[0], lbset="1 route=x")
    bad = dataclasses.replace(snapshot, balancers=(dataclasses.replace(bronze, members=(bad_member,)),))
    with pytest.raises(UnsafeValue, match="lbset"):
        render_tree(bad, record)
    with pytest.raises(UnsafeValue, match="unknown balancer"):
        render_tree(
            dataclasses.replace(snapshot, balancers=()),
            record,
        )


def test_it_refuses_a_host_name_claimed_by_two_sites(demo, frontend, actor):
    other = site_services.site_create(actor=actor, domain="other.example", balancer=demo, plone_path="/plone/other")
    # a planted row: bulk_create() skips full_clean() and the host-name row (sites.SiteHostname) that refuses it
    SiteAlias.objects.bulk_create([SiteAlias(site=other, name="linux.co.uk")])
    with pytest.raises(UnsafeValue, match="claimed twice"):
        _tree(frontend)


def test_proxy_preserve_host_is_set_once_at_server_level_not_per_site(demo, frontend):
    # per-vhost ProxyPreserveHost multiplies Apache's reload time and memory by the number of sites
    tree = _tree(frontend)
    assert "\nProxyPreserveHost On\n" in tree["hostpanel.conf"]
    assert not any("ProxyPreserveHost" in text for path, text in tree.items() if path != "hostpanel.conf")


def test_front_ends_rendered_from_one_snapshot_share_its_site_part_and_differ_where_they_should(
    demo, frontend, monkeypatch
):
    other = FrontEndRecord(name="fe2", config_dir="/srv/other/hostpanel", http_listen="10.0.0.2:80")
    snapshot = load_snapshot()
    calls = []
    real = render_sites.site_contexts
    monkeypatch.setattr(render_sites, "site_contexts", lambda *a: calls.append(1) or real(*a))
    cache.SITE_PARTS.clear()
    first = render_tree(snapshot, snapshot.frontend(frontend.name))
    second = render_tree(snapshot, other)
    assert len(calls) == 1  # the second front-end reused the first one's site contexts and map
    assert first["routes.map"] is second["routes.map"]
    assert "/srv/other/hostpanel" in second["routing-http.conf"]
    assert "/srv/other/hostpanel" not in first["routing-http.conf"]
    # the shared part is exactly what a render of its own gives
    cache.SITE_PARTS.clear()
    assert render_tree(snapshot, other) == second
    # a new snapshot (a changed site) is built again, not served from the old one
    Site.objects.filter(domain="linux.co.uk").update(plone_path="/plone/elsewhere")
    third = render_tree(load_snapshot(), other)
    assert len(calls) == 3
    assert "/plone/elsewhere" in third["routes.map"]
