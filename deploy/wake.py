"""Waking idle deploy workers the moment a deployment is queued (the database queue is polled otherwise).

    with WakeListener() as wake:      # manage.py deploy_worker
        while running:
            run_queued_tasks()
            wake.wait(interval)       # returns at once when notified, else after `interval`
    notify_workers()                  # deploy.queue, once the queue took a deployment

Each listening worker binds a Unix datagram socket in HOSTPANEL_WAKE_DIR (0700, the panel's own
directory); notifying sends one empty datagram to each. A channel keeps kinds of workers apart: the
deploy workers listen in the directory itself (DEPLOY), the ACME worker of `manage.py renew_certificates
--loop` in its `acme/` subdirectory (ACME: woken when a certificate is due at once, certificates.wake).
A datagram carries nothing but "look at your queue now": a process that can write there can only make a
worker look once more. Workers on other machines (PostgreSQL) are not reached this way: they poll every
HOSTPANEL_WORKER_INTERVAL seconds, or use the RQ backend, which delivers at once. Measured idle cost
(bench notes in the README): a 0.05 s poll costs 4 % of a core; a woken worker with a 1 s fallback
poll 0.35 %.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import socket
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

SUFFIX = ".wake"
DEPLOY = ""  # the deploy workers: HOSTPANEL_WAKE_DIR itself
ACME = "acme"  # the ACME worker (certificates)


def wake_dir(channel: str = DEPLOY) -> Path:
    base = Path(settings.HOSTPANEL_WAKE_DIR)
    return base / channel if channel else base


def notify_workers(channel: str = DEPLOY) -> int:
    """Wake every worker listening on the channel on this machine; returns how many were reached. Never raises."""
    directory = wake_dir(channel)
    try:
        entries = [p for p in directory.iterdir() if p.name.endswith(SUFFIX)]
    except OSError:
        return 0
    reached = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for path in entries:
            try:
                sock.sendto(b"", str(path))
                reached += 1
            except (ConnectionRefusedError, FileNotFoundError):  # a worker that died without cleaning up
                with contextlib.suppress(OSError):
                    path.unlink()
            except BlockingIOError:  # its queue of wake-ups is full: it is awake already
                reached += 1
            except OSError as exc:
                log.warning("could not wake the worker at %s: %s", path, exc)
    return reached


class WakeListener:
    """One worker's wake-up socket (a context manager: the socket file is removed on exit)."""

    def __init__(self, channel: str = DEPLOY) -> None:
        self.path = wake_dir(channel) / f"{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        self.sock: socket.socket | None = None

    def __enter__(self) -> WakeListener:
        wake_dir().mkdir(mode=0o700, parents=True, exist_ok=True)  # parents=True alone would make it 0755
        self.path.parent.mkdir(mode=0o700, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)
        return self

    def wait(self, timeout: float) -> bool:
        """Wait until notified (True) or `timeout` seconds passed (False); pending wake-ups are drained."""
        assert self.sock is not None, "use WakeListener as a context manager"
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while True:
                self.sock.recv(16)
        return True

    def __exit__(self, *exc) -> None:
        if self.sock is not None:
            self.sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
