"""Plone 6 vhosts written by hand (issue 26): a Volto site is two upstreams in one vhost, read here into a
site of kind `volto` whose Zope balancer serves the API and whose frontend balancer groups Node.js servers.

The shapes (docs/plone6-facts.md; the corpus trees 16-22 are real examples and Apache translations):

- the API: `RewriteRule ^/\\+\\+api\\+\\+($|/.*)
  <Zope>/VirtualHostBase/<scheme>/<host>:<port><path>/++api++/VirtualHostRoot$1 [P,L]` (or Helm's
  `^/(\\+\\+api\\+\\+/?)+($|/.*)` with `$2`, or `ProxyPass /++api++ <same URL>/`), or the legacy
  form of Volto's Apache example: `^/api($|/.*)` to `.../VirtualHostRoot/_vh_api$1` (RAZZLE_LEGACY_TRAVERSE);
- optionally the Classic UI for staff: `^/ClassicUI($|/.*)` to `.../VirtualHostRoot/_vh_ClassicUI$1`;
- everything else to the Node server: `RewriteRule ^(.*) balancer://<frontend>$1 [P,L]`, `http://host:3000/$1`,
  or `ProxyPass / balancer://<frontend>/` (the frontend balancer's members, or that one server, are Node.js
  frontend servers, health path /ok);
- frontend only (Plone's next frontend: the API stays behind the Node application): the catch-all alone, to a
  frontend some Volto vhost of this config uses, or whose members are checked on /ok (`hcuri=/ok`). Its Zope
  balancer (the API server the Node application calls) is not in the Apache config: such a site is shown
  and left out of the import (skip-one) until the operator adds it in the panel.

`<Zope>` is a `balancer://` name or one Zope's URL (a one-member balancer, as for Classic sites). A vhost
whose routes disagree (the API and the Classic UI to two Zope upstreams or Plone paths), or whose API is
never reached (after the catch-all), is reported with the reason and not imported; the rest goes on.

The legacy `/api` form is imported as a Volto site (decision, README "Importing Volto sites"): HostPanel
renders one form only, `++api++` (seamless mode), so the preview warns that the site's Volto build must run
without RAZZLE_LEGACY_TRAVERSE (and without an RAZZLE_API_PATH ending in /api) once HostPanel serves it,
and the equivalence check shows the /api and /++api++ differences until then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from importer.recognise.adopt import AdoptPart
from importer.recognise.findings import NODE, NODE_HEALTH_PATH, MemberCandidate, Problem, SiteCandidate, Translated
from importer.recognise.syntax import Rule, names_of, rewrite_args, rules_of, vhost_names
from importer.tokenizer import Directive, Section

# Where a route sends requests: a balancer by name, or one server by URL (nothing after host:port).
_UPSTREAM = (
    r"(?:balancer://(?P<name>[A-Za-z0-9._-]+)|http://(?P<zhost>\[[0-9A-Fa-f:]+\]|[^/:$%]+)(?::(?P<zport>[0-9]+))?)"
)
# A VirtualHostMonster target of an API or Classic UI route.
_VHM = re.compile(
    rf"^{_UPSTREAM}/VirtualHostBase/(?P<scheme>https?)/(?P<host>%\{{HTTP_HOST\}}|%\{{SERVER_NAME\}}|[^/:]+)"
    r"(?::(?P<port>[0-9]+))?(?P<path>(?:/[^/]+)*?)(?P<api>/\+\+api\+\+)?/VirtualHostRoot(?P<vh>(?:/_vh_[^/$]+)*)"
    r"(?P<slash>/?)(?P<ref>\$[12])?$"
)
_FRONTEND = re.compile(rf"^{_UPSTREAM}(?P<slash>/?)(?P<ref>\$1)?$")
# The API's patterns: (pattern, what `$N` captures starts with "/", the group that is the rest of the path)
_API_PATTERNS = {
    r"^/\+\+api\+\+($|/.*)": ("++api++", True, "$1"),
    r"^/\+\+api\+\+(.*)": ("++api++", True, "$1"),
    r"^/\+\+api\+\+(.*)$": ("++api++", True, "$1"),
    r"^/\+\+api\+\+/(.*)": ("++api++", False, "$1"),
    r"^/\+\+api\+\+/(.*)$": ("++api++", False, "$1"),
    r"^/(\+\+api\+\+/?)+($|/.*)": ("++api++", True, "$2"),  # Plone's Helm chart: repeated ++api++ folded
    r"^/api($|/.*)": ("/api", True, "$1"),
    r"^/api(.*)": ("/api", True, "$1"),
    r"^/api(.*)$": ("/api", True, "$1"),
    r"^/api/(.*)": ("/api", False, "$1"),
    r"^/api/(.*)$": ("/api", False, "$1"),
}
_CLASSIC_PATTERN = re.compile(
    r"^\^/(?P<seg>[A-Za-z][A-Za-z0-9_-]{0,62})(?P<rest>\(\$\|/\.\*\)|\(\.\*\)\$?|/\(\.\*\)\$?)$"
)
_CATCH_ALL = {"^(.*)": True, "^(.*)$": True, "(.*)": True, "^/(.*)": False, "^/(.*)$": False, "/(.*)": False}
_HOST_CONDS = ("%{HTTP_HOST}", "%{SERVER_NAME}")


@dataclass
class _Route:
    """One proxy route of a vhost, read from a [P] RewriteRule or a ProxyPass."""

    what: str  # "api", "classic", "frontend"
    directive: Directive
    rule: Rule | None
    match: re.Match[str]
    api: str = ""  # "++api++" or "/api"
    segment: str = ""  # the Classic UI's path segment


@dataclass
class VoltoShape:
    vhost: Section
    frontend: _Route
    api: _Route | None = None
    classic: _Route | None = None
    reverse: list[Directive] = field(default_factory=list)  # ProxyPassReverse of its routes
    problems: list[tuple[Directive | Section, str]] = field(default_factory=list)  # why it is not imported

    @property
    def used(self) -> set[int]:
        routes = [r for r in (self.frontend, self.api, self.classic) if r is not None]
        return {id(r.directive) for r in routes} | {id(d) for d in self.reverse}


def _port(match: re.Match[str]) -> str:
    return match["port"] or ("443" if match["scheme"] == "https" else "80")


def _upstream(match: re.Match[str]) -> tuple[str, str, int]:
    """("balancer", name, 0) or ("server", host, port) of a route's target."""
    if match["name"]:
        return ("balancer", match["name"], 0)
    return ("server", match["zhost"].lower(), int(match["zport"] or 80))


class VoltoPart(AdoptPart):
    """Volto and frontend-only vhosts: two upstreams (API to Zope, the rest to Node.js servers)."""

    _volto_frontends: set[str] | None = None  # balancers the Volto vhosts of this config use as frontend

    # --- classification (every vhost, before the balancers are read) --------------------------------

    def _classify(self, vhost: Section) -> Rule | None:
        shape = self._volto_shape(vhost)
        if shape is None or (shape.api is None and shape.classic is None and not self._known_frontend(shape)):
            return super()._classify(vhost)  # a proxy to some other application, or the seed's node vhost
        self._volto[id(vhost)] = shape
        if shape.frontend.match["name"]:
            self._node_balancers.add(shape.frontend.match["name"])
        return shape.frontend.rule or Rule(shape.frontend.directive, "^/(.*)", "", ["P"], [])

    def _known_frontend(self, shape: VoltoShape) -> bool:
        """A catch-all alone is a frontend-only site when its balancer is a Volto vhost's frontend in this
        config or its members are checked on /ok; anything else may be any application."""
        name = shape.frontend.match["name"]
        if not name:
            return False
        if self._volto_frontends is None:
            self._volto_frontends = set()
            for vhost in self.vhosts:
                other = self._volto_shape(vhost)
                if other is not None and other.api is not None and other.frontend.match["name"]:
                    self._volto_frontends.add(other.frontend.match["name"])
        return name in self._volto_frontends or self._checked_on_ok(name)

    def _checked_on_ok(self, name: str) -> bool:
        """A balancer whose members are health-checked on Volto's /ok: a Node.js frontend pool."""
        for proxy in self.proxies:
            if proxy.args[:1] and proxy.args[0].lower().rstrip("/") == f"balancer://{name.lower()}":
                members = [c for c in proxy.children if isinstance(c, Directive) and c.key == "balancermember"]
                if members and all(f"hcuri={NODE_HEALTH_PATH}" in m.args for m in members):
                    return True
        return False

    def _volto_shape(self, vhost: Section) -> VoltoShape | None:
        """The vhost's routes, if one of them is a catch-all to a server that is not a Zope VHM path."""
        routes: list[_Route] = []
        rules, _ = rules_of(vhost)
        for rule in rules:
            if "P" in [f.upper() for f in rule.flags]:
                route = self._rewrite_route(rule)
                if route is not None:
                    routes.append(route)
        reverse: list[Directive] = []
        for child in vhost.children:
            if not isinstance(child, Directive) or len(child.args) < 2:
                continue
            if child.key == "proxypass" and len(child.args) == 2:
                route = self._proxypass_route(child)
                if route is not None:
                    routes.append(route)
            elif child.key == "proxypassreverse":
                reverse.append(child)
        frontends = [r for r in routes if r.what == "frontend"]
        if not frontends:
            return None
        shape = VoltoShape(vhost, frontends[0])
        for extra in frontends[1:]:
            shape.problems.append((extra.directive, "a second catch-all to a frontend: never reached"))
        for kind in ("api", "classic"):
            found = [r for r in routes if r.what == kind]
            if not found:
                continue
            first = found[0]
            if self._after(first, shape.frontend):
                shape.problems.append(
                    (first.directive, f"the {kind} route comes after the frontend's catch-all: never reached today")
                )
            setattr(shape, kind, first)
            for extra in found[1:]:
                shape.problems.append((extra.directive, f"a second {kind} route: never reached"))
        shape.reverse = [d for d in reverse if self._reverses(d, routes)]
        return shape

    @staticmethod
    def _after(route: _Route, frontend: _Route) -> bool:
        """Apache tries RewriteRules first (in order), then ProxyPass lines (in order)."""
        if route.directive.key != frontend.directive.key:
            return route.directive.key == "proxypass"
        return (route.directive.file, route.directive.line) > (frontend.directive.file, frontend.directive.line)

    @staticmethod
    def _reverses(d: Directive, routes: list[_Route]) -> bool:
        url = d.args[1].rstrip("/")
        return any(
            url == r.directive.args[1].rstrip("/") or url == (r.match["name"] and f"balancer://{r.match['name']}")
            for r in routes
            if len(r.directive.args) > 1
        )

    def _rewrite_route(self, rule: Rule) -> _Route | None:
        if rule.pattern in _CATCH_ALL:
            found = _FRONTEND.match(rule.target)
            if found is None or found["ref"] is None:
                return None
            slash_captured = _CATCH_ALL[rule.pattern]
            if slash_captured == bool(found["slash"]):
                return None  # `^(.*)` to `.../$1` builds //path: not a shape HostPanel keeps
            return _Route("frontend", rule.directive, rule, found)
        vhm = _VHM.match(rule.target)
        if vhm is None or vhm["ref"] is None:
            return None
        api = _API_PATTERNS.get(rule.pattern)
        if api is not None:
            form, slash_captured, ref = api
            legacy = vhm["vh"] == "/_vh_api" and not vhm["api"]
            modern = vhm["api"] and not vhm["vh"]
            if vhm["ref"] != ref or slash_captured == bool(vhm["slash"]):
                return None
            if (form == "/api" and legacy) or (form == "++api++" and modern):
                return _Route("api", rule.directive, rule, vhm, api=form)
            return None
        classic = _CLASSIC_PATTERN.match(rule.pattern)
        if classic is not None and not vhm["api"] and vhm["vh"] == f"/_vh_{classic['seg']}":
            slash_captured = not classic["rest"].startswith("/")
            if vhm["ref"] == "$1" and slash_captured != bool(vhm["slash"]):
                return _Route("classic", rule.directive, rule, vhm, segment=classic["seg"])
        return None

    @staticmethod
    def _proxypass_route(d: Directive) -> _Route | None:
        path, url = d.args[0], d.args[1]
        if path == "/":
            found = _FRONTEND.match(url)
            if found is not None and found["ref"] is None and found["slash"]:
                return _Route("frontend", d, None, found)
            return None
        vhm = _VHM.match(url)
        if vhm is None or vhm["ref"] is not None:
            return None  # (a path and a URL that disagree on the trailing '/' are reported with the site)
        bare = path.rstrip("/")
        if bare == "/++api++" and vhm["api"] and not vhm["vh"]:
            return _Route("api", d, None, vhm, api="++api++")
        if bare == "/api" and vhm["vh"] == "/_vh_api" and not vhm["api"]:
            return _Route("api", d, None, vhm, api="/api")
        segment = bare[1:]
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,62}", segment) and vhm["vh"] == f"/_vh_{segment}":
            return _Route("classic", d, None, vhm, segment=segment)
        return None

    # --- the site (after the balancers are read) ----------------------------------------------------

    def _site(self, vhost: Section, vhm: Rule) -> None:
        shape = self._volto.get(id(vhost))
        if shape is None:
            super()._site(vhost, vhm)
            return
        site = self._volto_site(shape)
        if site is None:
            return
        self.r.sites.append(site)
        for section in vhost.children:
            if isinstance(section, Section) and site.classic_ui_path and self._classic_section(section, site):
                self._handled.add(id(section))
        front = shape.frontend.rule or Rule(
            shape.frontend.directive, "^/(.*)", shape.frontend.directive.args[1], [], []
        )
        self._adopt_directives(vhost, front, site, used=shape.used)
        for route in (shape.frontend, shape.api, shape.classic):
            if route is not None and route.rule is not None:
                for cond in route.rule.conds:
                    self._host_condition(cond, vhost)
                extra = [f for f in route.rule.flags if f.upper() not in ("L", "P", "NE", "QSA")]
                if extra:
                    self.unrecognised(route.directive, f"rewrite flags not modelled: {','.join(extra)}")

    def _volto_site(self, shape: VoltoShape) -> SiteCandidate | None:
        vhost = shape.vhost
        names = vhost_names(vhost)
        if shape.api is None and shape.classic is not None:
            shape.problems.append((shape.classic.directive, "a Classic UI route but no API route"))
        for where, why in shape.problems:
            self.unrecognised(where, why)
        zope = [r for r in (shape.api, shape.classic) if r is not None]
        upstreams = {_upstream(r.match) for r in zope}
        paths = {r.match["path"] for r in zope}
        schemes = {
            (r.match["scheme"], r.match["port"] or ("443" if r.match["scheme"] == "https" else "80")) for r in zope
        }
        if shape.problems or len(upstreams) > 1 or len(paths) > 1 or len(schemes) > 1:
            why = "; ".join(w for _, w in shape.problems) or (
                "its API and Classic UI routes go to different Zope servers, Plone sites or schemes"
            )
            self.problem("volto-ambiguous", "warning", vhost, f"Volto vhost {names[:1]} not imported: {why}")
            self.unrecognised(vhost, f"virtual host not imported: {why}")
            return None
        if not names:
            self.problem("no-servername", "error", vhost, "a site vhost needs a ServerName")
            return None
        server_name, aliases = names_of(vhost)
        front_balancer = self._frontend_balancer(shape)
        if front_balancer is None:
            self.unrecognised(vhost, "virtual host not imported: its frontend server conflicts (see problems)")
            return None
        site = SiteCandidate(
            domain=names[0],
            balancer="",
            plone_path="",
            file=vhost.file,
            line=vhost.line,
            domain_line=server_name.line if server_name else (aliases[0].line if aliases else vhost.line),
            rule_line=shape.frontend.directive.line,
            aliases=[(a, d.line) for d in aliases for a in d.args if a.lower() != names[0]],
            vhosts=[(vhost.file, vhost.line)],
            kind="volto" if shape.api is not None else "frontend_only",
            frontend_balancer=front_balancer,
        )
        self.translated(
            shape.frontend.directive,
            f"every other path to the Node.js frontend: frontend balancer {front_balancer}"
            + (" (HostPanel renders the routing)" if shape.api else " (a frontend-only site)"),
        )
        for d in shape.reverse:
            self.translated(d, "ProxyPassReverse of the site's routes: HostPanel renders its own")
        for route in (shape.api, shape.classic):
            if (
                route is not None
                and route.rule is None
                and route.directive.args[0].endswith("/") != bool(route.match["slash"])
            ):
                self.problem(
                    "proxypass-slash",
                    "warning",
                    route.directive,
                    f"ProxyPass {route.directive.args[0]} and its URL disagree on the trailing '/': Zope gets "
                    "VirtualHostRoot//path (or a path glued to the last segment) today; HostPanel sends one '/' "
                    "(the equivalence check shows it)",
                )
        if shape.api is None:
            return site
        vhm = shape.api.match
        scheme = vhm["scheme"]
        site.plone_path = vhm["path"]
        site.api_path = shape.api.api
        balancer = self._zope_balancer(shape.api)
        if balancer is None:
            self.unrecognised(vhost, "virtual host not imported: its Zope server conflicts (see problems)")
            return None
        site.balancer = balancer
        if shape.api.api == "/api":
            self.translated(
                shape.api.directive,
                f"the legacy API path /api (_vh_api) -> HostPanel serves /++api++ on balancer {balancer}",
            )
            self.problem(
                "volto-legacy-api",
                "warning",
                shape.api.directive,
                f"{names[0]}: the API is reached at /api today (Volto's legacy form, RAZZLE_LEGACY_TRAVERSE=true); "
                "HostPanel serves it at /++api++ (seamless mode) and sends /api to the Node.js frontend: restart "
                "this site's Volto build without RAZZLE_LEGACY_TRAVERSE (and without an RAZZLE_API_PATH ending in "
                "/api) when HostPanel takes over, or its pages call an API that is no longer there",
            )
        else:
            self.translated(shape.api.directive, f"the API (/++api++) to Zope: balancer {balancer}")
        if shape.classic is not None:
            site.classic_ui_path = f"/{shape.classic.segment}"
            self.translated(
                shape.classic.directive,
                f"Classic UI under {site.classic_ui_path} (_vh_{shape.classic.segment}): HostPanel keeps it to the "
                "staff networks",
            )
        if (scheme, _port(vhm)) not in (("http", "80"), ("https", "443")):
            self.problem(
                "volto-ambiguous", "warning", vhost, f"{names[0]}: VirtualHostBase/{scheme}:{vhm['port']} not modelled"
            )
            self.unrecognised(vhost, "virtual host not imported: an unusual scheme or port in its VHM rule")
            return None
        if scheme == "https":
            site.tls = "custom"
            site.https_redirect = False
            site.certificate = self._certificate(vhost, site)
        host = vhm["host"]
        for route in (shape.api, shape.classic):
            if route is None:
                continue
            if host in ("%{HTTP_HOST}", "%{SERVER_NAME}"):
                self.translated(route.directive, f"{host} -> HostPanel renders %{{SERVER_NAME}}")
            elif host.lower() != names[0]:
                self.translated(
                    route.directive, f"a fixed host {host} -> HostPanel renders %{{SERVER_NAME}} ({names[0]})"
                )
        return site

    def _zope_balancer(self, route: _Route) -> str | None:
        kind, name, port = _upstream(route.match)
        if kind == "balancer":
            return name
        server = self._server(name, port, None, route.directive, "VHM target")
        if server is None:
            return None
        self.translated(route.directive, f"straight to one Zope ({name}:{port}): a one-member balancer")
        return self._direct_balancer(server.name, server.host, server.port, route.directive)

    def _frontend_balancer(self, shape: VoltoShape) -> str | None:
        kind, name, port = _upstream(shape.frontend.match)
        if kind == "balancer":
            return name
        server = self._server(name, port, None, shape.frontend.directive, "frontend target")
        if server is None:
            return None
        balancer = self._direct_balancer(server.name, server.host, server.port, shape.frontend.directive)
        self._node_balancers.add(balancer)
        for candidate in self.r.balancers:
            if candidate.name == balancer:
                candidate.kind = NODE
        self.translated(
            shape.frontend.directive, f"straight to one Node.js server ({name}:{port}): a one-member frontend balancer"
        )
        return balancer

    def _host_condition(self, cond: Directive, vhost: Section) -> None:
        """`RewriteCond %{HTTP_HOST} ^www\\.example\\.com$ [NC]` on a route: true for every name of the vhost."""
        words = rewrite_args(cond.raw_args)
        names = vhost_names(vhost)
        if len(words) >= 2 and words[0] in _HOST_CONDS and names:
            flags = words[2].strip("[]").upper().split(",") if len(words) > 2 else []
            try:
                pattern = re.compile(words[1], re.IGNORECASE if "NC" in flags else 0)
            except re.error:
                pattern = None
            if pattern is not None and all(pattern.search(n) for n in names):
                self.translated(cond, "a condition on the vhost's own names (always true here)")
                return
        self.unrecognised(cond, "a condition on the site's route is not modelled")

    def _classic_section(self, section: Section, site: SiteCandidate) -> bool:
        """`<Location /ClassicUI>` with a password or networks (Plone's Traefik stack puts basic auth on it)."""
        if section.key != "location" or [a.strip("\"'") for a in section.args] != [site.classic_ui_path]:
            return False
        self.translated(
            section,
            f"access to the Classic UI ({site.classic_ui_path}): HostPanel keeps it to the staff networks "
            "(HOSTPANEL_STAFF_NETWORKS) instead",
        )
        self.problem(
            "classic-ui-access",
            "warning",
            section,
            f"{site.domain}: {site.classic_ui_path} is restricted here by its own rules today; HostPanel keeps it to "
            "the staff networks instead (a password is not kept)",
        )
        return True

    # --- after every vhost ---------------------------------------------------------------------------

    def _volto_finish(self) -> None:
        """The members of frontend balancers are Node.js frontend servers (health path /ok unless set)."""
        # a hand-written Volto vhost's frontend, or the frontend HostPanel's own map line names (v=, f=)
        fronts = self._node_balancers | {s.frontend_balancer for s in self.r.sites if s.frontend_balancer}
        node_balancers = {b.name for b in self.r.balancers if b.kind == NODE or b.name in fronts}
        for balancer in self.r.balancers:
            if balancer.name in node_balancers:
                balancer.kind = NODE
        stateless = {(b.file, b.line) for b in self.r.balancers if b.kind == NODE}  # no stickiness to lose
        self.r.problems = [p for p in self.r.problems if not (p.code == "not-sticky" and (p.file, p.line) in stateless)]
        zope_servers = {m.server for m in self.r.members if m.balancer not in node_balancers}
        by_name = {s.name: s for s in self.servers.values()}
        for member in self.r.members:
            if member.balancer not in node_balancers or member.server not in by_name:
                continue
            server = by_name[member.server]
            if server.name in zope_servers:
                self.r.problems.append(
                    _error(
                        member,
                        f"{server.host}:{server.port} is a member of frontend balancer {member.balancer} and of a Zope "
                        "balancer: a server is one kind (a Node.js frontend or a Zope server)",
                    )
                )
                continue
            if server.kind != NODE:
                server.kind = NODE
                server.health.setdefault("health_path", NODE_HEALTH_PATH)
                self.r.translated.append(
                    Translated(
                        member.file,
                        member.line,
                        member.url,
                        f"Node.js frontend server {server.name} (health path {server.health['health_path']})",
                    )
                )


def _error(member: MemberCandidate, message: str) -> Problem:
    return Problem("server-kind", "error", member.file, member.line, message)
