"""Per-site isolation for the renderer: which sites claim a name twice, and what a left-out site keeps
from the tree deployed before (its group of routes.map lines, its HTTPS vhost and TLS files). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace

from rendering.manifest import certificate_path, private_key_path
from rendering.routes import ROUTES_MAP, SiteRoutes, parse_map, whole_map
from rendering.values import UnsafeValue


@dataclass(frozen=True)
class SiteProblem:
    """A site left out of a tree because its row cannot be rendered (a value planted past the models'
    validation): `kept` says what of it was kept from the previous tree ("routes.map" when its previous
    routes, and HTTPS file if any, still serve it; "" when nothing was)."""

    site: str
    reason: str
    kept: str = ""


def double_claims(contexts: list[SimpleNamespace], previous: Mapping[str, str] | None, strict: bool) -> dict[str, str]:
    """{domain: reason} for the sites that claim a host name another site claims too (a host name is one
    map line). Strict: raise instead. When isolating, the site whose previous routes already answered for
    the name keeps it; the others are left out."""
    problems: dict[str, str] = {}
    # A host name is one map line: one claimed twice is refused. When isolating, the site whose
    # previous routes already answered for the name keeps it.
    claims: dict[str, list[SimpleNamespace]] = {}
    for context in contexts:
        for name in context.names:
            owners = claims.setdefault(name, [])
            if owners and strict:
                raise UnsafeValue(
                    f"refusing to render: {name} is claimed twice ({owners[0].domain} and {context.domain})"
                )
            owners.append(context)
    twice = {name: owners for name, owners in claims.items() if len(owners) > 1}
    before = parse_map(whole_map(previous or {})) if twice else {}
    for name, owners in twice.items():
        holders = {c.domain for c in owners if c.domain in before and name in before[c.domain].names}
        innocent = holders.pop() if len(holders) == 1 and len({id(c) for c in owners}) == len(owners) else None
        for context in owners:
            if context.domain != innocent:
                others = sorted({c.domain for c in owners})
                problems.setdefault(context.domain, f"{name} is claimed twice ({' and '.join(others)})")
    return problems


def kept_from_previous(
    problems: dict[str, str], contexts: list[SimpleNamespace], previous: Mapping[str, str]
) -> tuple[list[SiteRoutes], dict[str, str], tuple[SiteProblem, ...]]:
    """For each left-out site: its previous routes (its group in the previous map, by domain, else the one
    group of no current site that answered for its domain) and its previous HTTPS file with its certificate
    and key, unless a rendered site now claims one of its names."""
    if not problems:
        return [], {}, ()
    before = parse_map(whole_map(previous))
    taken_names = {name for c in contexts for name in c.names}
    taken_paths = {f"sites/{c.domain}.conf" for c in contexts}
    current = {c.domain for c in contexts} | set(problems)
    groups: list[SiteRoutes] = []
    files: dict[str, str] = {}
    reports = []
    for domain in sorted(problems):
        reason = problems[domain]
        group = before.get(domain)
        if group is None:  # its domain changed, e.g. to one of its own aliases: found by the names it served
            candidates = [g for g in before.values() if domain in g.names and g.domain not in current]
            group = candidates[0] if len(candidates) == 1 else None
        kept = ""
        if group is not None and set(group.names) & taken_names:
            reason += "; its previous routes were dropped too: another site now answers for its names"
        elif group is not None:
            taken_names.update(group.names)
            groups.append(group)
            kept = ROUTES_MAP
            path = f"sites/{group.domain}.conf"
            if path in previous and path not in taken_paths:
                files[path] = previous[path]
                for tls_path in (certificate_path(group.domain), private_key_path(group.domain)):
                    if tls_path in previous:  # a kept HTTPS vhost needs the files it names
                        files[tls_path] = previous[tls_path]
        else:
            reason += "; it had no previous routes: it is not served until the row is repaired"
        reports.append(SiteProblem(domain, reason, kept))
    return groups, files, tuple(reports)
