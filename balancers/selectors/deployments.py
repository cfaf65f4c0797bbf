"""Reads of deployments and of what a deployment would change: per-host progress, the diff of each host's
tree against its previous one, and the pending changes of every front-end (read from the hosts in parallel)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TypedDict

from django.conf import settings

from balancers.choices import ChangeKind, HostStage, HostStatus
from balancers.models import ConfigTree, Deployment, DeploymentHost, FrontEnd
from deploy.checks import frontend_pending_diff
from deploy.holds import Hold, import_holds
from deploy.stored import stored_files_many
from deploy.trees import render_for
from rendering.manifest import capped_lines, diff_paths, tree_diff
from rendering.routes import CHANGE_KIND_TEXT, change_kind
from rendering.snapshot import load_snapshot

DIFF_MAX_LINES = 3000
STAGE_ORDER = [s.value for s in HostStage]
FINISHED_HOST = {HostStatus.SUCCEEDED, HostStatus.UNCHANGED, HostStatus.FAILED, HostStatus.ROLLED_BACK}


class HostDiff(TypedDict):
    frontend: str
    first: bool  # no earlier tree to compare with
    same: bool
    lines: list[str]
    kind: str  # map | config | "" (rendering.routes.change_kind)
    kind_text: str


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
        diff = tree_diff(trees.get(old_id) or {}, trees.get(host["tree_id"]) or {})
        kind = change_kind(diff_paths(diff)) if old_id is not None else "config"
        diffs.append(
            {
                "frontend": name,
                "first": old_id is None,
                "same": old_id == host["tree_id"],
                "lines": capped_lines(diff, limit=DIFF_MAX_LINES, label=name),
                "kind": kind,
                "kind_text": CHANGE_KIND_TEXT[kind],
            }
        )
    return diffs


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
        entry["lines"] = capped_lines(diff, limit=DIFF_MAX_LINES, label=frontend.name)
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
