"""The worker's body: run a queued deployment on every front-end in parallel and record every step.

`deployment_execute(id)` claims the queued `Deployment` with a conditional UPDATE, then per front-end
(`DeploymentHost` row, updated at every stage: the audit trail and the progress bar at once): take the
front-end's lease, render the CURRENT database state (so the last revision always wins), store the tree,
open the transport and hand over to balancers.deploy.release.push_tree.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection
from django.utils import timezone

from balancers.choices import DeploymentStatus, HostStage, HostStatus
from balancers.connections import open_transport, release_transport
from balancers.deploy.leases import LEASE_WAIT_SECONDS, db_guard, lease_acquire, lease_release, lease_renew
from balancers.deploy.probes import push_and_probe
from balancers.deploy.release import Target, truncate
from balancers.manifest import tree_digest
from balancers.models import ConfigTree, Deployment, DeploymentHost, FrontEnd
from balancers.render import render_tree
from balancers.snapshot import load_snapshot
from balancers.transport import TransportError

log = logging.getLogger(__name__)


def host_rows_create(deployment: Deployment, frontends: Iterable[FrontEnd]) -> None:
    DeploymentHost.objects.bulk_create(
        [DeploymentHost(deployment=deployment, frontend=f, frontend_name=f.name) for f in frontends],
        ignore_conflicts=True,
    )


class _SnapshotCache:
    """One snapshot for the hosts of a deployment — but only one loaded AFTER the asking host took its
    lease, so a host never gets a state older than what another worker may already have deployed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = None
        self._loaded_from = 0.0

    def after(self, moment: float):
        with self._lock:
            if self._snapshot is None or self._loaded_from < moment:
                self._loaded_from = time.monotonic()
                self._snapshot = load_snapshot()
            return self._snapshot


_RENDERED: dict[str, tuple[object, object, dict[str, str]]] = {}
_RENDERED_LOCK = threading.Lock()


def render_for(frontend: FrontEnd, snapshot=None) -> dict[str, str]:
    """The tree the panel would deploy to this front-end now. The last tree per front-end is kept:
    rendering is a pure function of the snapshot, so an equal snapshot (a deploy with no change,
    ~1 ms to compare) reuses it instead of rendering 1,000 vhosts again (~0.1 s)."""
    snapshot = snapshot if snapshot is not None else load_snapshot()
    record = snapshot.frontend(frontend.name)
    with _RENDERED_LOCK:
        cached = _RENDERED.get(frontend.name)
    if cached is not None and cached[1] == record and cached[0] == snapshot:
        return dict(cached[2])
    tree = render_tree(snapshot, record)
    with _RENDERED_LOCK:
        _RENDERED[frontend.name] = (snapshot, record, tree)
    return dict(tree)


def store_tree(tree: dict[str, str]) -> ConfigTree:
    digest = tree_digest(tree)
    stored = ConfigTree.objects.filter(digest=digest).only("pk", "digest").first()
    if stored is None:
        stored, _ = ConfigTree.objects.get_or_create(digest=digest, defaults={"files": tree})
    return stored


def _deploy_host(
    deployment: Deployment, host: DeploymentHost, snapshots: _SnapshotCache, on_progress: Callable | None
) -> str:
    """One front-end of a deployment; updates its DeploymentHost row at every stage."""
    owner = f"deployment-{deployment.pk}-{secrets.token_hex(4)}"
    started = time.monotonic()
    frontend = host.frontend

    def save(**fields) -> None:
        for name, value in fields.items():
            setattr(host, name, value)
        with db_guard():
            DeploymentHost.objects.filter(pk=host.pk).update(**fields)
        if on_progress:
            on_progress(host)

    def progress(stage: str) -> None:
        save(stage=stage)
        lease_renew(frontend.pk, owner)

    try:
        if frontend is None:
            save(status=HostStatus.FAILED, error="the front-end was deleted", finished_at=timezone.now())
            return HostStatus.FAILED
        save(status=HostStatus.RUNNING)
        if not lease_acquire(frontend.pk, owner):
            save(
                status=HostStatus.FAILED,
                error=f"another deployment kept {frontend.name} busy for {LEASE_WAIT_SECONDS:g} s",
                retryable=True,
                finished_at=timezone.now(),
            )
            return HostStatus.FAILED
        try:
            leased_at = time.monotonic()
            save(stage=HostStage.RENDER, started_at=timezone.now())  # started = holding the front-end's lease
            if host.tree_id:  # rollback: exactly the stored files
                with db_guard():
                    tree = ConfigTree.objects.get(pk=host.tree_id).files
            else:
                with db_guard():
                    frontend.refresh_from_db()
                    snapshot = snapshots.after(leased_at)
                tree = render_for(frontend, snapshot)
                with db_guard():
                    stored = store_tree(tree)
                save(tree=stored)
            save(stage=HostStage.CONNECT)
            try:
                transport = open_transport(frontend, pooled=True)
            except TransportError as exc:
                save(
                    status=HostStatus.FAILED,
                    error=f"{exc.message}; the live config was not touched.",
                    retryable=exc.retryable,
                    finished_at=timezone.now(),
                    duration=time.monotonic() - started,
                )
                return HostStatus.FAILED
            try:
                outcome = push_and_probe(  # release.push_tree + the post-deploy probes (deploy/probes.py, #15)
                    transport,
                    Target.of(frontend),
                    tree,
                    frontend=frontend,
                    progress=progress,
                    reconnect=lambda: open_transport(frontend),
                )
            except BaseException:
                transport.close()
                raise
            release_transport(frontend, transport, healthy=not outcome.retryable)
            save(  # still holding the lease: finished_at is before the next deployment's started_at
                status=outcome.status,
                stage=outcome.stage,
                files_uploaded=outcome.files_uploaded,
                bytes_uploaded=outcome.bytes_uploaded,
                error=outcome.error,
                retryable=outcome.retryable,
                finished_at=timezone.now(),
                duration=time.monotonic() - leased_at,
                output=truncate(f"{outcome.output}\n{outcome.timings_line()}".strip()),
            )
            return outcome.status
        finally:
            lease_release(frontend.pk, owner)
    except Exception as exc:  # a bug or a render error must still end the host's row
        log.exception("deploying to %s failed", host.frontend_name)
        save(
            status=HostStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
            duration=time.monotonic() - started,
        )
        return HostStatus.FAILED


def _in_thread(fn: Callable, *args) -> str:
    try:
        return fn(*args)
    finally:
        connection.close()  # each worker thread has its own connection


def deployment_execute(deployment_id: int, *, on_progress: Callable | None = None) -> Deployment | None:
    """The worker's body: claim the queued deployment (conditional UPDATE), deploy every front-end
    in parallel, record the overall status. Returns None when another worker had claimed it."""
    claimed = Deployment.objects.filter(pk=deployment_id, status=DeploymentStatus.QUEUED).update(
        status=DeploymentStatus.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return None
    deployment = Deployment.objects.get(pk=deployment_id)
    if not deployment.hosts.exists():
        host_rows_create(deployment, FrontEnd.objects.filter(enabled=True))
    hosts = list(deployment.hosts.select_related("frontend").order_by("frontend_name"))
    snapshots = _SnapshotCache()
    workers = min(settings.HOSTPANEL_DEPLOY_PARALLELISM, len(hosts))
    if workers <= 1:
        statuses = [_deploy_host(deployment, h, snapshots, on_progress) for h in hosts]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy") as pool:
            statuses = list(pool.map(lambda h: _in_thread(_deploy_host, deployment, h, snapshots, on_progress), hosts))
    good = {HostStatus.SUCCEEDED, HostStatus.UNCHANGED}
    if HostStatus.REVERTED in statuses:  # post-deploy probes put the previous release back (deploy/probes.py)
        status = DeploymentStatus.REVERTED
    elif all(s in good for s in statuses):
        status = DeploymentStatus.SUCCEEDED
    elif any(s in good for s in statuses):
        status = DeploymentStatus.PARTIAL
    else:
        status = DeploymentStatus.FAILED
    digests = sorted(
        f"{name}:{digest}"
        for name, digest in deployment.hosts.filter(tree__isnull=False).values_list("frontend_name", "tree__digest")
    )
    revision = hashlib.sha256("\n".join(digests).encode()).hexdigest() if digests else ""
    message = deployment.message or ("No enabled front-end." if not hosts else "")
    Deployment.objects.filter(pk=deployment.pk).update(
        status=status, finished_at=timezone.now(), revision=revision, message=message
    )
    deployment.refresh_from_db()
    return deployment
