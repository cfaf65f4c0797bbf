"""Balancers (<Proxy balancer://name>, ProxySet, ErrorDocument 503) and their members (URL, lbset, route,
loadfactor, min/max/smax, timeout, retry, status flags; node-vhost indirection, the seed's duplicate-member
typo), and the settings that only the sites and nodes tell (cookie lifetime and name, the 503 page)."""

from __future__ import annotations

from collections import defaultdict

from importer.recognise.access import AccessPart
from importer.recognise.findings import (
    DEFAULT_ERROR_DOCUMENT,
    NODE,
    NODE_VHOSTS,
    BalancerCandidate,
    MemberCandidate,
    Problem,
    ServerCandidate,
    Translated,
    Unrecognised,
)
from importer.recognise.servers import ServersPart
from importer.recognise.state import NodeVhost
from importer.recognise.syntax import Url, int_or_none, parse_url
from importer.tokenizer import Directive, Section

_MEMBER_INT_PARAMS = {"lbset": "lbset", "loadfactor": "loadfactor", "min": "min", "max": "max", "smax": "smax"}
_MEMBER_STATUS = {"H": "hot_standby", "D": "disabled", "N": "drain"}
_ON_OFF = {"on": True, "off": False}
# mod_proxy_hcheck's member parameters -> the Zope server's health-check fields (the renderer's inverse)
_HEALTH_PARAMS = {
    "hcmethod": "health_method",
    "hcuri": "health_path",
    "hcinterval": "health_interval",
    "hcpasses": "health_passes",
    "hcfails": "health_fails",
}
_HEALTH_METHODS = ("GET", "HEAD", "OPTIONS")  # balancers.choices.HealthMethod (TCP, GET11 ... are not modelled)


class BalancersPart(ServersPart, AccessPart):
    """<Proxy balancer://...> sections and their members; settings found in sites and nodes come last."""

    def _balancer(self, proxy: Section) -> None:
        name = proxy.args[0][len("balancer://") :].rstrip("/")
        balancer = BalancerCandidate(name=name, file=proxy.file, line=proxy.line, in_vhost=id(proxy) in self._handled)
        if name in self._node_balancers:  # a Volto site's frontend (importer/recognise/volto.py)
            balancer.kind = NODE
        members: list[tuple[Directive, Url, dict[str, str]]] = []
        proxyset: dict[str, tuple[str, Directive]] = {}
        access: list[Directive] = []
        for child in proxy.children:
            if isinstance(child, Section):
                self.unrecognised(child, "not modelled inside a balancer")
                continue
            if child.key == "balancermember":
                url = parse_url(child.args[0]) if child.args else None
                if url is None or url.scheme != "http":
                    self.unrecognised(child, "only http:// members are modelled")
                    continue
                params = {}
                for arg in child.args[1:]:
                    key, _, value = arg.partition("=")
                    params[key.lower()] = value
                members.append((child, url, params))
            elif child.key == "proxyset":
                for arg in child.args:
                    key, _, value = arg.partition("=")
                    proxyset[key.lower()] = (value, child)
            elif child.key == "errordocument" and len(child.args) == 2 and child.args[0] == "503":
                if child.args[1].startswith("/"):
                    balancer.error_document = child.args[1]
                else:
                    self.unrecognised(child, "only a local path is modelled as the 503 page")
            elif child.key in ("order", "allow", "deny", "require", "satisfy"):
                access.append(child)
            else:
                self.unrecognised(child, "not modelled inside a balancer")
        self._access(access)
        self._proxyset(balancer, proxyset)
        self.r.balancers.append(balancer)
        self._members(balancer, members)

    def _proxyset(self, balancer: BalancerCandidate, params: dict[str, tuple[str, Directive]]) -> None:
        for key, (value, directive) in params.items():
            if key == "lbmethod":
                balancer.lbmethod = value.lower()
            elif key == "stickysession":
                cookie, _, url_param = value.partition("|")
                balancer.sticky_cookie = cookie
                if url_param:
                    self.translated(directive, f"stickysession URL parameter {url_param!r}: HostPanel reads the cookie")
            elif key == "nofailover" and value.lower() in _ON_OFF:
                balancer.nofailover = _ON_OFF[value.lower()]
            elif key in ("maxattempts", "timeout") and int_or_none(value) is not None:
                setattr(balancer, key, int(value))
            elif key in ("failonstatus", "failontimeout") and value.lower() in ("503", "on"):
                pass  # node-vhosts mode renders exactly these
            else:
                self.r.unrecognised.append(
                    Unrecognised(
                        directive.file, directive.line, f"ProxySet {key}={value}", "balancer parameter not modelled"
                    )
                )
        if "stickysession" not in params and balancer.kind != NODE:  # a Node.js frontend is stateless
            self.r.problems.append(
                Problem(
                    "not-sticky",
                    "warning",
                    balancer.file,
                    balancer.line,
                    f"balancer {balancer.name} has no stickysession: not sticky today; HostPanel makes it sticky "
                    f"with cookie {balancer.sticky_cookie}",
                )
            )

    def _members(self, balancer: BalancerCandidate, members: list[tuple[Directive, Url, dict[str, str]]]) -> None:
        by_url: dict[tuple[str, str, int], list[Directive]] = defaultdict(list)
        for directive, url, _ in members:
            by_url[url.key].append(directive)
        via_nodes = [self._node_for(url) for _, url, _ in members]
        any_node = any(via_nodes)
        if any_node:
            balancer.render_mode = NODE_VHOSTS
        seen_servers: dict[str, Directive] = {}
        for (directive, url, params), node in zip(members, via_nodes, strict=True):
            route = params.get("route") or None
            duplicates = by_url[url.key]
            server: ServerCandidate | None
            if len(duplicates) > 1 and directive is not duplicates[0]:
                first = duplicates[0]
                meant = next((n for n in self.nodes if route and n.route == route), None)
                message = (
                    f"member {directive.args[0]} route={route} repeats the URL of the member at "
                    f"{first.file}:{first.line}: Apache 2.4 makes the two ONE worker (AH01150: the second's "
                    f"route and parameters are ignored) and 2.2 sends both to the same place, so route {route} "
                    "is never served by this balancer today."
                )
                if meant is None:
                    self.problem("duplicate-member", "warning", directive, message + " Not imported.")
                    continue
                self.problem(
                    "duplicate-member",
                    "warning",
                    directive,
                    message + f" Imported as the author meant: member {route} -> node vhost "
                    f"{meant.names[0] if meant.names else meant.section.text} -> {meant.host}:{meant.port} "
                    "(the equivalence check will show this difference).",
                )
                node = meant
            if node is not None:
                server = self._server(node.host, node.port, node.route, node.section, "node vhost")
                if route and node.route and route != node.route and len(duplicates) == 1:
                    self.problem(
                        "route-mismatch",
                        "warning",
                        directive,
                        f"member route={route} but its node vhost sets cookie balancer.{node.route}: "
                        f"imported as route {node.route}",
                    )
            elif any_node:
                self.problem(
                    "undefined-node",
                    "warning",
                    directive,
                    f"member {directive.args[0]} is not a node vhost defined in this config (the other members "
                    "of this balancer are), so its Zope server is unknown: not imported",
                )
                continue
            else:
                if url.path not in ("", "/"):
                    self.unrecognised(directive, f"a member URL with a path ({url.path}) is not modelled")
                    continue
                server = self._server(url.host, url.port, route, directive, "member URL")
            if server is None:
                continue
            if server.name in seen_servers:
                other = seen_servers[server.name]
                self.problem(
                    "same-server-twice",
                    "warning",
                    directive,
                    f"Zope server {server.name} is already a member of {balancer.name} ({other.file}:{other.line}): "
                    "not imported twice",
                )
                continue
            seen_servers[server.name] = directive
            self.r.members.append(self._member(balancer, server, directive, params))

    def _member(
        self, balancer: BalancerCandidate, server: ServerCandidate, directive: Directive, params: dict[str, str]
    ) -> MemberCandidate:
        member = MemberCandidate(
            balancer=balancer.name, server=server.name, url=directive.args[0], file=directive.file, line=directive.line
        )
        unknown: list[str] = []
        for key, value in params.items():
            if key in _MEMBER_INT_PARAMS and int_or_none(value) is not None:
                setattr(member, _MEMBER_INT_PARAMS[key], int(value))
            elif key in ("timeout", "retry") and int_or_none(value) is not None:
                setattr(member, key, int(value))
            elif key == "route":
                pass  # the Zope server's name
            elif key in _HEALTH_PARAMS:
                self._health(server, directive, key, value, unknown)
            elif key == "disablereuse" and value.lower() == "on" and balancer.render_mode == NODE_VHOSTS:
                self.translated(directive, "disablereuse=On: HostPanel renders it on every node-vhosts member")
            elif key == "status":
                setting = True
                for ch in value.upper():
                    if ch in "+-":
                        setting = ch == "+"
                    elif ch in _MEMBER_STATUS:
                        setattr(member, _MEMBER_STATUS[ch], setting)
                    else:
                        unknown.append(f"status flag {ch}")
            else:
                unknown.append(f"{key}={value}")
        # mod_proxy clamps min and smax to max (and the model refuses them above max): keep Apache's values.
        for key in ("min", "smax"):
            value = getattr(member, key)
            if value is not None and member.max is not None and value > member.max:
                setattr(member, key, member.max)
                self.translated(directive, f"{key}={value} above max={member.max}: Apache uses {member.max}")
        if "timeout" not in params:
            member.timeout = self.server_timeout
            self.translated(directive, f"no timeout=: the server's Timeout, {self.server_timeout} s")
        for item in unknown:
            self.r.unrecognised.append(
                Unrecognised(
                    directive.file, directive.line, f"{directive.args[0]} {item}", "member parameter not modelled"
                )
            )
        return member

    def _health(self, server: ServerCandidate, directive: Directive, key: str, value: str, unknown: list[str]) -> None:
        """A member's hc* parameter as its Zope server's health-check setting (validated with the server in
        the plan, like every other value). Two members of one server that disagree: the first one wins."""
        parsed: str | int
        if key == "hcmethod":
            if value.upper() not in _HEALTH_METHODS:
                unknown.append(f"{key}={value}")
                return
            parsed = value.upper()
        elif key == "hcuri":
            parsed = value
        else:
            number = int_or_none(value)  # plain seconds or counts; hcinterval=500ms and the like are not modelled
            if number is None:
                unknown.append(f"{key}={value}")
                return
            parsed = number
        name = _HEALTH_PARAMS[key]
        if name in server.health and server.health[name] != parsed:
            self.problem(
                "health-check-differs",
                "warning",
                directive,
                f"{key}={value} differs from another member of Zope server {server.name} "
                f"({server.health[name]}): HostPanel keeps one health check per server, the first one",
            )
            return
        server.health[name] = parsed

    def _finish_balancers(self) -> None:
        """What only the sites and nodes tell about each balancer (cookie lifetime and name, the 503 page),
        then the node vhosts: each is a Zope server."""
        nodes_by_route = {n.route: n for n in self.nodes if n.route}
        for balancer in self.r.balancers:
            if balancer.render_mode == NODE_VHOSTS:
                self._cookie_from_nodes(balancer, nodes_by_route)
            else:
                self._cookie_from_sites(balancer)
            self._error_document(balancer)
        self._finish_nodes()

    def _cookie_from_nodes(self, balancer: BalancerCandidate, nodes_by_route: dict[str, NodeVhost]) -> None:
        """node-vhosts: the nodes set the sticky cookie (mod_rewrite's CO), so they tell its lifetime and name."""
        nodes = [
            nodes_by_route[m.server]
            for m in self.r.members
            if m.balancer == balancer.name and m.server in nodes_by_route
        ]
        lifetimes = {node.cookie_minutes for node in nodes} - {None}
        cookies = {node.cookie for node in nodes} - {None}
        if lifetimes:
            minutes = min(lifetimes)
            balancer.cookie_ttl = minutes * 60
            self.r.translated.append(
                Translated(
                    balancer.file,
                    balancer.line,
                    f"<Proxy balancer://{balancer.name}>",
                    f"the nodes' cookie lifetime is {minutes} minutes (mod_rewrite's CO counts minutes): "
                    f"cookie_ttl {minutes * 60} s",
                )
            )
        if cookies and cookies != {balancer.sticky_cookie}:
            self.r.problems.append(
                Problem(
                    "cookie-name",
                    "warning",
                    balancer.file,
                    balancer.line,
                    f"balancer {balancer.name} reads cookie {balancer.sticky_cookie} but its nodes set "
                    f"{', '.join(sorted(c for c in cookies if c))}: not sticky today",
                )
            )

    def _cookie_from_sites(self, balancer: BalancerCandidate) -> None:
        """Direct balancers: the sites set the sticky cookie, so they tell its lifetime and name."""
        if balancer.direct:
            return  # one member (a VHM rule straight to one Zope): nothing to stick to
        found = self._site_cookies.get(balancer.name, [])
        ttls = {ttl for _, ttl, _ in found if ttl}
        if ttls:
            balancer.cookie_ttl = min(ttls)
        names = {name for name, _, _ in found}
        if self._balancer_has_sites(balancer.name) and not found:
            self.r.problems.append(
                Problem(
                    "no-sticky-cookie",
                    "warning",
                    balancer.file,
                    balancer.line,
                    f"no site of balancer {balancer.name} sets the sticky cookie: not sticky today; "
                    "HostPanel sets it in every site",
                )
            )
        elif names and names != {balancer.sticky_cookie}:
            self.r.problems.append(
                Problem(
                    "cookie-name",
                    "warning",
                    balancer.file,
                    balancer.line,
                    f"balancer {balancer.name} reads cookie {balancer.sticky_cookie} but its sites set "
                    f"{', '.join(sorted(names))}",
                )
            )

    def _error_document(self, balancer: BalancerCandidate) -> None:
        """The balancer's 503 page: its own ErrorDocument, or the one its sites agree on."""
        documents = self._site_error_documents.get(balancer.name, [])
        paths = {p for p, _ in documents}
        if not balancer.error_document and not documents and not self._balancer_has_sites(balancer.name):
            # No site uses it here, so no 503 page can be seen: the panel's default, as for a new balancer.
            balancer.error_document = DEFAULT_ERROR_DOCUMENT
        if not balancer.error_document and len(paths) == 1:
            balancer.error_document = paths.pop()
        elif len(paths | ({balancer.error_document} if balancer.error_document else set())) > 1:
            self.r.problems.append(
                Problem(
                    "error-documents",
                    "warning",
                    balancer.file,
                    balancer.line,
                    f"the sites of balancer {balancer.name} use different 503 pages "
                    f"({', '.join(sorted(paths))}): imported {balancer.error_document or sorted(paths)[0]}",
                )
            )
            balancer.error_document = balancer.error_document or sorted(paths)[0]
        for _path, d in documents:
            self.translated(d, f"the 503 page of balancer {balancer.name}: {balancer.error_document}")

    def _finish_nodes(self) -> None:
        """Every node vhost is a Zope server; one that no member uses is imported all the same."""
        server_routes = {m.server for m in self.r.members}
        unused = [n for n in self.nodes if n.route not in server_routes]
        for node in unused:
            self._server(node.host, node.port, node.route, node.section, "node vhost")
            self.r.translated.append(
                Translated(
                    node.section.file,
                    node.section.line,
                    node.section.text,
                    f"node vhost of Zope server {node.route} ({node.host}:{node.port}), used by no balancer member",
                )
            )
        for node in self.nodes:
            if node not in unused:
                self.translated(node.section, f"node vhost of Zope server {node.route} ({node.host}:{node.port})")
