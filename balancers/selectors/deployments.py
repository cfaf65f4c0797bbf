"""Reads of deployments and of what a deployment would change: per-host progress, the diff of each host's
tree against its previous one, and the pending changes of every front-end (read from the hosts in parallel)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TypedDict

from django.conf import settings
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from balancers.choices import ChangeKind, HostStage, HostStatus
from balancers.models import ConfigTree, Deployment, DeploymentCause, DeploymentHost, FrontEnd
from deploy.checks import frontend_pending_diff
from deploy.holds import Hold, import_holds
from deploy.stored import stored_files_many
from deploy.trees import render_for
from rendering.manifest import MANIFEST, TLS_DIR, capped_lines, diff_paths, tree_diff
from rendering.routes import CHANGE_KIND_TEXT, EDGE_TLS_DIR, RELEASE_FILE, SUSPENDED, change_kind, parse_map, whole_map
from rendering.snapshot import load_snapshot

DIFF_MAX_LINES = 3000
STAGE_ORDER = [s.value for s in HostStage]
FINISHED_HOST = {HostStatus.SUCCEEDED, HostStatus.UNCHANGED, HostStatus.FAILED, HostStatus.ROLLED_BACK}


# files that change with every release whatever changed (digests, the release's own proof): not shown in diffs
HIDDEN_DIFF_FILES = frozenset({MANIFEST, RELEASE_FILE})


class ChangeSummary(TypedDict):
    """What a tree changed, in the ISP's words (from the trees, whatever caused the deployment)."""

    sites_added: list[str]
    sites_changed: list[str]
    sites_suspended: list[str]
    sites_removed: list[str]
    certificates_added: list[str]
    certificates_changed: list[str]
    certificates_removed: list[str]
    other_files: list[str]  # balancers.conf, http.conf ...: the fleet's own config


class HostDiff(TypedDict):
    frontend: str
    first: bool  # no earlier tree to compare with
    same: bool
    lines: list[str]
    kind: str  # map | config | "" (rendering.routes.change_kind)
    kind_text: str
    summary: ChangeSummary


def empty_summary() -> ChangeSummary:
    return {
        "sites_added": [],
        "sites_changed": [],
        "sites_suspended": [],
        "sites_removed": [],
        "certificates_added": [],
        "certificates_changed": [],
        "certificates_removed": [],
        "other_files": [],
    }


def summarise_change(old: dict[str, str], new: dict[str, str]) -> ChangeSummary:
    """Sites added, changed, suspended and removed (their routing map groups and HTTPS vhosts),
    certificates added, changed and removed (tls/<domain>.crt), and the other files that changed."""
    summary = empty_summary()
    old_sites, new_sites = parse_map(whole_map(old)), parse_map(whole_map(new))
    for domain in sorted(set(old_sites) | set(new_sites)):
        before, after = old_sites.get(domain), new_sites.get(domain)
        if before is None:
            summary["sites_added"].append(domain)
        elif after is None:
            summary["sites_removed"].append(domain)
        elif after.route.state == SUSPENDED and before.route.state != SUSPENDED:
            summary["sites_suspended"].append(domain)
        elif before != after:
            summary["sites_changed"].append(domain)
    vhost_changed = set()
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a == b or path in HIDDEN_DIFF_FILES or path.startswith("routes"):
            continue
        tls_dir = next((d for d in (TLS_DIR, EDGE_TLS_DIR) if path.startswith(f"{d}/")), "")
        suffix = ".pem" if tls_dir == EDGE_TLS_DIR else ".crt"
        if tls_dir and path.endswith(suffix):
            domain = path[len(tls_dir) + 1 : -len(suffix)]  # on an nginx edge, one per name served
            key = "certificates_added" if a is None else "certificates_removed" if b is None else "certificates_changed"
            summary[key].append(domain)  # type: ignore[literal-required]
        elif path.startswith("sites/") and path.endswith(".conf"):
            vhost_changed.add(path[len("sites/") : -len(".conf")])
        elif not tls_dir:
            summary["other_files"].append(path)
    listed = {*summary["sites_added"], *summary["sites_removed"], *summary["sites_suspended"]}
    summary["sites_changed"] = sorted((set(summary["sites_changed"]) | vhost_changed) - listed)
    return summary


def merge_summaries(summaries: list[ChangeSummary]) -> ChangeSummary:
    """The union over a deployment's front-ends (they usually agree)."""
    merged = empty_summary()
    for key in merged:
        merged[key] = sorted({item for s in summaries for item in s[key]})  # type: ignore[literal-required]
    return merged


def hide_hash_files(lines: list[str]) -> list[str]:
    """A tree diff without the files that change with every release (MANIFEST's digests, the release
    proof): each file's part starts with its '--- ' / '+++ ' header pair."""
    out: list[str] = []
    hidden = False
    for i, line in enumerate(lines):
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            names = {line[4:].split("/", 1)[-1], lines[i + 1][4:].split("/", 1)[-1]}
            hidden = bool(names & HIDDEN_DIFF_FILES)
        if not hidden:
            out.append(line)
    return out


class PendingChange(TypedDict):
    frontend: str
    error: str
    lines: list[str]
    same: bool
    kind: str
    kind_text: str


def host_progress(host: DeploymentHost) -> list[tuple[str, str]]:
    """(stage label, 'done' | 'current' | '') for the progress display of one host. A map-only release
    skips configtest, reload and verify; a config release has no map stage: neither is shown as done."""
    hidden = {HostStage.QUEUED, HostStage.RESTORE}
    if host.change_kind == ChangeKind.MAP or host.stage == HostStage.MAP:
        hidden |= {HostStage.CONFIGTEST, HostStage.RELOAD, HostStage.VERIFY}
    else:
        hidden.add(HostStage.MAP)
    shown = [s for s in HostStage if s not in hidden]
    try:
        reached = STAGE_ORDER.index(host.stage)
    except ValueError:
        reached = 0
    finished = host.status in FINISHED_HOST
    out = []
    for stage in shown:
        index = STAGE_ORDER.index(stage.value)
        if index < reached or (finished and index == reached):
            out.append((stage.label, "done"))
        elif index == reached:
            out.append((stage.label, "current"))
        else:
            out.append((stage.label, ""))
    return out


def deployment_hosts(deployment: Deployment) -> list[DeploymentHost]:
    """The deployment's host rows by front-end name, each with `progress` (host_progress)."""
    hosts = list(deployment.hosts.order_by("frontend_name"))
    for host in hosts:
        host.progress = host_progress(host)
    return hosts


def deployment_diffs(deployment: Deployment) -> list[HostDiff]:
    """Per host: the diff of its tree against the tree of that host's previous successful deployment."""
    hosts = list(
        deployment.hosts.filter(tree__isnull=False).order_by("frontend_name").values("frontend_name", "tree_id")
    )
    if not hosts:
        return []
    names = [h["frontend_name"] for h in hosts]
    previous: dict[str, int] = {}
    for name, tree_id in (
        DeploymentHost.objects.filter(
            deployment_id__lt=deployment.pk,
            frontend_name__in=names,
            tree__isnull=False,
            status__in=[HostStatus.SUCCEEDED, HostStatus.UNCHANGED],
        )
        .order_by("frontend_name", "-deployment_id")
        .values_list("frontend_name", "tree_id")
    ):
        previous.setdefault(name, tree_id)
    tree_ids = {h["tree_id"] for h in hosts} | set(previous.values())
    trees = stored_files_many(list(ConfigTree.objects.filter(pk__in=tree_ids)))
    diffs: list[HostDiff] = []
    for host in hosts:
        name = host["frontend_name"]
        old_id = previous.get(name)
        old_tree, new_tree = trees.get(old_id) or {}, trees.get(host["tree_id"]) or {}
        diff = tree_diff(old_tree, new_tree)
        kind = change_kind(diff_paths(diff)) if old_id is not None else "config"
        diffs.append(
            {
                "frontend": name,
                "first": old_id is None,
                "same": old_id == host["tree_id"],
                "lines": capped_lines("\n".join(hide_hash_files(diff.splitlines())), limit=DIFF_MAX_LINES, label=name),
                "kind": kind,
                "kind_text": CHANGE_KIND_TEXT[kind],
                "summary": summarise_change(old_tree, new_tree),
            }
        )
    return diffs


def deployment_list() -> QuerySet[Deployment]:
    """The deployments list: newest first, each with its host count and its first cause (text and actor)
    and how many more it carries — subqueries, so a page costs one query however many causes there are."""
    causes = DeploymentCause.objects.filter(deployment=OuterRef("pk")).order_by("id")
    counted = (
        DeploymentCause.objects.filter(deployment=OuterRef("pk"))
        .order_by()
        .values("deployment")
        .annotate(n=Count("id"))
        .values("n")
    )
    hosts = DeploymentHost.objects.filter(deployment=OuterRef("pk")).order_by().values("deployment")
    return Deployment.objects.annotate(
        host_count=Coalesce(Subquery(hosts.annotate(n=Count("id")).values("n")), 0),
        cause_count=Coalesce(Subquery(counted), 0),
        first_cause_action=Subquery(causes.values("action")[:1]),
        first_cause_key=Subquery(causes.values("object_key")[:1]),
        first_cause_actor=Subquery(causes.values("actor")[:1]),
    ).order_by("-created_at", "-id")


def first_cause_text(deployment: Deployment) -> str:
    """ "site x.example created by billing-token (and 3 more changes)" of a deployment_list() row."""
    action = getattr(deployment, "first_cause_action", None)
    if not action:
        return ""
    cause = DeploymentCause(action=action, object_key=getattr(deployment, "first_cause_key", "") or "")
    text = f"{cause.text} by {getattr(deployment, 'first_cause_actor', '')}"
    more = (getattr(deployment, "cause_count", 0) or 0) - 1
    return text + (f" (and {more} more change{'s' if more != 1 else ''})" if more > 0 else "")


def deployment_causes(deployment: Deployment, *, limit: int = 50) -> tuple[list[DeploymentCause], int]:
    """WHY: the first `limit` changes the deployment carries, as their services named them (oldest first),
    and how many there are in all (a CSV import of 1,000 sites is 1,000 causes)."""
    shown = list(deployment.causes.order_by("id")[:limit])
    return shown, (deployment.causes.count() if len(shown) == limit else len(shown))


def _pending_one(frontend: FrontEnd, tree: dict[str, str]) -> PendingChange:
    entry: PendingChange = {
        "frontend": frontend.name,
        "error": "",
        "lines": [],
        "same": False,
        "kind": "",
        "kind_text": "",
    }
    try:
        diff = frontend_pending_diff(frontend, tree=tree)
    except Exception as exc:  # noqa: BLE001 - an unreachable host must not hide the others
        entry["error"] = str(getattr(exc, "message", "") or exc)
    else:
        shown = "\n".join(hide_hash_files(diff.splitlines()))
        entry["lines"] = capped_lines(shown, limit=DIFF_MAX_LINES, label=frontend.name)
        entry["same"] = not diff
        entry["kind"] = change_kind(diff_paths(diff))
        entry["kind_text"] = CHANGE_KIND_TEXT[entry["kind"]]
    return entry


def pending_changes() -> list[PendingChange]:
    """Per enabled front-end, what 'Deploy now' would change (a diff against the live files read from the
    host). Trees are rendered from one snapshot here; the hosts are then read in parallel (no database
    work in the threads), so a page waits for the slowest host, not the sum. A host that cannot be read
    shows its error instead of a diff."""
    frontends = list(FrontEnd.objects.filter(enabled=True).order_by("name"))
    if not frontends:
        return []
    snapshot = load_snapshot()
    trees = [render_for(f, snapshot) for f in frontends]
    workers = min(len(frontends), settings.HOSTPANEL_DEPLOY_PARALLELISM)
    with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="pending") as pool:
        return list(pool.map(_pending_one, frontends, trees))


def held_frontends() -> list[Hold]:
    """Enabled front-ends whose imported config's equivalence differences nobody has accepted yet."""
    return list(import_holds(FrontEnd.objects.filter(enabled=True).values_list("name", flat=True)).values())
