"""The routing map: which balancer and Plone site answers each host name, read by Apache at request time.

`routes.map` is a RewriteMap of type txt (docs/apache-facts.md, "RewriteMap"): Apache caches it per child
and reads it again when its mtime changes, with no reload. One line per host name (a site's domain and
each alias), grouped under a comment naming the site they belong to:

    # site example.com
    example.com live|gold|/plone/example|s|__ac_route|1200
    www.example.com live|gold|/plone/example|s|__ac_route|1200

The value is one token (a txt map value cannot hold a space): state|balancer|plone path|mode|sticky
cookie|cookie lifetime in seconds, then the site's options when it has any (_OPTIONS_RE below: a site without
options has exactly these six fields; its edit host is a line of its own, `|e...`). state is `live` (proxied),
`suspended` (503 and the suspended page from Apache) or `redirect` (HTTP answers 301 to https://; HTTPS
proxies); mode is `s` (single-pass: Apache sets the sticky cookie) or `n` (node-vhosts: the node vhost sets
it). The routing rules that read it are in routing-http.conf / routing-https.conf
(rendering/templates/apache/routing.conf.j2).

The map is deployed as two files, so that one site's change is a small upload with nothing to rebuild
on the front-end, whatever the number of sites:

- `routes.map`, the *base*: the whole map as it was at the last rebase (Apache reads its SDBM,
  routes.dbm, built on the front-end only when the base changes);
- `routes-recent.map`, the *overlay*: the groups of the sites changed or added since the base, a
  `# removed <domain>` line per site removed since, and a `gone` line for every base name that no
  longer routes (Apache answers it 404). Apache looks a name up in the overlay first (a small txt map,
  its misses cached per child) and in the base only when the overlay does not name it:
  `${hostpanel-recent:NAME|${hostpanel-routes:NAME|-}}` (mod_rewrite expands the default on a miss only).

`split_map(full, base)` makes the two from the whole map and the current base (a new base, with an empty
overlay, once the overlay would pass HOSTPANEL_ROUTES_OVERLAY_MAX_LINES); `merge_map(base, overlay)` gives
the whole map back, byte for byte (drift, probes, isolation and the importer read that).

Pure: no I/O. Every line is checked against one strict pattern before it is written, so no value the
renderer accepted can break the format (a space, a newline or a `|` would).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from rendering import cache

ROUTES_MAP = "routes.map"  # the base
ROUTES_RECENT = "routes-recent.map"  # the overlay: looked up first
ROUTE_FILES = frozenset({ROUTES_MAP, ROUTES_RECENT})
# The release's own proof (rendering.manifest.seal_tree): new in every release, and like the map read by
# Apache at request time through config_dir (served as a file), so it never needs a reload either.
RELEASE_FILE = "public/hostpanel-release.txt"
RELEASE_URL_PATH = "/.well-known/hostpanel-release"
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
    # only when the base is new in this release: an unchanged one came hard-linked with its SDBM
    "if [ ! -f routes.dbm.pag ] || [ ! -f routes.dbm.dir ] || [ routes.map -nt routes.dbm.pag ]; then "
    "rm -f routes.dbm.dir routes.dbm.pag; httxt2dbm -f SDBM -i routes.map -o routes.dbm >/dev/null; fi; fi"
)
LIVE, SUSPENDED, REDIRECT = "live", "suspended", "redirect"
STATES = (LIVE, SUSPENDED, REDIRECT)
GONE = "gone"  # overlay only: a base name that no longer routes (no rule matches it: 404)
GONE_VALUE = "gone|-|/-|s|-|0"
_GROUP = "# site "
_REMOVED = "# removed "
_GONE_HEADER = "# gone"
# Apache reads a txt map line into a buffer of REWRITE_MAX_TXT_MAP_LINE (1024) bytes, newline included: a
# longer line is cut, its value read short (a ttl of 1200 read as 120, a path cut) and its rest as a new line.
MAX_LINE = 1000  # Apache reads a txt line into 1,024 bytes; SDBM holds a key and value up to 1,008
# Site options (sites.Site; README "Site options"), after the six fields and only when set, each in this order:
#   |e               this name is the site's edit host: staff networks only (403 for others)
#   |z=s  or  |z=b   the Zope management interface: staff networks only, or blocked for everyone
#   |m=PUT,DELETE    methods Apache answers 405 (hostpanel.validators.BLOCKABLE_METHODS, in that order)
#   |p=/icons/,/robots.txt   paths Apache serves itself: a prefix ending in '/', or one exact path
# then the site's kind (sites.Site.kind; a Classic UI site has none of these: its value is unchanged):
#   |v=FRONT         Volto: /++api++ to the site's (Zope) balancer, every other path to balancer FRONT
#   |c=ClassicUI     (after |v= only) Plone's Classic UI under /ClassicUI, for the staff networks only
#   |f=FRONT         frontend only: every path to balancer FRONT
# So adding, suspending, moving or changing the kind of a Volto site is a map change like any other.
# A value without options ends at its ttl: the routing rules proxy it at once (one rule, one lookup), and
# only a value with options goes on to the options block (rendering/templates/apache/routing.conf.j2).
_PASSTHROUGH = r"(?:/[A-Za-z0-9._~-]+)+/?"
_KIND_RE = r"(?:\|v=[a-z0-9_-]+(?:\|c=[A-Za-z][A-Za-z0-9_-]{0,62})?|\|f=[a-z0-9_-]+)?"
_OPTIONS_RE = rf"(?:\|e)?(?:\|z=[sb])?(?:\|m=[A-Z]+(?:,[A-Z]+)*)?(?:\|p={_PASSTHROUGH}(?:,{_PASSTHROUGH})*)?{_KIND_RE}"
_LINE_RE = re.compile(
    r"(?P<name>[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?) "
    r"(?P<value>(?P<state>live|suspended|redirect|gone)\|(?P<balancer>[a-z0-9_-]+)\|(?P<path>(?:/[A-Za-z0-9._~-]+)+)"
    rf"\|(?P<mode>[sn])\|(?P<cookie>[A-Za-z0-9_-]{{1,64}})\|(?P<ttl>[0-9]{{1,8}})(?P<options>{_OPTIONS_RE}))"
)


# The nginx TLS edge (FrontEnd.tls_edge, rendering.render): its http-context include, the certificate and key
# of every name served over HTTPS (nginx reads them at each handshake: a new one needs no reload), and the HSTS
# lifetime per name (a txt map Apache's edge vhost reads, re-read when it changes).
EDGE_NGINX_CONF = "edge/nginx.conf"
EDGE_TLS_DIR = "edge/tls"
EDGE_HSTS_MAP = "edge/hsts.map"


def is_read_live(path: str) -> bool:
    """A file the front-end reads again by itself when it changes (no configtest, no reload): the routing
    map's two files, and on an nginx edge the certificates, keys and HSTS map."""
    return path in ROUTE_FILES or path == EDGE_HSTS_MAP or path.startswith(EDGE_TLS_DIR + "/")


def is_map_only(changed: set[str]) -> bool:
    """Whether a change of these tree paths is a routing change alone: Apache picks up a new routes.map or
    routes-recent.map by itself (its mtime changes), and an nginx edge reads each certificate at the
    handshake, so such a release needs no configtest and no reload."""
    changed = changed - {RELEASE_FILE}
    return bool(changed) and all(is_read_live(path) for path in changed)


def change_kind(changed: set[str]) -> str:
    """ "map", "config" or "" (nothing) for the set of tree paths a change touches (MANIFEST ignored)."""
    paths = changed - {"MANIFEST", RELEASE_FILE}
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
    options: str = ""  # "" or the option fields, each with its leading '|' (site_options() makes it)

    @property
    def value(self) -> str:
        base = f"{self.state}|{self.balancer}|{self.plone_path}|{self.mode}|{self.cookie}|{self.cookie_ttl}"
        return base + self.options

    @property
    def expectation(self) -> str:
        """What a plain-HTTP request for the name gets: proxied, suspended or redirect (deploy probes)."""
        return {LIVE: "proxied", SUSPENDED: "suspended", REDIRECT: "redirect", GONE: "absent"}[self.state]

    @property
    def edit_host(self) -> bool:
        return self.options.startswith("|e") and self.options[2:3] in ("", "|")


CLASSIC, VOLTO, FRONTEND_ONLY = "classic", "volto", "frontend_only"  # sites.choices.SiteKind


def site_options(
    *,
    edit_host: bool = False,
    manage: str = "public",
    methods: tuple[str, ...] = (),
    paths: tuple[str, ...] = (),
    kind: str = CLASSIC,
    frontend: str = "",
    classic_ui: str = "",
) -> str:
    """The option fields of a route value ("" for a Classic UI site without options: its value is unchanged).
    `frontend` is the frontend balancer's name, `classic_ui` the Classic UI path's segment (no slash)."""
    parts = ["|e"] if edit_host else []
    if manage in ("staff", "blocked"):
        parts.append(f"|z={manage[0]}")
    if methods:
        parts.append("|m=" + ",".join(methods))
    if paths:
        parts.append("|p=" + ",".join(paths))
    if kind == VOLTO:
        parts.append(f"|v={frontend}" + (f"|c={classic_ui}" if classic_ui else ""))
    elif kind == FRONTEND_ONLY:
        parts.append(f"|f={frontend}")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class RouteOptions:
    """The option fields of a route value, read back (the importer's round trip, tests)."""

    edit_host: bool = False
    manage: str = "public"
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    kind: str = CLASSIC
    frontend: str = ""  # the frontend balancer (Volto and frontend-only sites)
    classic_ui: str = ""  # the Classic UI path's segment (Volto sites), without its slash


def parse_options(options: str) -> RouteOptions:
    """The options of a value's tail as site_options() wrote it (the line pattern has checked its shape)."""
    edit, manage = False, "public"
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    kind, frontend, classic_ui = CLASSIC, "", ""
    for part in options.split("|")[1:]:
        if part == "e":
            edit = True
        elif part.startswith("z="):
            manage = {"s": "staff", "b": "blocked"}.get(part[2:], manage)
        elif part.startswith("m="):
            methods = tuple(part[2:].split(","))
        elif part.startswith("p="):
            paths = tuple(part[2:].split(","))
        elif part.startswith(("v=", "f=")):
            kind, frontend = (VOLTO if part[0] == "v" else FRONTEND_ONLY), part[2:]
        elif part.startswith("c="):
            classic_ui = part[2:]
    return RouteOptions(edit, manage, methods, paths, kind, frontend, classic_ui)


_GONE_ROUTE = Route(GONE, "-", "/-", "s", "-", 0)


@dataclass(frozen=True, slots=True)
class SiteRoutes:
    """One site's lines: its domain, every name it answers for (domain first), and its route; `own` are
    the names among them with a route of their own (the edit host: the site's route with `|e`)."""

    domain: str
    names: tuple[str, ...]
    route: Route
    own: tuple[tuple[str, Route], ...] = ()

    def route_of(self, name: str) -> Route:
        for own_name, route in self.own:
            if own_name == name:
                return route
        return self.route


def map_line(name: str, route: Route) -> str:
    line = f"{name} {route.value}"
    if len(line) > MAX_LINE or not _LINE_RE.fullmatch(line):
        raise MapFormatError(f"refusing to write a routing map line for {name[:80]!r}: {route.value[:120]!r}")
    return line


def group_text(site: SiteRoutes) -> str:
    """One site's part of the map: its `# site` comment and a checked line per name."""
    if not _LINE_RE.fullmatch(f"{site.domain} {site.route.value}"):
        raise MapFormatError(f"refusing to write a routing map group for {site.domain[:80]!r}")
    if not site.own:
        return f"{_GROUP}{site.domain}\n" + "".join(map_line(name, site.route) + "\n" for name in site.names)
    return f"{_GROUP}{site.domain}\n" + "".join(map_line(name, site.route_of(name)) + "\n" for name in site.names)


def join_map(groups: list[str], *, header: str = "") -> str:
    """The whole map from group_text() parts, in the order given (the renderer sorts them by domain)."""
    return "".join([*(f"# {line}\n" for line in header.splitlines()), *groups])


def map_text(sites: list[SiteRoutes], *, header: str = "") -> str:
    """The whole map, sites in the order given."""
    return join_map([group_text(site) for site in sites], header=header)


def full_map(groups: list[str]) -> str:
    """The whole map from its group_text() parts, already sorted by domain (the renderer's one form)."""
    return join_map(groups, header=f"HostPanel routes: {len(groups)} sites")


# --- base + overlay -------------------------------------------------------------------------------


@cache.memoize(maxsize=8)  # the current base and the full maps of the last renders
def _groups(text: str) -> dict[str, str]:
    """{domain: its group's text} of a whole map, in the map's order."""
    start = text.find(_GROUP)
    if start < 0:
        return {}
    groups: dict[str, str] = {}
    for part in ("\n" + text[start:]).split("\n" + _GROUP)[1:]:
        groups[part.split("\n", 1)[0].strip()] = _GROUP + part + ("" if part.endswith("\n") else "\n")
    return groups


def _names(group: str) -> list[str]:
    return [line.split(" ", 1)[0] for line in group.splitlines()[1:] if line and not line.startswith("#")]


def _overlay(header: str, changed: list[str], removed: list[str], gone: list[str]) -> str:
    gone_lines = "".join(map_line(name, _GONE_ROUTE) + "\n" for name in gone)
    return "".join(
        [
            f"# {header}\n",
            *changed,
            *(f"{_REMOVED}{domain}\n" for domain in removed),
            *([f"{_GONE_HEADER}\n", gone_lines] if gone else []),
        ]
    )


def empty_overlay() -> str:
    return _overlay("HostPanel routing overlay: empty (routes.map is the whole map)", [], [], [])


@cache.memoize(maxsize=4)  # every front-end of a deployment splits the same map on the same base
def split_map(full: str, base: str | None, max_lines: int) -> tuple[str, str]:
    """(base, overlay) to deploy for the whole map `full`, given the current base (None: none yet). The
    base is kept when the overlay stays within `max_lines` lines, else `full` becomes the new base."""
    if base is None or base == full:
        return full, empty_overlay()
    new, old = _groups(full), _groups(base)
    added = set(new.values()) - set(old.values())  # new or changed groups (set operations: ~2 ms at 10,000)
    overlay = overlay_of(sorted(added), sorted(old.keys() - new.keys()), base, max_lines)
    return (full, empty_overlay()) if overlay is None else (base, overlay)


def base_groups(base: str) -> dict[str, str]:
    """{domain: group text} of a whole map (kept for the last few maps asked about)."""
    return _groups(base)


def overlay_of(changed: list[str], removed: list[str], base: str, max_lines: int) -> str | None:
    """The overlay of these new or changed groups (sorted) and removed domains (sorted) against `base`;
    None when it would hold more than `max_lines` route lines (then the whole map is the new base)."""
    if not changed and not removed:
        return empty_overlay()  # one text for "nothing since the base", however it was reached
    old = _groups(base)
    changed_domains = [group.split("\n", 1)[0][len(_GROUP) :] for group in changed]
    routed = {name for group in changed for name in _names(group)}
    before = [name for domain in [*removed, *changed_domains] if domain in old for name in _names(old[domain])]
    gone = sorted(set(before) - routed)
    lines = sum(group.count("\n") - 1 for group in changed) + len(gone)  # route lines: what Apache scans
    if lines > max_lines:
        return None
    header = f"HostPanel routing overlay: {len(changed)} sites changed, {len(removed)} removed since routes.map"
    return _overlay(header, changed, removed, gone)


def overlay_groups(overlay: str) -> tuple[dict[str, str], list[str]]:
    """({domain: group text} of the changed sites, [removed domains]) of an overlay."""
    groups: dict[str, list[str]] = {}
    removed: list[str] = []
    current: list[str] | None = None
    for line in overlay.splitlines():
        if line.startswith(_GROUP):
            current = groups.setdefault(line[len(_GROUP) :].strip(), [line])
        elif line.startswith(_REMOVED):
            removed.append(line[len(_REMOVED) :].strip())
            current = None
        elif line.startswith("#"):
            current = None  # the header, or the gone lines (they follow from the rest)
        elif current is not None and line:
            current.append(line)
    return {domain: "\n".join(lines) + "\n" for domain, lines in groups.items()}, removed


@cache.memoize(maxsize=8)
def merge_map(base: str, overlay: str) -> str:
    """The whole map a base and its overlay stand for: exactly the text the renderer made them from."""
    replaced, removed = overlay_groups(overlay)
    if not replaced and not removed:
        return base
    groups = dict(_groups(base))
    for domain in removed:
        groups.pop(domain, None)
    groups.update(replaced)
    return full_map([groups[domain] for domain in sorted(groups)])


@cache.memoize(maxsize=2)  # the current base, while it lasts (hundreds of deployments)
def base_entries(base: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """({host name: value}, names in map order) of a base this module wrote (the probes' lookups)."""
    entries = dict(line.split(" ", 1) for line in base.splitlines() if line and not line.startswith("#"))
    return entries, tuple(entries)


def effective_value(overlay: Mapping[str, str], base: Mapping[str, str], name: str) -> str | None:
    """What Apache answers for a name (overlay first, then base); None: no route (gone, or never there)."""
    value = overlay.get(name)
    if value is None:
        value = base.get(name)
    return None if value is None or value.startswith(GONE + "|") else value


def whole_map(files: Mapping[str, str]) -> str:
    """The whole routing map of a tree ({path: text}): its base merged with its overlay ("" if none)."""
    base = files.get(ROUTES_MAP)
    if base is None:
        return ""
    overlay = files.get(ROUTES_RECENT)
    return merge_map(base, overlay) if overlay else base


def parse_route(value: str) -> Route | None:
    match = _LINE_RE.fullmatch(f"x {value}")
    if match is None:
        return None
    return _route(match)


def _route(match: re.Match[str]) -> Route:
    return Route(
        match["state"],
        match["balancer"],
        match["path"],
        match["mode"],
        match["cookie"],
        int(match["ttl"]),
        match["options"],
    )


def parse_map(text: str) -> dict[str, SiteRoutes]:
    """{site domain: its lines} of a map this module wrote (lines that are not ours are skipped: this is
    read back from trees the panel deployed, to keep a bad row's previous routes and to plan probes)."""
    groups: dict[str, list[tuple[str, Route]]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith(_GROUP):
            current = line[len(_GROUP) :].strip()
            groups[current] = []
            continue
        match = _LINE_RE.fullmatch(line)
        if match is None or current is None:
            continue
        groups[current].append((match["name"], _route(match)))
    found: dict[str, SiteRoutes] = {}
    for domain, lines in groups.items():
        if not lines:
            continue
        # the site's route: its domain's line (the first one when the domain has none); an edit host keeps its own
        route = next((r for n, r in lines if n == domain), lines[0][1])
        own = tuple((n, r) for n, r in lines if r != route)
        found[domain] = SiteRoutes(domain, tuple(n for n, _ in lines), route, own)
    return found


def map_entries(text: str) -> dict[str, str]:
    """{host name: value} of every route line (what Apache looks up)."""
    return {m["name"]: m["value"] for m in map(_LINE_RE.fullmatch, text.splitlines()) if m is not None}


def changed_names(old_text: str, new_text: str) -> tuple[list[str], list[str]]:
    """(names added or whose route changed, names removed) between two maps, each sorted. Only the
    lines that differ are parsed (a set difference of lines: a few ms for 20,000 names)."""
    changed, removed = _changed_names(old_text, new_text)
    return list(changed), list(removed)


@cache.memoize(maxsize=4)  # every front-end of a deployment asks about the same two maps
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
