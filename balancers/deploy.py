"""Deploying rendered config trees to the Apache front-ends, and never leaving one broken.

Per front-end (`push_tree`), on a `Transport` from balancers/ssh.py (this module has no SSH code):

1. compare the rendered tree with the host's MANIFEST; nothing changed -> nothing uploaded, no reload;
2. build the new release in a staging directory next to config_dir — a hard-linked copy of the live
   release plus ONLY the changed files — and rename it to `<config_dir>.releases/<digest>`;
3. swap: config_dir is a symlink, switched atomically (temporary symlink + rename); the previous
   release stays on disk;
4. configtest_command; on failure point config_dir back at the previous release, no reload;
5. reload_command (graceful), then check that the host answers (health_url, else
   balancer_manager_url); if not, restore the previous release and reload again.

A transport error before the swap leaves the live config untouched (the staging copy is discarded);
after the swap and before a reload, the previous release is put back (over a new connection if needed).

Deployments (`Deployment` + one `DeploymentHost` per front-end) run in the background through
balancers.tasks.run_deployment; front-ends in parallel (settings.HOSTPANEL_DEPLOY_PARALLELISM), each
under a database lease (`DeployLock`) so two workers never touch one front-end at once. The worker
renders the CURRENT database state after taking the lease, so the last revision always wins.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import logging
import posixpath
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from balancers.choices import DeploymentStatus, DeploymentTrigger, HostStage, HostStatus
from balancers.models import ConfigTree, DeployLock, Deployment, DeploymentHost, FrontEnd
from balancers.render import parse_manifest, render_tree, tree_digest
from balancers.snapshot import load_snapshot
from balancers.ssh import Transport, TransportError, open_transport, release_transport
from hostpanel import audit
from hostpanel.audit import Actor

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST"
RELEASES_SUFFIX = ".releases"
STAGING_PREFIX = ".staging-"
KEEP_RELEASES = 5  # current, previous and a few more for quick rollbacks
OUTPUT_LIMIT = 8000
COMMAND_TIMEOUT = 120.0
VERIFY_SECONDS = 60.0
LEASE_SECONDS = 600
LEASE_WAIT_SECONDS = 900.0

ProgressFn = Callable[[str], None]

# SQLite (and its shared-cache in-memory test database, which does not wait for locks) cannot take
# writes from several threads at once: there, the deploy threads take turns for each query.
_SQLITE_GUARD = threading.RLock()


def _db():
    return _SQLITE_GUARD if connection.vendor == "sqlite" else contextlib.nullcontext()


# --- one front-end: pure file/command work on a transport ----------------------------------------


@dataclass(frozen=True)
class Target:
    """What push_tree needs to know about a front-end (no database access inside push_tree)."""

    name: str
    config_dir: str
    configtest_command: str
    reload_command: str
    verify_url: str = ""

    @classmethod
    def of(cls, frontend: FrontEnd) -> Target:
        return cls(
            name=frontend.name,
            config_dir=frontend.config_dir.rstrip("/"),
            configtest_command=frontend.configtest_command,
            reload_command=frontend.reload_command,
            verify_url=frontend.health_url or frontend.balancer_manager_url,
        )

    @property
    def releases_dir(self) -> str:
        return self.config_dir + RELEASES_SUFFIX


@dataclass
class HostOutcome:
    status: str
    stage: str
    files_uploaded: int = 0
    bytes_uploaded: int = 0
    output: str = ""
    error: str = ""
    retryable: bool = False
    uploaded_paths: list[str] = field(default_factory=list)
    reloaded: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent in each stage

    def timings_line(self) -> str:
        return "stage seconds: " + ", ".join(f"{name} {seconds:.3f}" for name, seconds in self.timings.items())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _truncate(text: str, limit: int = OUTPUT_LIMIT) -> str:
    return text if len(text) <= limit else "…(truncated)…\n" + text[-limit:]


def _resolve(link_parent: str, target: str) -> str:
    return posixpath.normpath(posixpath.join(link_parent, target))


def url_answers(url: str, *, timeout: float = 2.0) -> tuple[bool, str]:
    """True when an HTTP server answers the URL with a status below 500."""
    if not url.startswith(("http://", "https://")):
        return False, "not an http(s) URL"
    headers = {"Referer": url, "User-Agent": "HostPanel-deploy-verify"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) only, checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - validated http(s) URL
            return response.status < 500, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return exc.code < 500, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, str(getattr(exc, "reason", exc))


def _verify(url: str, seconds: float = VERIFY_SECONDS) -> tuple[bool, str]:
    """Wait (bounded) until the URL answers. During a graceful restart Apache keeps its listening
    sockets but accepts nothing until the new children run — seconds for thousands of vhosts — so
    one request may wait for the whole remaining window rather than time out early."""
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        ok, detail = url_answers(url, timeout=max(0.2, remaining))
        if ok or time.monotonic() >= deadline:
            return ok, detail
        time.sleep(0.1)


class _Swapper:
    """Points config_dir at a release and can put the previous one back."""

    def __init__(self, transport: Transport, target: Target) -> None:
        self.transport = transport
        self.target = target
        self.previous: str | None = None  # the previous symlink target; None: there was no config_dir
        self.swapped = False

    def prepare(self) -> None:
        t, live = self.transport, self.target.config_dir
        self.previous = t.readlink(live)
        if self.previous is None and t.exists(live):
            # First deploy onto a hand-made directory: keep it as a release and manage a symlink from now on.
            legacy = f"{self.target.releases_dir}/legacy-{time.strftime('%Y%m%d%H%M%S')}"
            t.rename(live, legacy)
            t.symlink_switch(live, legacy)
            self.previous = legacy

    def switch(self, release: str) -> None:
        self.transport.symlink_switch(self.target.config_dir, release)
        self.swapped = True

    def restore(self, transport: Transport | None = None) -> None:
        t = transport or self.transport
        if self.previous is None:
            t.remove_path(self.target.config_dir)
        else:
            t.symlink_switch(self.target.config_dir, self.previous)
        self.swapped = False


def push_tree(
    transport: Transport,
    target: Target,
    tree: dict[str, str],
    *,
    progress: ProgressFn = lambda stage: None,
    reconnect: Callable[[], Transport] | None = None,
    verify_seconds: float = VERIFY_SECONDS,
) -> HostOutcome:
    """Bring one front-end to `tree`: the stages of the module docstring. Never raises TransportError:
    a failure is an outcome with the stage reached, the error and whether retrying can help."""
    marks: list[tuple[str, float]] = [("compare", time.monotonic())]

    def timed(stage: str) -> None:
        marks.append((str(stage), time.monotonic()))
        progress(stage)

    outcome = _push_tree(transport, target, tree, progress=timed, reconnect=reconnect, verify_seconds=verify_seconds)
    marks.append(("end", time.monotonic()))
    outcome.timings = {name: marks[i + 1][1] - at for i, (name, at) in enumerate(marks[:-1]) if name != "done"}
    return outcome


def _push_tree(
    transport: Transport,
    target: Target,
    tree: dict[str, str],
    *,
    progress: ProgressFn,
    reconnect: Callable[[], Transport] | None,
    verify_seconds: float,
) -> HostOutcome:
    outcome = HostOutcome(status=HostStatus.RUNNING, stage=HostStage.CONNECT)
    swapper = _Swapper(transport, target)
    staging: str | None = None
    outputs: list[str] = []

    def stage(name: str) -> None:
        outcome.stage = name
        progress(name)

    def command(cmd: str) -> bool:
        result = transport.run(cmd, timeout=COMMAND_TIMEOUT)
        failed = "" if result.ok else f"\n(exit code {result.exit_code})"
        outputs.append(f"$ {cmd}\n{result.output}".rstrip() + failed)
        outcome.output = _truncate("\n".join(outputs))
        return result.ok

    try:
        wanted = tree[MANIFEST].encode()
        live_manifest = transport.read_file(f"{target.config_dir}/{MANIFEST}")
        if live_manifest == wanted:
            outcome.status, outcome.stage = HostStatus.UNCHANGED, HostStage.DONE
            return outcome

        stage(HostStage.UPLOAD)
        digest = tree_digest(tree)
        releases = target.releases_dir
        release = f"{releases}/{digest}"
        transport.mkdir_p(releases)
        swapper.prepare()
        if transport.read_file(f"{release}/{MANIFEST}") != wanted:  # a release already on disk is reused as is
            staging = f"{releases}/{STAGING_PREFIX}{digest[:16]}-{secrets.token_hex(4)}"
            _build_release(transport, target, tree, live_manifest, swapper.previous, staging, outcome)
            if transport.exists(release):  # an incomplete copy of this revision: replace it
                transport.remove_path(release)
            transport.rename(staging, release)
            staging = None

        stage(HostStage.SWAP)
        swapper.switch(release)

        stage(HostStage.CONFIGTEST)
        if not command(target.configtest_command):
            swapper.restore()
            outcome.status = HostStatus.FAILED
            outcome.error = "configtest failed: the previous config was put back and Apache was not reloaded."
            return outcome

        stage(HostStage.RELOAD)
        reloaded = command(target.reload_command)
        outcome.reloaded = True
        if not reloaded:
            stage(HostStage.RESTORE)
            swapper.restore()
            command(target.reload_command)
            outcome.status = HostStatus.ROLLED_BACK
            outcome.error = "reload failed: the previous config was put back and reloaded."
            return outcome

        if target.verify_url:
            stage(HostStage.VERIFY)
            ok, detail = _verify(target.verify_url, verify_seconds)
            if not ok:
                stage(HostStage.RESTORE)
                swapper.restore()
                command(target.reload_command)
                outcome.status = HostStatus.ROLLED_BACK
                outcome.error = (
                    f"the front-end did not answer at {target.verify_url} after the reload ({detail}): "
                    "the previous config was put back and reloaded."
                )
                return outcome

        _prune(transport, target, keep={release, swapper.previous})
        outcome.status, outcome.stage = HostStatus.SUCCEEDED, HostStage.DONE
        progress(HostStage.DONE)
        return outcome
    except TransportError as exc:
        outcome.status = HostStatus.FAILED
        outcome.error = f"{exc.message} (stage: {outcome.stage})"
        outcome.retryable = exc.retryable
        if swapper.swapped and not outcome.reloaded:
            outcome.error += _restore_after_error(swapper, reconnect)
        elif staging:
            # if the connection is gone, the next deploy removes stale staging directories
            with contextlib.suppress(TransportError):
                transport.remove_path(staging)
            outcome.error += "; the live config was not touched."
        else:
            outcome.error += "; the live config was not touched."
        return outcome


def _restore_after_error(swapper: _Swapper, reconnect: Callable[[], Transport] | None) -> str:
    """The symlink already points at the new release but Apache was not reloaded: put it back."""
    try:
        swapper.restore()
        return "; the previous config was put back (Apache was not reloaded)."
    except TransportError:
        pass
    if reconnect is not None:
        try:
            fresh = reconnect()
            try:
                swapper.restore(fresh)
            finally:
                fresh.close()
            return "; the previous config was put back over a new connection (Apache was not reloaded)."
        except TransportError as exc:
            return (
                f"; WARNING: could not put the previous config back ({exc.message}): config_dir points at the new, "
                "untested release; Apache was not reloaded."
            )
    return "; WARNING: config_dir may point at the new, untested release; Apache was not reloaded."


def _build_release(
    transport: Transport,
    target: Target,
    tree: dict[str, str],
    live_manifest: bytes | None,
    previous: str | None,
    staging: str,
    outcome: HostOutcome,
) -> None:
    """Fill `staging` with the full tree, uploading only files that differ from the live release."""
    releases = target.releases_dir
    entries = transport.list_entries(releases)
    for name, _ in entries:
        if name.startswith(STAGING_PREFIX):  # left over by a dropped connection
            transport.remove_path(f"{releases}/{name}")
    live: dict[str, str] = {}
    if live_manifest is not None and previous is not None:
        try:
            live = parse_manifest(live_manifest.decode())
        except (ValueError, UnicodeDecodeError):
            live = {}
    changed: dict[str, bytes] = {}
    for path in sorted(tree):
        data = tree[path].encode()
        if path == MANIFEST or live.get(path) != _sha256(data):
            changed[path] = data
    base = _resolve(posixpath.dirname(target.config_dir), previous) if live and previous else None
    removed = sorted(set(live) - set(tree)) if base else []
    transport.build_tree(staging, changed, base=base, remove=removed)
    outcome.files_uploaded = len(changed)
    outcome.bytes_uploaded = sum(len(data) for data in changed.values())
    outcome.uploaded_paths = list(changed)


def _prune(transport: Transport, target: Target, keep: set[str | None]) -> None:
    """Remove old releases beyond KEEP_RELEASES (never the live or the previous one). Best effort."""
    try:
        releases = target.releases_dir
        keep_paths = {_resolve(posixpath.dirname(target.config_dir), k) for k in keep if k}
        candidates = [
            (mtime, name)
            for name, mtime in transport.list_entries(releases)
            if not name.startswith(".") and f"{releases}/{name}" not in keep_paths
        ]
        surplus = len(candidates) - max(0, KEEP_RELEASES - len(keep_paths))
        for _, name in sorted(candidates)[: max(0, surplus)]:
            transport.remove_path(f"{releases}/{name}")
    except TransportError as exc:
        log.warning("pruning old releases on %s failed: %s", target.name, exc)


def read_live_tree(transport: Transport, target: Target) -> dict[str, str]:
    """{path: text} of every file live under config_dir (MANIFEST included) — for drift and dry runs."""
    return {path: data.decode(errors="replace") for path, data in transport.read_tree(target.config_dir).items()}


# --- leases: one deployment per front-end at a time ----------------------------------------------


def lease_acquire(frontend_id: int, owner: str, *, wait: float = LEASE_WAIT_SECONDS) -> bool:
    """Claim the front-end's lease with a conditional UPDATE (free or expired -> ours); poll until
    `wait` seconds have passed. Works the same on PostgreSQL and SQLite."""
    with _db():
        DeployLock.objects.get_or_create(frontend_id=frontend_id)
    deadline = time.monotonic() + wait
    while True:
        now = timezone.now()
        with _db():
            claimed = (
                DeployLock.objects.filter(frontend_id=frontend_id)
                .filter(Q(owner="") | Q(expires_at__lt=now))
                .update(owner=owner, acquired_at=now, expires_at=now + timedelta(seconds=LEASE_SECONDS))
            )
        if claimed == 1:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05 + secrets.randbelow(50) / 1000)


def lease_renew(frontend_id: int, owner: str) -> None:
    with _db():
        DeployLock.objects.filter(frontend_id=frontend_id, owner=owner).update(
            expires_at=timezone.now() + timedelta(seconds=LEASE_SECONDS)
        )


def lease_release(frontend_id: int, owner: str) -> None:
    with _db():
        DeployLock.objects.filter(frontend_id=frontend_id, owner=owner).update(owner="", expires_at=None)


# --- deployments -----------------------------------------------------------------------------------


def _enqueue(deployment_id: int) -> None:
    """Hand the deployment to the task backend. Runs on commit with robust=True: a queue that is down
    must not turn the user's saved change into an error; the deployment stays visible as queued."""
    from balancers.tasks import run_deployment  # noqa: PLC0415 - tasks imports this module

    try:
        run_deployment.enqueue(deployment_id)
    except Exception:
        log.exception("could not enqueue deployment #%s; it stays queued", deployment_id)
        Deployment.objects.filter(pk=deployment_id, status=DeploymentStatus.QUEUED).update(
            message="Could not be handed to the task queue; start a deployment again once the worker's queue is up."
        )


def request_automatic_deployment(*, actor: Actor) -> Deployment:
    """The config_changed hook: called inside the changing service's transaction. Reuses a still-queued
    automatic deployment (coalescing), else creates one and enqueues it when the transaction commits.

    The queued row is locked (select_for_update) until the caller commits, so a worker cannot claim it
    — and render — before this change is visible; the worker renders the state current when it runs."""
    with transaction.atomic():  # a savepoint inside the caller's transaction; a transaction of its own otherwise
        queued = (
            Deployment.objects.select_for_update()
            .filter(status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC)
            .order_by("-created_at", "-id")
            .first()
        )
        if queued is not None:
            return queued
        deployment = Deployment.objects.create(
            status=DeploymentStatus.QUEUED, trigger=DeploymentTrigger.AUTOMATIC, actor=str(actor)[:150]
        )
        transaction.on_commit(lambda: _enqueue(deployment.pk), robust=True)
        return deployment


def _host_rows(deployment: Deployment, frontends: Iterable[FrontEnd]) -> None:
    DeploymentHost.objects.bulk_create(
        [DeploymentHost(deployment=deployment, frontend=f, frontend_name=f.name) for f in frontends],
        ignore_conflicts=True,
    )


@transaction.atomic
def deployment_start(
    *,
    actor: Actor,
    trigger: str = DeploymentTrigger.MANUAL,
    frontends: Iterable[FrontEnd] | None = None,
    enqueue: bool = True,
) -> Deployment:
    """Queue a deployment of the current configuration to the given (default: every enabled) front-end.
    enqueue=False leaves it to the caller to run deployment_execute() (manage.py deploy, in the foreground)."""
    deployment = Deployment.objects.create(status=DeploymentStatus.QUEUED, trigger=trigger, actor=str(actor)[:150])
    if frontends is not None:
        chosen = list(frontends)
        if not chosen:
            raise ValueError("no front-end to deploy to")
        _host_rows(deployment, chosen)
    names = sorted(h.frontend_name for h in deployment.hosts.all()) or ["every enabled front-end"]
    audit.record(
        actor,
        "deployment.start",
        deployment,
        key=f"deployment #{deployment.pk}",
        before=None,
        after={"trigger": trigger, "frontends": names},
    )
    if enqueue:
        transaction.on_commit(lambda: _enqueue(deployment.pk), robust=True)
    return deployment


@transaction.atomic
def deployment_rollback(deployment: Deployment, *, actor: Actor) -> Deployment:
    """Queue a redeploy of exactly the trees an earlier deployment pushed, host by host."""
    hosts = [h for h in deployment.hosts.select_related("frontend") if h.tree_id and h.frontend_id]
    if not hosts:
        raise ValueError(f"deployment #{deployment.pk} has no stored tree to roll back to")
    rollback = Deployment.objects.create(
        status=DeploymentStatus.QUEUED,
        trigger=DeploymentTrigger.ROLLBACK,
        actor=str(actor)[:150],
        rollback_of=deployment,
        revision=deployment.revision,
        message=f"Rollback to deployment #{deployment.pk}",
    )
    DeploymentHost.objects.bulk_create(
        [
            DeploymentHost(deployment=rollback, frontend=h.frontend, frontend_name=h.frontend_name, tree_id=h.tree_id)
            for h in hosts
        ]
    )
    audit.record(
        actor,
        "deployment.rollback",
        rollback,
        key=f"deployment #{rollback.pk}",
        before=None,
        after={"rollback_of": deployment.pk, "frontends": sorted(h.frontend_name for h in hosts)},
    )
    transaction.on_commit(lambda: _enqueue(rollback.pk), robust=True)
    return rollback


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
        with _db():
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
                with _db():
                    tree = ConfigTree.objects.get(pk=host.tree_id).files
            else:
                with _db():
                    frontend.refresh_from_db()
                    snapshot = snapshots.after(leased_at)
                tree = render_for(frontend, snapshot)
                with _db():
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
                outcome = push_tree(
                    transport,
                    Target.of(frontend),
                    tree,
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
                output=_truncate(f"{outcome.output}\n{outcome.timings_line()}".strip()),
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
        _host_rows(deployment, FrontEnd.objects.filter(enabled=True))
    hosts = list(deployment.hosts.select_related("frontend").order_by("frontend_name"))
    snapshots = _SnapshotCache()
    workers = min(settings.HOSTPANEL_DEPLOY_PARALLELISM, len(hosts))
    if workers <= 1:
        statuses = [_deploy_host(deployment, h, snapshots, on_progress) for h in hosts]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy") as pool:
            statuses = list(pool.map(lambda h: _in_thread(_deploy_host, deployment, h, snapshots, on_progress), hosts))
    good = {HostStatus.SUCCEEDED, HostStatus.UNCHANGED}
    if all(s in good for s in statuses):
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


# --- diffs, drift and connection checks ------------------------------------------------------------


def tree_diff(old: dict[str, str], new: dict[str, str], *, old_label: str = "a", new_label: str = "b") -> str:
    """Unified diff of two trees, file by file, in path order (MANIFEST last)."""
    paths = sorted(set(old) | set(new), key=lambda p: (p == MANIFEST, p))
    chunks: list[str] = []
    for path in paths:
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        chunks.extend(
            difflib.unified_diff(
                (a or "").splitlines(keepends=True),
                (b or "").splitlines(keepends=True),
                fromfile=f"{old_label}/{path}" if a is not None else "/dev/null",
                tofile=f"{new_label}/{path}" if b is not None else "/dev/null",
            )
        )
        if chunks and not chunks[-1].endswith("\n"):
            chunks[-1] += "\n"
    return "".join(chunks)


def deployment_diff(a: Deployment, b: Deployment) -> str:
    """Unified diff between the trees two deployments pushed, per front-end."""
    trees_a = {h.frontend_name: h.tree.files for h in a.hosts.select_related("tree") if h.tree_id}
    trees_b = {h.frontend_name: h.tree.files for h in b.hosts.select_related("tree") if h.tree_id}
    out = []
    for name in sorted(set(trees_a) | set(trees_b)):
        diff = tree_diff(
            trees_a.get(name, {}), trees_b.get(name, {}), old_label=f"#{a.pk}/{name}", new_label=f"#{b.pk}/{name}"
        )
        if diff:
            out.append(diff)
    return "".join(out)


@dataclass(frozen=True)
class Drift:
    frontend: str
    changed: list[str]
    missing: list[str]
    extra: list[str]
    error: str = ""
    diff: str = ""

    @property
    def in_sync(self) -> bool:
        return not (self.changed or self.missing or self.extra or self.error)


def frontend_drift(frontend: FrontEnd, *, with_diff: bool = False) -> Drift:
    """Compare the live files on a front-end (each file's real content, not just its MANIFEST) with
    what the panel would render now."""
    tree = render_for(frontend)
    target = Target.of(frontend)
    try:
        transport = open_transport(frontend)
        try:
            live = read_live_tree(transport, target)
        finally:
            transport.close()
    except TransportError as exc:
        return Drift(frontend.name, [], [], [], error=exc.message)
    changed = sorted(p for p in tree if p in live and live[p] != tree[p])
    missing = sorted(p for p in tree if p not in live)
    extra = sorted(p for p in live if p not in tree)
    diff = tree_diff(live, tree, old_label="live", new_label="panel") if with_diff else ""
    return Drift(frontend.name, changed, missing, extra, diff=diff)


def frontend_pending_diff(frontend: FrontEnd) -> str:
    """What a deploy would change on this front-end now (a unified diff), without changing anything."""
    drift = frontend_drift(frontend, with_diff=True)
    if drift.error:
        raise TransportError(drift.error, retryable=True)
    return drift.diff


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    detail: str


def frontend_test_connection(frontend: FrontEnd) -> list[StepResult]:
    """For the UI's "Test connection" button: log in (pinned host key), look at config_dir, run configtest."""
    steps: list[StepResult] = []
    started = time.monotonic()
    try:
        transport = open_transport(frontend)
    except TransportError as exc:
        steps.append(StepResult("connect", False, exc.message))
        return steps
    try:
        how = "local transport" if frontend.transport == "local" else "SSH login with the pinned host key"
        steps.append(StepResult("connect", True, f"{how} ({time.monotonic() - started:.2f} s)"))
        target = Target.of(frontend)
        link = transport.readlink(target.config_dir)
        manifest = transport.read_file(f"{target.config_dir}/{MANIFEST}")
        if manifest is not None:
            detail = f"{target.config_dir} -> {link or '(a directory)'}, MANIFEST digest {_sha256(manifest)[:12]}"
        elif transport.exists(target.config_dir):
            detail = f"{target.config_dir} exists but was not deployed by HostPanel yet"
        else:
            detail = f"{target.config_dir} does not exist yet (the first deploy creates it)"
        steps.append(StepResult("config_dir", True, detail))
        result = transport.run(frontend.configtest_command, timeout=COMMAND_TIMEOUT)
        steps.append(StepResult("configtest", result.ok, _truncate(result.output or f"exit code {result.exit_code}")))
        if target.verify_url:
            ok, detail = url_answers(target.verify_url)
            steps.append(StepResult("http", ok, f"{target.verify_url}: {detail}"))
    except TransportError as exc:
        steps.append(StepResult("error", False, exc.message))
    finally:
        transport.close()
    return steps
