"""The per-site part of a render (balancers.render): each site's checked context and its group of routes.map
lines, kept between renders by record identity and shared by every front-end rendered from one snapshot.
Pure like the rest of the renderer: the output depends on the arguments alone."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace

from balancers.manifest import certificate_path, private_key_path
from balancers.render_isolation import double_claims
from balancers.render_values import (
    DOMAIN_RE,
    SITE_STATUSES,
    URL_PATH_RE,
    UnsafeValue,
    check_bool,
    check_choice,
    check_int,
    check_pattern,
    check_pem,
)
from balancers.routes import LIVE, REDIRECT, SUSPENDED, MapFormatError, Route, SiteRoutes, full_map, group_text
from balancers.snapshot import SiteRecord, Snapshot
from sites.models import HSTS_MAX_SECONDS, SiteStatus


def site_context(site: SiteRecord, balancers: dict[str, SimpleNamespace]) -> SimpleNamespace:
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
    state = SUSPENDED if status == SiteStatus.SUSPENDED else REDIRECT if redirect else LIVE
    route = Route(
        state=state,
        balancer=balancer.name,
        plone_path=check_pattern(site.plone_path, "plone_path", URL_PATH_RE),
        mode="n" if balancer.node_vhosts else "s",
        cookie=balancer.sticky_cookie,
        cookie_ttl=balancer.cookie_ttl,
    )
    routes = SiteRoutes(domain, (domain, *aliases), route)
    try:  # here, not in the whole map: a line the map cannot hold leaves this site out alone (isolated render)
        group = group_text(routes)
    except MapFormatError as exc:
        raise UnsafeValue(str(exc)) from None
    # The HTTPS vhost answers (SNI) for the names its certificate covers, so its file changes with the
    # certificate only; the map decides what each name serves.
    tls_names = [check_pattern(n, "certificate name", DOMAIN_RE) for n in certificate.names] if https else []
    # A namespace, not a dict: Jinja2 reads attributes first, and a dict's failed getattr costs.
    return SimpleNamespace(
        domain=domain,
        names=(domain, *aliases),
        routes=routes,
        group=group,
        https=https,
        tls_aliases=" ".join(n for n in dict.fromkeys(tls_names) if n != domain),
        hsts=hsts,
    )


def tls_files(site: SiteRecord, domain: str) -> dict[str, str]:
    if site.certificate is None:
        return {}
    return {
        certificate_path(domain): check_pem(site.certificate.fullchain_pem, f"the certificate of {domain}"),
        private_key_path(domain): check_pem(site.certificate.key_pem, f"the private key of {domain}"),
    }


# A site's context depends on its record and on four fields of its balancer only, never on the front-end:
# it is kept between renders (a deployment renders every front-end from one snapshot, and the next one
# sees mostly the same records: balancers.snapshot gives an unchanged row the very record of last time),
# so 10,000 sites cost a dict lookup by identity each instead of ~10 µs of checks. Contexts are read-only
# once built. Still a pure function: the output depends on the arguments alone.
_MEMO: dict[int, tuple[SiteRecord, tuple, SimpleNamespace]] = {}
_MEMO_LOCK = threading.Lock()


@dataclass(frozen=True)
class SitePart:
    """What every front-end rendered from one snapshot shares when no site is left out: the site contexts
    and routes.map (the HTTPS vhosts name config_dir, so they stay per front-end)."""

    snapshot: Snapshot
    signatures: tuple
    contexts: list
    routes_map: str


_SHARED: list[SitePart] = []  # the last one only
_SHARED_LOCK = threading.Lock()  # held while one is built: the other hosts of the deployment wait for it


def site_contexts(
    snapshot: Snapshot, by_name: dict[str, SimpleNamespace], previous: Mapping[str, str] | None, strict: bool
) -> tuple[list[SimpleNamespace], dict[str, str]]:
    """The contexts of the sites that can be rendered, and {domain: reason} for those that cannot."""
    global _MEMO
    contexts, problems = [], {}
    signatures = {b.name: (b.name, b.node_vhosts, b.sticky_cookie, b.cookie_ttl) for b in by_name.values()}
    with _MEMO_LOCK:
        memo = _MEMO
    kept: dict[int, tuple[SiteRecord, tuple, SimpleNamespace]] = {}
    for site in sorted(snapshot.sites, key=_by_domain):
        signature = signatures.get(site.balancer)
        entry = memo.get(id(site))
        if entry is not None and entry[0] is site and entry[1] == signature:
            context = entry[2]
        else:
            try:
                context = site_context(site, by_name)
                context.tls_files = tls_files(site, context.domain)  # a bad certificate leaves this site out alone
            except UnsafeValue as exc:
                if strict:
                    raise
                problems[site.domain] = str(exc)
                continue
        kept[id(site)] = (site, signature, context)  # the record is held, so its id is not reused meanwhile
        contexts.append(context)
    with _MEMO_LOCK:
        _MEMO = kept  # only the current sites: bounded
    problems.update(double_claims(contexts, previous, strict))
    return [c for c in contexts if c.domain not in problems], problems


def site_part(snapshot: Snapshot, by_name: dict[str, SimpleNamespace], strict: bool) -> SitePart | None:
    """The shared site part of this snapshot, built by the first front-end that asks; None when some site
    has to be left out (each front-end then keeps what ITS previous tree had)."""
    signatures = tuple(sorted((b.name, b.node_vhosts, b.sticky_cookie, b.cookie_ttl) for b in by_name.values()))
    with _SHARED_LOCK:
        for part in _SHARED:
            if part.snapshot is snapshot and part.signatures == signatures:
                return part
        contexts, problems = site_contexts(snapshot, by_name, None, strict)
        if problems:
            return None
        groups = sorted((c.domain, c.group) for c in contexts)
        routes_map = full_map([text for _, text in groups])
        _SHARED[:] = [SitePart(snapshot, signatures, contexts, routes_map)]
        return _SHARED[0]


def _by_domain(site: SiteRecord) -> str:
    return site.domain
