"""The tree the panel deploys to a front-end now: the current snapshot rendered with per-site isolation
(a bad site row is left out, its previous file kept), the tree that host had before, and stored trees."""

from __future__ import annotations

from balancers.choices import HostStatus
from balancers.models import ActivatedRelease, DeploymentHost, FrontEnd
from deploy.leases import db_call
from deploy.secrets import open_tree
from deploy.stored import stored_files
from rendering import cache
from rendering.render import RenderResult, render_tree_isolated
from rendering.snapshot import Snapshot, load_snapshot


def previous_tree(frontend: FrontEnd) -> dict[str, str]:
    """The files this front-end was last known to serve: its activated tree, else the tree of its
    latest successful deployment ({} when there is none)."""
    activated = ActivatedRelease.objects.filter(frontend=frontend, tree__isnull=False).select_related("tree").first()
    if activated is not None and activated.tree is not None:
        return open_tree(stored_files(activated.tree))
    host = (
        DeploymentHost.objects.filter(
            frontend=frontend, status__in=[HostStatus.SUCCEEDED, HostStatus.UNCHANGED], tree__isnull=False
        )
        .select_related("tree")
        .order_by("-id")
        .first()
    )
    return open_tree(stored_files(host.tree)) if host is not None and host.tree is not None else {}


def render_result_for(frontend: FrontEnd, snapshot: Snapshot | None = None) -> RenderResult:
    """The tree the panel would deploy to this front-end now, with the sites left out of it. The last
    result per front-end is kept: rendering is a pure function of the snapshot, so an equal snapshot
    (a deploy with no change, ~1 ms to compare) reuses it instead of rendering 1,000 vhosts again.
    The previous tree is read only when some site has to be left out (the rare case). Both are kept in
    rendering.cache (RENDERED_TREES, PREVIOUS_TREES)."""
    snapshot = snapshot if snapshot is not None else load_snapshot()
    record = snapshot.frontend(frontend.name)
    cached = cache.RENDERED_TREES.get(frontend.name)
    if cached is not None and cached[1] == record and cached[0] == snapshot and not cached[2].problems:
        return cached[2]
    result = render_tree_isolated(snapshot, record)
    if result.problems:
        # one query from a deploy thread: db_call (on SQLite its lock; the hosts render at the same time)
        result = render_tree_isolated(snapshot, record, db_call(lambda: previous_tree(frontend)))
    with cache.RENDERED_TREES.lock:
        if cached is not None:
            cache.PREVIOUS_TREES.put(frontend.name, cached[2].tree)
        cache.RENDERED_TREES.put(frontend.name, (snapshot, record, result))
    return result


def recently_rendered(frontend: FrontEnd) -> dict[str, str]:
    """The tree this process rendered for the front-end before its current one ({} if none): usually what
    the host serves now. Only a hint (the probes use its routes.map when the host's MANIFEST says that is
    the live one, instead of reading a 1 MB map back over SSH); never trusted as the host's state."""
    return cache.PREVIOUS_TREES.get(frontend.name) or {}


def render_for(frontend: FrontEnd, snapshot: Snapshot | None = None) -> dict[str, str]:
    """{path: text} of what a deployment would push to this front-end now (drift, previews)."""
    return dict(render_result_for(frontend, snapshot).tree)
