"""Pure rendering: a database snapshot -> the Apache 2.4 config tree of one front-end.

    tree = render_tree(load_snapshot(), frontend)   # {relative path: text}, including MANIFEST
    # MANIFEST, tree_digest, parse_manifest and tree_diff: rendering.manifest

No I/O, no database, no SSH. Every value is checked again here (defence in depth: the models
validate on the way in, but a value planted with QuerySet.update() or raw SQL must never reach a
config) and a bad one raises `UnsafeValue`: an error text never becomes a config. The deployer uses
`render_tree_isolated`, where a bad SITE row only leaves that site out (its previous file kept) and
comes back as a `SiteProblem`, so one planted row never stops every deployment.

The tree (deployed as-is into FrontEnd.config_dir; Apache includes only hostpanel.conf):

    hostpanel.conf       includes the rest, in order; grants Apache access to errors/
    balancers.conf       every <Proxy balancer://NAME>
    nodes.conf           node vhosts (Listen + <VirtualHost>) for node-vhosts balancers; a comment otherwise
    http.conf            the one HTTP vhost of every site (first on http_listen: the catch-all, 404 for an
                         unknown Host); it includes routing-http.conf
    routing-http.conf, routing-https.conf
                         the routing rules: look the Host up in routes.map, then proxy to the balancer it
                         names (VirtualHostMonster path), answer 503 for a suspended site, 301 to https
    routes.map           host name -> state|balancer|plone path|mode|cookie|ttl (rendering.routes): the
                         routing map's base, as it was at the last rebase (Apache reads its SDBM)
    routes-recent.map    the overlay: what changed since the base (looked up first); Apache re-reads both
                         when they change, so a change to these files alone needs no reload
    default.conf         the first HTTPS vhost (404 without SNI or for an unknown name), when a site has TLS
    sites/<domain>.conf  one HTTPS vhost per site with a live certificate (SNI needs one per certificate);
                         it inherits routing-https.conf (included once at server level by hostpanel.conf),
                         so it changes with the certificate only
    tls/<domain>.crt     the site's certificate followed by its chain (SSLCertificateFile)
    tls/<domain>.key     its private key (SSLCertificateKeyFile): written 0600 on the front-end, sealed
                         (encrypted) when the tree is stored, never shown in a diff (manifest.is_private_key)
    errors/503.html      the page of ErrorDocument 503 (and of every balancer's error_document path)
    errors/suspended.html  the page of a suspended site
    public/hostpanel-release.txt  names this release (rendering.manifest.seal_tree), served by HostPanel's
                         vhosts at /.well-known/hostpanel-release for any Host: the deployer's proof that
                         HostPanel's vhost is the one answering on each listener
    MANIFEST             "<sha256>  <path>" per file, sorted (the format of `sha256sum -c`)

A change that alters the routing map and nothing else (a site added, removed, suspended, moved to another
balancer, its aliases or Plone path changed) is deployed without configtest or reload
(deploy.release); any other file is a config change (configtest + graceful).

Listen: the front-end's main config owns `Listen` for FrontEnd.http_listen and https_listen (and loads
mod_ssl; its site vhosts may share the ports with other vhosts there); nodes.conf carries the `Listen`
of each node vhost, because those addresses exist only for the rendered tree.

ACME http-01: `/.well-known/acme-challenge/` is aliased at server level to `<config_dir>.acme-challenge/`
(outside the releases, so publishing a token is a file upload: no configtest, no reload) and the HTTP
routing lets that path through before any route, so it is served on HTTP for any Host and never
redirected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import jinja2

from balancers.choices import RenderMode, ServerKind, TlsEdge
from balancers.models import FrontEnd
from rendering import cache
from rendering.isolation import SiteProblem, kept_from_previous
from rendering.manifest import (
    certificate_path,
    challenge_dir,
    edge_pem_path,
    node_member_url,
    node_ports,
    private_key_path,
    seal_tree,
)
from rendering.routes import (
    EDGE_HSTS_MAP,
    EDGE_NGINX_CONF,
    RELEASE_FILE,
    RELEASE_URL_PATH,
    ROUTES_MAP,
    ROUTES_RECENT,
    MapFormatError,
    full_map,
    group_text,
    split_map,
)
from rendering.sites import site_contexts, site_part
from rendering.snapshot import BalancerRecord, FrontEndRecord, Snapshot, ZopeServerRecord
from rendering.values import (
    COOKIE_RE,
    FS_PATH_RE,
    HEALTH_METHODS,
    LBMETHODS,
    NAME_RE,
    RENDER_MODES,
    ROUTE_RE,
    SERVER_KINDS,
    TLS_EDGES,
    URL_PATH_RE,
    UnsafeValue,
    check_bool,
    check_choice,
    check_health_path,
    check_host,
    check_int,
    check_listen,
    check_pattern,
    staff_expression,
)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "apache"

ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # noqa: S701 - Apache config, not HTML: every value is checked below instead
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)

ERROR_PATH = "/hostpanel-503.html"  # where ErrorDocument 503 sends Apache (routing.conf.j2): never proxied
SUSPENDED_PATH = "/hostpanel-suspended.html"  # reserved too (the path of the suspended page before the map)
NODE_ERROR_PATH = "/hostpanel-503.html"
SUSPENDED_RETRY_AFTER = 3600  # seconds; a suspension is usually lifted by a person, not in seconds

_SEPARATOR = "\x00"

# Mozilla's "intermediate" cipher list (TLS 1.2; TLS 1.3's suites are all strong), for mod_ssl and the nginx edge.
SSL_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)


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


def _health_params(server: ZopeServerRecord) -> list[str]:
    """mod_proxy_hcheck's member parameters from the member's Zope server. Apache requests the worker's URL
    path (none here) followed by hcuri, with the worker's own host as Host; for GET and HEAD a 2xx or 3xx
    answer passes (no hcexpr, so no ProxyHCExpr or ProxyHCTemplate is needed)."""
    return [
        f"hcmethod={check_choice(server.health_method, 'health_method', HEALTH_METHODS)}",
        f"hcuri={check_health_path(server.health_path)}",
        f"hcinterval={check_int(server.health_interval, 'health_interval', 1, 3600)}",
        f"hcpasses={check_int(server.health_passes, 'health_passes', 1, 100)}",
        f"hcfails={check_int(server.health_fails, 'health_fails', 1, 100)}",
    ]


def _balancer_context(
    balancer: BalancerRecord, ports: dict[str, int], node_address: str, health_checks: bool = False
) -> SimpleNamespace:
    name = check_pattern(balancer.name, "balancer name", NAME_RE)
    kind = check_choice(balancer.kind, "balancer kind", SERVER_KINDS)
    mode = check_choice(balancer.render_mode, "render_mode", RENDER_MODES)
    if kind == ServerKind.NODE:
        # A Node.js frontend pool is stateless and answers at its own root: no node vhost (which sets a sticky
        # cookie and proxies to a Zope server) stands between it and the front-end.
        mode = RenderMode.SINGLE_PASS
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
        if health_checks:
            # node-vhosts: the check goes through the node vhost to its Zope, so it fails when either does
            params += _health_params(member.zope_server)
        members.append({"url": url, "params": " ".join(params), "route": route})
    error_document = balancer.error_document
    if error_document:
        error_document = check_pattern(error_document, "error_document", URL_PATH_RE)
        if error_document in {SUSPENDED_PATH, NODE_ERROR_PATH, ERROR_PATH}:
            raise UnsafeValue(f"refusing to render error_document={error_document!r}: reserved path")
    return SimpleNamespace(
        **{
            "name": name,
            "kind": kind,
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
    """Each Zope server's node-vhost port (rendering.manifest.node_ports: the one rule)."""
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


@dataclass(frozen=True)
class RenderResult:
    tree: dict[str, str]
    problems: tuple[SiteProblem, ...] = ()


def render_tree(snapshot: Snapshot, frontend: FrontEnd | FrontEndRecord) -> dict[str, str]:
    """The config tree of one front-end: {relative path: text}, including MANIFEST. Strict: any bad
    value raises UnsafeValue (manage.py render_apache, previews)."""
    return _render(snapshot, _frontend_record(frontend), previous=None, strict=True).tree


def render_tree_isolated(
    snapshot: Snapshot, frontend: FrontEnd | FrontEndRecord, previous: Mapping[str, str] | None = None
) -> RenderResult:
    """The tree the deployer pushes: a site whose row fails the renderer's checks (or claims a host
    name another site claims) is left out alone, keeping its routes (and HTTPS file) from `previous`
    (the tree deployed before), and reported in `problems`; every other site is rendered. A bad
    balancer, Zope server or front-end value still raises UnsafeValue: it would break every site using it."""
    return _render(snapshot, _frontend_record(frontend), previous=previous or {}, strict=False)


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
        "error_path": ERROR_PATH,
        "node_error_path": NODE_ERROR_PATH,
        "retry_after": SUSPENDED_RETRY_AFTER,
        "release_path": RELEASE_URL_PATH,
        "release_file": RELEASE_FILE,
        "staff_expr": staff_expression(snapshot.staff_networks),
        "ssl_ciphers": SSL_CIPHERS,
    }
    edge = check_choice(fe.tls_edge, "tls_edge", TLS_EDGES) == TlsEdge.NGINX
    if edge:
        common["edge_backend"] = check_listen(fe.edge_backend_listen, "edge_backend_listen")
        common["edge_listen"] = check_listen(fe.https_listen, "https_listen").split()[0]
    node_address = check_host(fe.node_address, "node_address")
    ports = _node_ports(snapshot, fe)
    health_checks = check_bool(fe.health_checks, "health_checks")
    balancers = [
        _balancer_context(b, ports, node_address, health_checks) for b in sorted(snapshot.balancers, key=_by_name)
    ]
    by_name = {b.name: b for b in balancers}
    nodes = _nodes(balancers, snapshot, ports)

    tree: dict[str, str] = {}
    kept_files: dict[str, str]
    reports: tuple[SiteProblem, ...]
    part = site_part(snapshot, by_name, strict)
    tls: Mapping[str, str]
    if part is not None:  # no site left out: what another front-end already built from this snapshot
        kept_files, reports, https_sites = {}, (), part.https_sites
        tree[ROUTES_MAP], tree[ROUTES_RECENT] = part.base, part.overlay
        tls = part.tls_files
    else:
        contexts, problems = site_contexts(snapshot, by_name, previous, strict)
        kept_routes, kept_files, reports = kept_from_previous(problems, contexts, previous or {})
        groups = [(c.domain, c.group) for c in contexts]
        try:
            groups += [(k.domain, group_text(k)) for k in kept_routes]
        except MapFormatError as exc:
            raise UnsafeValue(str(exc)) from None
        groups.sort()
        routes = full_map([text for _, text in groups])
        # the whole map as a base (unchanged since the last rebase) and an overlay of what changed since
        tree[ROUTES_MAP], tree[ROUTES_RECENT] = split_map(routes, snapshot.routes_base, snapshot.overlay_max_lines)
        tls = {path: text for context in contexts for path, text in context.tls_files.items()}
        https_sites = [context for context in contexts if context.https]
    if edge:
        # nginx serves the certificates (edge/): no HTTPS vhost in Apache, and a left-out site's previous
        # HTTPS vhost is not kept (it would name files of tls/ that an edge tree does not carry)
        tree.update(_edge_files(https_sites, tls, common))
        kept_files = {p: t for p, t in kept_files.items() if not p.startswith(("sites/", "tls/"))}
    else:
        tree.update(tls)
        tree.update(_site_vhosts(https_sites, common))
    tree.update(kept_files)
    error_documents = [b for b in balancers if b.error_document]
    for scheme, port in (("http", 80), ("https", 443)):
        tree[f"routing-{scheme}.conf"] = ENV.get_template("routing.conf.j2").render(
            common,
            scheme=scheme,
            port=port,
            error_documents=error_documents,
            proxied="live" if scheme == "http" else "(?:live|redirect)",  # HTTPS serves a redirected site
        )
    tree["balancers.conf"] = ENV.get_template("balancers.conf.j2").render(
        common, balancers=balancers, health_checks=health_checks
    )
    tree["nodes.conf"] = ENV.get_template("nodes.conf.j2").render(
        common, nodes=nodes, node_address=node_address, balancers=balancers
    )
    tree["http.conf"] = ENV.get_template("http.conf.j2").render(common)
    # Without SNI, or with a name no site claims, the first HTTPS vhost answers: ours, a 404 that never
    # reaches a client's Zope. It needs some certificate; the first site's (public anyway) will do, preferably
    # one naming only its own site's names (one with a wildcard or another's name would verify for that name).
    kept_https = sorted(p for p in kept_files if p.startswith("sites/"))
    own_only = [context for context in https_sites if context.tls_own_only] or https_sites
    default_tls = own_only[0].domain if own_only else kept_https[0][6:-5] if kept_https else ""
    if edge:
        default_tls = ""  # nginx answers HTTPS: Apache has no HTTPS vhost
    tree["default.conf"] = ENV.get_template("default.conf.j2").render(common, default_tls=default_tls, edge=edge)
    tree["errors/503.html"] = ENV.get_template("503.html.j2").render(common)
    tree["errors/suspended.html"] = ENV.get_template("suspended.html.j2").render(common)
    usage_log_dir = fe.usage_log_dir.rstrip("/")
    if usage_log_dir:
        usage_log_dir = check_pattern(usage_log_dir, "usage_log_dir", FS_PATH_RE, extra_allowed="+")
    tree["hostpanel.conf"] = ENV.get_template("hostpanel.conf.j2").render(
        common,
        usage_log_dir=usage_log_dir,
        usage_rotate_seconds=check_int(snapshot.usage_rotate_seconds, "usage_rotate_seconds", 1, 86400),
        balancer_count=len(balancers),
        node_count=len(nodes),
        # No site count here: it is in routes.map's header, so adding or removing a site stays a map-only change.
        https_count=len(https_sites) + len(kept_https),
        edge=edge,
    )
    # the release file (the proof that HostPanel's vhost answers) and the MANIFEST, patched from this
    # front-end's last render where its files are the same
    order = seal_tree(tree, key=fe.name)
    return RenderResult({path: tree[path] for path in order}, reports)


def _site_vhosts(https_sites: list[SimpleNamespace], common: dict) -> dict[str, str]:
    """{sites/<domain>.conf: text} of every HTTPS site. A vhost depends on its site's context (kept by
    identity while the site is unchanged: rendering.sites) and on what it names of the front-end, so only a
    new or changed site's vhost is rendered: a deployment for one site does not render 10,000 vhosts per
    front-end (rendering.cache.SITE_VHOSTS)."""
    shape = (common["config_dir"], common["https_listen"], common["error_path"])
    known = cache.SITE_VHOSTS.get(shape) or {}
    kept: dict[int, tuple] = {}
    missing = []
    for context in https_sites:
        entry = known.get(id(context))
        if entry is not None and entry[0] is context:
            kept[id(context)] = entry
        else:
            missing.append(context)
    if missing:
        # All new vhosts in one template call (a render per site costs more than the site itself), split on NUL.
        texts = ENV.get_template("site.conf.j2").render({**common, "sites": missing, "separator": _SEPARATOR})
        parts = texts.split(_SEPARATOR + "\n")
        if len(parts) != len(missing) + 1 or parts[-1] != "":
            raise UnsafeValue("refusing to render: the site template's output could not be split per site")
        for context, text in zip(missing, parts[:-1], strict=True):
            kept[id(context)] = (context, text)  # the context is held: its id is not reused meanwhile
    cache.SITE_VHOSTS.put(shape, kept, keep=8)  # only this render's sites: bounded
    return {f"sites/{context.domain}.conf": kept[id(context)][1] for context in https_sites}


def _edge_files(https_sites: list[SimpleNamespace], tls: Mapping[str, str], common: dict) -> dict[str, str]:
    """An nginx edge's files: its http-context include, Apache's loopback vhost behind it, the certificate and
    key of every name served over HTTPS under that name (nginx finds them by SNI, at each handshake) and the
    HSTS lifetime of each such name (a txt map Apache's edge vhost reads)."""
    files: dict[str, str] = {}
    hsts: list[str] = []
    # a site's files depend on its context alone (kept by identity while the site is unchanged, its
    # certificate included): built once, not once per site per change (rendering.cache.EDGE_FILES)
    known = cache.EDGE_FILES.get("edge") or {}
    kept: dict[int, tuple] = {}
    for context in https_sites:
        entry = known.get(id(context))
        if entry is None or entry[0] is not context:
            entry = (context, *_edge_site_files(context, tls))
        kept[id(context)] = entry
        files.update(entry[1])
        hsts.extend(entry[2])
    cache.EDGE_FILES.put("edge", kept, keep=1)
    files[EDGE_HSTS_MAP] = "".join(
        [f"# Strict-Transport-Security max-age per name served over HTTPS ({len(hsts)} names)\n"]
        + [line + "\n" for line in sorted(hsts)]
    )
    files[EDGE_NGINX_CONF] = ENV.get_template("edge-nginx.conf.j2").render(common)
    files["edge.conf"] = ENV.get_template("edge.conf.j2").render(common)
    return files


def _edge_site_files(context: SimpleNamespace, tls: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """One HTTPS site's certificate, chain and key under each name it serves, and its HSTS map lines."""
    certificate = tls.get(certificate_path(context.domain))
    key = tls.get(private_key_path(context.domain))
    if certificate is None or key is None:
        return {}, []
    files: dict[str, str] = {}
    hsts: list[str] = []
    # one file per name: the certificate and its chain, then the key (nginx reads both from it), so that a
    # release holds one file per served name, not two (each is hard-linked again for every release)
    pem = certificate.rstrip("\n") + "\n" + key.rstrip("\n") + "\n"
    for name in [context.tls_server_name, *context.tls_aliases.split()]:
        files[edge_pem_path(name)] = pem
        if context.hsts:
            hsts.append(f"{name} {context.hsts}")
    return files, hsts


def _by_name(record) -> str:
    return record.name
