"""rendering.routes: the routing map Apache reads at request time (routes.map, a txt RewriteMap). What it
writes reads back exactly; a name or value that would break its one-token-per-field format is never
written; and whatever the models accept (generated with hypothesis) makes a map that parses back to the
input, two fields a line."""

from __future__ import annotations

import dataclasses

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from balancers.models import Balancer
from rendering import values as render_values
from rendering.render import UnsafeValue, render_tree, render_tree_isolated
from rendering.routes import (
    MAX_LINE,
    ROUTES_MAP,
    MapFormatError,
    Route,
    SiteRoutes,
    changed_names,
    group_text,
    map_entries,
    map_line,
    map_text,
    parse_map,
    parse_route,
)
from rendering.snapshot import load_snapshot
from sites.models import Site, SiteAlias

GOLD = Route("live", "gold", "/plone/example", "s", "__ac_route", 1200)
SILVER = Route("suspended", "silver", "/plone/other", "n", "BALANCEID", 60)
EXAMPLE = SiteRoutes("example.com", ("example.com", "www.example.com"), GOLD)
OTHER = SiteRoutes("other.example", ("other.example",), SILVER)


def test_a_map_reads_back_exactly_what_was_written():
    text = map_text([EXAMPLE, OTHER], header="HostPanel routes for front-end fe1: 2 sites")
    assert text == (
        "# HostPanel routes for front-end fe1: 2 sites\n"
        "# site example.com\n"
        "example.com live|gold|/plone/example|s|__ac_route|1200\n"
        "www.example.com live|gold|/plone/example|s|__ac_route|1200\n"
        "# site other.example\n"
        "other.example suspended|silver|/plone/other|n|BALANCEID|60\n"
    )
    assert parse_map(text) == {"example.com": EXAMPLE, "other.example": OTHER}
    assert map_entries(text) == {
        "example.com": GOLD.value,
        "www.example.com": GOLD.value,
        "other.example": SILVER.value,
    }
    assert parse_route(GOLD.value) == GOLD and parse_route("live|gold") is None
    assert parse_map("") == {} and map_entries("") == {} and map_text([]) == ""


def test_lines_that_are_not_ours_are_skipped_when_reading():
    text = map_text([EXAMPLE]) + "stray.example live|gold|/x|s|c|1\n" + "garbage\n# site bad\nnot a line\n"
    assert parse_map("stray.example live|gold|/x|s|c|1\n") == {}  # a line outside any group
    # a line of the group with another route keeps it (an edit host has its own): the group is written back as read
    stray = ("stray.example", Route("live", "gold", "/x", "s", "c", 1))
    expected = dataclasses.replace(EXAMPLE, names=(*EXAMPLE.names, "stray.example"), own=(stray,))
    assert parse_map(text) == {"example.com": expected}
    assert group_text(expected) in text
    assert "garbage" not in map_entries(text) and "not" not in map_entries(text)


def test_changed_names_are_the_names_added_or_rerouted_and_those_removed():
    old = map_text([EXAMPLE, OTHER])
    moved = dataclasses.replace(EXAMPLE, names=("example.com", "shop.example.com"))
    moved = dataclasses.replace(moved, route=dataclasses.replace(GOLD, plone_path="/plone/moved"))
    new = map_text([moved, OTHER])
    assert changed_names(old, new) == (["example.com", "shop.example.com"], ["www.example.com"])
    assert changed_names(old, old) == ([], [])
    assert changed_names("", old) == (sorted(map_entries(old)), [])
    assert changed_names(old, "") == ([], sorted(map_entries(old)))


HOSTILE_NAMES = [
    "",
    "evil.example live|gold|/x|s|c|1",
    "a.example\nevil.example",
    "a.example|x",
    "a.example#x",
    "#a.example",
    "Example.com",
    "a.example\x00",
    "a.example\t",
    "-a.example",
    "a.example.",
    "a" * 254,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_map_line_refuses_a_name_that_is_not_one_lower_case_host_name(name):
    with pytest.raises(MapFormatError):
        map_line(name, GOLD)
    with pytest.raises(MapFormatError):
        map_text([SiteRoutes(name, (name,), GOLD)])


HOSTILE_VALUES = [
    ("state", ""),
    ("state", "LIVE"),
    ("state", "live|gold"),
    ("balancer", ""),
    ("balancer", "gold silver"),
    ("balancer", "gold\nevil.example live"),
    ("balancer", "gold|x"),
    ("balancer", "gold#"),
    ("balancer", "Gold"),
    ("balancer", "gold\x00"),
    ("plone_path", ""),
    ("plone_path", "/"),
    ("plone_path", "plone"),
    ("plone_path", "/plone/a b"),
    ("plone_path", "/plone/a\nevil.example live|gold|/x|s|c|1"),
    ("plone_path", "/plone|a"),
    ("plone_path", "/plone/#a"),
    ("plone_path", "/plone//a"),
    ("plone_path", "/plone/\x00"),
    ("plone_path", "/" + "a" * 2000),  # a line Apache's txt map would cut
    ("mode", ""),
    ("mode", "x"),
    ("mode", "S"),
    ("cookie", ""),
    ("cookie", "a b"),
    ("cookie", "a|b"),
    ("cookie", "a;Domain=evil"),
    ("cookie", "a#"),
    ("cookie", "a\n"),
    ("cookie", "a\x00"),
    ("cookie", "c" * 65),
    ("cookie_ttl", -1),
    ("cookie_ttl", 10**9),
    ("cookie_ttl", "1200 x"),
]


@pytest.mark.parametrize(("field", "value"), HOSTILE_VALUES, ids=[f"{f}={v!r:.30}" for f, v in HOSTILE_VALUES])
def test_map_line_refuses_a_value_that_would_not_be_one_route_token(field, value):
    route = dataclasses.replace(GOLD, **{field: value})
    with pytest.raises(MapFormatError):
        map_line("example.com", route)
    with pytest.raises(MapFormatError):
        map_text([SiteRoutes("example.com", ("example.com",), route)])


def test_the_longest_line_the_map_writes_still_fits_apaches_line_buffer():
    name = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters, the longest host name
    longest = Route("suspended", "b" * 50, "/" + "p" * 254, "s", "c" * 64, 31_536_000)  # the models' maxima
    assert len(map_line(name, longest)) < MAX_LINE
    path = "/" + "p" * (MAX_LINE - len(map_line(name, dataclasses.replace(longest, plone_path="/p"))) + 1)
    assert len(map_line(name, dataclasses.replace(longest, plone_path=path))) == MAX_LINE
    with pytest.raises(MapFormatError):
        map_line(name, dataclasses.replace(longest, plone_path=path + "p"))


def test_a_planted_path_too_long_for_the_map_leaves_only_its_site_out(demo, frontend):
    snapshot = load_snapshot()
    linux = next(s for s in snapshot.sites if s.domain == "linux.co.uk")
    planted = dataclasses.replace(linux, plone_path="/" + "a" * 1100)  # past Site.plone_path's validators
    bad = dataclasses.replace(snapshot, sites=(planted, *(s for s in snapshot.sites if s is not linux)))
    with pytest.raises(UnsafeValue, match="routing map line"):
        render_tree(bad, frontend)
    previous = render_tree(snapshot, frontend)
    result = render_tree_isolated(bad, frontend, previous=previous)
    assert [(p.site, p.kept) for p in result.problems] == [("linux.co.uk", ROUTES_MAP)]
    assert parse_map(result.tree[ROUTES_MAP]) == parse_map(previous[ROUTES_MAP])  # its previous routes kept


# --- whatever the models accept, the rendered map holds exactly ---------------------------------------

# filter_too_much: six independent values must all be accepted (most are; --hypothesis-show-statistics
# shows about half the cases reach the asserts), and an early run of rejections must not fail the test.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
ALPHABET = st.sampled_from(list("abcxyz0189-._~/:*[]+ %$#\"'<>\\\n\t@=?!;,(){}|&^`AZ") + ["é", "ß", "\x00"])
TEXT = st.text(ALPHABET, max_size=30)


def near(pattern) -> st.SearchStrategy[str]:
    """Mostly values shaped like the renderer's own pattern (most of which validate), and some plain text."""
    shaped = st.from_regex(pattern, fullmatch=True).filter(lambda v: len(v) <= 300)
    return st.one_of(shaped, shaped, shaped, TEXT)


# host names as the models take them (a name, not an IP: the last label has a letter), some upper-case or
# with a final dot (Site normalises its domain; an alias must already be lower-case), long ones included
LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True)
TLD = st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z]|xn--[a-z0-9]{2,20}", fullmatch=True)
NAMES = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(LABEL, min_size=1, max_size=5), TLD)
HOST_NAMES = st.one_of(NAMES, NAMES, NAMES.map(str.upper), NAMES.map(lambda n: n + "."), near(render_values.DOMAIN_RE))


def accepted(instance, field: str) -> bool:
    """Does the model accept this value (its field validators and its clean())?"""
    others = [f.name for f in instance._meta.fields if f.name != field]
    try:
        instance.clean_fields(exclude=others)
        instance.clean()
    except ValidationError:
        return False
    return True


@PROPERTY
@given(
    domain=HOST_NAMES,
    alias=HOST_NAMES,
    path=near(render_values.URL_PATH_RE),
    balancer=near(render_values.NAME_RE),
    cookie=near(render_values.COOKIE_RE),
    ttl=st.integers(1, 31_536_000),
    suspended=st.booleans(),
    node_vhosts=st.booleans(),
)
@example(
    domain="Bücher.Example.",
    alias=".".join(["a" * 63] * 3 + ["b" * 61]),  # 253 characters, the longest host name
    path="/" + "/".join(["p" * 63] * 3 + ["p" * 62]),  # 255 characters, the longest Plone path
    balancer="b" * 50,
    cookie="C" * 64,
    ttl=31_536_000,
    suspended=True,
    node_vhosts=True,
)
def test_every_value_the_models_accept_reads_back_from_the_rendered_map_two_fields_a_line(
    demo, frontend, domain, alias, path, balancer, cookie, ttl, suspended, node_vhosts
):
    site, alias_row = Site(domain=domain, plone_path=path), SiteAlias(name=alias)
    row = Balancer(name=balancer, sticky_cookie=cookie, cookie_ttl=ttl)
    assume(accepted(site, "domain") and accepted(site, "plone_path") and accepted(alias_row, "name"))
    assume(all(accepted(row, field) for field in ("name", "sticky_cookie", "cookie_ttl")))
    assume(alias_row.name != site.domain)  # one host name, one site (the host-name table refuses it)
    snapshot = load_snapshot()
    (linux,) = snapshot.sites
    bronze, *rest = snapshot.balancers
    assume(row.name not in {b.name for b in rest})  # a balancer's name is unique
    status, mode = ("suspended" if suspended else "active"), ("node-vhosts" if node_vhosts else "single-pass")
    site_record = dataclasses.replace(
        linux,
        domain=site.domain,
        aliases=(alias_row.name,),
        plone_path=site.plone_path,
        balancer=row.name,
        status=status,
    )
    balancer_record = dataclasses.replace(
        bronze, name=row.name, sticky_cookie=row.sticky_cookie, cookie_ttl=row.cookie_ttl, render_mode=mode
    )
    snapshot = dataclasses.replace(snapshot, sites=(site_record,), balancers=(balancer_record, *rest))
    text = render_tree(snapshot, frontend)[ROUTES_MAP]

    route = Route(
        "suspended" if suspended else "live", row.name, site.plone_path, "n" if node_vhosts else "s", cookie, ttl
    )
    assert parse_map(text) == {site.domain: SiteRoutes(site.domain, (site.domain, alias_row.name), route)}
    assert map_entries(text) == {site.domain: route.value, alias_row.name: route.value}
    for line in text.splitlines():
        assert line and "\x00" not in line and "\t" not in line and len(line) <= MAX_LINE
        if not line.startswith("#"):
            assert len(line.split(" ")) == 2, line
