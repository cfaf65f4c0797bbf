"""The routing map: which balancer and Plone site answers each host name, read by Apache at request time.

`routes.map` is a RewriteMap of type txt (docs/apache-facts.md, "RewriteMap"): Apache caches it per child
and reads it again when its mtime changes, with no reload. One line per host name (a site's domain and
each alias), grouped under a comment naming the site they belong to:

    # site example.com
    example.com live|gold|/plone/example|s|__ac_route|1200
    www.example.com live|gold|/plone/example|s|__ac_route|1200

The value is one token (a txt map value cannot hold a space): state|balancer|plone path|mode|sticky
cookie|cookie lifetime in seconds. state is `live` (proxied), `suspended` (503 and the suspended page from
Apache) or `redirect` (HTTP answers 301 to https://; HTTPS proxies); mode is `s` (single-pass: Apache sets
the sticky cookie) or `n` (node-vhosts: the node vhost sets it). The routing rules that read it are in
routing-http.conf / routing-https.conf (balancers/jinja2/apache/routing.conf.j2).

Pure: no I/O. Every line is checked against one strict pattern before it is written, so no value the
renderer accepted can break the format (a space, a newline or a `|` would).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

ROUTES_MAP = "routes.map"
# What Apache reads: an SDBM built from routes.map ON the front-end, in each release before it is switched
# in (httxt2dbm, from apache2-utils, which Debian's apache2 depends on). Measured at 10,000 sites
# (docs/apache-facts.md, "RewriteMap"): after a map change every child looks each host up again, and a
# txt map scans its 1 MB file per lookup (+2 to +3 ms per host and child, and a full scan for every
# made-up Host header); the DBM answers in constant time (+0.02 ms). Building it costs ~45 ms per release.
# SDBM is compiled into APR-util, so every Apache has it; a key and its value must fit in 1,008 bytes.
ROUTES_DBM = "routes.dbm"
DERIVED_FILES = ("routes.dbm.dir", "routes.dbm.pag")  # never uploaded, never read back, never in MANIFEST
DBM_BUILD_SH = (
    "if [ -f routes.map ]; then command -v httxt2dbm >/dev/null || { echo 'httxt2dbm not found on the front-end: "
    "install apache2-utils (it builds routes.dbm from routes.map)' >&2; exit 1; }; "
    "rm -f routes.dbm.dir routes.dbm.pag; httxt2dbm -f SDBM -i routes.map -o routes.dbm >/dev/null; fi"
)
LIVE, SUSPENDED, REDIRECT = "live", "suspended", "redirect"
STATES = (LIVE, SUSPENDED, REDIRECT)
_GROUP = "# site "
# Apache reads a txt map line into a buffer of REWRITE_MAX_TXT_MAP_LINE (1024) bytes, newline included: a
# longer line is cut, its value read short (a ttl of 1200 read as 120, a path cut) and its rest as a new line.
MAX_LINE = 1000  # Apache reads a txt line into 1,024 bytes; SDBM holds a key and value up to 1,008
_LINE_RE = re.compile(
    r"(?P<name>[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?) "
    r"(?P<value>(?P<state>live|suspended|redirect)\|(?P<balancer>[a-z0-9_-]+)\|(?P<path>(?:/[A-Za-z0-9._~-]+)+)"
    r"\|(?P<mode>[sn])\|(?P<cookie>[A-Za-z0-9_-]{1,64})\|(?P<ttl>[0-9]{1,8}))"
)


def is_map_only(changed: set[str]) -> bool:
    """Whether a change of these tree paths is a routing change alone: Apache picks up a new routes.map by
    itself (its mtime changes), so such a release needs no configtest and no reload."""
    return changed == {ROUTES_MAP}


def change_kind(changed: set[str]) -> str:
    """ "map", "config" or "" (nothing) for the set of tree paths a change touches (MANIFEST ignored)."""
    paths = changed - {"MANIFEST"}
    return "" if not paths else "map" if is_map_only(paths) else "config"


CHANGE_KIND_TEXT = {
    "map": "routing map only: no configtest, no reload",
    "config": "config: configtest + graceful reload",
    "": "no change",
}


class MapFormatError(ValueError):
    """A line that would not be exactly one host name and one route (never written)."""


@dataclass(frozen=True, slots=True)
class Route:
    state: str
    balancer: str
    plone_path: str
    mode: str  # "s" single-pass, "n" node-vhosts
    cookie: str
    cookie_ttl: int

    @property
    def value(self) -> str:
        return f"{self.state}|{self.balancer}|{self.plone_path}|{self.mode}|{self.cookie}|{self.cookie_ttl}"

    @property
    def expectation(self) -> str:
        """What a plain-HTTP request for the name gets: proxied, suspended or redirect (deploy probes)."""
        return {LIVE: "proxied", SUSPENDED: "suspended", REDIRECT: "redirect"}[self.state]


@dataclass(frozen=True, slots=True)
class SiteRoutes:
    """One site's lines: its domain, every name it answers for (domain first), and its route."""

    domain: str
    names: tuple[str, ...]
    route: Route


def map_line(name: str, route: Route) -> str:
    line = f"{name} {route.value}"
    if len(line) > MAX_LINE or not _LINE_RE.fullmatch(line):
        raise MapFormatError(f"refusing to write a routing map line for {name[:80]!r}: {route.value[:120]!r}")
    return line


def group_text(site: SiteRoutes) -> str:
    """One site's part of the map: its `# site` comment and a checked line per name."""
    if not _LINE_RE.fullmatch(f"{site.domain} {site.route.value}"):
        raise MapFormatError(f"refusing to write a routing map group for {site.domain[:80]!r}")
    return f"{_GROUP}{site.domain}\n" + "".join(map_line(name, site.route) + "\n" for name in site.names)


def join_map(groups: list[str], *, header: str = "") -> str:
    """The whole map from group_text() parts, in the order given (the renderer sorts them by domain)."""
    return "".join([*(f"# {line}\n" for line in header.splitlines()), *groups])


def map_text(sites: list[SiteRoutes], *, header: str = "") -> str:
    """The whole map, sites in the order given."""
    return join_map([group_text(site) for site in sites], header=header)


def parse_route(value: str) -> Route | None:
    match = _LINE_RE.fullmatch(f"x {value}")
    if match is None:
        return None
    return Route(match["state"], match["balancer"], match["path"], match["mode"], match["cookie"], int(match["ttl"]))


def parse_map(text: str) -> dict[str, SiteRoutes]:
    """{site domain: its lines} of a map this module wrote (lines that are not ours are skipped: this is
    read back from trees the panel deployed, to keep a bad row's previous routes and to plan probes)."""
    groups: dict[str, tuple[list[str], Route | None]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith(_GROUP):
            current = line[len(_GROUP) :].strip()
            groups[current] = ([], None)
            continue
        match = _LINE_RE.fullmatch(line)
        if match is None or current is None:
            continue
        names, route = groups[current]
        names.append(match["name"])
        groups[current] = (names, route or parse_route(match["value"]))
    return {domain: SiteRoutes(domain, tuple(names), route) for domain, (names, route) in groups.items() if route}


def map_entries(text: str) -> dict[str, str]:
    """{host name: value} of every route line (what Apache looks up)."""
    return {m["name"]: m["value"] for m in map(_LINE_RE.fullmatch, text.splitlines()) if m is not None}


def changed_names(old_text: str, new_text: str) -> tuple[list[str], list[str]]:
    """(names added or whose route changed, names removed) between two maps, each sorted. Only the
    lines that differ are parsed (a set difference of lines: a few ms for 20,000 names)."""
    changed, removed = _changed_names(old_text, new_text)
    return list(changed), list(removed)


@functools.lru_cache(maxsize=4)  # every front-end of a deployment asks about the same two maps
def _changed_names(old_text: str, new_text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    old_lines, new_lines = set(old_text.splitlines()), set(new_text.splitlines())
    added = map_entries("\n".join(new_lines - old_lines))
    gone = map_entries("\n".join(old_lines - new_lines))
    return tuple(sorted(added)), tuple(sorted(set(gone) - set(added)))


def sample_entries(text: str, count: int, rng) -> dict[str, str]:
    """{name: value} of up to `count` route lines picked at random (without parsing the whole map)."""
    lines = text.splitlines()
    picked: dict[str, str] = {}
    for index in rng.sample(range(len(lines)), min(len(lines), count * 3)):
        entry = map_entries(lines[index])
        picked.update(entry)
        if len(picked) >= count:
            break
    return picked
