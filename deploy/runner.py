"""The worker's body: run a queued deployment on every front-end in parallel and record every step.

`deployment_execute(id)` claims the queued `Deployment` with a conditional UPDATE (and starts its
heartbeat lease, which the reaper reads), marks `superseded` the queued automatic deployments it
covers, then deploys each front-end (deploy.host) and records the overall status: `partial`
when a host failed or a site had to be left out of a tree, with the reason on the deployment, the
host row and the site (`Site.render_error`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from balancers.choices import DeploymentStatus, DeploymentTrigger, HostStatus
from balancers.models import Deployment, DeploymentHost, FrontEnd
from deploy.holds import import_holds
from deploy.host import GOOD, deploy_host
from deploy.leases import Heartbeat, db_guard
from deploy.reaper import supersede_covered
from deploy.stored import store_tree
from deploy.trees import render_for
from rendering.snapshot import Snapshot, load_snapshot
from sites.models import Site

__all__ = ["deployment_execute", "host_rows_create", "render_for", "store_tree"]

log = logging.getLogger(__name__)


def host_rows_create(deployment: Deployment, frontends: Iterable[FrontEnd]) -> None:
    DeploymentHost.objects.bulk_create(
        [DeploymentHost(deployment=deployment, frontend=f, frontend_name=f.name) for f in frontends],
        ignore_conflicts=True,
    )


class _SnapshotCache:
    """One snapshot for the hosts of a deployment — but only one loaded AFTER the asking host took its
    lease, so a host never gets a state older than what another worker may already have deployed."""

    GATHER_SECONDS = 0.2  # how long the first host waits for the others' leases before loading

    def __init__(self, hosts: int = 1) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition()
        self._hosts, self._waiting = hosts, 0
        self._snapshot: Snapshot | None = None
        self._loaded_from = 0.0

    def after(self, moment: float):
        # The hosts take their leases at about the same moment: gather them (bounded) so one load, started
        # after every gathered lease, serves them all (one 10,000-site snapshot instead of one per host).
        with self._arrived:
            self._waiting += 1
            self._arrived.notify_all()
            self._arrived.wait_for(lambda: self._waiting >= self._hosts, timeout=self.GATHER_SECONDS)
        with self._lock:
            if self._snapshot is None or self._loaded_from < moment:
                self._loaded_from = time.monotonic()
                with db_guard():
                    self._snapshot = load_snapshot()
            return self._snapshot


def _in_thread(fn: Callable, *args):
    try:
        return fn(*args)
    finally:
        connection.close()  # each worker thread has its own connection


def _record_site_problems(left_out: list[dict], rendered: bool) -> None:
    """Each left-out site says why on its own page; a site rendered again clears its reason."""
    reasons: dict[str, str] = {}
    for problem in left_out:
        reasons.setdefault(problem["site"], problem["reason"])
    for domain, reason in reasons.items():
        Site.objects.filter(domain=domain).update(render_error=reason[:2000])
    if rendered:
        Site.objects.exclude(domain__in=list(reasons)).exclude(render_error="").update(render_error="")


def deployment_execute(deployment_id: int, *, on_progress: Callable | None = None) -> Deployment | None:
    """The worker's body: claim the queued deployment (conditional UPDATE), deploy every front-end
    in parallel, record the overall status. Returns None when another worker had claimed it."""
    now = timezone.now()
    claimed = Deployment.objects.filter(pk=deployment_id, status=DeploymentStatus.QUEUED).update(
        status=DeploymentStatus.RUNNING,
        started_at=now,
        lease_expires_at=now + timedelta(seconds=settings.HOSTPANEL_DEPLOY_LEASE_SECONDS),
    )
    if claimed != 1:
        return None
    deployment = Deployment.objects.get(pk=deployment_id)
    if not deployment.hosts.exists():  # the current state to every enabled front-end
        if deployment.trigger != DeploymentTrigger.ROLLBACK:
            supersede_covered(by=deployment)
        held = import_holds()
        host_rows_create(deployment, FrontEnd.objects.filter(enabled=True).exclude(name__in=list(held)))
        if held:
            deployment.message = "Held back (imported config with unaccepted differences): " + ", ".join(sorted(held))
    hosts = list(deployment.hosts.select_related("frontend").order_by("frontend_name"))
    snapshots = _SnapshotCache(hosts=len(hosts))
    workers = min(settings.HOSTPANEL_DEPLOY_PARALLELISM, len(hosts))
    with Heartbeat(deployment.pk) as heartbeat:
        if workers <= 1:
            results = [deploy_host(deployment, h, snapshots, heartbeat, on_progress) for h in hosts]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy") as pool:
                results = list(
                    pool.map(lambda h: _in_thread(deploy_host, deployment, h, snapshots, heartbeat, on_progress), hosts)
                )
    statuses = [status for status, _ in results]
    left_out = [problem for _, problems in results for problem in problems]
    if HostStatus.REVERTED in statuses:  # post-deploy probes put the previous release back (deploy/probes.py)
        status = DeploymentStatus.REVERTED
    elif all(s in GOOD for s in statuses) and not left_out:
        status = DeploymentStatus.SUCCEEDED
    elif any(s in GOOD for s in statuses):
        status = DeploymentStatus.PARTIAL
    else:
        status = DeploymentStatus.FAILED
    _record_site_problems(left_out, rendered=deployment.trigger != DeploymentTrigger.ROLLBACK)
    digests = sorted(
        f"{name}:{digest}"
        for name, digest in deployment.hosts.filter(tree__isnull=False).values_list("frontend_name", "tree__digest")
    )
    revision = hashlib.sha256("\n".join(digests).encode()).hexdigest() if digests else ""
    message = deployment.message or ("No enabled front-end." if not hosts else "")
    if left_out:
        sites = sorted({p["site"] for p in left_out})
        message = (
            f"{message} Left out (its previous file kept where it had one) because its row cannot be rendered: "
            + ", ".join(sites)
            + ". Every other change went out."
        ).strip()
    finished = Deployment.objects.filter(pk=deployment.pk, status=DeploymentStatus.RUNNING).update(
        status=status, finished_at=timezone.now(), revision=revision, message=message, lease_expires_at=None
    )
    if not finished:
        log.warning("deployment #%s was failed by the reaper before its worker finished", deployment.pk)
    deployment.refresh_from_db()
    return deployment
