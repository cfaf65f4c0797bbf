"""Per-front-end leases: one deployment touches a front-end at a time, across workers and machines.

A lease is a `DeployLock` row claimed with a conditional UPDATE (free or expired -> ours), so it works
the same on PostgreSQL and SQLite.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from datetime import timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from balancers.models import DeployLock

LEASE_SECONDS = 600
LEASE_WAIT_SECONDS = 900.0

# SQLite (and its shared-cache in-memory test database, which does not wait for locks) cannot take
# writes from several threads at once: there, the deploy threads take turns for each query.
_SQLITE_GUARD = threading.RLock()


def db_guard():
    """A context manager around each query of a deploy thread: a lock on SQLite, nothing elsewhere."""
    return _SQLITE_GUARD if connection.vendor == "sqlite" else contextlib.nullcontext()


def lease_acquire(frontend_id: int, owner: str, *, wait: float = LEASE_WAIT_SECONDS) -> bool:
    """Claim the front-end's lease with a conditional UPDATE (free or expired -> ours); poll until
    `wait` seconds have passed. Works the same on PostgreSQL and SQLite."""
    with db_guard():
        DeployLock.objects.get_or_create(frontend_id=frontend_id)
    deadline = time.monotonic() + wait
    while True:
        now = timezone.now()
        with db_guard():
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
    with db_guard():
        DeployLock.objects.filter(frontend_id=frontend_id, owner=owner).update(
            expires_at=timezone.now() + timedelta(seconds=LEASE_SECONDS)
        )


def lease_release(frontend_id: int, owner: str) -> None:
    with db_guard():
        DeployLock.objects.filter(frontend_id=frontend_id, owner=owner).update(owner="", expires_at=None)
