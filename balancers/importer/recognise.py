"""Recognise HostPanel's objects in a hand-written Apache config (pure: no database).

    recognition = recognise(read_config(source))

From the seed how-to's constructs (and HostPanel's own rendered tree, which reads back the same way):

- Zope servers: the target of a node vhost's proxy rule (`RewriteRule ... http://host:port/$1 [P]`, with
  `E=MYHOST`/`E=MYPORT` variables substituted), named by the route of the cookie the node sets
  (`CO=BALANCEID:balancer.<route>:...`); or a balancer member's own URL, named by its `route=`.
- Balancers: `<Proxy balancer://name>` with `ProxySet lbmethod/stickysession/nofailover/maxattempts/
  timeout`, `ErrorDocument 503`, and access (`Require all granted`, or 2.2's `Order`/`Allow from all`).
- Members: `BalancerMember URL` with lbset, route, loadfactor, min, max, smax, timeout, retry and
  `status=+H/+D/+N`. A member whose URL is a node vhost makes its balancer `node-vhosts`.
- Sites: a `<VirtualHost>` with ServerName, ServerAlias and the VirtualHostMonster rule
  `RewriteRule ^/(.*) balancer://NAME/VirtualHostBase/http/%{HTTP_HOST}:80/<plone path>/VirtualHostRoot/$1 [L,P]`,
  with the single-pass sticky cookie (`Header add Set-Cookie "BALANCEID=balancer.%{BALANCER_WORKER_ROUTE}e..."`).

Every directive lands in exactly one place: used for a candidate, `translated` (an equivalent HostPanel
renders differently, e.g. `Allow from all`), `ignored` (server-level directives that are normal and
irrelevant to the sites, e.g. LoadModule), or `unrecognised` (file, line, text, why). `problems` are
what an operator must see before importing: errors block the import, warnings need an explicit accept.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from balancers.choices import RenderMode
from balancers.importer.reader import ConfigTree
from balancers.importer.tokenizer import Directive, Node, Section
from balancers.models import Balancer

type Severity = Literal["error", "warning"]

DEFAULT_ERROR_DOCUMENT = str(Balancer._meta.get_field("error_document").default)
NODE_VHOSTS = str(RenderMode.NODE_VHOSTS)
SINGLE_PASS = str(RenderMode.SINGLE_PASS)

# Server-level directives that every Apache has and that do not concern the sites being imported.
SERVER_LEVEL_IGNORED = frozenset(
    {
        "acceptfilter",
        "accessfilename",
        "adddefaultcharset",
        "addhandler",
        "addlanguage",
        "addoutputfilter",
        "addtype",
        "alias",
        "browsermatch",
        "customlog",
        "defaultruntimedir",
        "defaulttype",
        "define",
        "directoryindex",
        "documentroot",
        "enablemmap",
        "enablesendfile",
        "errorlog",
        "extendedstatus",
        "fileetag",
        "forcelanguagepriority",
        "group",
        "hostnamelookups",
        "indexoptions",
        "keepalive",
        "keepalivetimeout",
        "languagepriority",
        "limitrequestbody",
        "listen",
        "loadfile",
        "loadmodule",
        "logformat",
        "lockfile",
        "loglevel",
        "maxclients",
        "maxconnectionsperchild",
        "maxkeepaliverequests",
        "maxrequestsperchild",
        "maxrequestworkers",
        "maxsparesservers",
        "maxsparethreads",
        "mimemagicfile",
        "minspareservers",
        "minsparethreads",
        "mutex",
        "namevirtualhost",
        "options",
        "pidfile",
        "proxyrequests",
        "proxytimeout",
        "scoreboardfile",
        "serveradmin",
        "serverlimit",
        "servername",
        "serverroot",
        "serversignature",
        "servertokens",
        "setenvif",
        "startservers",
        "threadlimit",
        "threadsperchild",
        "timeout",
        "traceenable",
        "typesconfig",
        "usecanonicalname",
        "user",
    }
)
SERVER_LEVEL_SECTIONS_IGNORED = frozenset({"directory", "directorymatch", "files", "filesmatch"})
TRANSPARENT_SECTIONS = frozenset({"ifmodule"})
_VHM_PATTERNS = frozenset({"^/(.*)", "^/(.*)$", "/(.*)", "/(.*)$"})
_VHM_TARGET = re.compile(
    r"^balancer://(?P<name>[^/]+)/VirtualHostBase/(?P<scheme>[a-z]+)/(?P<host>%\{HTTP_HOST\}|%\{SERVER_NAME\}|[^/:]+)"
    r"(?::(?P<port>[0-9]+))?(?P<path>(?:/[^/]+)*?)/VirtualHostRoot/\$1$"
)
_CHALLENGE_RULE = r"^/\.well-known/acme-challenge/"  # HostPanel's own rule (balancers/render.py)
_DEFAULT_404_MATCH = r"^/(?!\.well-known/acme-challenge/)"
_ENV_REF = re.compile(r"%\{ENV:([A-Za-z0-9_]+)\}")
_STICKY_HEADER = re.compile(
    r"^(?P<name>[A-Za-z0-9_-]+)=balancer\.%\{BALANCER_WORKER_ROUTE\}e(?P<attrs>(?:;.*)?)$", re.IGNORECASE
)
_MEMBER_INT_PARAMS = {"lbset": "lbset", "loadfactor": "loadfactor", "min": "min", "max": "max", "smax": "smax"}
_MEMBER_STATUS = {"H": "hot_standby", "D": "disabled", "N": "drain"}
_ON_OFF = {"on": True, "off": False}


@dataclass(frozen=True)
class Unrecognised:
    file: str
    line: int
    text: str
    why: str


@dataclass(frozen=True)
class Ignored:
    file: str
    line: int
    text: str
    why: str


@dataclass(frozen=True)
class Translated:
    """Understood, and rendered by HostPanel in an equivalent (or deliberately better) form."""

    file: str
    line: int
    text: str
    as_: str


@dataclass(frozen=True)
class Problem:
    code: str
    severity: Severity
    file: str
    line: int
    message: str


@dataclass
class ServerCandidate:
    name: str
    host: str
    port: int
    file: str
    line: int
    via: str
    derived: bool = False  # no route in the config: named after its host (an existing row's name wins)


@dataclass
class BalancerCandidate:
    name: str
    file: str
    line: int
    lbmethod: str = "byrequests"
    sticky_cookie: str = "BALANCEID"
    cookie_ttl: int = 1200
    nofailover: bool = False
    maxattempts: int = 2
    timeout: int = 20
    error_document: str = ""
    render_mode: str = SINGLE_PASS


@dataclass
class MemberCandidate:
    balancer: str
    server: str
    url: str
    file: str
    line: int
    lbset: int = 0
    loadfactor: int = 1
    min: int | None = None
    max: int | None = None
    smax: int | None = None
    timeout: int = 10
    retry: int = 60
    hot_standby: bool = False
    drain: bool = False
    disabled: bool = False


@dataclass
class SiteCandidate:
    domain: str
    balancer: str
    plone_path: str
    file: str
    line: int
    domain_line: int
    rule_line: int
    aliases: list[tuple[str, int]] = field(default_factory=list)  # (name, line of its ServerAlias)


@dataclass
class Recognition:
    source: str
    main: str
    files: list[str]
    digest: str
    servers: list[ServerCandidate] = field(default_factory=list)
    balancers: list[BalancerCandidate] = field(default_factory=list)
    members: list[MemberCandidate] = field(default_factory=list)
    sites: list[SiteCandidate] = field(default_factory=list)
    unrecognised: list[Unrecognised] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    translated: list[Translated] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


# --- small parsers ---------------------------------------------------------------------------


def rewrite_args(raw: str) -> list[str]:
    """Split RewriteRule/RewriteCond arguments as mod_rewrite does (its own parser, not ap_getword_conf):
    quotes group, a backslash escapes only whitespace."""
    words: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        while i < n and raw[i].isspace():
            i += 1
        if i >= n:
            break
        quote = raw[i] if raw[i] in "\"'" else ""
        i += 1 if quote else 0
        out: list[str] = []
        while i < n:
            ch = raw[i]
            if (quote and ch == quote) or (not quote and ch.isspace()):
                break
            if ch == "\\" and i + 1 < n and raw[i + 1].isspace():
                out.append(raw[i + 1])
                i += 2
                continue
            out.append(ch)
            i += 1
        i += 1 if quote else 0
        words.append("".join(out))
    return words


def rewrite_flags(text: str) -> list[str]:
    if not (text.startswith("[") and text.endswith("]")):
        return [text]
    return [f.strip() for f in text[1:-1].split(",") if f.strip()]


def split_outside_braces(text: str, sep: str) -> list[str]:
    """Split on sep, except inside %{...} (e.g. a CO flag's `.%{HTTP:X-Forwarded-Server}`)."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if ch == sep and not depth:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


@dataclass(frozen=True)
class Url:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def parse_url(text: str) -> Url | None:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return Url(parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80), parts.path)


def derive_name(host: str, port: int, taken: set[str]) -> str:
    """A route-safe name for a Zope server that has no route (e.g. a hot-standby member)."""
    is_ip = host.replace(".", "").isdigit() or ":" in host
    first = f"{host}-{port}" if is_ip else host.split(".")[0]
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", first).strip("-") or "zope"
    name = base if base not in taken else f"{base}-{port}"
    suffix = 2
    while name in taken:
        name = f"{base}-{port}-{suffix}"
        suffix += 1
    return name


# --- the recogniser --------------------------------------------------------------------------


@dataclass
class _Rule:
    directive: Directive
    pattern: str
    target: str
    flags: list[str]
    conds: list[Directive]


@dataclass
class _Node:
    """A node vhost: the front-end's own vhost that sets the sticky cookie and proxies to one Zope server."""

    section: Section
    names: list[str]
    addresses: list[str]
    host: str
    port: int
    route: str | None
    cookie: str | None
    cookie_minutes: int | None


class _Recogniser:
    def __init__(self, tree: ConfigTree) -> None:
        self.r = Recognition(source=tree.source, main=tree.main, files=tree.files, digest=tree.digest)
        self.tree = tree
        self.proxies: list[Section] = []
        self.vhosts: list[Section] = []
        self.nodes: list[_Node] = []
        self.site_sections: list[tuple[Section, _Rule]] = []
        self.servers: dict[tuple[str, int], ServerCandidate] = {}
        self.server_timeout = 60  # Apache's default Timeout, which a member without timeout= uses
        self._site_cookies: defaultdict[str, list[tuple[str, int | None, Directive]]] = defaultdict(list)
        self._site_error_documents: defaultdict[str, list[tuple[str, Directive]]] = defaultdict(list)

    # bookkeeping
    def unrecognised(self, node: Node, why: str) -> None:
        self.r.unrecognised.append(Unrecognised(node.file, node.line, node.text[:500], why))

    def ignored(self, node: Node, why: str) -> None:
        self.r.ignored.append(Ignored(node.file, node.line, node.text[:500], why))

    def translated(self, node: Node, as_: str) -> None:
        self.r.translated.append(Translated(node.file, node.line, node.text[:500], as_))

    def problem(self, code: str, severity: Severity, node: Node, message: str) -> None:
        self.r.problems.append(Problem(code, severity, node.file, node.line, message))

    def run(self) -> Recognition:
        for note in self.tree.notes:
            self.r.problems.append(Problem("syntax", "warning", note.file, note.line, f"{note.text}: {note.message}"))
        self._server_level(self.tree.nodes)
        site_rules: list[tuple[Section, _Rule]] = []
        for vhost in self.vhosts:
            kind = self._classify(vhost)
            if kind is not None:
                site_rules.append((vhost, kind))
        for proxy in self.proxies:
            self._balancer(proxy)
        for vhost, rule in site_rules:
            self._site(vhost, rule)
        self._shadowed_names()
        self._finish_balancers()
        self.r.servers = sorted(self.servers.values(), key=lambda s: s.name)
        return self.r

    def _server_level(self, nodes: list[Node]) -> None:
        for node in nodes:
            if isinstance(node, Section):
                if node.key in TRANSPARENT_SECTIONS:
                    self.translated(node, "its contents are read as if the condition holds")
                    self._server_level(node.children)
                elif node.key == "virtualhost":
                    self.vhosts.append(node)
                elif node.key == "proxy" and node.args and node.args[0].lower().startswith("balancer://"):
                    self.proxies.append(node)
                elif node.key == "proxy":
                    self._other_proxy(node)
                elif node.key in SERVER_LEVEL_SECTIONS_IGNORED:
                    self.ignored(node, "server-level")
                else:
                    self.unrecognised(node, f"<{node.name}> at server level is not modelled")
                continue
            key = node.key
            if key == "proxyrequests" and node.args and node.args[0].lower() == "on":
                self.problem(
                    "open-proxy",
                    "warning",
                    node,
                    "ProxyRequests On makes this Apache an open forward proxy; HostPanel's config does not turn it on",
                )
            elif key == "proxypreservehost":
                self.translated(node, "ProxyPreserveHost On, set once at server level by HostPanel")
            elif key in SERVER_LEVEL_IGNORED:
                if key in ("timeout", "proxytimeout") and node.args and node.args[0].isdigit():
                    self.server_timeout = int(node.args[0])
                self.ignored(node, "server-level")
            else:
                self.unrecognised(node, "server-level directive not modelled by HostPanel")

    def _other_proxy(self, section: Section) -> None:
        directives = [c for c in section.children if isinstance(c, Directive)]
        target = section.args[0] if section.args else ""
        if target == "*" and all(self._is_access_granted_part(d) for d in directives):
            self.translated(section, "access to proxied URLs: HostPanel grants it per balancer")
        elif (
            parse_url(target)
            and len(section.children) == 1
            and isinstance(section.children[0], Directive)
            and section.children[0].key == "proxyset"
            and [a.lower() for a in section.children[0].args] == ["keepalive=on"]
        ):
            self.translated(section, "keep-alive to a node's Zope server (HostPanel renders it in node-vhosts mode)")
        else:
            self.unrecognised(section, "a <Proxy> that is not a balancer is not modelled")

    @staticmethod
    def _is_access_granted_part(d: Directive) -> bool:
        args = [a.lower() for a in d.args]
        return (
            (d.key == "order")
            or (d.key == "allow" and args == ["from", "all"])
            or (d.key == "require" and args == ["all", "granted"])
        )

    # --- vhosts ---------------------------------------------------------------------------------

    @staticmethod
    def _rules(vhost: Section) -> tuple[list[_Rule], list[Directive]]:
        """The vhost's RewriteRules with the RewriteConds before each, and its other directives."""
        rules: list[_Rule] = []
        conds: list[Directive] = []
        others: list[Directive] = []
        for child in vhost.children:
            if not isinstance(child, Directive):
                continue
            if child.key == "rewritecond":
                conds.append(child)
            elif child.key == "rewriterule":
                words = rewrite_args(child.raw_args)
                flags = rewrite_flags(words[2]) if len(words) > 2 else []
                rules.append(_Rule(child, words[0] if words else "", words[1] if len(words) > 1 else "", flags, conds))
                conds = []
            else:
                others.append(child)
        others.extend(conds)  # conditions with no rule after them
        return rules, others

    @staticmethod
    def _names(vhost: Section) -> tuple[Directive | None, list[Directive]]:
        server_name = next((c for c in vhost.children if isinstance(c, Directive) and c.key == "servername"), None)
        aliases = [c for c in vhost.children if isinstance(c, Directive) and c.key == "serveralias"]
        return server_name, aliases

    def _classify(self, vhost: Section) -> _Rule | None:
        """Record a node vhost; return the VHM rule of a site vhost; list any other vhost as unrecognised."""
        rules, _ = self._rules(vhost)
        for rule in rules:
            if rule.target.lower().startswith("balancer://") and "VirtualHostBase" in rule.target:
                return rule
        if self._node(vhost, rules):
            return None
        children = [c for c in vhost.children if isinstance(c, Directive)]
        keys = [c.key for c in children]
        redirect = [a for c in children if c.key in ("redirect", "redirectmatch") for a in c.args]
        if sorted(keys) in (["redirect", "servername"], ["redirectmatch", "servername"]) and redirect in (
            ["404", "/"],
            ["404", _DEFAULT_404_MATCH],  # HostPanel's own, letting ACME challenges through
        ):
            self.translated(vhost, "catch-all vhost answering 404 (HostPanel renders its own default.conf)")
            return None
        server_name, _ = self._names(vhost)
        name = server_name.args[0] if server_name and server_name.args else "(no ServerName)"
        self.unrecognised(
            vhost,
            f"virtual host {name} is neither a client site (no VirtualHostMonster rule to a balancer) "
            f"nor a node vhost ({len(vhost.children)} directives inside, kept as they are)",
        )
        return None

    def _node(self, vhost: Section, rules: list[_Rule]) -> bool:
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
            expanded = _ENV_REF.sub(lambda m: env.get(m.group(1), m.group(0)), rule.target)
            upper = [f.upper() for f in rule.flags]
            if "P" in upper and rule.pattern in _VHM_PATTERNS | {"^/(.*)$"} and expanded.endswith("/$1"):
                url = parse_url(expanded[: -len("/$1")])
                if url and url.scheme == "http" and url.path == "" and target is None:
                    target = (url.host, url.port)
                    used.add(id(rule.directive))
            for flag in rule.flags:
                if flag.upper().startswith("CO="):
                    value = _ENV_REF.sub(lambda m: env.get(m.group(1), m.group(0)), flag[3:])
                    parts = split_outside_braces(value, ":")
                    if len(parts) >= 2:
                        lifetime = _int(parts[3]) if len(parts) > 3 else None
                        cookie = (parts[0], parts[1], lifetime)
        if target is None:
            return False
        server_name, aliases = self._names(vhost)
        names = [server_name.args[0].lower()] if server_name and server_name.args else []
        names += [a.lower() for d in aliases for a in d.args]
        route = None
        if cookie and "." in cookie[1]:
            route = cookie[1].split(".", 1)[1]  # mod_proxy_balancer reads the route after the FIRST '.'
        node = _Node(
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

    def _node_directives(self, vhost: Section, rules: list[_Rule], used: set[int], node: _Node) -> None:
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

    def _node_for(self, url: Url) -> _Node | None:
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

    # --- balancers -------------------------------------------------------------------------------

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
            self.translated(node, f"Zope server {host}:{port} has no route: named {name!r} after its host")
        server = ServerCandidate(
            name=name, host=host, port=port, file=node.file, line=node.line, via=via, derived=derived
        )
        self.servers[(host, port)] = server
        return server

    def _balancer(self, proxy: Section) -> None:
        name = proxy.args[0][len("balancer://") :].rstrip("/")
        balancer = BalancerCandidate(name=name, file=proxy.file, line=proxy.line)
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

    def _access(self, access: list[Directive]) -> None:
        if not access:
            return
        granted = any(d.key == "require" and [a.lower() for a in d.args] == ["all", "granted"] for d in access)
        old_allow = any(d.key == "allow" and [a.lower() for a in d.args] == ["from", "all"] for d in access)
        if all(self._is_access_granted_part(d) for d in access) and (granted or old_allow):
            for d in access:
                if d.key in ("order", "allow"):
                    self.translated(d, "Apache 2.2 access control: HostPanel renders Require all granted")
                else:
                    self.translated(d, "Require all granted")
            return
        for d in access:
            self.unrecognised(d, "access restrictions on a balancer are not modelled (HostPanel grants all)")

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
            elif key in ("maxattempts", "timeout") and _int(value) is not None:
                setattr(balancer, key, int(value))
            elif key in ("failonstatus", "failontimeout") and value.lower() in ("503", "on"):
                pass  # node-vhosts mode renders exactly these
            else:
                self.r.unrecognised.append(
                    Unrecognised(
                        directive.file, directive.line, f"ProxySet {key}={value}", "balancer parameter not modelled"
                    )
                )
        if "stickysession" not in params:
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
            if key in _MEMBER_INT_PARAMS and _int(value) is not None:
                setattr(member, _MEMBER_INT_PARAMS[key], int(value))
            elif key in ("timeout", "retry") and _int(value) is not None:
                setattr(member, key, int(value))
            elif key == "route":
                pass  # the Zope server's name
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

    # --- sites -----------------------------------------------------------------------------------

    def _site(self, vhost: Section, vhm: _Rule) -> None:
        match = _VHM_TARGET.match(vhm.target)
        server_name, aliases = self._names(vhost)
        if match is None or match.group("scheme") != "http" or (match.group("port") or "80") != "80":
            self.unrecognised(vhost, f"VirtualHostMonster rule not modelled: {vhm.target[:200]} (only http on port 80)")
            return
        if vhm.pattern not in _VHM_PATTERNS or "P" not in [f.upper() for f in vhm.flags]:
            self.unrecognised(vhost, f"rewrite rule {vhm.directive.text[:200]} is not the catch-all proxy rule")
            return
        if server_name is None or len(server_name.args) != 1:
            self.problem("no-servername", "error", vhost, "a site vhost needs exactly one ServerName")
            return
        domain = server_name.args[0]
        domain = re.sub(r"^https?://", "", domain, flags=re.IGNORECASE)
        if re.fullmatch(r".*:[0-9]+", domain):
            domain = domain.rsplit(":", 1)[0]
        site = SiteCandidate(
            domain=domain,
            balancer=match.group("name"),
            plone_path=match.group("path"),
            file=vhost.file,
            line=vhost.line,
            domain_line=server_name.line,
            rule_line=vhm.directive.line,
            aliases=[(a, d.line) for d in aliases for a in d.args],
        )
        self.r.sites.append(site)
        host = match.group("host")
        if host == "%{HTTP_HOST}":
            self.translated(
                vhm.directive,
                "%{HTTP_HOST}:80 -> HostPanel renders %{SERVER_NAME}:80 (same for clients on port 80; "
                "a Host with a port no longer becomes host:port:80)",
            )
        elif host != "%{SERVER_NAME}":
            self.translated(vhm.directive, f"a fixed host {host} -> HostPanel renders %{{SERVER_NAME}}")
        self._site_directives(vhost, vhm, site)

    def _site_directives(self, vhost: Section, vhm: _Rule, site: SiteCandidate) -> None:
        rules, others = self._rules(vhost)
        engine_on = False
        error_paths: set[str] = set()
        for child in vhost.children:
            if isinstance(child, Section):
                self.unrecognised(child, "not modelled in a site vhost")
        for d in others:
            key = d.key
            if key in ("servername", "serveralias"):
                continue
            if key == "rewriteengine" and [a.lower() for a in d.args] == ["on"]:
                engine_on = True
            elif key == "header" and self._sticky_header(d, site):
                pass
            elif key == "errordocument" and len(d.args) == 2 and d.args[0] == "503" and d.args[1].startswith("/"):
                error_paths.add(d.args[1])
                self._site_error_documents[site.balancer].append((d.args[1], d))
            elif key == "alias" and d.args and d.args[0] in error_paths:
                self.translated(d, "the 503 page (HostPanel serves its own errors/503.html)")
            elif key in ("documentroot", "serveradmin"):
                self.ignored(d, "no effect in a vhost that proxies every request")
            elif key == "proxypreservehost":
                self.translated(d, "ProxyPreserveHost On, set once at server level by HostPanel")
            elif key == "requestheader" and [a.lower() for a in d.args[:2]] == ["set", "x-forwarded-proto"]:
                self.translated(d, "X-Forwarded-Proto: HostPanel sets it in every site vhost")
            elif key == "rewritecond":
                self.unrecognised(d, "a condition with no rule after it")
            else:
                self.unrecognised(d, "not modelled in a site vhost")
        after_catch_all = False
        for rule in rules:
            if rule is vhm or rule.directive is vhm.directive:
                for cond in rule.conds:
                    if (
                        cond.raw_args.split()[:1] == ["%{REQUEST_URI}"]
                        and cond.args[1:2]
                        and cond.args[1].startswith("!=")
                    ):
                        self.translated(cond, "the 503 page is not proxied (HostPanel renders this condition)")
                    else:
                        self.unrecognised(cond, "a condition on the site's proxy rule is not modelled")
                extra = [f for f in rule.flags if f.upper() not in ("L", "P")]
                if extra:
                    self.unrecognised(rule.directive, f"rewrite flags not modelled: {','.join(extra)}")
                after_catch_all = True
                continue
            if (rule.pattern, rule.target, rule.flags, rule.conds) == (_CHALLENGE_RULE, "-", ["L"], []):
                self.translated(rule.directive, "ACME challenges pass to the server-level Alias (HostPanel's rule)")
                continue
            why = "never reached: after the catch-all proxy rule" if after_catch_all else "rewrite rule not modelled"
            self.unrecognised(rule.directive, why)
            for cond in rule.conds:
                self.unrecognised(cond, "condition of a rule not modelled")
        if not engine_on:
            self.problem(
                "rewrite-engine-off",
                "warning",
                vhost,
                f"{site.domain}: no RewriteEngine On in this vhost, so Apache never runs its proxy rule and "
                "serves local files (a 404) today; HostPanel will proxy it to the Plone site",
            )
        if error_paths and not any(
            c.raw_args.startswith("%{REQUEST_URI}") for r in rules if r.directive is vhm.directive for c in r.conds
        ):
            self.translated(
                vhm.directive, "HostPanel adds RewriteCond %{REQUEST_URI} !=<503 page> (else the page is proxied)"
            )

    def _sticky_header(self, d: Directive, site: SiteCandidate) -> bool:
        words = list(d.args)
        if len(words) < 3 or words[0].lower() not in ("add", "set") or words[1].lower() != "set-cookie":
            return False
        match = _STICKY_HEADER.match(words[2])
        if not match or words[3:] not in ([], ["env=BALANCER_ROUTE_CHANGED"]):
            return False
        attrs = {
            k.strip().lower(): v.strip() for k, _, v in (a.partition("=") for a in match.group("attrs").split(";"))
        }
        ttl = _int(attrs.get("max-age", "")) if "max-age" in attrs else None
        self._site_cookies[site.balancer].append((match.group("name"), ttl, d))
        self.translated(d, "single-pass sticky cookie (HostPanel renders it in every site of the balancer)")
        return True

    def _finish_balancers(self) -> None:
        nodes_by_route = {n.route: n for n in self.nodes if n.route}
        server_routes = {m.server for m in self.r.members}
        for balancer in self.r.balancers:
            if balancer.render_mode == NODE_VHOSTS:
                lifetimes = {
                    nodes_by_route[m.server].cookie_minutes
                    for m in self.r.members
                    if m.balancer == balancer.name and m.server in nodes_by_route
                } - {None}
                cookies = {
                    nodes_by_route[m.server].cookie
                    for m in self.r.members
                    if m.balancer == balancer.name and m.server in nodes_by_route
                } - {None}
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
            else:
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

    def _shadowed_names(self) -> None:
        """Apache gives a name claimed by two vhosts to the first one: the later claim never gets traffic."""
        owners: dict[str, SiteCandidate] = {}
        kept: list[SiteCandidate] = []
        for site in self.r.sites:
            domain = site.domain.lower()
            if domain in owners:
                first = owners[domain]
                self.r.problems.append(
                    Problem(
                        "shadowed",
                        "warning",
                        site.file,
                        site.domain_line,
                        f"{domain} is already served by the vhost at {first.file}:{first.line}, which Apache "
                        "reads first: this vhost never gets its requests; not imported",
                    )
                )
                continue
            aliases = []
            for alias, line in site.aliases:
                name = alias.lower()
                if name in owners or name == domain or name in {a.lower() for a, _ in aliases}:
                    if name != domain and name not in {a.lower() for a, _ in aliases}:
                        first = owners[name]
                        self.r.problems.append(
                            Problem(
                                "shadowed",
                                "warning",
                                site.file,
                                line,
                                f"alias {name} is already served by the vhost at {first.file}:{first.line}: "
                                "not imported for this site",
                            )
                        )
                    continue
                aliases.append((alias, line))
            site.aliases = aliases
            for name in [domain, *(a.lower() for a, _ in aliases)]:
                owners.setdefault(name, site)
            kept.append(site)
        self.r.sites = kept

    def _balancer_has_sites(self, name: str) -> bool:
        return any(s.balancer == name for s in self.r.sites)


def recognise(tree: ConfigTree) -> Recognition:
    """What the config means in HostPanel's terms, and everything else with file and line."""
    return _Recogniser(tree).run()


__all__ = [
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
