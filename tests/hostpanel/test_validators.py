"""Validation is the security boundary: every hostile value is refused with a field-level message,
through the services (the one door the web UI, the API, the importer and the commands share)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from balancers import services as bs
from balancers.models import FrontEnd, ZopeServer
from sites import services as ss
from sites.models import Site

GOOD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl root@frontend1"

HOSTILE_HOSTNAMES = [
    ("linux\n.co.uk", "newline"),
    ("linux\r.co.uk", "carriage return"),
    ("linux\t.co.uk", "tab"),
    ("linux .co.uk", "space"),
    ('linux".co.uk', "double quote"),
    ("linux'.co.uk", "single quote"),
    ("linux<.co.uk", "'<'"),
    ("linux>.co.uk", "'>'"),
    ("linux%.co.uk", "'%'"),
    ("linux$.co.uk", "'$'"),
    ("linux\\.co.uk", "backslash"),
    ("linux#.co.uk", "'#'"),
    ("linux;.co.uk", "';'"),
    ("*.linux.co.uk", "'*'"),
    ("a..co.uk", "empty label"),
    ("x" * 64 + ".co.uk", "at most 63"),
    (".".join(["a" * 60] * 5), "at most 253"),
    ("-linux.co.uk", "hyphen"),
    ("linux-.co.uk", "hyphen"),
    ("</VirtualHost>.co.uk", "'<'"),
]


@pytest.fixture
def balancer(db, actor):
    return bs.balancer_create(actor=actor, name="bronze")


def site_errors(**kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        ss.site_create(**kwargs)
    return exc.value.message_dict


@pytest.mark.parametrize(("domain", "words"), HOSTILE_HOSTNAMES)
def test_it_rejects_a_hostile_domain_with_a_field_message(balancer, actor, domain, words):
    errors = site_errors(actor=actor, domain=domain, balancer=balancer, plone_path="/plone/x")
    assert "domain" in errors
    assert words in " ".join(errors["domain"])
    assert not Site.objects.exists()


@pytest.mark.parametrize(("alias", "words"), HOSTILE_HOSTNAMES[:14])
def test_it_rejects_a_hostile_alias_with_a_field_message(balancer, actor, alias, words):
    errors = site_errors(actor=actor, domain="ok.example", aliases=[alias], balancer=balancer, plone_path="/plone/x")
    assert "aliases" in errors
    assert words in " ".join(errors["aliases"])


def test_it_stores_an_internationalised_domain_as_punycode(balancer, actor):
    site = ss.site_create(actor=actor, domain="Bücher.example", balancer=balancer, plone_path="/plone/b")
    assert site.domain == "xn--bcher-kva.example"
    site.refresh_from_db()
    assert site.domain == "xn--bcher-kva.example"


def test_it_lower_cases_a_domain(balancer, actor):
    site = ss.site_create(actor=actor, domain="Linux.CO.uk", balancer=balancer, plone_path="/plone/linux")
    assert site.domain == "linux.co.uk"


def test_it_rejects_a_domain_that_is_another_sites_alias(balancer, actor):
    ss.site_create(actor=actor, domain="a.example", aliases=["www.a.example"], balancer=balancer, plone_path="/p/a")
    errors = site_errors(actor=actor, domain="www.a.example", balancer=balancer, plone_path="/p/b")
    assert "already an alias of another site" in " ".join(errors["domain"])


def test_it_rejects_an_alias_that_is_another_sites_domain_or_alias(balancer, actor):
    ss.site_create(actor=actor, domain="a.example", aliases=["www.a.example"], balancer=balancer, plone_path="/p/a")
    errors = site_errors(actor=actor, domain="b.example", aliases=["a.example"], balancer=balancer, plone_path="/p/b")
    assert "already the domain of another site" in " ".join(errors["aliases"])
    errors = site_errors(
        actor=actor, domain="b.example", aliases=["WWW.a.example"], balancer=balancer, plone_path="/p/b"
    )
    assert "already an alias of another site" in " ".join(errors["aliases"])


def test_it_rejects_a_duplicate_domain_on_the_domain_field(balancer, actor):
    ss.site_create(actor=actor, domain="a.example", balancer=balancer, plone_path="/p/a")
    errors = site_errors(actor=actor, domain="A.example", balancer=balancer, plone_path="/p/b")
    assert errors["domain"] == ["A site with this domain already exists."]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/plone/../etc", "'..'"),
        ("/plone//linux", "'//'"),
        ("plone/linux", "start with '/'"),
        ("/plone/lin ux", "space"),
        ("/plone/linux\n", "newline"),
        ("/plone/</VirtualHost>", "'<'"),
        ("/plone/$1", "'$'"),
        ("/", "name a site"),
    ],
)
def test_it_rejects_a_hostile_plone_path(balancer, actor, path, words):
    errors = site_errors(actor=actor, domain="a.example", balancer=balancer, plone_path=path)
    assert words in " ".join(errors["plone_path"])


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_it_rejects_a_port_out_of_range(db, actor, port):
    with pytest.raises(ValidationError) as exc:
        bs.zope_server_create(actor=actor, name="zope1", host="10.0.0.1", port=port)
    assert "port" in exc.value.message_dict


@pytest.mark.parametrize("name", ["zope.1", "zope 1", "zope\n1", "zope<1>", ""])
def test_it_rejects_a_route_with_a_dot_or_unsafe_characters(db, actor, name):
    with pytest.raises(ValidationError) as exc:
        bs.zope_server_create(actor=actor, name=name, host="10.0.0.1", port=8080)
    assert "name" in exc.value.message_dict


def test_the_route_message_explains_the_dot(db, actor):
    with pytest.raises(ValidationError) as exc:
        bs.zope_server_create(actor=actor, name="zope.1", host="10.0.0.1", port=8080)
    assert "first '.'" in exc.value.message_dict["name"][0]


@pytest.mark.parametrize("host", ["10.0.0.1\n", "zope host", "zope;rm", "[::1]", "300.1.2.3"])
def test_it_rejects_a_hostile_zope_host(db, actor, host):
    with pytest.raises(ValidationError) as exc:
        bs.zope_server_create(actor=actor, name="zope1", host=host, port=8080)
    assert "host" in exc.value.message_dict


def test_it_accepts_ipv4_ipv6_and_names_as_zope_hosts(db, actor):
    hosts = ["10.0.0.1", "::1", "zope1.internal"]
    for i, host in enumerate(hosts):
        server = bs.zope_server_create(actor=actor, name=f"z{i}", host=host, port=8080)
        assert server.pk is not None and server.host == host
    assert sorted(ZopeServer.objects.values_list("host", flat=True)) == sorted(hosts)


@pytest.mark.parametrize("cookie", ["BALANCE=ID", "BALANCE;ID", "BALANCE ID", "BAL\nANCE", "", 'BAL"'])
def test_it_rejects_a_cookie_name_with_separators(db, actor, cookie):
    with pytest.raises(ValidationError) as exc:
        bs.balancer_create(actor=actor, name="bronze", sticky_cookie=cookie)
    assert "sticky_cookie" in exc.value.message_dict


@pytest.mark.parametrize("path", ["/ERROR 503.html", "/../x.html", "ERROR.html", "/x%0a.html"])
def test_it_rejects_a_hostile_error_document(db, actor, path):
    with pytest.raises(ValidationError) as exc:
        bs.balancer_create(actor=actor, name="bronze", error_document=path)
    assert "error_document" in exc.value.message_dict


def frontend_fields(**overrides):
    fields = dict(name="fe1", address="10.0.0.5", ssh_host_key=GOOD_KEY, config_dir="/etc/apache2/hostpanel")
    fields.update(overrides)
    return fields


def test_it_accepts_a_valid_frontend(db, actor):
    fe = bs.frontend_create(actor=actor, **frontend_fields())
    assert fe.ssh_host_key == GOOD_KEY


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("config_dir", "etc/apache2/hostpanel", "absolute"),
        ("config_dir", "/etc/apache2/../shadow", "'..'"),
        ("config_dir", "/", "must not be '/'"),
        ("ssh_host_key", "", "required"),
        ("ssh_host_key", "ssh-ed25519", "look like"),
        ("ssh_host_key", "ssh-ed25519 not*base64", "base64"),
        ("ssh_host_key", "ssh-dss AAAAB3NzaC1kc3MAAACBAP", "Unknown host key type"),
        ("ssh_host_key", "ssh-rsa " + GOOD_KEY.split()[1], "not 'ssh-rsa'"),
        ("ssh_host_key", GOOD_KEY + "\n" + GOOD_KEY, "one line"),
        ("http_listen", "*:0", "between 1 and 65535"),
        ("http_listen", "*:80\nInclude /etc/passwd", "newline"),
        ("ssh_user", "root;id", "';'"),
        ("ssh_port", 0, "between 1 and 65535"),
        ("configtest_command", "apache2ctl -t\nrm -rf /", "newline"),
    ],
)
def test_it_rejects_a_hostile_frontend_value(db, actor, field, value, words):
    with pytest.raises(ValidationError) as exc:
        bs.frontend_create(actor=actor, **frontend_fields(**{field: value}))
    assert field in exc.value.message_dict
    assert words in " ".join(exc.value.message_dict[field])
    assert not FrontEnd.objects.exists()


def test_a_local_frontend_needs_no_host_key(db, actor):
    fe = bs.frontend_create(actor=actor, **frontend_fields(transport="local", ssh_host_key=""))
    assert fe.transport == "local"


def test_member_ranges_are_enforced(db, actor):
    balancer = bs.balancer_create(actor=actor, name="bronze")
    server = bs.zope_server_create(actor=actor, name="zope1", host="10.0.0.1", port=8080)
    for field, value in [("lbset", 100), ("loadfactor", 0), ("loadfactor", 101)]:
        with pytest.raises(ValidationError) as exc:
            bs.member_create(actor=actor, balancer=balancer, zope_server=server, **{field: value})
        assert field in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        bs.member_create(actor=actor, balancer=balancer, zope_server=server, min=5, max=2)
    assert "min must not exceed max." in exc.value.messages
