"""The pure parts of the post-deploy probes: which sites are probed, and what each answer means."""

from __future__ import annotations

from balancers.models import FrontEnd
from deploy.probes import ProbeSite, answered, expectation, judge, plan_probes, site_address
from hostpanel.http import HttpAnswer
from rendering.routes import (
    LIVE,
    REDIRECT,
    ROUTES_MAP,
    ROUTES_RECENT,
    SUSPENDED,
    Route,
    SiteRoutes,
    map_text,
    split_map,
)
from tests.factories import make_tree

CATCH_ALL = HttpAnswer(404, {}, b"<h1>Not Found</h1>")


def route(state: str = LIVE) -> Route:
    return Route(state, "gold", "/plone/site", "s", "__ac", 1200)


def routes(**sites: str) -> str:
    """A routes.map with one group per site (domain -> state), each answering for its domain and www."""
    return map_text([SiteRoutes(d, (d, f"www.{d}"), route(state)) for d, state in sorted(sites.items())])


def tree(**sites: str) -> dict[str, str]:
    return make_tree({"balancers.conf": "x", ROUTES_MAP: routes(**sites)})


def test_every_changed_site_is_probed_plus_a_fixed_sample_of_the_others():
    old = tree(**{f"s{i}.example": LIVE for i in range(30)})
    states = {f"s{i}.example": LIVE for i in range(30) if i != 7}  # s7 removed
    new = tree(**(states | {"s3.example": SUSPENDED, "fresh.example": LIVE}))
    live_map = {ROUTES_MAP: old[ROUTES_MAP]}
    plan = plan_probes(live_map, new, sample=5, seed="x")
    changed = [(p.domain, p.expect) for p in plan if p.changed]
    assert changed == [
        ("fresh.example", "proxied"),
        ("s3.example", "suspended"),
        ("www.fresh.example", "proxied"),
        ("www.s3.example", "suspended"),
        ("s7.example", "absent"),  # a removed name must get the catch-all's 404
        ("www.s7.example", "absent"),
    ]
    sample = [p for p in plan if not p.changed]
    assert len(sample) == 5
    assert {p.domain for p in sample}.isdisjoint(d for d, _ in changed)
    assert all(p.expect == "proxied" for p in sample)
    assert plan == plan_probes(live_map, new, sample=5, seed="x")  # reproducible
    assert len(plan_probes(None, new, sample=5)) == 2 * 30  # first deploy: every name is new
    unchanged = plan_probes({ROUTES_MAP: new[ROUTES_MAP]}, new, sample=5, seed="x")  # a config change: the sample
    assert len(unchanged) == 5 and not any(p.changed for p in unchanged)


def test_the_map_value_says_what_to_expect():
    assert expectation(route(SUSPENDED).value) == "suspended"
    assert expectation(route(REDIRECT).value) == "redirect"
    assert expectation(route(LIVE).value) == "proxied"
    assert expectation(None) == "absent"  # not in the map: the catch-all's 404
    assert expectation("live|gold|/plone site|s|__ac|1200") == "absent"  # not a value the map can hold


def test_a_site_that_turned_into_an_error_or_the_catch_all_fails_its_probe():
    site = ProbeSite("linux.co.uk", "proxied", False)
    ok = HttpAnswer(200, {}, b"{}")
    assert judge(site, ok, ok, CATCH_ALL) == (True, "")
    assert not judge(site, ok, HttpAnswer(503, {}, b""), CATCH_ALL)[0]
    assert judge(site, ok, HttpAnswer(404, {}, b"zope 404"), CATCH_ALL) == (
        False,
        ": it answered 200 before the change",
    )
    assert "catch-all" in judge(site, ok, CATCH_ALL, CATCH_ALL)[1]
    assert judge(site, HttpAnswer(404, {}, b"z"), HttpAnswer(404, {}, b"z"), CATCH_ALL)[0]  # was 404, still 404
    redirect = ProbeSite("tls.example", "redirect", True)
    assert judge(redirect, ok, HttpAnswer(301, {"Location": "https://tls.example/"}), CATCH_ALL)[0]
    assert not judge(redirect, ok, ok, CATCH_ALL)[0]


def test_only_a_real_answer_of_the_sites_own_vhost_counts_as_answered_before():
    assert answered(HttpAnswer(200, {}, b"x"), CATCH_ALL)
    assert answered(HttpAnswer(503, {"Retry-After": "3600"}, b"suspended"), CATCH_ALL)
    assert not answered(HttpAnswer(503, {}, b"no member"), CATCH_ALL)
    assert not answered(CATCH_ALL, CATCH_ALL)  # a site that did not exist yet
    assert not answered(HttpAnswer(0, {}, error="timed out"), CATCH_ALL)


def test_the_probes_go_to_the_site_listen_address_or_the_front_ends_address():
    assert site_address(FrontEnd(address="10.0.0.5", http_listen="*:80")) == ("10.0.0.5", 80)
    assert site_address(FrontEnd(address="10.0.0.5", http_listen="127.0.0.1:8080")) == ("127.0.0.1", 8080)
    assert site_address(FrontEnd(address="fe1.example", http_listen="[::1]:80")) == ("::1", 80)


def test_on_one_base_the_plan_from_the_overlays_is_the_plan_from_the_whole_maps():
    sites = {f"s{i}.example": LIVE for i in range(40)}
    base = routes(**sites)
    old_sites = sites | {"s1.example": SUSPENDED, "fresh.example": LIVE}
    old_sites.pop("s2.example")
    new_sites = old_sites | {"s1.example": LIVE, "s3.example": REDIRECT, "later.example": LIVE}
    new_sites.pop("s4.example")
    new_sites.pop("fresh.example")
    trees = []
    for states in (old_sites, new_sites):
        kept, overlay = split_map(routes(**states), base, 500)
        assert kept == base
        trees.append(make_tree({"balancers.conf": "x", ROUTES_MAP: base, ROUTES_RECENT: overlay}))
    old, new = trees
    fast = plan_probes({ROUTES_MAP: old[ROUTES_MAP], ROUTES_RECENT: old[ROUTES_RECENT]}, new, sample=5, seed="x")
    whole = plan_probes({ROUTES_MAP: routes(**old_sites)}, tree(**new_sites), sample=5, seed="x")
    changed = [(p.domain, p.expect) for p in fast if p.changed]
    assert changed == [(p.domain, p.expect) for p in whole if p.changed]
    assert ("s1.example", "proxied") in changed and ("fresh.example", "absent") in changed
    assert ("s3.example", "redirect") in changed and ("s4.example", "absent") in changed
    sample = [p for p in fast if not p.changed]
    assert len(sample) == 5 and all(p.expect == "proxied" for p in sample)
    assert {p.domain for p in sample}.isdisjoint(d for d, _ in changed)
