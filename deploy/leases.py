"""Per-front-end leases, fenced: one deployment touches a front-end at a time, across workers and machines,
and a worker that lost its lease stops before it touches the host again.

A lease is a `DeployLock` row claimed with a conditional UPDATE (free or expired -> ours) that also bumps
its fencing `token`; every renewal is conditional on (owner, token), so a holder whose lease expired and
was taken by another worker learns it at its next renewal. `Lease.check()` runs before every stage and
before any restore: it raises `LeaseLost` when the database said the lease is gone, or when the last
renewal that reached the database is too old to be sure (the database itself may be unreachable).

`Heartbeat` renews, every quarter of HOSTPANEL_DEPLOY_LEASE_SECONDS, the running deployment's own lease
(`Deployment.lease_expires_at`, which the reaper reads) and every front-end lease the deployment holds,
so a stage that runs long (a slow configtest) never loses its host, and a killed worker's rows are
found by the reaper within one lease.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.models import F, Q
from django.utils import timezone

from balancers.choices import DeploymentStatus
from balancers.models import DeployLock, Deployment

log = logging.getLogger(__name__)

LEASE_WAIT_SECONDS = 900.0

# SQLite (and its shared-cache in-memory test database, which does not wait for locks) cannot take
# writes from several threads at once: there, the deploy threads take turns for each query.
_SQLITE_GUARD = threading.RLock()


class LeaseLost(Exception):  # noqa: N818 - the name says what happened
    """This worker no longer holds the front-end: it must not touch the host again."""


def lease_seconds() -> int:
    return settings.HOSTPANEL_DEPLOY_LEASE_SECONDS


def db_guard():
    """A context manager around each query of a deploy thread: a lock on SQLite, nothing elsewhere."""
    return _SQLITE_GUARD if connection.vendor == "sqlite" else contextlib.nullcontext()


def db_call[T](fn: Callable[[], T]) -> T:
    """Run one database call of a deploy thread; a dropped connection (the server restarted, a
    proxy cut it) is replaced once and the call tried again. Outside a transaction only."""
    for attempt in (1, 2):
        try:
            with db_guard():
                return fn()
        except (OperationalError, InterfaceError):
            if attempt == 2 or connection.in_atomic_block:
                raise
            log.warning("database connection lost in a deploy thread; reconnecting once")
            with contextlib.suppress(DatabaseError):
                connection.close()
            time.sleep(0.2)
    raise AssertionError("unreachable")


class Lease:
    """One worker's hold on one front-end, with its fencing token."""

    def __init__(self, frontend_id: int, owner: str, token: int, renewed_at: float) -> None:
        self.frontend_id = frontend_id
        self.owner = owner
        self.token = token
        self.valid_until = renewed_at + lease_seconds()
        self.lost = False

    def renew(self) -> bool:
        """Extend the lease if it is still ours. A database error leaves the local bound as it was."""
        if self.lost:
            return False
        started = time.monotonic()
        try:
            renewed = db_call(
                lambda: DeployLock.objects.filter(
                    frontend_id=self.frontend_id, owner=self.owner, token=self.token
                ).update(expires_at=timezone.now() + timedelta(seconds=lease_seconds()))
            )
        except DatabaseError as exc:
            log.warning("could not renew the lease on front-end %s: %s", self.frontend_id, exc)
            return False
        if renewed != 1:
            self.lost = True
            return False
        self.valid_until = started + lease_seconds()
        return True

    def check(self) -> None:
        """Raise LeaseLost unless this worker surely still holds the front-end."""
        margin = min(5.0, lease_seconds() / 4)
        if self.lost:
            raise LeaseLost(f"the lease on the front-end was taken over (token {self.token} is stale)")
        if time.monotonic() > self.valid_until - margin:
            raise LeaseLost("the lease on the front-end could not be renewed in time (database unreachable?)")

    def renew_and_check(self) -> None:
        self.renew()
        self.check()


def lease_acquire(frontend_id: int, owner: str, *, wait: float = LEASE_WAIT_SECONDS) -> Lease | None:
    """Claim the front-end's lease with a conditional UPDATE (free or expired -> ours, token + 1); poll
    until `wait` seconds have passed. Works the same on PostgreSQL and SQLite."""
    db_call(lambda: DeployLock.objects.get_or_create(frontend_id=frontend_id))
    deadline = time.monotonic() + wait
    while True:
        started = time.monotonic()
        now = timezone.now()

        def claim(now: datetime = now) -> int:
            return (
                DeployLock.objects.filter(frontend_id=frontend_id)
                .filter(Q(owner="") | Q(expires_at__lt=now))
                .update(
                    owner=owner,
                    acquired_at=now,
                    expires_at=now + timedelta(seconds=lease_seconds()),
                    token=F("token") + 1,
                )
            )

        claimed = db_call(claim)
        if claimed == 1:
            # .get(), not a lazy queryset: the query must run inside db_call (on SQLite, under its lock)
            token = db_call(lambda: DeployLock.objects.values_list("token", flat=True).get(frontend_id=frontend_id))
            return Lease(frontend_id, owner, token, started)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05 + secrets.randbelow(50) / 1000)


def lease_release(frontend_id: int, owner: str) -> None:
    with contextlib.suppress(DatabaseError):  # an unreleased lease simply expires
        db_call(
            lambda: DeployLock.objects.filter(frontend_id=frontend_id, owner=owner).update(owner="", expires_at=None)
        )


class Heartbeat:
    """Renews a running deployment's lease and the front-end leases it holds, in a thread of its own."""

    def __init__(self, deployment_id: int) -> None:
        self.deployment_id = deployment_id
        self._leases: dict[int, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{deployment_id}", daemon=True)

    def add(self, lease: Lease) -> None:
        with self._lock:
            self._leases[lease.frontend_id] = lease

    def remove(self, lease: Lease) -> None:
        with self._lock:
            self._leases.pop(lease.frontend_id, None)

    def beat(self) -> None:
        with contextlib.suppress(DatabaseError):
            db_call(
                lambda: Deployment.objects.filter(pk=self.deployment_id, status=DeploymentStatus.RUNNING).update(
                    lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds())
                )
            )
        with self._lock:
            leases = list(self._leases.values())
        for lease in leases:
            lease.renew()

    def _run(self) -> None:
        try:
            while not self._stop.wait(lease_seconds() / 4):
                self.beat()
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
