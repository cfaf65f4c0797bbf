"""Recognise HostPanel's objects in a hand-written Apache config (pure: no database).

    recognition = recognise(read_config(source))

From the seed how-to's constructs (and HostPanel's own rendered tree, which reads back the same way):

- Zope servers: the target of a node vhost's proxy rule (`RewriteRule ... http://host:port/$1 [P]`, with
  `E=MYHOST`/`E=MYPORT` variables substituted), named by the route of the cookie the node sets
  (`CO=BALANCEID:balancer.<route>:...`); or a balancer member's own URL, named by its `route=`.
- Balancers: `<Proxy balancer://name>` with `ProxySet lbmethod/stickysession/nofailover/maxattempts/
  timeout`, `ErrorDocument 503`, and access (`Require all granted`, or 2.2's `Order`/`Allow from all`).
- Members: `BalancerMember URL` with lbset, route, loadfactor, min, max, smax, timeout, retry and
  `status=+H/+D/+N`. A member whose URL is a node vhost makes its balancer `node-vhosts`. Its
  mod_proxy_hcheck parameters (`hcmethod` GET/HEAD/OPTIONS, `hcuri`, `hcinterval` in seconds, `hcpasses`,
  `hcfails`) are its Zope server's health-check settings.
- Sites: a `<VirtualHost>` with ServerName, ServerAlias and the VirtualHostMonster rule
  `RewriteRule ^/(.*) balancer://NAME/VirtualHostBase/http/%{HTTP_HOST}:80/<plone path>/VirtualHostRoot/$1 [L,P]`,
  with the single-pass sticky cookie (`Header add Set-Cookie "BALANCEID=balancer.%{BALANCER_WORKER_ROUTE}e..."`);
  or, in HostPanel's own tree, a `# site` group of the routes.map that its routing vhost's
  `RewriteMap hostpanel-routes "dbm=sdbm:.../routes.dbm"` is built from (one line per host name:
  state|balancer|plone path|...).

Every directive lands in exactly one place: used for a candidate, `translated` (an equivalent HostPanel
renders differently, e.g. `Allow from all`), `ignored` (server-level directives that are normal and
irrelevant to the sites, e.g. LoadModule), or `unrecognised` (file, line, text, why). `problems` are
what an operator must see before importing: errors block the import, warnings need an explicit accept.

The recogniser is one object assembled from one part per job (all pure):

    findings.py     the shared model: candidates, Recognition, Unrecognised/Ignored/Translated/Problem
    syntax.py       mod_rewrite argument and flag splitting, URLs, a vhost's rules with their conditions
    state.py        what the parts share, and the bookkeeping of every directive's fate
    serverlevel.py  directives and sections outside any vhost
    access.py       access control on balancers (2.2's Order/Allow translated to Require)
    servers.py      Zope servers: node vhosts and members' URLs; which vhost is a site, a node, or other
    balancers.py    balancers and members (the duplicate-member typo), settings found in sites and nodes
    sites.py        site vhosts: the VHM rule, names and aliases, shadowed names
    routemap.py     HostPanel's routes.map read back: `# site` groups, each line's route (shape only)
    routing.py      HostPanel's map routing: the routing vhosts (HTTP, HTTPS), the sites of the map they name
    volto.py        Plone 6 vhosts: the API to Zope and the rest to a Node.js frontend (Volto, frontend only)
    adopt.py        the vhosts people write by hand: VHM straight to one Zope (a one-member balancer), ProxyPass,
                    balancers inside a vhost, HTTPS with its certificate and redirect twin, extra rules as
                    candidate structured options, every other directive reported with its reason
"""

from __future__ import annotations

from importer.reader import ConfigTree
from importer.recognise.balancers import BalancersPart
from importer.recognise.findings import (
    OPTION_NAMES,
    BalancerCandidate,
    Ignored,
    MemberCandidate,
    Problem,
    Recognition,
    ServerCandidate,
    SiteCandidate,
    Translated,
    Unrecognised,
)
from importer.recognise.routing import RoutingPart
from importer.recognise.serverlevel import ServerLevelPart
from importer.recognise.syntax import Rule
from importer.recognise.volto import VoltoPart
from importer.tokenizer import Section


class _Recogniser(ServerLevelPart, BalancersPart, VoltoPart, RoutingPart):
    """Server level first (collecting vhosts and balancers), then vhosts, balancers, sites, and the
    settings that only the sites and nodes tell."""

    def run(self) -> Recognition:
        for note in self.tree.notes:
            self.r.problems.append(Problem("syntax", "warning", note.file, note.line, f"{note.text}: {note.message}"))
        self._server_level(self.tree.nodes)
        site_rules: list[tuple[Section, Rule]] = []
        for vhost in self.vhosts:
            if self._routing(vhost) or self._https_default(vhost):
                continue
            self._note_proxying(vhost)
            self._inner_balancers(vhost)
            kind = self._classify(vhost)
            if kind is not None:
                site_rules.append((vhost, kind))
        self._inherited_leftovers()
        for proxy in self.proxies:
            self._balancer(proxy)
        for vhost, rule in site_rules:
            self._site(vhost, rule)
        self._map_sites()
        self._adopt_finish()
        self._volto_finish()
        self._shadowed_names()
        self._finish_balancers()
        self._check_routes()
        self.r.servers = sorted(self.servers.values(), key=lambda s: s.name)
        return self.r


def recognise(tree: ConfigTree) -> Recognition:
    """What the config means in HostPanel's terms, and everything else with file and line."""
    return _Recogniser(tree).run()


__all__ = [
    "OPTION_NAMES",
    "BalancerCandidate",
    "Ignored",
    "MemberCandidate",
    "Problem",
    "Recognition",
    "ServerCandidate",
    "SiteCandidate",
    "Translated",
    "Unrecognised",
    "recognise",
]
