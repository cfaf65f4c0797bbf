"""The state the recogniser's parts share (see __init__.py), and the node vhost record."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from importer.reader import ConfigTree
from importer.recognise.findings import (
    Ignored,
    Problem,
    Recognition,
    ServerCandidate,
    Severity,
    SiteCandidate,
    Translated,
    Unrecognised,
)
from importer.recognise.routemap import MapRoute
from importer.tokenizer import Directive, Node, Section


@dataclass
class NodeVhost:
    """A node vhost: the front-end's own vhost that sets the sticky cookie and proxies to one Zope server."""

    section: Section
    names: list[str]
    addresses: list[str]
    host: str
    port: int
    route: str | None
    cookie: str | None
    cookie_minutes: int | None


class RecogniserState:
    """What the recogniser's parts share: the Recognition being built, the sections found at server
    level, the node vhosts and Zope servers seen so far, and the bookkeeping of every directive's fate."""

    def __init__(self, tree: ConfigTree) -> None:
        self.r = Recognition(source=tree.source, main=tree.main, files=tree.files, digest=tree.digest, tree=tree)
        self.tree = tree
        self.proxies: list[Section] = []
        self.vhosts: list[Section] = []
        self.nodes: list[NodeVhost] = []
        self.servers: dict[tuple[str, int], ServerCandidate] = {}
        self.server_timeout = 60  # Apache's default Timeout, which a member without timeout= uses
        self._site_cookies: defaultdict[str, list[tuple[str, int | None, Directive]]] = defaultdict(list)
        self._site_error_documents: defaultdict[str, list[tuple[str, Directive]]] = defaultdict(list)
        # HostPanel's map routing (routing.py): map path as written -> its RewriteMap, the sites read from
        # the map with their routes, and the HTTPS vhosts with their names
        self._routing_maps: dict[str, tuple[Directive, str]] = {}  # base map -> (its directive, overlay map)
        self._map_routes: list[tuple[SiteCandidate, MapRoute]] = []
        self._https_vhosts: list[tuple[Section, list[str]]] = []
        # server-level mod_rewrite / mod_headers directives: HostPanel's HTTPS routing, inherited by its HTTPS
        # vhosts (RewriteOptions InheritDown); booked once when a vhost inherits them, else not understood
        self._inherited: list[Directive] = []
        self._inherited_booked: set[int] = set()
        # hand-written shapes (adopt.py): sections read elsewhere, port-80 redirect twins (vhost, names, https
        # host), stickysession= of ProxyPass by balancer name
        self._handled: set[int] = set()
        self._twins: list[tuple[Section, list[str], str]] = []
        self._proxypass_sticky: dict[str, str] = {}
        self._catch_alls: set[tuple[str, int]] = set()  # vhosts answering 404 to everything (HostPanel does too)
        # Volto (volto.py): balancers that are a Volto site's frontend (their members are Node.js servers)
        self._node_balancers: set[str] = set()
        self._volto: dict[int, Any] = {}  # id(vhost) -> its VoltoShape

    # bookkeeping
    def unrecognised(self, node: Node, why: str) -> None:
        self.r.unrecognised.append(Unrecognised(node.file, node.line, node.text[:500], why))

    def ignored(self, node: Node, why: str) -> None:
        self.r.ignored.append(Ignored(node.file, node.line, node.text[:500], why))

    def translated(self, node: Node, as_: str) -> None:
        self.r.translated.append(Translated(node.file, node.line, node.text[:500], as_))

    def problem(self, code: str, severity: Severity, node: Node, message: str) -> None:
        self.r.problems.append(Problem(code, severity, node.file, node.line, message))

    def _balancer_has_sites(self, name: str) -> bool:
        return any(s.balancer == name for s in self.r.sites)
