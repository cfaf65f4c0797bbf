"""Pure rendering: a database snapshot -> the Apache 2.4 config tree of one front-end.

    tree = render_tree(load_snapshot(), frontend)   # {relative path: text}, including MANIFEST
    # MANIFEST, tree_digest, parse_manifest and tree_diff: balancers.manifest

No I/O, no database, no SSH. Every value is checked again here (defence in depth: the models
validate on the way in, but a value planted with QuerySet.update() or raw SQL must never reach a
config) and a bad one raises `UnsafeValue`: an error text never becomes a config. The deployer uses
`render_tree_isolated`, where a bad SITE row only leaves that site out (its previous file kept) and
comes back as a `SiteProblem`, so one planted row never stops every deployment.

The tree (deployed as-is into FrontEnd.config_dir; Apache includes only hostpanel.conf):

    hostpanel.conf       includes the rest, in order; grants Apache access to errors/
    balancers.conf       every <Proxy balancer://NAME>
    nodes.conf           node vhosts (Listen + <VirtualHost>) for node-vhosts balancers; a comment otherwise
    default.conf         catch-all vhost answering 404, so an unknown Host never reaches a client's Zope
    sites/<domain>.conf  one client site each (its HTTP vhost, and its HTTPS vhost when it has a live
                         certificate), so a change to one site touches one file
    tls/<domain>.crt     the site's certificate followed by its chain (SSLCertificateFile)
    tls/<domain>.key     its private key (SSLCertificateKeyFile): written 0600 on the front-end, sealed
                         (encrypted) when the tree is stored, never shown in a diff (manifest.is_private_key)
    errors/503.html      ErrorDocument 503 (every balancer's error_document is aliased to it)
    errors/suspended.html  the page of a suspended site
    MANIFEST             "<sha256>  <path>" per file, sorted (the format of `sha256sum -c`)

Listen: the front-end's main config owns `Listen` for FrontEnd.http_listen and https_listen (and loads
mod_ssl; its site vhosts may share the ports with other vhosts there); nodes.conf carries the `Listen`
of each node vhost, because those addresses exist only for the rendered tree.

ACME http-01: `/.well-known/acme-challenge/` is aliased at server level to `<config_dir>.acme-challenge/`
(outside the releases, so publishing a token is a file upload: no configtest, no reload) and every site
vhost lets that path through before its own rewrites, so it is served on HTTP for any Host and never
redirected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import jinja2

from balancers.choices import RenderMode
from balancers.manifest import (
    MANIFEST,
    certificate_path,
    challenge_dir,
    manifest_text,
    node_member_url,
    node_ports,
    private_key_path,
)
from balancers.models import FrontEnd
from balancers.render_values import (
    COOKIE_RE,
    DOMAIN_RE,
    FS_PATH_RE,
    LBMETHODS,
    NAME_RE,
    RENDER_MODES,
    ROUTE_RE,
    SITE_STATUSES,
    URL_PATH_RE,
    UnsafeValue,
    check_bool,
    check_choice,
    check_host,
    check_int,
    check_listen,
    check_pattern,
    check_pem,
)
from balancers.snapshot import BalancerRecord, FrontEndRecord, SiteRecord, Snapshot, ZopeServerRecord
from sites.models import HSTS_MAX_SECONDS, SiteStatus

TEMPLATE_DIR = Path(__file__).resolve().parent / "jinja2" / "apache"

ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # noqa: S701 - Apache config, not HTML: every value is checked below instead
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)

SUSPENDED_PATH = "/hostpanel-suspended.html"
NODE_ERROR_PATH = "/hostpanel-503.html"
SUSPENDED_RETRY_AFTER = 3600  # seconds; a suspension is usually lifted by a person, not in seconds

_SEPARATOR = "\x00"


def _server_url(server: ZopeServerRecord) -> str:
    host = check_host(server.host, "Zope server host")
    return f"http://{host}:{check_int(server.port, 'Zope server port', 1, 65535)}"


def _frontend_record(frontend: FrontEnd | FrontEndRecord) -> FrontEndRecord:
    if isinstance(frontend, FrontEndRecord):
        return frontend
    if isinstance(frontend, FrontEnd):
        return FrontEndRecord.from_model(frontend)
    raise TypeError(f"render_tree() needs a FrontEnd or FrontEndRecord, not {type(frontend).__name__}")


def _member_status(member) -> str:
    flags = ""
    if check_bool(member.disabled, "disabled"):
        flags += "+D"
    if check_bool(member.drain, "drain"):
        flags += "+N"
    if check_bool(member.hot_standby, "hot_standby"):
        flags += "+H"
    return flags


def _balancer_context(balancer: BalancerRecord, ports: dict[str, int], node_address: str) -> dict:
    name = check_pattern(balancer.name, "balancer name", NAME_RE)
    mode = check_choice(balancer.render_mode, "render_mode", RENDER_MODES)
    members = []
    for member in balancer.members:
        route = check_pattern(member.zope_server.name, "route", ROUTE_RE)
        if mode == RenderMode.NODE_VHOSTS:
            url = node_member_url(node_address, ports[route])
        else:
            url = _server_url(member.zope_server)
        params = [f"lbset={check_int(member.lbset, 'lbset', 0, 99)}"]
        for key in ("min", "max", "smax"):
            value = getattr(member, key)
            if value is not None:
                params.append(f"{key}={check_int(value, key, 0, 10_000)}")
        params += [
            f"loadfactor={check_int(member.loadfactor, 'loadfactor', 1, 100)}",
            f"timeout={check_int(member.timeout, 'member timeout', 1, 3600)}",
            f"retry={check_int(member.retry, 'retry', 0, 3600)}",
        ]
        status = _member_status(member)
        # A hot-standby member gets no route: with one, clients would stay stuck on it after the
        # main members recover (docs/apache-facts.md §2).
        if not member.hot_standby:
            params.append(f"route={route}")
        if status:
            params.append(f"status={status}")
        if mode == RenderMode.NODE_VHOSTS:
            params.append("disablereuse=On")  # why: balancers.conf.j2
        members.append({"url": url, "params": " ".join(params), "route": route})
    error_document = balancer.error_document
    if error_document:
        error_document = check_pattern(error_document, "error_document", URL_PATH_RE)
        if error_document in {SUSPENDED_PATH, NODE_ERROR_PATH}:
            raise UnsafeValue(f"refusing to render error_document={error_document!r}: reserved path")
    return SimpleNamespace(
        **{
            "name": name,
            "mode": mode,
            "node_vhosts": mode == RenderMode.NODE_VHOSTS,
            "members": members,
            "lbmethod": check_choice(balancer.lbmethod, "lbmethod", LBMETHODS),
            "sticky_cookie": check_pattern(balancer.sticky_cookie, "sticky_cookie", COOKIE_RE),
            "cookie_ttl": check_int(balancer.cookie_ttl, "cookie_ttl", 1, 31_536_000),
            "nofailover": "On" if check_bool(balancer.nofailover, "nofailover") else "Off",
            "maxattempts": check_int(balancer.maxattempts, "maxattempts", 0, 100),
            "timeout": check_int(balancer.timeout, "balancer timeout", 1, 3600),
            "error_document": error_document,
        }
    )


def _node_ports(snapshot: Snapshot, frontend: FrontEndRecord) -> dict[str, int]:
    """Each Zope server's node-vhost port (balancers.manifest.node_ports: the one rule)."""
    base = check_int(frontend.node_port_base, "node_port_base", 1, 65535)
    ports = node_ports((check_pattern(s.name, "route", ROUTE_RE) for s in snapshot.zope_servers), base)
    for route, port in ports.items():
        if port > 65535:
            raise UnsafeValue(f"refusing to render node vhost port {port} for {route!r}: above 65535")
    return ports


def _nodes(balancers: list[SimpleNamespace], snapshot: Snapshot, node_ports: dict[str, int]) -> list[dict]:
    """One node vhost per Zope server used by a node-vhosts balancer, with one sticky cookie per
    cookie name (the shortest lifetime wins when two balancers share a name)."""
    servers = {s.name: s for s in snapshot.zope_servers}
    cookies: dict[str, dict[str, int]] = {}
    by_name = {b.name: b for b in snapshot.balancers}
    for balancer in balancers:
        if not balancer.node_vhosts:
            continue
        for member in by_name[balancer.name].members:
            per_server = cookies.setdefault(member.zope_server.name, {})
            name = balancer.sticky_cookie
            ttl = balancer.cookie_ttl
            per_server[name] = min(ttl, per_server.get(name, ttl))
    nodes = []
    for route in sorted(cookies):
        nodes.append(
            {
                "route": route,
                "port": node_ports[route],
                "zope_url": _server_url(servers[route]),
                # mod_rewrite's CO lifetime is in minutes; cookie_ttl is in seconds.
                "cookies": [
                    {"name": name, "minutes": max(1, -(-ttl // 60))} for name, ttl in sorted(cookies[route].items())
                ],
            }
        )
    return nodes


def _site_context(site: SiteRecord, balancers: dict[str, SimpleNamespace]) -> SimpleNamespace:
    domain = check_pattern(site.domain, "domain", DOMAIN_RE)
    aliases = [check_pattern(alias, "alias", DOMAIN_RE) for alias in site.aliases]
    status = check_choice(site.status, "site status", SITE_STATUSES)
    try:
        balancer = balancers[site.balancer]
    except KeyError:
        raise UnsafeValue(f"refusing to render site {domain}: unknown balancer {site.balancer!r}") from None
    certificate = site.certificate
    https = certificate is not None
    valid = https and not check_bool(certificate.expired, "expired")
    # Redirect (and HSTS) only towards a certificate that is valid and covers every name of the site that
    # reaches us: a new alias keeps HTTP until the renewal adds it, instead of a browser error.
    redirect = valid and check_bool(site.https_redirect, "https_redirect") and certificate.covers((domain, *aliases))
    hsts = check_int(site.hsts_seconds, "hsts_seconds", 0, HSTS_MAX_SECONDS) if valid else 0
    # A namespace, not a dict: Jinja2 reads attributes first, and a dict's failed getattr costs.
    return SimpleNamespace(
        domain=domain,
        aliases=" ".join(aliases),
        suspended=status == SiteStatus.SUSPENDED,
        plone_path=check_pattern(site.plone_path, "plone_path", URL_PATH_RE),
        balancer=balancer,
        https=https,
        redirect=redirect,
        hsts=hsts,
    )


@dataclass(frozen=True)
class SiteProblem:
    """A site left out of a tree because its row cannot be rendered (a value planted past the models'
    validation): `kept` is the path of its previous file, kept as it was deployed, or "" when none."""

    site: str
    reason: str
    kept: str = ""


@dataclass(frozen=True)
class RenderResult:
    tree: dict[str, str]
    problems: tuple[SiteProblem, ...] = ()


def _tls_files(site: SiteRecord, domain: str) -> dict[str, str]:
    if site.certificate is None:
        return {}
    return {
        certificate_path(domain): check_pem(site.certificate.fullchain_pem, f"the certificate of {domain}"),
        private_key_path(domain): check_pem(site.certificate.key_pem, f"the private key of {domain}"),
    }


def render_tree(snapshot: Snapshot, frontend: FrontEnd | FrontEndRecord) -> dict[str, str]:
    """The config tree of one front-end: {relative path: text}, including MANIFEST. Strict: any bad
    value raises UnsafeValue (manage.py render_apache, previews)."""
    return _render(snapshot, _frontend_record(frontend), previous=None, strict=True).tree


def render_tree_isolated(
    snapshot: Snapshot, frontend: FrontEnd | FrontEndRecord, previous: Mapping[str, str] | None = None
) -> RenderResult:
    """The tree the deployer pushes: a site whose row fails the renderer's checks (or claims a host
    name another site claims) is left out alone, keeping its file from `previous` (the tree deployed
    before), and reported in `problems`; every other site is rendered. A bad balancer, Zope server
    or front-end value still raises UnsafeValue: it would break every site using it."""
    return _render(snapshot, _frontend_record(frontend), previous=previous or {}, strict=False)


_SERVER_NAMES_RE = re.compile(r"^[ \t]*Server(?:Name|Alias)[ \t]+(.+?)[ \t]*$", re.MULTILINE)


def _names_in(text: str) -> set[str]:
    """The host names a rendered site file claims (its ServerName and ServerAlias lines)."""
    return {name for line in _SERVER_NAMES_RE.findall(text) for name in line.split()}


def _site_contexts(
    snapshot: Snapshot, by_name: dict[str, SimpleNamespace], previous: Mapping[str, str] | None, strict: bool
) -> tuple[list[SimpleNamespace], dict[str, str]]:
    """The contexts of the sites that can be rendered, and {domain: reason} for those that cannot."""
    contexts, problems = [], {}
    for site in sorted(snapshot.sites, key=lambda s: s.domain):
        try:
            context = _site_context(site, by_name)
            context.tls_files = _tls_files(site, context.domain)  # a bad certificate leaves this site out alone
            contexts.append(context)
        except UnsafeValue as exc:
            if strict:
                raise
            problems[site.domain] = str(exc)
    # Apache would silently give a host name claimed twice to the first vhost: refuse instead. When
    # isolating, the site whose previous file already answered for the name keeps it.
    claims: dict[str, list[SimpleNamespace]] = {}
    for context in contexts:
        for name in (context.domain, *context.aliases.split()):
            owners = claims.setdefault(name, [])
            if owners and strict:
                raise UnsafeValue(
                    f"refusing to render: {name} is claimed twice ({owners[0].domain} and {context.domain})"
                )
            owners.append(context)
    previous = previous or {}
    for name, owners in claims.items():
        if len(owners) < 2:
            continue
        holders = {c.domain for c in owners if name in _names_in(previous.get(f"sites/{c.domain}.conf", ""))}
        innocent = holders.pop() if len(holders) == 1 and len({id(c) for c in owners}) == len(owners) else None
        for context in owners:
            if context.domain != innocent:
                others = sorted({c.domain for c in owners})
                problems.setdefault(context.domain, f"{name} is claimed twice ({' and '.join(others)})")
    return [c for c in contexts if c.domain not in problems], problems


def _kept_files(
    problems: dict[str, str], contexts: list[SimpleNamespace], previous: Mapping[str, str]
) -> tuple[dict[str, str], tuple[SiteProblem, ...]]:
    """For each left-out site, its previous file (by its domain, else the one previous site file that
    claimed one of its names), unless a rendered site now claims that path or one of its names."""
    taken_paths = {f"sites/{c.domain}.conf" for c in contexts}
    taken_names = {name for c in contexts for name in (c.domain, *c.aliases.split())}
    previous_sites = {p: t for p, t in previous.items() if p.startswith("sites/") and p.endswith(".conf")}
    kept: dict[str, str] = {}
    reports = []
    for domain in sorted(problems):
        path = f"sites/{domain}.conf"
        if path not in previous_sites:
            candidates = [p for p, t in previous_sites.items() if domain in _names_in(t) and p not in taken_paths]
            path = candidates[0] if len(candidates) == 1 else ""
        reason = problems[domain]
        if path and (path in taken_paths or path in kept or _names_in(previous_sites[path]) & taken_names):
            reason += "; its previous file was dropped too: another site now answers for its names"
            path = ""
        if path:
            kept[path] = previous_sites[path]
            kept_domain = path.removeprefix("sites/").removesuffix(".conf")
            for tls_path in (certificate_path(kept_domain), private_key_path(kept_domain)):
                if tls_path in previous:  # a kept HTTPS vhost needs the files it names
                    kept[tls_path] = previous[tls_path]
        elif "previous file" not in reason:
            reason += "; it had no previous file: it is not served until the row is repaired"
        reports.append(SiteProblem(domain, reason, path))
    return kept, tuple(reports)


def _render(
    snapshot: Snapshot, fe: FrontEndRecord, *, previous: Mapping[str, str] | None, strict: bool
) -> RenderResult:
    config_dir = check_pattern(fe.config_dir.rstrip("/"), "config_dir", FS_PATH_RE, extra_allowed="+")
    common = {
        "frontend": check_pattern(fe.name, "front-end name", NAME_RE),
        "config_dir": config_dir,
        "listen": check_listen(fe.http_listen),
        "https_listen": check_listen(fe.https_listen, "https_listen"),
        "challenge_dir": challenge_dir(config_dir),
        "suspended_path": SUSPENDED_PATH,
        "node_error_path": NODE_ERROR_PATH,
        "retry_after": SUSPENDED_RETRY_AFTER,
    }
    node_address = check_host(fe.node_address, "node_address")
    ports = _node_ports(snapshot, fe)
    balancers = [_balancer_context(b, ports, node_address) for b in sorted(snapshot.balancers, key=_by_name)]
    by_name = {b.name: b for b in balancers}
    nodes = _nodes(balancers, snapshot, ports)

    tree: dict[str, str] = {}
    contexts, problems = _site_contexts(snapshot, by_name, previous, strict)
    kept, reports = _kept_files(problems, contexts, previous or {})
    for context in contexts:
        tree.update(context.tls_files)
    https_sites = [context for context in contexts if context.https]
    site_paths = [f"sites/{context.domain}.conf" for context in contexts]
    # All sites in one template call (a render per site costs more than the site itself), split on NUL.
    texts = ENV.get_template("site.conf.j2").render({**common, "sites": contexts, "separator": _SEPARATOR})
    parts = texts.split(_SEPARATOR + "\n")
    if len(parts) != len(contexts) + 1 or parts[-1] != "":
        raise UnsafeValue("refusing to render: the site template's output could not be split per site")
    tree.update(zip(site_paths, parts[:-1], strict=True))
    tree.update(kept)
    tree["balancers.conf"] = ENV.get_template("balancers.conf.j2").render(common, balancers=balancers)
    tree["nodes.conf"] = ENV.get_template("nodes.conf.j2").render(
        common, nodes=nodes, node_address=node_address, balancers=balancers
    )
    # Without SNI, or with a name no site claims, the first HTTPS vhost answers: ours, a 404 that never
    # reaches a client's Zope. It needs some certificate; the first site's (public anyway) will do.
    default_tls = https_sites[0].domain if https_sites else ""
    tree["default.conf"] = ENV.get_template("default.conf.j2").render(common, default_tls=default_tls)
    tree["errors/503.html"] = ENV.get_template("503.html.j2").render(common)
    tree["errors/suspended.html"] = ENV.get_template("suspended.html.j2").render(common)
    tree["hostpanel.conf"] = ENV.get_template("hostpanel.conf.j2").render(
        common,
        balancer_count=len(balancers),
        node_count=len(nodes),
        https_count=len(https_sites),
    )
    tree[MANIFEST] = manifest_text(tree)
    return RenderResult(dict(sorted(tree.items())), reports)


def _by_name(record) -> str:
    return record.name
