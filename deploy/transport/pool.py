"""Which transport reaches a front-end, and the pool of idle SSH connections a worker reuses.

`open_transport(frontend)` is the one way to get a `Transport` for a front-end: SSH (deploy.transport.ssh),
or the panel's own host (deploy.transport.protocol.LocalTransport) for a front-end whose transport is
"local" — only when HOSTPANEL_LOCAL_TRANSPORT is on.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from django.conf import settings

from balancers.choices import TransportKind
from deploy.transport.protocol import LocalTransport, Transport, TransportError
from deploy.transport.ssh import SSHTransport

if TYPE_CHECKING:
    from balancers.models import FrontEnd


class ConnectionPool:
    """Idle SSH connections kept for reuse by the next deployment in this process (a worker runs
    many): a login costs ~0.2 s of key exchange, a reused connection ~1 ms of liveness probe.
    Keyed by everything that authenticates the connection, so a changed host key or client key
    never reuses an old one. At most one user per connection: take() removes it from the pool."""

    def __init__(self, idle_seconds: float = 60.0) -> None:
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: dict[tuple, list[tuple[SSHTransport, float]]] = {}

    @staticmethod
    def key(frontend: FrontEnd) -> tuple:
        return (
            frontend.address,
            frontend.ssh_port,
            frontend.ssh_user,
            (frontend.ssh_host_key or "").strip(),
            settings.HOSTPANEL_SSH_KEY,
        )

    def _expire(self) -> list[SSHTransport]:
        now, stale = time.monotonic(), []
        for key, entries in list(self._idle.items()):
            keep = [(t, since) for t, since in entries if now - since < self.idle_seconds]
            stale += [t for t, since in entries if now - since >= self.idle_seconds]
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        return stale

    def take(self, key: tuple) -> SSHTransport | None:
        with self._lock:
            stale = self._expire()
            entries = self._idle.get(key, [])
            candidate = entries.pop()[0] if entries else None
        for transport in stale:
            transport.close()
        if candidate is not None and candidate.probe():
            return candidate
        if candidate is not None:
            candidate.close()
        return None

    def give(self, key: tuple, transport: SSHTransport) -> None:
        if not transport.probe(quick=True):
            transport.close()
            return
        with self._lock:
            self._idle.setdefault(key, []).append((transport, time.monotonic()))

    def close_all(self) -> None:
        with self._lock:
            entries = [t for items in self._idle.values() for t, _ in items]
            self._idle.clear()
        for transport in entries:
            transport.close()


POOL = ConnectionPool()


def open_transport(frontend: FrontEnd, *, pooled: bool = False, **kwargs) -> Transport:
    """The transport for a front-end: LocalTransport for transport == "local", else SSH.
    pooled=True may return an idle connection from POOL; hand it back with release_transport()."""
    if frontend.transport == TransportKind.LOCAL:
        # defence in depth: a row planted past validation must not run commands or read files here
        if not settings.HOSTPANEL_LOCAL_TRANSPORT:
            raise TransportError(
                f"{frontend.name}: the local transport is off on this panel (HOSTPANEL_LOCAL_TRANSPORT)",
                retryable=False,
            )
        return LocalTransport(description=f"local ({frontend.name})")
    if pooled:
        reused = POOL.take(ConnectionPool.key(frontend))
        if reused is not None:
            return reused
    return SSHTransport.for_frontend(frontend, **kwargs)


def release_transport(frontend: FrontEnd, transport: Transport, *, healthy: bool) -> None:
    """Keep a healthy SSH connection for the next deployment; close anything else."""
    if healthy and isinstance(transport, SSHTransport):
        POOL.give(ConnectionPool.key(frontend), transport)
    else:
        transport.close()
