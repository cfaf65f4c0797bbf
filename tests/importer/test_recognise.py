"""Every construct the importer recognises, and every one it lists as not understood (pure: no database)."""

import pytest

SEED_NODE = """\
<VirtualHost *:80>
ServerName node1
RewriteEngine On
RewriteRule . - [E=MYHOST:zope1]
RewriteRule . - [E=MYPORT:8080]
RewriteRule . - [CO=BALANCEID:balancer.%{ENV:MYHOST}:.%{HTTP:X-Forwarded-Server}:20]
RewriteRule /(.*)$ http://%{ENV:MYHOST}:%{ENV:MYPORT}/$1 [L,P]
</VirtualHost>
"""

SINGLE_PASS = """\
<Proxy "balancer://bronze">
    BalancerMember http://10.0.0.11:8080 lbset=1 loadfactor=3 min=1 max=6 smax=4 timeout=11 retry=61 route=zope1
    BalancerMember http://10.0.0.12:8080 lbset=1 loadfactor=1 timeout=10 retry=60 route=zope2 status=+N
    BalancerMember http://10.0.0.19:8080 lbset=2 loadfactor=1 timeout=10 retry=60 status=+H
    ProxySet lbmethod=bybusyness stickysession=BALANCEID|balanceid nofailover=On maxattempts=3 timeout=25
    ErrorDocument 503 /sorry.html
    Require all granted
</Proxy>
"""

SITE = """\
<VirtualHost *:80>
    ServerName Linux.co.uk:80
    ServerAlias www.linux.co.uk linux.example
    ServerAlias old.linux.co.uk
    Header add Set-Cookie "BALANCEID=balancer.%{BALANCER_WORKER_ROUTE}e; path=/; Max-Age=900" env=BALANCER_ROUTE_CHANGED
    RewriteEngine On
    RewriteCond %{REQUEST_URI} !=/sorry.html
    RewriteRule ^/(.*) balancer://bronze/VirtualHostBase/http/%{SERVER_NAME}:80/plone/linux/VirtualHostRoot/$1 [L,P]
</VirtualHost>
"""


def where(items) -> list[tuple[str, int]]:
    return [(i.file, i.line) for i in items]


def test_a_node_vhost_gives_a_zope_server_named_by_its_cookie_route(recognised):
    r = recognised(
        SEED_NODE
        + "<Proxy balancer://b>\nBalancerMember http://node1 route=zope1\nProxySet stickysession=BALANCEID\n</Proxy>\n"
    )
    assert [(s.name, s.host, s.port, s.via) for s in r.servers] == [("zope1", "zope1", 8080, "node vhost")]
    assert r.balancers[0].render_mode == "node-vhosts"
    assert r.balancers[0].cookie_ttl == 20 * 60  # mod_rewrite's CO lifetime is in minutes
    assert [(m.balancer, m.server) for m in r.members] == [("b", "zope1")]
    assert r.unrecognised == [] and r.problems == []


def test_a_node_vhost_is_found_by_its_own_address(recognised):
    node = SEED_NODE.replace("<VirtualHost *:80>", "<VirtualHost 127.0.0.1:18081>")
    r = recognised(
        node
        + (
            "<Proxy balancer://b>\n"
            "BalancerMember http://127.0.0.1:18081 route=zope1\n"
            "ProxySet stickysession=BALANCEID\n"
            "</Proxy>\n"
        )
    )
    assert [m.server for m in r.members] == ["zope1"] and r.balancers[0].render_mode == "node-vhosts"


def test_a_node_can_proxy_to_a_literal_address(recognised):
    node = (
        "<VirtualHost *:80>\n"
        "ServerName n\n"
        "RewriteEngine On\n"
        "RewriteRule ^/(.*)$ http://10.1.1.1:8081/$1 [L,P]\n"
        "</VirtualHost>\n"
    )
    r = recognised(node)
    assert [(s.host, s.port) for s in r.servers] == [("10.1.1.1", 8081)]
    assert [p.code for p in r.problems] == ["node-without-cookie"]


def test_balancer_settings_members_and_status_flags(recognised):
    r = recognised(SINGLE_PASS)
    (b,) = r.balancers
    assert (
        b.name,
        b.lbmethod,
        b.sticky_cookie,
        b.nofailover,
        b.maxattempts,
        b.timeout,
        b.error_document,
        b.render_mode,
    ) == (
        "bronze",
        "bybusyness",
        "BALANCEID",
        True,
        3,
        25,
        "/sorry.html",
        "single-pass",
    )
    first, second, backup = r.members
    assert (
        first.server,
        first.lbset,
        first.loadfactor,
        first.min,
        first.max,
        first.smax,
        first.timeout,
        first.retry,
    ) == (
        "zope1",
        1,
        3,
        1,
        6,
        4,
        11,
        61,
    )
    assert (second.server, second.drain, second.hot_standby) == ("zope2", True, False)
    assert (backup.server, backup.lbset, backup.hot_standby) == (
        "10-0-0-19-8080",
        2,
        True,
    )  # no route: named after its address
    assert {(s.name, s.host, s.port, s.via) for s in r.servers} >= {("zope1", "10.0.0.11", 8080, "member URL")}
    assert any("stickysession URL parameter" in t.as_ for t in r.translated)


def test_status_flags_disable_and_clear(recognised):
    r = recognised(
        "<Proxy balancer://b>\n"
        "BalancerMember http://a:1 route=a status=+D\n"
        "BalancerMember http://b:1 route=b status=+H-H+N\n"
        "ProxySet stickysession=X\n"
        "</Proxy>\n"
    )
    assert [(m.disabled, m.hot_standby, m.drain) for m in r.members] == [(True, False, False), (False, False, True)]


def test_apache_clamps_min_and_smax_to_max_and_so_does_the_import(recognised):
    r = recognised(
        "<Proxy balancer://b>\n"
        "BalancerMember http://a:1 route=a min=9 max=6 smax=16\n"
        "ProxySet stickysession=X\n"
        "</Proxy>\n"
    )
    assert (r.members[0].min, r.members[0].max, r.members[0].smax) == (6, 6, 6)


def test_a_member_without_timeout_gets_the_server_timeout(recognised):
    r = recognised(
        "Timeout 45\n<Proxy balancer://b>\nBalancerMember http://a:1 route=a\nProxySet stickysession=X\n</Proxy>\n"
    )
    assert r.members[0].timeout == 45


def test_apache_22_access_is_translated_to_require_all_granted(recognised):
    r = recognised(
        "<Proxy balancer://b>\n"
        "BalancerMember http://a:1 route=a\n"
        "ProxySet stickysession=X\n"
        "Order deny,allow\n"
        "Allow from all\n"
        "</Proxy>\n"
        "<Proxy *>\n"
        "Order deny,allow\n"
        "Allow from all\n"
        "</Proxy>\n"
    )
    assert r.unrecognised == []
    assert sum("Require all granted" in t.as_ for t in r.translated) == 2


def test_a_site_vhost_with_aliases_and_the_vhm_rule(recognised):
    r = recognised(SINGLE_PASS + SITE)
    (site,) = r.sites
    assert (site.domain, site.balancer, site.plone_path) == ("Linux.co.uk", "bronze", "/plone/linux")
    assert [a for a, _ in site.aliases] == ["www.linux.co.uk", "linux.example", "old.linux.co.uk"]
    assert r.balancers[0].cookie_ttl == 900  # from the single-pass Set-Cookie's Max-Age
    assert r.unrecognised == [] and r.problems == []


def test_the_seed_site_rule_with_http_host_is_recognised_and_its_missing_engine_flagged(recognised):
    site = (
        "<VirtualHost *:80>\n"
        "ServerName linux.co.uk\n"
        "DocumentRoot /tmp\n"
        "RewriteRule ^/(.*) balancer://bronze/VirtualHostBase/http/%{HTTP_HOST}:80/plone/linux/"
        "VirtualHostRoot/$1 [L,P]\n"
        "</VirtualHost>\n"
    )
    r = recognised(SINGLE_PASS + site)
    assert r.sites[0].plone_path == "/plone/linux"
    assert [p.code for p in r.problems] == ["rewrite-engine-off", "no-sticky-cookie"]
    assert any("%{SERVER_NAME}" in t.as_ for t in r.translated)
    assert [i.text for i in r.ignored] == ["DocumentRoot /tmp"]


def test_the_seed_duplicate_member_is_flagged_and_imported_by_its_route(recognised):
    node2 = SEED_NODE.replace("node1", "node2").replace("zope1", "zope2")
    balancer = (
        "<Proxy balancer://bronze>\n"
        "BalancerMember http://node1 route=zope1\n"
        "BalancerMember http://node1 route=zope2\n"
        "ProxySet stickysession=BALANCEID\n"
        "</Proxy>\n"
    )
    r = recognised(SEED_NODE + node2 + balancer)
    (dup,) = [p for p in r.problems if p.code == "duplicate-member"]
    assert (dup.severity, dup.line) == ("warning", 19) and "AH01150" in dup.message
    assert [m.server for m in r.members] == ["zope1", "zope2"]


def test_the_seed_undefined_backup_node_is_flagged_and_not_imported(recognised):
    balancer = (
        "<Proxy balancer://bronze>\n"
        "BalancerMember http://node1 route=zope1\n"
        "BalancerMember http://backup status=+H\n"
        "ProxySet stickysession=BALANCEID\n"
        "</Proxy>\n"
    )
    r = recognised(SEED_NODE + balancer)
    assert [(p.code, p.line) for p in r.problems] == [("undefined-node", 11)]
    assert [m.server for m in r.members] == ["zope1"]


def test_a_name_claimed_by_an_earlier_vhost_is_flagged_as_shadowed(recognised):
    second = SITE.replace("ServerAlias www.linux.co.uk linux.example", "ServerAlias fresh.example")
    r = recognised(
        SINGLE_PASS
        + SITE
        + second.replace("Linux.co.uk:80", "other.example").replace("old.linux", "new.linux")
        + second
    )
    assert [s.domain for s in r.sites] == ["Linux.co.uk", "other.example"]
    assert sorted(p.code for p in r.problems) == ["shadowed"]


def test_a_hostpanel_catch_all_and_node_keepalive_are_translated(recognised):
    text = (
        "<VirtualHost *:80>\n"
        "ServerName hostpanel-default.invalid\n"
        "Redirect 404 /\n"
        "</VirtualHost>\n"
        '<Proxy "http://127.0.0.1:18101">\n'
        "ProxySet keepalive=On\n"
        "</Proxy>\n"
    )
    r = recognised(text)
    assert r.unrecognised == [] and len(r.translated) == 2


def test_server_level_normal_directives_are_ignored_not_unrecognised(recognised):
    r = recognised(
        "ServerRoot /etc/apache2\n"
        "LoadModule x y\n"
        "Listen 80\n"
        'LogFormat "%h" common\n'
        "User www-data\n"
        "<Directory />\n"
        "Require all denied\n"
        "</Directory>\n"
        "<IfModule mod_x.c>\n"
        "KeepAlive On\n"
        "</IfModule>\n"
    )
    assert [i.text.split()[0] for i in r.ignored] == [
        "ServerRoot",
        "LoadModule",
        "Listen",
        "LogFormat",
        "User",
        "<Directory",
        "KeepAlive",
    ]
    assert r.unrecognised == []


@pytest.mark.parametrize(
    ("config", "line", "why"),
    [
        ("SSLEngine on\n", 1, "server-level directive not modelled"),
        (
            "<Location /balancer-manager>\nSetHandler balancer-manager\n</Location>\n",
            1,
            "at server level is not modelled",
        ),
        ("<Proxy http://x:1/>\nProxySet ttl=3\n</Proxy>\n", 1, "not a balancer"),
        (
            "<Proxy balancer://b>\nBalancerMember http://a:1 route=a ttl=30\nProxySet stickysession=X\n</Proxy>\n",
            2,
            "member parameter",
        ),
        (
            "<Proxy balancer://b>\nBalancerMember http://a:1 route=a status=+I\nProxySet stickysession=X\n</Proxy>\n",
            2,
            "member parameter",
        ),
        (
            "<Proxy balancer://b>\nBalancerMember ajp://a:8009 route=a\nProxySet stickysession=X\n</Proxy>\n",
            2,
            "only http://",
        ),
        (
            "<Proxy balancer://b>\nBalancerMember http://a:1/sub route=a\nProxySet stickysession=X\n</Proxy>\n",
            2,
            "with a path",
        ),
        (
            "<Proxy balancer://b>\nBalancerMember http://a:1 route=a\nProxySet stickysession=X growth=4\n</Proxy>\n",
            3,
            "balancer parameter",
        ),
        (
            (
                "<Proxy balancer://b>\n"
                "BalancerMember http://a:1 route=a\n"
                "ProxySet stickysession=X\n"
                "Require ip 10.0.0.0/8\n"
                "</Proxy>\n"
            ),
            4,
            "access restrictions",
        ),
        (
            (
                "<Proxy balancer://b>\n"
                "BalancerMember http://a:1 route=a\n"
                "ProxySet stickysession=X\n"
                'ErrorDocument 503 "Sorry"\n'
                "</Proxy>\n"
            ),
            4,
            "local path",
        ),
        (
            (
                "<Proxy balancer://b>\n"
                "BalancerMember http://a:1 route=a\n"
                "ProxySet stickysession=X\n"
                "Header set X 1\n"
                "</Proxy>\n"
            ),
            4,
            "inside a balancer",
        ),
        (
            "<VirtualHost *:80>\nServerName static.example\nDocumentRoot /var/www\n</VirtualHost>\n",
            1,
            "neither a Plone site",
        ),
        (
            SITE.replace("    RewriteEngine On\n", "    RewriteEngine On\n    CustomLog /var/log/a.log combined\n"),
            7,
            "not modelled in a site vhost",
        ),
        (SITE + "", 0, ""),
        (SITE.replace("[L,P]\n", "[L,P]\n    RewriteRule ^/x /y [R]\n"), 9, "never reached"),
        (
            SITE.replace("    RewriteCond %{REQUEST_URI} !=/sorry.html\n", "    RewriteCond %{HTTP_HOST} ^www\n"),
            7,
            "condition on the site's proxy rule",
        ),
        (SITE.replace("[L,P]", "[L,P,NE]"), 8, "rewrite flags not modelled"),
        (SITE.replace("http/%{SERVER_NAME}:80", "https/%{SERVER_NAME}:8443"), 8, "HostPanel serves http:80/https:443"),
        (
            SEED_NODE.replace("RewriteEngine On\n", "RewriteEngine On\nRewriteRule ^/x /y [R]\n"),
            4,
            "rewrite rule not modelled in a node vhost",
        ),
        (
            SEED_NODE.replace("RewriteEngine On\n", "RewriteEngine On\nCustomLog x y\n"),
            4,
            "not modelled in a node vhost",
        ),
    ],
)
def test_every_construct_not_understood_is_listed_with_file_and_line(recognised, config, line, why):
    r = recognised(SINGLE_PASS + config)
    offset = SINGLE_PASS.count("\n")
    if not why:  # the clean site: nothing unrecognised (guards the cases above against false positives)
        assert r.unrecognised == []
        return
    found = [(u.line - offset, u.why) for u in r.unrecognised if why in u.why]
    assert found and found[0][0] == line, r.unrecognised


def test_an_open_forward_proxy_is_a_warning(recognised):
    assert [p.code for p in recognised("ProxyRequests On\n").problems] == ["open-proxy"]


def test_the_seed_as_written_is_recognised_with_its_typos_flagged(seed22, recognised):
    files = {
        p.relative_to(seed22).as_posix().replace("/", "__"): p.read_text() for p in seed22.rglob("*") if p.is_file()
    }
    r = recognised(files.pop("apache2.conf"), **files)
    assert [s.name for s in r.servers] == ["zope1", "zope2"]
    assert [(m.server, m.url) for m in r.members] == [("zope1", "http://node1"), ("zope2", "http://node1")]
    assert [(p.code, p.file, p.line) for p in r.problems] == [
        ("syntax", "httpd.conf", 16),
        ("duplicate-member", "httpd.conf", 19),
        ("undefined-node", "httpd.conf", 20),
        ("rewrite-engine-off", "sites-enabled/linux.co.uk", 1),
    ]
    assert any(t.text == "Allow from all" for t in r.translated)
    assert [u.text for u in r.unrecognised] == []


HCHECK = """\
<Proxy "balancer://bronze">
    BalancerMember http://10.0.0.11:8080 route=zope1 hcmethod=head hcuri=/@@ok hcinterval=3 hcpasses=2 hcfails=4
    BalancerMember http://10.0.0.12:8080 lbset=1 timeout=10 retry=60 route=zope2 hcmethod=TCP hcinterval=500ms hcexpr=ok
    ProxySet stickysession=BALANCEID
</Proxy>
<Proxy "balancer://silver">
    BalancerMember http://10.0.0.11:8080 lbset=1 timeout=10 retry=60 route=zope1 hcuri=/other
    ProxySet stickysession=BALANCEID
</Proxy>
"""


def test_member_health_check_parameters_are_read_into_their_zope_server(recognised):
    r = recognised(HCHECK)
    servers = {s.name: s for s in r.servers}
    assert servers["zope1"].health == {
        "health_method": "HEAD",
        "health_path": "/@@ok",
        "health_interval": 3,
        "health_passes": 2,
        "health_fails": 4,
    }
    assert servers["zope2"].health == {}  # TCP, a unit and hcexpr are not modelled: listed, not guessed
    assert sorted(u.text.split(" ", 1)[1] for u in r.unrecognised) == ["hcexpr=ok", "hcinterval=500ms", "hcmethod=TCP"]
    (differs,) = [p for p in r.problems if p.code == "health-check-differs"]
    assert differs.line == 7 and "hcuri=/other" in differs.message  # one health check per server: the first wins
