"""What an action would change on the front-ends, computed BEFORE it is confirmed: the ONE place the
confirmation pages (rollback, member hot standby / drain / disable / back to active, deletes, import apply)
and the API's `?dry_run=1` read it from.

Two ways in, one result (`Effect`):

- `change_effect(edit)`: the current snapshot, and the same snapshot with the change applied
  (`edit`, one of the `without_*` / `with_member_state` helpers: dataclasses.replace, nothing written),
  each rendered by the pure renderer for every enabled front-end;
- `rollback_effect(deployment)`: per front-end, the tree it serves now (deploy.trees.previous_tree)
  against the stored tree the rollback would push back.

Either way the effect is read off the two trees, never written by hand: the routing maps
(rendering.routes.parse_map) give the sites added, removed and changed, and which of them stop being
served (no route: Apache answers 404; suspended: 503); the balancers' members give the capacity each
balancer keeps; tree_diff gives the diff (MANIFEST and the release proof left out: they change every time)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from balancers.choices import HostStatus
from balancers.models import ActivatedRelease, Deployment, DeploymentHost
from deploy.secrets import open_tree
from deploy.stored import stored_files_many
from deploy.trees import previous_tree
from importer.throwaway import plan_records, server_record
from rendering.manifest import MANIFEST, capped_lines, diff_paths, tree_diff
from rendering.render import render_tree_isolated
from rendering.routes import CHANGE_KIND_TEXT, LIVE, REDIRECT, RELEASE_FILE, Route, change_kind, parse_map, whole_map
from rendering.snapshot import BalancerRecord, MemberRecord, Snapshot, load_snapshot

if TYPE_CHECKING:
    from importer.plan import ImportPlan

DIFF_MAX_LINES = 2000
SERVED = (LIVE, REDIRECT)  # a route in these states answers with the site (redirect: HTTP -> HTTPS)
# the words of a route's state on a confirmation page
STATE_WORDS = {"live": "served", "redirect": "served (HTTP redirects to HTTPS)", "suspended": "suspended (503)"}
ABSENT = "not served (404)"
# What a balancer is left with, worst last
ACTIVE, STANDBY_ONLY, NOTHING = "active members", "hot standby only", "nothing"


@dataclass(frozen=True)
class SiteChange:
    """One site whose routing on a front-end changes."""

    domain: str
    change: str  # "added" | "removed" | "changed"
    before: str  # in words (STATE_WORDS / ABSENT), with the balancer
    after: str
    offline: bool  # served before, not served after (404 or 503)


@dataclass
class FrontEndEffect:
    frontend: str
    sites: list[SiteChange] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # the diff, MANIFEST left out
    same: bool = False
    kind_text: str = ""
    error: str = ""  # the trees could not be read or rendered: the effect is unknown

    @property
    def offline(self) -> list[str]:
        return [s.domain for s in self.sites if s.offline]


@dataclass(frozen=True)
class BalancerEffect:
    """A balancer whose members change: what takes new clients before and after, and its sites."""

    balancer: str
    before: tuple[str, ...]  # routes that take new clients now (active, or hot standby when no active one)
    after: tuple[str, ...]
    left_with: str  # ACTIVE | STANDBY_ONLY | NOTHING
    sites: tuple[str, ...]  # domains routed to it

    @property
    def loses_capacity(self) -> bool:
        return len(self.after) < len(self.before) or self.left_with != ACTIVE

    @property
    def summary(self) -> str:
        if self.left_with == NOTHING:
            return "no member would take new clients: every new client gets a 503"
        if self.left_with == STANDBY_ONLY:
            return "it would run on its hot standby only"
        return f"{len(self.after)} member(s) would take new clients (now {len(self.before)})"


@dataclass
class Effect:
    frontends: list[FrontEndEffect] = field(default_factory=list)
    balancers: list[BalancerEffect] = field(default_factory=list)

    @property
    def offline(self) -> list[str]:
        """Every site that some front-end would stop serving, by domain."""
        return sorted({domain for fe in self.frontends for domain in fe.offline})

    @property
    def sites(self) -> list[SiteChange]:
        """Each changed site once (the first front-end's view of it)."""
        seen: dict[str, SiteChange] = {}
        for fe in self.frontends:
            for change in fe.sites:
                seen.setdefault(change.domain, change)
        return [seen[d] for d in sorted(seen)]

    @property
    def unchanged(self) -> bool:
        """Nothing any front-end serves would change (and nothing unknown)."""
        return all(fe.same and not fe.error for fe in self.frontends) and not any(
            b.loses_capacity for b in self.balancers
        )

    @property
    def errors(self) -> list[str]:
        return [f"{fe.frontend}: {fe.error}" for fe in self.frontends if fe.error]

    def as_dict(self) -> dict:
        """JSON for the API's dry run."""
        return {
            "offline": self.offline,
            "unchanged": self.unchanged,
            "sites": [dataclasses.asdict(s) for s in self.sites],
            "balancers": [
                {**dataclasses.asdict(b), "loses_capacity": b.loses_capacity, "summary": b.summary}
                for b in self.balancers
            ],
            "frontends": [
                {
                    "frontend": fe.frontend,
                    "same": fe.same,
                    "offline": fe.offline,
                    "change": fe.kind_text,
                    "diff": fe.lines,
                    "error": fe.error,
                }
                for fe in self.frontends
            ],
        }


# --- pure parts -------------------------------------------------------------------------------------


def _words(route: Route | None) -> str:
    if route is None:
        return ABSENT
    return f"{STATE_WORDS.get(route.state, route.state)} by {route.balancer}"


def routing_changes(before: dict[str, str], after: dict[str, str]) -> list[SiteChange]:
    """The sites whose route differs between two trees, by domain. A site that stops having a route
    (removed: Apache answers 404) or stops being served (suspended: 503) is `offline`."""
    old = {domain: site.route for domain, site in parse_map(whole_map(before)).items()}
    new = {domain: site.route for domain, site in parse_map(whole_map(after)).items()}
    changes = []
    for domain in sorted(old.keys() | new.keys()):
        a, b = old.get(domain), new.get(domain)
        if a == b:
            continue
        kind = "added" if a is None else "removed" if b is None else "changed"
        served_before = a is not None and a.state in SERVED
        served_after = b is not None and b.state in SERVED
        if a is not None and b is not None and a.state == b.state and a.balancer == b.balancer:
            after_words = f"{_words(b)} (other settings change)"
        else:
            after_words = _words(b)
        changes.append(SiteChange(domain, kind, _words(a), after_words, served_before and not served_after))
    return changes


def _without_bookkeeping(tree: dict[str, str]) -> dict[str, str]:
    return {path: text for path, text in tree.items() if path not in (MANIFEST, RELEASE_FILE)}


def tree_effect(frontend: str, before: dict[str, str], after: dict[str, str]) -> FrontEndEffect:
    """One front-end's effect from the tree it serves (`before`) and the one it would serve."""
    diff = tree_diff(_without_bookkeeping(before), _without_bookkeeping(after), old_label="now", new_label="after")
    return FrontEndEffect(
        frontend=frontend,
        sites=routing_changes(before, after),
        lines=capped_lines(diff, limit=DIFF_MAX_LINES, label=frontend),
        same=not diff,
        kind_text=CHANGE_KIND_TEXT[change_kind(diff_paths(diff))],
    )


def taking_clients(balancer: BalancerRecord) -> tuple[tuple[str, ...], str]:
    """(routes that take new clients, ACTIVE | STANDBY_ONLY | NOTHING): Apache sends new clients to the
    active members; to the hot standbys only when no active member is left; never to drained or disabled
    ones (balancers.services.members.member_is_usable)."""
    usable = [m for m in balancer.members if not m.disabled and not m.drain]
    active = tuple(m.route for m in usable if not m.hot_standby)
    if active:
        return active, ACTIVE
    standby = tuple(m.route for m in usable)
    return standby, STANDBY_ONLY if standby else NOTHING


def balancer_changes(before: Snapshot, after: Snapshot) -> list[BalancerEffect]:
    """The balancers whose members differ between two snapshots (one removed counts as left with nothing)."""
    old = {b.name: b for b in before.balancers}
    new = {b.name: b for b in after.balancers}
    effects = []
    for name in sorted(old):
        a, b = old[name], new.get(name)
        if b is not None and a.members == b.members:
            continue
        taking_before, _ = taking_clients(a)
        taking_after, left_with = taking_clients(b) if b is not None else ((), NOTHING)
        # a Volto site uses two balancers: its Zope one (API) and its Node.js frontend one (pages)
        sites = tuple(sorted(s.domain for s in before.sites if name in (s.balancer, s.frontend_balancer)))
        effects.append(BalancerEffect(name, taking_before, taking_after, left_with, sites))
    return effects


# --- snapshot edits (nothing is written) -------------------------------------------------------------

Edit = Callable[[Snapshot], Snapshot]


def _plain(snapshot: Snapshot, **changes) -> Snapshot:
    # generation 0 and no delta: the renderer must not patch this edited snapshot from its caches
    return dataclasses.replace(snapshot, generation=0, delta=None, **changes)


def without_site(domain: str) -> Edit:
    return lambda s: _plain(s, sites=tuple(site for site in s.sites if site.domain != domain))


def with_site_status(domain: str, status: str) -> Edit:
    """The site with another status (sites.choices.SiteStatus: suspend, unsuspend)."""
    return lambda s: _plain(
        s, sites=tuple(dataclasses.replace(x, status=status) if x.domain == domain else x for x in s.sites)
    )


def without_balancer(name: str) -> Edit:
    def edit(s: Snapshot) -> Snapshot:
        return _plain(
            s,
            balancers=tuple(b for b in s.balancers if b.name != name),
            sites=tuple(site for site in s.sites if name not in (site.balancer, site.frontend_balancer)),
        )

    return edit


def _members(s: Snapshot, balancer: str, change: Callable[[MemberRecord], MemberRecord | None]) -> Snapshot:
    balancers = []
    for record in s.balancers:
        if record.name == balancer:
            members = tuple(m for m in (change(m) for m in record.members) if m is not None)
            record = dataclasses.replace(record, members=members)
        balancers.append(record)
    return _plain(s, balancers=tuple(balancers))


def with_member_state(balancer: str, server: str, **flags: bool) -> Edit:
    """The member of `balancer` on Zope server `server` with these hot_standby / drain / disabled flags."""
    return lambda s: _members(
        s, balancer, lambda m: dataclasses.replace(m, **flags) if m.zope_server.name == server else m
    )


def without_member(balancer: str, server: str) -> Edit:
    return lambda s: _members(s, balancer, lambda m: None if m.zope_server.name == server else m)


def without_zope_server(server: str) -> Edit:
    """A Zope server gone, and with it its membership in every balancer."""

    def edit(s: Snapshot) -> Snapshot:
        for record in s.balancers:
            s = _members(s, record.name, lambda m: None if m.zope_server.name == server else m)
        return _plain(s, zope_servers=tuple(z for z in s.zope_servers if z.name != server))

    return edit


def with_import(plan: ImportPlan) -> Edit:
    """The panel after `plan` is applied: the rows the import creates (Zope servers, balancers, members,
    sites; importer.throwaway builds their records, as for the equivalence check) merged into the
    snapshot. A matched row is left as the panel has it (the import does not write it); a site left out
    (skip-one) is not in the plan's rows, so not in the effect. A created site replaces any record of
    its domain (its routing then shows as changed)."""

    def edit(s: Snapshot) -> Snapshot:
        servers = {z.name: z for z in s.zope_servers}
        created = {p.candidate.name: server_record(p.candidate) for p in plan.zope_servers if p.action == "create"}
        servers.update((name, record) for name, record in created.items() if name not in servers)
        records = plan_records(
            plan,
            servers,
            actions=frozenset({"create"}),
            known_balancers=frozenset(b.name for b in s.balancers),
        )
        balancers = {b.name: b for b in s.balancers}
        for name, members in records.members.items():
            if name in balancers:
                have = balancers[name]
                merged = sorted((*have.members, *members), key=lambda m: (m.lbset, m.zope_server.name))
                balancers[name] = dataclasses.replace(have, members=tuple(merged))
        balancers.update((b.name, b) for b in records.balancers if b.name not in balancers)
        sites = {site.domain: site for site in s.sites}
        sites.update((site.domain, site) for site in records.sites)
        return _plain(
            s,
            zope_servers=tuple(sorted(servers.values(), key=lambda z: z.name)),
            balancers=tuple(sorted(balancers.values(), key=lambda b: b.name)),
            sites=tuple(sorted(sites.values(), key=lambda site: site.domain)),
        )

    return edit


# --- reads ------------------------------------------------------------------------------------------


def _render(snapshot: Snapshot, name: str) -> dict[str, str]:
    return render_tree_isolated(snapshot, snapshot.frontend(name)).tree


def change_effect(edit: Edit, *, snapshot: Snapshot | None = None) -> Effect:
    """The effect of a change on every enabled front-end: the current snapshot and the edited one, each
    rendered by the pure renderer, compared. The database is only read."""
    before = snapshot if snapshot is not None else load_snapshot()
    after = edit(before)
    effect = Effect(balancers=balancer_changes(before, after))
    for record in before.frontends:
        if not record.enabled:
            continue
        try:
            effect.frontends.append(tree_effect(record.name, _render(before, record.name), _render(after, record.name)))
        except Exception as exc:  # noqa: BLE001 - a failing render is shown, never hides the confirmation
            effect.frontends.append(FrontEndEffect(record.name, error=f"{type(exc).__name__}: {exc}"))
    return effect


def import_effect(plan: ImportPlan) -> Effect:
    """What applying an import plan would change on every enabled front-end (see with_import)."""
    return change_effect(with_import(plan))


def rollback_effect(deployment: Deployment) -> Effect:
    """Per front-end the deployment stored a tree for: what it serves now against that tree."""
    hosts = list(deployment.hosts.filter(tree__isnull=False, frontend__isnull=False).select_related("frontend", "tree"))
    trees = stored_files_many([h.tree for h in hosts if h.tree is not None])
    effect = Effect()
    for host in sorted(hosts, key=lambda h: h.frontend_name):
        try:
            now = previous_tree(host.frontend)
            target = open_tree(trees[host.tree_id])
        except Exception as exc:  # noqa: BLE001 - a tree that cannot be read makes the effect unknown, said so
            effect.frontends.append(FrontEndEffect(host.frontend_name, error=f"{type(exc).__name__}: {exc}"))
            continue
        effect.frontends.append(tree_effect(host.frontend_name, now, target))
    return effect


def serving_trees(frontend_ids: list[int]) -> dict[int, int]:
    """{front-end id: id of the stored tree it serves}, as deploy.trees.previous_tree reads it: its activated
    tree, else the tree of its latest successful deployment. Two queries, no tree read."""
    serving = dict(
        ActivatedRelease.objects.filter(frontend_id__in=frontend_ids, tree__isnull=False).values_list(
            "frontend_id", "tree_id"
        )
    )
    for frontend_id, tree_id in (
        DeploymentHost.objects.filter(
            frontend_id__in=[pk for pk in frontend_ids if pk not in serving],
            tree__isnull=False,
            status__in=[HostStatus.SUCCEEDED, HostStatus.UNCHANGED],
        )
        .order_by("frontend_id", "-id")
        .values_list("frontend_id", "tree_id")
    ):
        serving.setdefault(frontend_id, tree_id)
    return serving


def rollback_refusal(deployment: Deployment) -> str:
    """Why rolling back to this deployment is not offered ("" when it is): it stored no tree, or every
    front-end it reached serves its tree now (the newest deployment)."""
    hosts = dict(
        deployment.hosts.filter(tree__isnull=False, frontend__isnull=False).values_list("frontend_id", "tree_id")
    )
    if not hosts:
        return f"Deployment #{deployment.pk} has no stored tree to roll back to."
    serving = serving_trees(list(hosts))
    if all(serving.get(frontend_id) == tree_id for frontend_id, tree_id in hosts.items()):
        return (
            f"The front-ends already serve the configuration of deployment #{deployment.pk}: "
            "rolling back to it would change nothing."
        )
    return ""


def rollback_offered(deployment: Deployment) -> bool:
    return not rollback_refusal(deployment)
