"""What the rig's daemons (devrig.apache, devrig.nginx) share: a process that writes a pid file and names its
own config file on its command line, so that only the instance a test started is ever signalled."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie is gone for our purposes)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(parent: int) -> list[int]:
    """The pids whose parent is `parent` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == parent:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


class PidFileDaemon:
    """A daemon started with `conf` (its config file) that writes `pid_file` (set by the subclass)."""

    conf: Path
    pid_file: Path

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and alive(pid) and self._owns(pid)

    def _owns(self, pid: int) -> bool:
        """Its command line names our config file (a pid file may outlive its process, and pids are reused)."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                return str(self.conf).encode() in fh.read()
        except OSError:
            return False
