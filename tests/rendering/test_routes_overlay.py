"""rendering.routes: the routing map as a base (routes.map) and an overlay (routes-recent.map). Whatever
sequence of changes (sites added, removed, moved, names passed from one site to another), the overlay
merged onto its base gives the whole map back byte for byte, and looking a name up as Apache does
(overlay first, then the base) gives the whole map's answer: a removed name is `gone` (404)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rendering.routes import (
    GONE_VALUE,
    ROUTES_MAP,
    ROUTES_RECENT,
    Route,
    SiteRoutes,
    empty_overlay,
    full_map,
    group_text,
    map_entries,
    merge_map,
    split_map,
    whole_map,
)

ROUTES = [
    Route("live", "gold", "/plone/a", "s", "__ac", 1200),
    Route("suspended", "gold", "/plone/a", "s", "__ac", 1200),
    Route("live", "silver", "/plone/b", "n", "BALANCEID", 60),
    Route("redirect", "silver", "/plone/c", "s", "BALANCEID", 60),
]


def whole(sites: dict[str, tuple[tuple[str, ...], int]]) -> str:
    """A whole map as the renderer writes it: groups sorted by domain."""
    groups = [group_text(SiteRoutes(d, (d, *names), ROUTES[r])) for d, (names, r) in sorted(sites.items())]
    return full_map(groups)


def lookup(base: str, overlay: str, name: str) -> str | None:
    """What mod_rewrite answers for ${recent:NAME|${base:NAME|-}}."""
    recent = map_entries(overlay)
    return recent[name] if name in recent else map_entries(base).get(name)


DOMAINS = [f"site{i}.example" for i in range(8)]
ALIASES = [f"www{i}.example" for i in range(6)]
state = st.dictionaries(
    st.sampled_from(DOMAINS),
    st.tuples(st.lists(st.sampled_from(ALIASES), max_size=2, unique=True).map(tuple), st.integers(0, 3)),
)


def unclaimed_twice(sites):
    """Every name at most once in a map (the renderer leaves a double claim out)."""
    seen: set[str] = set()
    out = {}
    for domain, (names, route) in sorted(sites.items()):
        names = tuple(n for n in names if n not in seen)
        seen.update(names)
        out[domain] = (names, route)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(state, min_size=1, max_size=5), st.integers(0, 30))
def test_base_and_overlay_always_stand_for_the_whole_map(history, max_lines):
    base: str | None = None
    for sites in map(unclaimed_twice, history):
        full = whole(sites)
        new_base, overlay = split_map(full, base, max_lines)
        assert merge_map(new_base, overlay) == full
        assert whole_map({ROUTES_MAP: new_base, ROUTES_RECENT: overlay}) == full
        assert sum(1 for line in overlay.splitlines() if not line.startswith("#")) <= max_lines or new_base == full
        answers = map_entries(full)
        for name in {*map_entries(new_base), *answers}:
            found = lookup(new_base, overlay, name)
            assert found == answers.get(name, GONE_VALUE if name in map_entries(new_base) else None)
        base = new_base


def test_one_site_added_to_ten_thousand_is_a_few_lines_and_keeps_the_base():
    sites = {f"s{i:05d}.example": ((), i % 4) for i in range(10_000)}
    base = whole(sites)
    sites["new.example"] = (("www.new.example",), 0)
    kept, overlay = split_map(whole(sites), base, 500)
    assert kept is base
    assert [line for line in overlay.splitlines() if not line.startswith("# HostPanel")] == [
        "# site new.example",
        "new.example live|gold|/plone/a|s|__ac|1200",
        "www.new.example live|gold|/plone/a|s|__ac|1200",
    ]


def test_a_removed_site_and_a_dropped_alias_are_gone_and_a_moved_alias_is_not():
    base = whole({"a.example": (("www.a.example", "old.a.example"), 0), "b.example": (("www.b.example",), 1)})
    # b removed; a drops old.a.example and takes over www.b.example
    full = whole({"a.example": (("www.a.example", "www.b.example"), 0)})
    kept, overlay = split_map(full, base, 500)
    assert kept == base
    assert "# removed b.example" in overlay.splitlines()
    assert lookup(kept, overlay, "b.example") == GONE_VALUE
    assert lookup(kept, overlay, "old.a.example") == GONE_VALUE
    assert lookup(kept, overlay, "www.b.example") == "live|gold|/plone/a|s|__ac|1200"
    assert merge_map(kept, overlay) == full


def test_past_the_bound_the_whole_map_becomes_the_new_base():
    base = whole({f"s{i}.example": ((), 0) for i in range(10)})
    full = whole({f"s{i}.example": ((), 1) for i in range(10)})  # 10 changed lines
    assert split_map(full, base, 10) == (base, split_map(full, base, 10)[1])
    assert split_map(full, base, 9) == (full, empty_overlay())
    assert split_map(full, None, 500) == (full, empty_overlay())
    assert merge_map(full, empty_overlay()) is full
