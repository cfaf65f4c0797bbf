"""Whatever the models accept, the renderer accepts: every value that passes `clean_fields()` and
`clean()` (the validators in hostpanel.validators, the one place) renders without UnsafeValue. Checked
with generated values (hypothesis), near-valid ones drawn from the renderer's own patterns included, so
a value the validators let through and the renderer refuses cannot stop every deployment again."""

from __future__ import annotations

import dataclasses

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from balancers.models import Balancer, BalancerMember, FrontEnd, ZopeServer
from hostpanel import validators
from rendering import render
from rendering import values as render_values
from rendering.render import UnsafeValue, render_tree
from rendering.snapshot import load_snapshot
from sites.models import Site, SiteAlias

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# characters that matter to Apache or to the validators, and plain ones
ALPHABET = st.sampled_from(list("abcxyz0189-._~/:*[]+ %$#\"'<>\\\n\t@=?!;,(){}|&^`AZ") + ["é", "ß", "\x00"])
TEXT = st.text(ALPHABET, max_size=30)


def near(pattern) -> st.SearchStrategy[str]:
    """Plain text, and values shaped like the renderer's own pattern (most of which should validate)."""
    return st.one_of(TEXT, st.from_regex(pattern, fullmatch=True).filter(lambda v: len(v) <= 300))


def accepted(instance, field: str) -> bool:
    """Does the model accept this value (its field validators and its clean())?"""
    others = [f.name for f in instance._meta.fields if f.name != field]
    try:
        instance.clean_fields(exclude=others)
        instance.clean()
    except ValidationError:
        return False
    return True


@pytest.fixture
def world(demo):
    """The demo's snapshot (three Zope servers, two balancers, a site with an alias) and a front-end."""
    snapshot = load_snapshot()
    frontend = FrontEnd(name="fe1", address="127.0.0.1", transport="local")
    return snapshot, frontend


def renders(snapshot, frontend) -> None:
    render_tree(snapshot, frontend)


def with_balancer(snapshot, **changes):
    first, *rest = snapshot.balancers
    return dataclasses.replace(snapshot, balancers=(dataclasses.replace(first, **changes), *rest))


def with_site(snapshot, **changes):
    first, *rest = snapshot.sites
    return dataclasses.replace(snapshot, sites=(dataclasses.replace(first, **changes), *rest))


@PROPERTY
@given(value=near(render_values.URL_PATH_RE))
@example(value="/errors/")
@example(value=render.NODE_ERROR_PATH)
@example(value=render.SUSPENDED_PATH)
def test_every_error_document_the_model_accepts_renders(world, value):
    snapshot, frontend = world
    if accepted(Balancer(name="bronze", error_document=value), "error_document"):
        renders(with_balancer(snapshot, error_document=value), frontend)


@PROPERTY
@given(name=near(render_values.NAME_RE), cookie=near(render_values.COOKIE_RE))
def test_every_balancer_name_and_cookie_the_model_accepts_renders(world, name, cookie):
    snapshot, frontend = world
    if not (accepted(Balancer(name=name), "name") and accepted(Balancer(sticky_cookie=cookie), "sticky_cookie")):
        return
    first, *rest = snapshot.balancers
    if name in {b.name for b in rest}:
        return  # a balancer's name is unique
    sites = tuple(dataclasses.replace(s, balancer=name) if s.balancer == first.name else s for s in snapshot.sites)
    balancers = (dataclasses.replace(first, name=name, sticky_cookie=cookie), *rest)
    renders(dataclasses.replace(snapshot, balancers=balancers, sites=sites), frontend)


@PROPERTY
@given(
    ttl=st.integers(-5, 40_000_000),
    attempts=st.integers(-5, 200),
    timeout=st.integers(-5, 5000),
)
def test_every_balancer_number_the_model_accepts_renders(world, ttl, attempts, timeout):
    snapshot, frontend = world
    balancer = Balancer(name="bronze", cookie_ttl=ttl, maxattempts=attempts, timeout=timeout)
    if all(accepted(balancer, f) for f in ("cookie_ttl", "maxattempts", "timeout")):
        renders(with_balancer(snapshot, cookie_ttl=ttl, maxattempts=attempts, timeout=timeout), frontend)


@PROPERTY
@given(domain=near(render_values.DOMAIN_RE), alias=near(render_values.DOMAIN_RE), path=near(render_values.URL_PATH_RE))
@example(domain="Bücher.example.", alias="www.a.example", path="/plone/x")
def test_every_domain_alias_and_plone_path_the_model_accepts_renders(world, domain, alias, path):
    snapshot, frontend = world
    site = Site(domain=domain, plone_path=path)
    alias_row = SiteAlias(name=alias)
    if not (accepted(site, "domain") and accepted(site, "plone_path") and accepted(alias_row, "name")):
        return
    if alias_row.name == site.domain:
        return  # one site's two names: refused by the site service (and the host-name table)
    others = {s.domain for s in snapshot.sites[1:]} | {a for s in snapshot.sites[1:] for a in s.aliases}
    if {site.domain, alias_row.name} & others:
        return  # another site's name: refused by the host-name table
    renders(with_site(snapshot, domain=site.domain, aliases=(alias_row.name,), plone_path=site.plone_path), frontend)


@PROPERTY
@given(name=near(render_values.ROUTE_RE), host=near(render_values.HOST_RE), port=st.integers(-5, 70_000))
@example(name="zope1", host="::1", port=8080)
def test_every_zope_server_the_model_accepts_renders(world, name, host, port):
    snapshot, frontend = world
    server = ZopeServer(name=name, host=host, port=port)
    if not all(accepted(server, f) for f in ("name", "host", "port")):
        return
    first, *rest = snapshot.zope_servers
    if name in {s.name for s in rest}:
        return  # a Zope server's name is unique
    record = dataclasses.replace(first, name=name, host=host, port=port)
    balancers = tuple(
        dataclasses.replace(
            b,
            members=tuple(
                dataclasses.replace(m, zope_server=record) if m.zope_server == first else m for m in b.members
            ),
        )
        for b in snapshot.balancers
    )
    renders(dataclasses.replace(snapshot, zope_servers=(record, *rest), balancers=balancers), frontend)


@PROPERTY
@given(
    lbset=st.integers(-5, 200),
    loadfactor=st.integers(-5, 200),
    low=st.one_of(st.none(), st.integers(-5, 20_000)),
    high=st.one_of(st.none(), st.integers(-5, 20_000)),
    timeout=st.integers(-5, 5000),
    retry=st.integers(-5, 5000),
)
def test_every_member_number_the_model_accepts_renders(world, lbset, loadfactor, low, high, timeout, retry):
    snapshot, frontend = world
    values = {"lbset": lbset, "loadfactor": loadfactor, "min": low, "max": high, "smax": low}
    values |= {"timeout": timeout, "retry": retry}
    member = BalancerMember(**values)
    if not all(accepted(member, f) for f in values):
        return
    first, *rest = snapshot.balancers
    members = (dataclasses.replace(first.members[0], **values), *first.members[1:])
    renders(dataclasses.replace(snapshot, balancers=(dataclasses.replace(first, members=members), *rest)), frontend)


@PROPERTY
@given(
    name=near(render_values.NAME_RE),
    config_dir=near(render_values.FS_PATH_RE),
    listen=near(render_values.LISTEN_RE),
    node_address=near(render_values.HOST_RE),
    node_port_base=st.one_of(st.integers(-5, 70_000), st.integers(65_500, 65_540)),
)
@example(name="fe1", config_dir="/etc/apache2/hostpanel/", listen="80", node_address="::1", node_port_base=65535)
def test_every_front_end_the_model_accepts_renders(world, name, config_dir, listen, node_address, node_port_base):
    snapshot, _ = world
    frontend = FrontEnd(
        name=name,
        address="127.0.0.1",
        transport="local",
        config_dir=config_dir,
        http_listen=listen,
        node_address=node_address,
        node_port_base=node_port_base,
    )
    fields = ("name", "config_dir", "http_listen", "node_address", "node_port_base")
    if all(accepted(frontend, f) for f in fields):
        renders(snapshot, frontend)


def test_the_reserved_paths_are_the_renderers_own():
    # the renderer keeps its own constants; the validators must know every one of them
    assert {render.SUSPENDED_PATH, render.NODE_ERROR_PATH} == set(validators.RESERVED_URL_PATHS)


@pytest.mark.parametrize("path", ["/errors/", "/ERROR_503.html/", render.NODE_ERROR_PATH, render.SUSPENDED_PATH])
def test_the_model_refuses_the_error_documents_the_renderer_refused(world, path):
    snapshot, frontend = world
    with pytest.raises(UnsafeValue):
        renders(with_balancer(snapshot, error_document=path), frontend)
    with pytest.raises(ValidationError) as refused:
        Balancer(name="bronze", error_document=path).clean_fields()
    assert "error_document" in refused.value.message_dict
