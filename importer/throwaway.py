"""The two configs the equivalence check runs, each in a throwaway standalone Apache on loopback (pure).

    old = old_config_copy(tree, zope_ports={("zope1", 8080): 40001}, blackhole=40009)
    snapshot = plan_snapshot(plan, zope_ports={"zope1": 40101})

The old config, as read (includes expanded), is NOT copied: it is written again from an allowlist
(importer.allowlist), each directive from its parsed values, because the copy runs on the
panel's own host. Only what routes a request runs; every other directive and section is left out and
listed in `OldCopy.not_run` with its file and line (the preview names each one). What is changed for a
throwaway copy on 127.0.0.1 (every change is listed in `OldCopy.changes` for the report):

- every `<VirtualHost>` address gets its own free 127.0.0.1 port (vhosts sharing an address share the
  port, so name-based selection is kept); the `Listen` lines go (the launcher listens on those ports);
- Zope servers are reached through `ProxyRemoteMatch` to a recording fake backend each (the rules and
  members themselves are not edited, so `E=MYHOST` variables and `[P]` rules run as written);
- a member URL naming a node vhost by address is pointed at that vhost's new port; one naming it by
  ServerName (the seed's `http://node1`) reaches it through `ProxyRemoteMatch` (docs/apache-facts.md §2);
  any other member host, and every other proxy target (a `ProxyPass` or `[P]` rule the importer did not
  understand), is sent to a closed loopback port (a last `ProxyRemoteMatch`), so nothing leaves the
  machine;
- a txt/rnd/dbm `RewriteMap` runs from a copy of the map file read with the config (a dbm as the text
  it was built from), written under the check's directory (`OldCopy.files`); Alias and DocumentRoot
  point at an empty directory of the check's own;
- process-level directives (LoadModule, User, PidFile, logs, MPM sizes, ServerRoot, NameVirtualHost)
  and <Directory>/<Files> sections are dropped (the launcher has its own); <IfModule> is read as if its
  module is loaded, as the importer does;
- Apache 2.2 access control is translated as the importer translates it: `Order` dropped,
  `Allow from all` -> `Require all granted`, `Deny from all` -> `Require all denied`.

The throwaway Apache itself runs confined (importer.sandbox): an unprivileged user, an empty
environment, and a filesystem that holds the check's directory and the system's read-only files only.

HostPanel's side is the plan rendered by rendering.render (the same renderer deploys use), with every
Zope server at its fake backend's address.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace

from cryptography import x509
from django.conf import settings

from balancers.models import BALANCER_SETTINGS, MEMBER_SETTINGS
from devrig.apache import module_dir
from devrig.net import free_port
from importer.allowlist import EMPTY_PASSWORDS, EXTRA_MODULES, KEPT_SECTIONS, Maps, NotRun, quote, rerun, section_args
from importer.plan import ImportPlan, site_status
from importer.reader import ConfigTree
from importer.recognise.findings import OPTION_NAMES, ServerCandidate, SiteCandidate
from importer.recognise.syntax import parse_url
from importer.tokenizer import Directive, Node, Section
from rendering.snapshot import (
    BalancerRecord,
    CertificateRecord,
    MemberRecord,
    SiteRecord,
    Snapshot,
    ZopeServerRecord,
)

HEALTH_PARAMS = ("hcmethod=", "hcuri=", "hcinterval=", "hcpasses=", "hcfails=", "hcexpr=", "hctemplate=")
# Marks which balancer handled a request (set only where a balancer did: node vhosts add nothing).
BALANCER_HEADER = "X-HostPanel-Balancer"
HEADER_LINE = f"Header always set {BALANCER_HEADER} %{{BALANCER_NAME}}e env=BALANCER_NAME"

PROCESS_DIRECTIVES = frozenset(
    {
        "loadmodule",
        "loadfile",
        "user",
        "group",
        "pidfile",
        "errorlog",
        "errorlogformat",
        "customlog",
        "transferlog",
        "loglevel",
        "lockfile",
        "mutex",
        "defaultruntimedir",
        "serverroot",
        "scoreboardfile",
        "listen",
        "namevirtualhost",
        "typesconfig",
        "mimemagicfile",
        "startservers",
        "serverlimit",
        "threadlimit",
        "threadsperchild",
        "maxrequestworkers",
        "maxclients",
        "minspareservers",
        "maxspareservers",
        "minsparethreads",
        "maxsparethreads",
        "maxconnectionsperchild",
        "maxrequestsperchild",
        "gracefulshutdowntimeout",
        "include",
        "includeoptional",
    }
)
SERVER_ONLY_DROPPED = frozenset({"servername", "documentroot"})  # the launcher's own ServerName wins
DROPPED_SECTIONS = frozenset({"directory", "directorymatch", "files", "filesmatch"})
EMPTY_DIR = "empty"  # the directory every Alias and DocumentRoot of the copy points at (relative to its own)
UNWRAPPED_SECTIONS = frozenset({"ifmodule"})


@dataclass
class OldCopy:
    text: str
    listen: list[str]  # "127.0.0.1:PORT" for every vhost address
    address_ports: dict[str, int]  # the original vhost address ("*:80") -> its loopback port
    vhost_ports: dict[tuple[str, int], int]  # (file, line) of a <VirtualHost> -> the port to ask it on
    changes: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)  # "GlobalLog at apache2.conf:3: not on the ... allowlist"
    files: dict[str, str] = field(default_factory=dict)  # {path relative to the copy's directory: text}
    modules: list[str] = field(default_factory=list)  # LoadModule lines (allowlisted modules) written before text


def normal_address(address: str) -> str:
    text = address.lower()
    if text in ("*", "_default_"):
        return "*:80"
    text = text.replace("_default_:", "*:")
    if re.fullmatch(r"\[[0-9a-f:.]+\]:[0-9]+|[^:\[\]]+:[0-9]+", text):
        return text
    return f"{text}:80"


def _walk(nodes: list[Node]):
    for node in nodes:
        yield node
        if isinstance(node, Section):
            yield from _walk(node.children)


def _remote_match(host: str, port: int, target: int) -> str:
    optional = "(:80)?" if port == 80 else f":{port}"
    return f"ProxyRemoteMatch (?i)^http://{re.escape(host)}{optional}(/|$) http://127.0.0.1:{target}"


class _Copier:
    def __init__(
        self, tree: ConfigTree, zope_ports: dict[tuple[str, int], int], blackhole: int, directory: str
    ) -> None:
        self.tree = tree
        self.directory = directory.rstrip("/")
        self.files: dict[str, str] = {f"{EMPTY_DIR}/.keep": "", EMPTY_PASSWORDS: ""}
        self.not_run: list[str] = []
        self.maps = Maps(self._map_copy, f"{self.directory}/{EMPTY_DIR}")
        self.zope_ports = zope_ports
        self.blackhole = blackhole
        self.counts: Counter[str] = Counter()
        self.address_ports: dict[str, int] = {}
        self.vhost_ports: dict[tuple[str, int], int] = {}
        self.member_urls: dict[int, str] = {}  # id(BalancerMember directive) -> its new URL
        self.remote: dict[tuple[str, int], str] = {}

    def ports(self) -> None:
        used: set[int] = {self.blackhole, *self.zope_ports.values()}
        vhosts = [n for n in _walk(self.tree.nodes) if isinstance(n, Section) and n.key == "virtualhost"]
        for vhost in vhosts:
            for address in vhost.args or ("*:80",):
                key = normal_address(address)
                if key not in self.address_ports:
                    port = free_port()
                    while port in used:
                        port = free_port()
                    used.add(port)
                    self.address_ports[key] = port
            self.vhost_ports[(vhost.file, vhost.line)] = self.address_ports[normal_address((vhost.args or ("*",))[0])]
        names: dict[str, set[str]] = {}
        for vhost in vhosts:
            for child in vhost.children:
                if isinstance(child, Directive) and child.key in ("servername", "serveralias"):
                    for name in child.args:
                        names.setdefault(name.lower(), set()).update(normal_address(a) for a in vhost.args or ("*",))
        for (host, port), backend in self.zope_ports.items():
            self.remote[(host, port)] = _remote_match(host, port, backend)
        for node in _walk(self.tree.nodes):
            if not (isinstance(node, Directive) and node.key == "balancermember" and node.args):
                continue
            url = parse_url(node.args[0])
            if url is None or (url.host, url.port) in self.zope_ports:
                continue
            address = f"{url.host}:{url.port}"
            if address in self.address_ports:
                self.member_urls[id(node)] = f"http://127.0.0.1:{self.address_ports[address]}{url.path}"
                self.counts[f"member URL {address} -> its node vhost's loopback port"] += 1
                continue
            owners = [a for a in names.get(url.host, ()) if a.rsplit(":", 1)[-1] == str(url.port)]
            if owners:
                self.remote[(url.host, url.port)] = _remote_match(url.host, url.port, self.address_ports[owners[0]])
                self.counts[f"member {address}: reached by name through ProxyRemoteMatch"] += 1
            else:
                self.remote[(url.host, url.port)] = _remote_match(url.host, url.port, self.blackhole)
                self.counts[f"member {address}: unknown host, sent to a closed loopback port"] += 1

    def _map_copy(self, written: str) -> str | None:
        """The path of this copy's own file for a RewriteMap file read with the config (None: not read)."""
        found = self.tree.maps.get(written)
        if found is None or found.text is None:
            return None
        relative = f"maps/{len([f for f in self.files if f.startswith('maps/')])}.txt"
        self.files[relative] = found.text
        return f"{self.directory}/{relative}"

    def _not_run(self, node: Node, why: str) -> None:
        self.not_run.append(f"{node.name} at {node.file}:{node.line}: {why}")

    def emit(self, nodes: list[Node], depth: int, out: list[str]) -> None:
        pad = "    " * depth
        for node in nodes:
            if isinstance(node, Section):
                if node.key in DROPPED_SECTIONS:
                    self.counts[f"<{node.name}> dropped"] += 1
                    continue
                if node.key in UNWRAPPED_SECTIONS:
                    self.counts[f"<{node.name}> read as if its condition holds"] += 1
                    self.emit(node.children, depth, out)
                    continue
                if node.key not in KEPT_SECTIONS:
                    self._not_run(node, "a section the equivalence check does not run")
                    continue
                if node.key == "virtualhost":
                    args = " ".join(f"127.0.0.1:{self.address_ports[normal_address(a)]}" for a in node.args or ("*",))
                else:
                    try:
                        args = section_args(node.key, node.args)
                    except NotRun as exc:
                        self._not_run(node, str(exc))
                        continue
                out.append(f"{pad}<{node.name} {args}>")
                self.emit(node.children, depth + 1, out)
                out.append(f"{pad}</{node.name}>")
                continue
            line = self.directive(node, depth)
            if line is not None:
                out.append(pad + line)

    def directive(self, d: Directive, depth: int) -> str | None:
        key, args = d.key, [a.lower() for a in d.args]
        if key in PROCESS_DIRECTIVES or (depth == 0 and key in SERVER_ONLY_DROPPED):
            self.counts[f"{d.name} dropped (the throwaway Apache has its own)"] += 1
            return None
        if key == "order":
            self.counts["Apache 2.2 Order dropped"] += 1
            return None
        if key == "allow" and args == ["from", "all"]:
            self.counts["Apache 2.2 Allow from all -> Require all granted"] += 1
            return "Require all granted"
        if key == "deny" and args == ["from", "all"]:
            self.counts["Apache 2.2 Deny from all -> Require all denied"] += 1
            return "Require all denied"
        written = id(d)  # the node as read (member_urls is keyed by it)
        if key == "balancermember" and any(a.lower().startswith(HEALTH_PARAMS) for a in d.args[1:]):
            # mod_proxy_hcheck is not loaded in the copy: the members run, their health checks do not
            d = replace(d, args=tuple(a for a in d.args if not a.lower().startswith(HEALTH_PARAMS)))
            self.counts["BalancerMember health-check parameters (hc*) not run: health is not compared"] += 1
        try:
            line = rerun(d, self.maps)
        except NotRun as exc:
            self._not_run(d, str(exc))
            return None
        if key == "balancermember" and written in self.member_urls:
            return " ".join(["BalancerMember", quote(self.member_urls[written]), *(quote(a) for a in d.args[1:])])
        if key in ("alias", "aliasmatch", "documentroot"):
            self.counts[f"{d.name}: files served from an empty directory of the check's own"] += 1
        return line


def extra_modules() -> list[str]:
    """LoadModule for the allowlisted modules hand-written configs use (auth_basic, deflate, setenvif...),
    when installed and not loaded already: the copy's directives that need them then start."""
    try:
        mods = module_dir()
    except FileNotFoundError:  # no Apache here: the copy is only written (tests of the text), never started
        return []
    lines = []
    for name in EXTRA_MODULES:
        path = f"{mods}/mod_{name}.so"
        if os.path.exists(path):
            lines += [f"<IfModule !{name}_module>", f"    LoadModule {name}_module {path}", "</IfModule>"]
    return lines


def old_config_copy(
    tree: ConfigTree, *, zope_ports: dict[tuple[str, int], int], blackhole: int, directory: str
) -> OldCopy:
    """The old config as one file for a throwaway Apache (see the module docstring), with the files it
    refers to (`OldCopy.files`, to be written under `directory`, where the copy runs from)."""
    copier = _Copier(tree, zope_ports, blackhole, directory)
    copier.ports()
    own = "|".join(str(p) for p in sorted(set(copier.address_ports.values())))
    out = [
        f"# Throwaway copy of {tree.source} for HostPanel's equivalence check ({len(tree.files)} files).",
        HEADER_LINE,
        *sorted(copier.remote.values()),
        # Last: anything else proxied goes to a closed port, except this Apache's own vhosts (direct).
        f"ProxyRemoteMatch ^(?!http://127\\.0\\.0\\.1:({own})(/|$)) http://127.0.0.1:{blackhole}",
    ]
    copier.emit(tree.nodes, 0, out)
    for note in tree.notes:
        copier.counts[f"{note.message} (written correctly in the copy)"] += 1
    changes = [f"Zope server {h}:{p} -> a recording backend (ProxyRemoteMatch)" for h, p in sorted(zope_ports)]
    changes += [f"<VirtualHost {a}> -> 127.0.0.1:{p}" for a, p in sorted(copier.address_ports.items())]
    changes += [f"{what} (x{n})" for what, n in sorted(copier.counts.items())]
    return OldCopy(
        text="\n".join(out) + "\n",
        listen=[f"127.0.0.1:{p}" for p in sorted(set(copier.address_ports.values()))],
        address_ports=copier.address_ports,
        vhost_ports=copier.vhost_ports,
        changes=changes,
        not_run=copier.not_run,
        files=copier.files,
        modules=extra_modules(),
    )


def _tls(site: SiteCandidate) -> dict:
    """An HTTPS site as the import will store it: tls custom with its imported certificate (live)."""
    cert = site.certificate
    if site.tls != "custom" or cert is None or cert.error or not cert.certificate_pem:
        return {}
    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    names = tuple(sorted({site.domain, *(a for a, _ in site.aliases)}))
    chain = cert.certificate_pem.rstrip() + "\n" + (cert.chain_pem.rstrip() + "\n" if cert.chain_pem else "")
    return {
        "tls": "custom",
        "https_redirect": bool(site.https_redirect),
        "certificate": CertificateRecord(
            serial=format(leaf.serial_number, "x"), fullchain_pem=chain, key_pem=cert.private_key_pem, names=names
        ),
    }


def _options(site: SiteCandidate) -> dict:
    """The site's structured options as the import will store them (the plan normalised them)."""
    options = {name: value for name, value in site.options.items() if name in OPTION_NAMES}
    for name in ("blocked_methods", "passthrough_paths"):
        if name in options and isinstance(options[name], list | tuple):
            options[name] = tuple(options[name])
    return options


@dataclass(frozen=True)
class PlanRecords:
    """The rows an import plan stands for, as the renderer's records."""

    zope_servers: tuple[ZopeServerRecord, ...]
    balancers: tuple[BalancerRecord, ...]
    sites: tuple[SiteRecord, ...]
    # members of a balancer that is not among `balancers` (a member the import adds to a matched balancer)
    members: dict[str, tuple[MemberRecord, ...]] = field(default_factory=dict)


def server_record(candidate: ServerCandidate) -> ZopeServerRecord:
    """A Zope server as the import will store it: its address and health-check settings as read."""
    return ZopeServerRecord(candidate.name, candidate.host, candidate.port, **candidate.health)  # type: ignore[arg-type]


def plan_records(
    plan: ImportPlan,
    servers: dict[str, ZopeServerRecord],
    *,
    actions: frozenset[str] = frozenset({"create", "match"}),
    known_balancers: frozenset[str] = frozenset(),
) -> PlanRecords:
    """The plan's rows with these `actions` (create: the rows the import writes) as records, every member
    at `servers[its server's name]`. A site is kept only when its balancers are among the plan's balancers
    or `known_balancers`; a member only when its server is in `servers`. Skipped sites (skip-one) are not
    in the plan's rows, so never here."""
    members: dict[str, list[MemberRecord]] = {}
    for member in plan.members:
        c = member.candidate
        if member.action not in actions or c.server not in servers:
            continue
        members.setdefault(c.balancer, []).append(
            MemberRecord(
                zope_server=servers[c.server],
                **{name: getattr(c, name) for name in MEMBER_SETTINGS},
            )
        )
    balancers = []
    for balancer in plan.balancers:
        b = balancer.candidate
        if balancer.action not in actions:
            continue
        balancers.append(
            BalancerRecord(
                name=b.name,
                kind=b.kind,
                **{name: getattr(b, name) for name in BALANCER_SETTINGS},
                members=tuple(sorted(members.pop(b.name, ()), key=lambda m: (m.lbset, m.zope_server.name))),
            )
        )
    names = {b.name for b in balancers} | known_balancers
    sites = [
        SiteRecord(
            domain=p.candidate.domain,
            balancer=p.candidate.balancer,
            plone_path=p.candidate.plone_path,
            status=site_status(p.candidate),
            aliases=tuple(sorted(name for name, _ in p.candidate.aliases)),
            kind=p.candidate.kind,
            frontend_balancer=p.candidate.frontend_balancer,
            classic_ui_path=p.candidate.classic_ui_path,
            **_tls(p.candidate),
            **_options(p.candidate),
        )
        for p in plan.sites
        if p.action in actions and p.candidate.balancer in names and p.candidate.frontend_balancer in names | {""}
    ]
    return PlanRecords(
        zope_servers=tuple(
            sorted((servers[p.candidate.name] for p in plan.zope_servers if p.action in actions), key=lambda s: s.name)
        ),
        balancers=tuple(sorted(balancers, key=lambda b: b.name)),
        sites=tuple(sorted(sites, key=lambda s: s.domain)),
        members={name: tuple(rows) for name, rows in members.items()},
    )


def plan_snapshot(plan: ImportPlan, *, zope_ports: dict[str, int]) -> Snapshot:
    """The plan as the renderer's input: what the database will hold for these objects after the
    import, with every Zope server at 127.0.0.1:<its fake backend>. Sites of a balancer that is not
    in this config are left out (the check cannot run the old side of them)."""
    servers = {
        p.candidate.name: ZopeServerRecord(p.candidate.name, "127.0.0.1", zope_ports[p.candidate.name])
        for p in plan.zope_servers
    }
    records = plan_records(plan, servers)
    return Snapshot(
        zope_servers=records.zope_servers,
        balancers=records.balancers,
        sites=records.sites,
        staff_networks=tuple(settings.HOSTPANEL_STAFF_NETWORKS),  # as the deploy will render them
    )
