"""Zope servers: node vhosts (the seed's three passes: E=MYHOST/MYPORT, the CO cookie, the [P] rule to
host:port) and members' own URLs; and the classification of every vhost as site, node or other."""

from __future__ import annotations

from importer.recognise.findings import ProxyingVhost, ServerCandidate
from importer.recognise.state import NodeVhost, RecogniserState
from importer.recognise.syntax import (
    ENV_REF,
    VHM_PATTERNS,
    Rule,
    Url,
    derive_name,
    int_or_none,
    names_of,
    parse_url,
    proxies_traffic,
    rules_of,
    split_outside_braces,
    vhost_names,
)
from importer.tokenizer import Directive, Node, Section

DEFAULT_404_MATCH = r"^/(?!\.well-known/acme-challenge/)"  # HostPanel's own catch-all (rendering/render.py)


class ServersPart(RecogniserState):
    # adopt.py (the subclass the recogniser is made of) reads the hand-written shapes
    def _vhm_rule(self, vhost: Section, rules: list[Rule]) -> Rule | None:
        return None

    def _redirect_twin(self, vhost: Section) -> bool:
        return False

    def _proxies_elsewhere(self, vhost: Section) -> bool:
        return proxies_traffic(vhost)

    """Vhost classification, node vhosts, and the one table of Zope servers (by host:port)."""

    def _classify(self, vhost: Section) -> Rule | None:
        """Record a node vhost; return the VHM rule of a site vhost; list any other vhost as unrecognised."""
        rules, _ = rules_of(vhost)
        for rule in rules:
            if rule.target.lower().startswith("balancer://") and "VirtualHostBase" in rule.target:
                return rule
        if self._node(vhost, rules):
            return None
        vhm = self._vhm_rule(vhost, rules)
        if vhm is not None:
            return vhm
        if self._redirect_twin(vhost):
            return None
        children = [c for c in vhost.children if isinstance(c, Directive)]
        keys = [c.key for c in children]
        redirect = [a for c in children if c.key in ("redirect", "redirectmatch") for a in c.args]
        if sorted(keys) in (["redirect", "servername"], ["redirectmatch", "servername"]) and redirect in (
            ["404", "/"],
            ["404", DEFAULT_404_MATCH],  # HostPanel's own, letting ACME challenges through
        ):
            self.translated(vhost, "catch-all vhost answering 404 (HostPanel renders its own default.conf)")
            self._catch_alls.add((vhost.file, vhost.line))
            return None
        server_name, _ = names_of(vhost)
        name = server_name.args[0] if server_name and server_name.args else "(no ServerName)"
        overrides = [
            c
            for c in vhost.children
            if isinstance(c, Section)
            and c.key == "directory"
            and any(
                isinstance(d, Directive) and d.key == "allowoverride" and d.args[:1] != ("None",) for d in c.children
            )
        ]
        if overrides:
            self.problem(
                "htaccess",
                "warning",
                overrides[0],
                f"virtual host {name}: AllowOverride lets .htaccess files under {overrides[0].args[0]} hold rules "
                "(shared hosters keep VirtualHostMonster rules there); HostPanel does not read .htaccess files: "
                "copy those rules into the vhost and import again. Counted as a vhost that may proxy.",
            )
            self.r.proxying.append(
                ProxyingVhost(vhost.file, vhost.line, tuple(vhost_names(vhost)), tuple(a.lower() for a in vhost.args))
            )
        if self._proxies_elsewhere(vhost):
            why = "it proxies, but not to a Zope VirtualHostMonster path (a Node frontend, another application?)"
        else:
            why = "no proxy at all"
        self.unrecognised(
            vhost,
            f"virtual host {name} is not imported: neither a Plone site (no VirtualHostMonster rule) nor a node "
            f"vhost: {why}",
        )
        return None

    def _node(self, vhost: Section, rules: list[Rule]) -> bool:
        env: dict[str, str] = {}
        target: tuple[str, int] | None = None
        cookie: tuple[str, str, int | None] | None = None
        used: set[int] = set()
        for rule in rules:
            for flag in rule.flags:
                if flag.upper().startswith("E=") and ":" in flag:
                    key, _, value = flag[2:].partition(":")
                    env[key] = value
        for rule in rules:
            expanded = ENV_REF.sub(lambda m: env.get(m.group(1), m.group(0)), rule.target)
            upper = [f.upper() for f in rule.flags]
            if "P" in upper and rule.pattern in VHM_PATTERNS | {"^/(.*)$"} and expanded.endswith("/$1"):
                url = parse_url(expanded[: -len("/$1")])
                if url and url.scheme == "http" and url.path == "" and target is None:
                    target = (url.host, url.port)
                    used.add(id(rule.directive))
            for flag in rule.flags:
                if flag.upper().startswith("CO="):
                    value = ENV_REF.sub(lambda m: env.get(m.group(1), m.group(0)), flag[3:])
                    parts = split_outside_braces(value, ":")
                    if len(parts) >= 2:
                        lifetime = int_or_none(parts[3]) if len(parts) > 3 else None
                        cookie = (parts[0], parts[1], lifetime)
        if target is None:
            return False
        server_name, aliases = names_of(vhost)
        names = [server_name.args[0].lower()] if server_name and server_name.args else []
        names += [a.lower() for d in aliases for a in d.args]
        route = None
        if cookie and "." in cookie[1]:
            route = cookie[1].split(".", 1)[1]  # mod_proxy_balancer reads the route after the FIRST '.'
        node = NodeVhost(
            section=vhost,
            names=names,
            addresses=[a.lower() for a in vhost.args],
            host=target[0],
            port=target[1],
            route=route,
            cookie=cookie[0] if cookie else None,
            cookie_minutes=cookie[2] if cookie else None,
        )
        if route is None:
            node.route = env.get("MYHOST") or (names[0] if names else None)
            self.problem(
                "node-without-cookie",
                "warning",
                vhost,
                f"node vhost {names[0] if names else vhost.text} sets no sticky cookie balancer.<route>: "
                f"its clients are not sticky today; imported as route {node.route!r}",
            )
        self.nodes.append(node)
        self._node_directives(vhost, rules, used, node)
        return True

    def _node_directives(self, vhost: Section, rules: list[Rule], used: set[int], node: NodeVhost) -> None:
        error_paths: set[str] = set()
        for child in vhost.children:
            if isinstance(child, Section):
                if child.key == "location" and [c.text.lower() for c in child.children] == ["require local"]:
                    self.translated(child, "only the front-end itself talks to its nodes (HostPanel: Require local)")
                else:
                    self.unrecognised(child, "not modelled in a node vhost")
                continue
            key = child.key
            if key in ("servername", "serveralias"):
                continue
            if key == "rewriteengine" and [a.lower() for a in child.args] == ["on"]:
                continue
            if key == "balancerinherit" or key == "proxypreservehost":
                self.translated(child, "rendered by HostPanel in every node vhost")
            elif key == "errordocument" and child.args[:1] == ("503",) and len(child.args) == 2:
                error_paths.add(child.args[1])
                self.translated(child, "a node's own 503 page (HostPanel renders its own)")
            elif key == "alias" and child.args and child.args[0] in error_paths:
                self.translated(child, "a node's own 503 page (HostPanel renders its own)")
            elif key in ("rewritecond", "rewriterule"):
                pass  # judged with their rules below
            else:
                self.unrecognised(child, "not modelled in a node vhost")
        for rule in rules:
            flags_upper = [f.upper() for f in rule.flags]
            if id(rule.directive) in used:
                continue
            if rule.target == "-" and all(f.startswith(("E=", "CO=")) for f in flags_upper):
                for cond in rule.conds:
                    if cond.raw_args.startswith("%{HTTP_HOST}"):
                        self.translated(cond, "the cookie's domain (HostPanel: the Host the client asked for)")
                    else:
                        self.unrecognised(cond, "condition not modelled")
                if any(f.startswith("CO=") for f in flags_upper):
                    self.translated(
                        rule.directive,
                        f"node {node.route} sets cookie {node.cookie}=balancer.{node.route}"
                        + (f" for {node.cookie_minutes} minutes" if node.cookie_minutes else ""),
                    )
                else:
                    self.translated(rule.directive, "a node variable, substituted into the node's proxy rule")
            elif rule.target == "-" and flags_upper == ["L"] and rule.pattern.startswith("^/"):
                self.translated(rule.directive, "the node's 503 page is not proxied")
            else:
                self.unrecognised(rule.directive, "rewrite rule not modelled in a node vhost")

    def _node_for(self, url: Url) -> NodeVhost | None:
        host_port = f"{url.host}:{url.port}"
        for node in self.nodes:
            if host_port in node.addresses:
                return node
        for node in self.nodes:
            if url.host in node.names and any(
                a in ("*", "_default_") or a.endswith(f":{url.port}") or (url.port == 80 and ":" not in a)
                for a in node.addresses
            ):
                return node
        return None

    def _server(self, host: str, port: int, name: str | None, node: Node, via: str) -> ServerCandidate | None:
        existing = self.servers.get((host, port))
        if existing is not None:
            if name and existing.name != name:
                self.problem(
                    "two-routes",
                    "error",
                    node,
                    f"{host}:{port} is Zope server {existing.name!r} ({existing.file}:{existing.line}) "
                    f"and also route {name!r} here: a Zope server has one route",
                )
                return None
            return existing
        taken = {s.name for s in self.servers.values()}
        if name and name in taken:
            other = next(s for s in self.servers.values() if s.name == name)
            self.problem(
                "route-taken",
                "error",
                node,
                f"route {name!r} is {other.host}:{other.port} ({other.file}:{other.line}) and {host}:{port} here",
            )
            return None
        derived = not name
        if not name:
            name = derive_name(host, port, taken)
            self.translated(node, f"server {host}:{port} has no route: named {name!r} after its host")
        server = ServerCandidate(
            name=name, host=host, port=port, file=node.file, line=node.line, via=via, derived=derived
        )
        self.servers[(host, port)] = server
        return server
