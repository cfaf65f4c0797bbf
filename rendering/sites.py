"""The per-site part of a render (rendering.render): each site's checked context and its group of routes.map
lines, kept between renders by record identity and shared by every front-end rendered from one snapshot
(both in rendering.cache). Pure like the rest of the renderer: the output depends on the arguments alone."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace

from balancers.choices import ServerKind
from rendering import cache
from rendering.isolation import double_claims
from rendering.manifest import certificate_path, private_key_path
from rendering.routes import (
    LIVE,
    REDIRECT,
    SUSPENDED,
    MapFormatError,
    Route,
    SiteRoutes,
    base_groups,
    empty_overlay,
    full_map,
    group_text,
    overlay_groups,
    overlay_of,
    site_options,
    split_map,
)
from rendering.snapshot import SiteRecord, Snapshot
from rendering.values import (
    CLASSIC_UI_PATH_RE,
    DOMAIN_RE,
    MANAGE_ACCESS,
    SITE_KINDS,
    SITE_STATUSES,
    URL_PATH_RE,
    UnsafeValue,
    check_bool,
    check_choice,
    check_int,
    check_methods,
    check_passthrough,
    check_pattern,
    check_pem,
)
from sites.choices import HSTS_MAX_SECONDS, SiteKind, SiteStatus


def site_context(site: SiteRecord, balancers: dict[str, SimpleNamespace]) -> SimpleNamespace:
    domain = check_pattern(site.domain, "domain", DOMAIN_RE)
    aliases = [check_pattern(alias, "alias", DOMAIN_RE) for alias in site.aliases]
    status = check_choice(site.status, "site status", SITE_STATUSES)
    try:
        balancer = balancers[site.balancer]
    except KeyError:
        raise UnsafeValue(f"refusing to render site {domain}: unknown balancer {site.balancer!r}") from None
    names = (domain, *aliases)
    certificate = site.certificate
    # The HTTPS vhost answers (SNI) only for the site's own names that its certificate covers: never a name
    # of the certificate the site does not own (another customer's), never a wildcard pattern itself, never
    # one of its names the certificate does not cover (that one stays on HTTP until a certificate covers it).
    tls_names = certificate.served(names) if certificate is not None else ()
    https = bool(tls_names)
    valid = https and certificate is not None and not check_bool(certificate.expired, "expired")
    # Redirect (and HSTS) only towards a certificate that is valid and covers every name of the site that
    # reaches us: a new alias keeps HTTP until the renewal adds it, instead of a browser error.
    redirect = (
        valid
        and certificate is not None
        and check_bool(site.https_redirect, "https_redirect")
        and certificate.covers(names)
    )
    hsts = check_int(site.hsts_seconds, "hsts_seconds", 0, HSTS_MAX_SECONDS) if valid else 0
    state = SUSPENDED if status == SiteStatus.SUSPENDED else REDIRECT if redirect else LIVE
    # Site options ride in the map value, only when set (a site without them keeps its six-field value).
    manage = check_choice(site.manage_access, "manage_access", MANAGE_ACCESS)
    methods = check_methods(site.blocked_methods)
    paths = check_passthrough(site.passthrough_paths)
    edit_host = check_pattern(site.edit_host, "edit_host", DOMAIN_RE) if site.edit_host else ""
    if edit_host in names:
        raise UnsafeValue(f"refusing to render site {domain}: its edit host {edit_host} is also one of its names")
    kind, frontend, classic_ui = _kind(site, domain, balancers)
    route = Route(
        state=state,
        balancer=balancer.name,
        plone_path=check_pattern(site.plone_path, "plone_path", URL_PATH_RE),
        mode="n" if balancer.node_vhosts else "s",
        cookie=balancer.sticky_cookie,
        cookie_ttl=balancer.cookie_ttl,
        options=site_options(
            manage=manage, methods=methods, paths=paths, kind=kind, frontend=frontend, classic_ui=classic_ui
        ),
    )
    if edit_host:
        # The edit host: the same Plone site and options, for the staff networks only; served over HTTP
        # (never redirected: the site's certificate does not name it), suspended with the site.
        edit_route = Route(
            SUSPENDED if state == SUSPENDED else LIVE,
            route.balancer,
            route.plone_path,
            route.mode,
            route.cookie,
            route.cookie_ttl,
            site_options(
                edit_host=True,
                manage=manage,
                methods=methods,
                paths=paths,
                kind=kind,
                frontend=frontend,
                classic_ui=classic_ui,
            ),
        )
        routes = SiteRoutes(domain, (*names, edit_host), route, ((edit_host, edit_route),))
    else:
        routes = SiteRoutes(domain, names, route)
    try:  # here, not in the whole map: a line the map cannot hold leaves this site out alone (isolated render)
        group = group_text(routes)
    except MapFormatError as exc:
        raise UnsafeValue(str(exc)) from None
    # A namespace, not a dict: Jinja2 reads attributes first, and a dict's failed getattr costs.
    return SimpleNamespace(
        domain=domain,
        names=routes.names,  # the names it claims: its domain, aliases and edit host
        routes=routes,
        group=group,
        https=https,
        # the vhost's file is named after the domain; its names are the ones served (the domain first if covered)
        tls_server_name=tls_names[0] if https else domain,
        tls_aliases=" ".join(dict.fromkeys(tls_names[1:])),
        # its certificate names nothing but the site's own names: fit for the default vhost (rendering.render)
        tls_own_only=https and certificate is not None and set(certificate.names) <= set(names),
        hsts=hsts,
    )


def _kind(site: SiteRecord, domain: str, balancers: dict[str, SimpleNamespace]) -> tuple[str, str, str]:
    """(kind, frontend balancer, Classic UI segment) of a site, checked: the site's balancer groups Zope
    servers, a Volto or frontend-only site's frontend balancer exists and groups Node.js servers."""
    kind = check_choice(site.kind, "site kind", SITE_KINDS)
    if balancers[site.balancer].kind != ServerKind.ZOPE:
        raise UnsafeValue(f"refusing to render site {domain}: its balancer {site.balancer!r} is not a Zope balancer")
    if kind == SiteKind.CLASSIC:
        if site.frontend_balancer or site.classic_ui_path:
            raise UnsafeValue(f"refusing to render site {domain}: a Classic UI site with a frontend")
        return kind, "", ""
    frontend = balancers.get(site.frontend_balancer)
    if frontend is None or frontend.kind != ServerKind.NODE:
        raise UnsafeValue(
            f"refusing to render site {domain}: frontend balancer {site.frontend_balancer!r} is not a Node.js balancer"
        )
    classic_ui = ""
    if site.classic_ui_path:
        if kind != SiteKind.VOLTO:
            raise UnsafeValue(f"refusing to render site {domain}: only a Volto site keeps a Classic UI path")
        classic_ui = check_pattern(site.classic_ui_path, "classic_ui_path", CLASSIC_UI_PATH_RE)[1:]
    return kind, frontend.name, classic_ui


def tls_files(site: SiteRecord, domain: str, https: bool = True) -> dict[str, str]:
    if site.certificate is None or not https:
        return {}
    return {
        certificate_path(domain): check_pem(site.certificate.fullchain_pem, f"the certificate of {domain}"),
        private_key_path(domain): check_pem(site.certificate.key_pem, f"the private key of {domain}"),
    }


# A site's context depends on its record and on four fields of its balancer only, never on the front-end:
# it is kept between renders in rendering.cache.CONTEXTS (a deployment renders every front-end from one
# snapshot, and the next one sees mostly the same records: rendering.journal gives an unchanged row the
# very record of last time), so 10,000 sites cost a dict lookup by identity each instead of ~10 µs of
# checks. Contexts are read-only once built. Still a pure function: the output depends on the arguments alone.


@dataclass(frozen=True)
class SitePart:
    """What every front-end rendered from one snapshot shares when no site is left out (the HTTPS vhosts
    name config_dir, so they stay per front-end): the site contexts, the names they claim, their map
    groups and TLS files, and the routing map already split into base and overlay. The next snapshot's
    part is patched from it when that snapshot says which sites changed (Snapshot.delta)."""

    snapshot: Snapshot
    signatures: tuple
    contexts: dict[str, SimpleNamespace]  # by domain
    claims: dict[str, str]  # host name -> domain
    groups: dict[str, str]  # domain -> its group of map lines
    tls_files: dict[str, str]
    https_sites: list[SimpleNamespace]  # by domain
    base: str  # routes.map
    overlay: str  # routes-recent.map
    differs: frozenset[str]  # domains whose group is not the base's
    removed: frozenset[str]  # domains of the base no site has now


def site_contexts(
    snapshot: Snapshot, by_name: dict[str, SimpleNamespace], previous: Mapping[str, str] | None, strict: bool
) -> tuple[list[SimpleNamespace], dict[str, str]]:
    """The contexts of the sites that can be rendered, and {domain: reason} for those that cannot."""
    contexts, problems = [], {}
    signatures = {b.name: _signature(b) for b in by_name.values()}
    memo = cache.CONTEXTS.entries()
    kept: dict[int, tuple[SiteRecord, tuple | None, SimpleNamespace]] = {}
    for site in sorted(snapshot.sites, key=_by_domain):
        signature = (signatures.get(site.balancer), signatures.get(site.frontend_balancer))
        entry = memo.get(id(site))
        if entry is not None and entry[0] is site and entry[1] == signature:
            context = entry[2]
        else:
            try:
                context = site_context(site, by_name)
                # a bad certificate leaves this site out alone
                context.tls_files = tls_files(site, context.domain, context.https)
            except UnsafeValue as exc:
                if strict:
                    raise
                problems[site.domain] = str(exc)
                continue
        kept[id(site)] = (site, signature, context)  # the record is held, so its id is not reused meanwhile
        contexts.append(context)
    cache.CONTEXTS.replace(kept)  # only the current sites: bounded
    problems.update(double_claims(contexts, previous, strict))
    return [c for c in contexts if c.domain not in problems], problems


def site_part(snapshot: Snapshot, by_name: dict[str, SimpleNamespace], strict: bool) -> SitePart | None:
    """The shared site part of this snapshot, built by the first front-end that asks (patched from the
    previous part when only a few sites changed); None when some site has to be left out (each
    front-end then keeps what ITS previous tree had)."""
    signatures = tuple(sorted(_signature(b) for b in by_name.values()))
    with cache.SITE_PARTS.lock:  # held while one is built: the other hosts of the deployment wait for it
        previous = cache.SITE_PARTS.only()
        if previous is not None and previous.snapshot is snapshot and previous.signatures == signatures:
            return previous
        part = _patched(previous, snapshot, by_name, signatures) if previous is not None else None
        if part is None:
            part = _built(snapshot, by_name, signatures, strict)
        cache.SITE_PARTS.replace({id(snapshot): part} if part is not None else {})  # the last one only
        return part


def _built(snapshot: Snapshot, by_name, signatures: tuple, strict: bool) -> SitePart | None:
    contexts, problems = site_contexts(snapshot, by_name, None, strict)
    if problems:
        return None
    groups = {c.domain: c.group for c in contexts}
    base, overlay = split_map(
        full_map([groups[d] for d in sorted(groups)]), snapshot.routes_base, snapshot.overlay_max_lines
    )
    replaced, removed = overlay_groups(overlay)
    tls: dict[str, str] = {}
    for context in contexts:
        tls.update(context.tls_files)
    return SitePart(
        snapshot,
        signatures,
        {c.domain: c for c in contexts},
        {name: c.domain for c in contexts for name in c.names},
        groups,
        tls,
        [c for c in contexts if c.https],
        base,
        overlay,
        frozenset(replaced),
        frozenset(removed),
    )


def _patched(part: SitePart, snapshot: Snapshot, by_name, signatures: tuple) -> SitePart | None:
    """`part` brought to `snapshot` by redoing only the sites it says changed; None when that is not
    possible (another lineage, other balancers or base, a site that now fails or claims a taken name):
    then the part is built whole."""
    delta = snapshot.delta
    if (
        delta is None
        or delta[0] != part.snapshot.generation
        or not cache.genuine(snapshot.generation, snapshot.sites)
        or not cache.genuine(part.snapshot.generation, part.snapshot.sites)
        or part.signatures != signatures
        or snapshot.overlay_max_lines != part.snapshot.overlay_max_lines
        or not _same_base(part, snapshot)
    ):
        return None
    touched = delta[1]
    contexts, claims, groups = dict(part.contexts), dict(part.claims), dict(part.groups)
    tls, https = dict(part.tls_files), {c.domain: c for c in part.https_sites}
    for domain in touched:
        old = contexts.pop(domain, None)
        if old is not None:
            for name in old.names:
                if claims.get(name) == domain:
                    del claims[name]
            groups.pop(domain, None)
            for path in old.tls_files:
                tls.pop(path, None)
            https.pop(domain, None)
    for domain in sorted(touched):
        site = _site_named(snapshot, domain)
        if site is None:
            continue
        try:
            context = _context(site, by_name)
        except UnsafeValue:
            return None  # the whole build leaves it out (or raises, when strict)
        if len(set(context.names)) != len(context.names) or any(name in claims for name in context.names):
            return None  # a name claimed twice: the whole build decides who keeps it
        claims.update(dict.fromkeys(context.names, domain))
        contexts[domain], groups[domain] = context, context.group
        tls.update(context.tls_files)
        if context.https:
            https[domain] = context
    base_of = base_groups(part.base)
    differs, removed = set(part.differs), set(part.removed)
    for domain in touched:
        group = groups.get(domain)
        (differs.add if group is not None and base_of.get(domain) != group else differs.discard)(domain)
        (removed.add if group is None and domain in base_of else removed.discard)(domain)
    base, overlay = (
        part.base,
        overlay_of(sorted(groups[d] for d in differs), sorted(removed), part.base, snapshot.overlay_max_lines),
    )
    if overlay is None:  # past the bound: the whole map is the new base
        base, overlay, differs, removed = full_map([groups[d] for d in sorted(groups)]), empty_overlay(), set(), set()
    return SitePart(
        snapshot,
        signatures,
        contexts,
        claims,
        groups,
        tls,
        [https[d] for d in sorted(https)],
        base,
        overlay,
        frozenset(differs),
        frozenset(removed),
    )


def _same_base(part: SitePart, snapshot: Snapshot) -> bool:
    """Whether `part` was split against the base this snapshot names (a rebase made since, or one this
    snapshot records, means a whole build)."""
    wanted = snapshot.routes_base
    if wanted is None:
        return False
    return part.base is wanted or (part.snapshot.routes_base is not None and part.base == wanted)


def _site_named(snapshot: Snapshot, domain: str) -> SiteRecord | None:
    sites = snapshot.sites
    index = bisect.bisect_left(sites, domain, key=_by_domain)
    return sites[index] if index < len(sites) and sites[index].domain == domain else None


def _context(site: SiteRecord, by_name) -> SimpleNamespace:
    balancer, frontend = by_name.get(site.balancer), by_name.get(site.frontend_balancer)
    signature = (
        _signature(balancer) if balancer is not None else None,
        _signature(frontend) if frontend is not None else None,
    )
    entry = cache.CONTEXTS.get(id(site))
    if entry is not None and entry[0] is site and entry[1] == signature:
        return entry[2]
    context = site_context(site, by_name)
    context.tls_files = tls_files(site, context.domain, context.https)
    cache.CONTEXTS.put(id(site), (site, signature, context))  # the record is held: its id is not reused meanwhile
    return context


def _signature(balancer: SimpleNamespace) -> tuple:
    """What a site's context depends on of its balancer (the memo and the shared part are keyed by it)."""
    return (balancer.name, balancer.kind, balancer.node_vhosts, balancer.sticky_cookie, balancer.cookie_ttl)


def _by_domain(site: SiteRecord) -> str:
    return site.domain
