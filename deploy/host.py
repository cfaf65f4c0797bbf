"""One front-end's part of a deployment, recorded at every stage in its `DeploymentHost` row: take the
front-end's fenced lease, render the CURRENT state (a bad site row is left out alone), store the tree,
push it (deploy.release) with bounded retries of transient failures, and record which release
the host has activated."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from balancers.capacity import ApacheFacts
from balancers.choices import HostStage, HostStatus
from balancers.models import ActivatedRelease, ConfigTree, Deployment, DeploymentHost, FrontEnd
from deploy.leases import (
    LEASE_WAIT_SECONDS,
    Heartbeat,
    Lease,
    LeaseLost,
    db_call,
    lease_acquire,
    lease_release,
)
from deploy.plan import Target
from deploy.probes import push_and_probe
from deploy.release import Hooks, HostOutcome, truncate
from deploy.secrets import open_tree
from deploy.stored import routes_base_set, store_tree, stored_files
from deploy.transport.pool import open_transport, release_transport
from deploy.transport.protocol import TransportError
from deploy.trees import recently_rendered, render_result_for
from rendering.routes import ROUTES_MAP

log = logging.getLogger(__name__)

GOOD = frozenset({HostStatus.SUCCEEDED, HostStatus.UNCHANGED})


def record_activated(frontend: FrontEnd, lease: Lease, deployment: Deployment, digest: str, note: str = "") -> None:
    """What the host now serves, as far as the panel knows ("" = unknown). Fenced: a worker that lost
    the front-end writes nothing (the new holder records the truth)."""
    lease.check()
    tree_id = (
        db_call(lambda: ConfigTree.objects.filter(digest=digest).values_list("pk", flat=True).first())
        if digest
        else None
    )
    db_call(
        lambda: ActivatedRelease.objects.update_or_create(
            frontend_id=frontend.pk,
            defaults={
                "digest": digest,
                "tree_id": tree_id,
                "deployment": deployment,
                "changed_at": timezone.now(),
                "note": note[:300],
            },
        )
    )


def record_release_proof(frontend: FrontEnd, *, failure: str, facts: ApacheFacts | None = None) -> None:
    """A deployment's proof that HostPanel's vhost answers on every listener (deploy.vhost_proof), kept in
    FrontEnd.apache_facts: "" when it did, else why not, with the facts read then (they name the vhost that
    answers instead). While it fails, no site counts as live on this front-end (sites.selectors)."""
    stored = FrontEnd.objects.filter(pk=frontend.pk).values_list("apache_facts", flat=True).first()
    base = facts if facts is not None else ApacheFacts.from_json(stored)
    proven_at = timezone.now().isoformat(timespec="seconds")
    data = replace(base, release_proof=failure[:2000], proven_at=proven_at).as_json()
    FrontEnd.objects.filter(pk=frontend.pk).update(apache_facts=data)


def _backoff(attempt: int) -> float:
    base = settings.HOSTPANEL_DEPLOY_RETRY_BACKOFF * 2 ** (attempt - 1)
    return base * (1 + secrets.randbelow(250) / 1000)  # up to 25 % jitter: retries of many hosts spread out


def push_with_retries(frontend: FrontEnd, tree: dict[str, str], lease: Lease, hooks: Hooks) -> HostOutcome:
    """Connect and push; a transient failure (refused/timed-out/dropped connection: TransportError with
    retryable=True, after which the host was left as it was or put back) is tried again up to
    HOSTPANEL_DEPLOY_RETRIES times with a doubling wait. Permanent ones (host key mismatch, refused
    login, configtest failure) are not. Each attempt reads the host once (deploy.plan)."""
    notes: list[str] = []
    attempt = 0
    touched: HostOutcome | None = None  # the last attempt that changed the host
    while True:
        attempt += 1
        hooks.attempt(attempt)
        try:
            transport = open_transport(frontend, pooled=attempt == 1)
        except TransportError as exc:
            outcome = HostOutcome(
                status=HostStatus.FAILED,
                stage=HostStage.CONNECT,
                error=f"{exc.message}; the live config was not touched.",
                retryable=exc.retryable,
            )
        else:
            try:
                # release.push_tree + the post-deploy probes, on one read of the host (deploy.plan)
                target, known = Target.of(frontend), recently_rendered(frontend)
                outcome = push_and_probe(transport, target, tree, frontend=frontend, hooks=hooks, known=known)
            except BaseException:
                transport.close()
                raise
            release_transport(frontend, transport, healthy=outcome.status in GOOD)
        if outcome.touched:
            touched = outcome
        elif touched is not None and outcome.stage == HostStage.CONNECT:  # never reached the host again
            outcome.touched, outcome.activated = True, touched.activated
        if outcome.status != HostStatus.FAILED or not outcome.retryable or attempt > settings.HOSTPANEL_DEPLOY_RETRIES:
            break
        try:
            lease.check()
        except LeaseLost:
            break
        notes.append(f"attempt {attempt} failed: {outcome.error}")
        time.sleep(_backoff(attempt))
    if notes:
        outcome.output = "\n".join([*notes, outcome.output]).strip()
        if outcome.status not in GOOD:
            outcome.error = f"after {attempt} attempts: {outcome.error}"
    return outcome


class _Storing:
    """store_tree in a thread of its own, so the tree is written to the database while its release uploads
    (the panel only waits for the front-end there). Inside a caller's transaction (a test's, a command's)
    it is stored at once instead: another thread's connection could not see that transaction's rows.
    `result()` waits for it and raises what the store raised."""

    def __init__(self, tree: dict[str, str], new_base: str | None = None, lineage: str = "") -> None:
        self.tree, self.new_base, self.lineage, self.seconds = tree, new_base, lineage, 0.0
        self._row: ConfigTree | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if connection.in_atomic_block:
            self._store()
        else:
            self._thread = threading.Thread(target=self._in_thread, name="store-tree", daemon=True)
            self._thread.start()

    def _store(self) -> None:
        started = time.monotonic()
        try:
            self._row = db_call(lambda: store_tree(self.tree, lineage=self.lineage))
            # this tree starts a new base of the routing map: later renders use it
            if (new_base := self.new_base) is not None:
                db_call(lambda: routes_base_set(new_base))
        except BaseException as exc:  # noqa: BLE001 - handed to the deploy thread by result()
            self._error = exc
        finally:
            self.seconds = time.monotonic() - started

    def _in_thread(self) -> None:
        try:
            self._store()
        finally:
            connection.close()  # the thread's own connection

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def result(self) -> ConfigTree:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._row is not None
        return self._row


def deploy_host(
    deployment: Deployment, host: DeploymentHost, snapshots, heartbeat: Heartbeat, on_progress: Callable | None
) -> tuple[str, list[dict]]:
    """One front-end of a deployment; returns its status and the sites left out of its tree."""
    owner = f"deployment-{deployment.pk}-{secrets.token_hex(4)}"
    started = time.monotonic()
    frontend = host.frontend

    def save(**fields) -> None:
        for name, value in fields.items():
            setattr(host, name, value)
        db_call(lambda: DeploymentHost.objects.filter(pk=host.pk).update(**fields))
        if on_progress:
            on_progress(host)

    try:
        if frontend is None:
            save(status=HostStatus.FAILED, error="the front-end was deleted", finished_at=timezone.now())
            return HostStatus.FAILED, []
        save(status=HostStatus.RUNNING)
        lease = lease_acquire(frontend.pk, owner)
        if lease is None:
            save(
                status=HostStatus.FAILED,
                error=f"another deployment kept {frontend.name} busy for {LEASE_WAIT_SECONDS:g} s",
                retryable=True,
                finished_at=timezone.now(),
            )
            return HostStatus.FAILED, []
        heartbeat.add(lease)
        try:
            return _leased(deployment, host, frontend, lease, snapshots, save, started)
        finally:
            heartbeat.remove(lease)
            lease_release(frontend.pk, owner)
    except Exception as exc:  # a bug or a lost database must still end the host's row when it can
        log.exception("deploying to %s failed", host.frontend_name)
        try:
            save(
                status=HostStatus.FAILED,
                error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=timezone.now(),
                duration=time.monotonic() - started,
            )
        except DatabaseError:
            log.exception("could not record the failure of %s; the reaper will", host.frontend_name)
        return HostStatus.FAILED, []


def _leased(deployment, host, frontend, lease: Lease, snapshots, save, started: float) -> tuple[str, list[dict]]:
    leased_at = time.monotonic()
    save(stage=HostStage.RENDER, started_at=timezone.now())  # started = holding the front-end's lease
    left_out: list[dict] = []
    marks = [time.monotonic()]
    storing: _Storing | None = None  # rendered here: stored while its release uploads
    if host.tree_id:  # rollback: exactly the stored files
        tree = db_call(lambda: open_tree(stored_files(ConfigTree.objects.get(pk=host.tree_id))))  # keys opened again
        marks += [marks[0], time.monotonic()]
    else:
        db_call(frontend.refresh_from_db)  # every query of a deploy thread goes through db_call
        snapshot = snapshots.after(leased_at)
        marks.append(time.monotonic())
        result = render_result_for(frontend, snapshot)
        tree = result.tree
        left_out = [{"site": p.site, "reason": p.reason, "kept": p.kept} for p in result.problems]
        marks.append(time.monotonic())
        base = tree.get(ROUTES_MAP)
        new_base = base if base is not None and base is not snapshot.routes_base else None
        storing = _Storing(tree, new_base, lineage=frontend.name)  # stored as its changes (deploy.stored)
        save(left_out=left_out)
    before_push = {"snapshot": marks[1] - marks[0], "render": marks[2] - marks[1]}

    def stored_before_swap() -> None:  # the switch waits for the stored tree: a switched host has its row
        if storing is not None and host.tree_id is None:
            save(tree=storing.result())

    def progress(stage: str) -> None:  # the fence at every stage: still ours? (one conditional UPDATE)
        lease.renew_and_check()
        save(stage=stage)
        if stage == HostStage.SWAP:  # from here until the outcome, what the host serves is not known
            record_activated(frontend, lease, deployment, "", f"switching release (deployment #{deployment.pk})")

    hooks = Hooks(
        progress=progress,
        fence=lease.check,
        reconnect=lambda: open_transport(frontend),
        before_swap=stored_before_swap,
        attempt=lambda n: save(stage=HostStage.CONNECT, attempts=n),
    )
    try:
        outcome = push_with_retries(frontend, tree, lease, hooks)
        try:
            stored_before_swap()  # a host left unchanged (or not reached) records the tree too
        except Exception:
            if outcome.touched or outcome.status != HostStatus.FAILED:
                raise
            # the push stopped before the switch on this very error: its outcome says so already
    finally:
        if storing is not None:
            storing.join()
    if storing is not None:
        before_push["store"] = storing.seconds  # overlapped the upload
    outcome.timings = {**before_push, **outcome.timings}
    if outcome.touched or outcome.status in GOOD:
        try:
            note = "" if outcome.activated else f"unknown after deployment #{deployment.pk}: {outcome.error}"
            record_activated(frontend, lease, deployment, outcome.activated, note)
        except LeaseLost:
            outcome.error = (outcome.error + " (the lease was lost: the host's state was not recorded)").strip()
    if outcome.proof is not None:  # the verify step asked whether HostPanel's vhost answers on each listener
        facts = ApacheFacts.from_json(outcome.apache_facts) if outcome.apache_facts is not None else None
        db_call(lambda: record_release_proof(frontend, failure=outcome.proof or "", facts=facts))
    error = outcome.error
    if left_out and outcome.status in GOOD:
        error = "Left out of this tree (previous file kept where there was one): " + "; ".join(
            f"{p['site']}: {p['reason']}" for p in left_out
        )
    save(  # still holding the lease: finished_at is before the next deployment's started_at
        status=outcome.status,
        stage=outcome.stage,
        change_kind=outcome.change,
        files_uploaded=outcome.files_uploaded,
        bytes_uploaded=outcome.bytes_uploaded,
        error=error,
        retryable=outcome.retryable,
        finished_at=timezone.now(),
        duration=time.monotonic() - leased_at,
        output=truncate(f"{outcome.output}\n{outcome.timings_line()}".strip()),
    )
    return outcome.status, left_out
