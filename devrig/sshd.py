"""A real OpenSSH server on 127.0.0.1: a front-end's or a Zope host's SSH for the tests and the benchmarks.

`SshServer(tmp_dir).start()` runs `/usr/sbin/sshd -D -f <generated config>` on a free port with a
generated ed25519 host key; the login user is the current user (root here) and the only accepted
key is a generated client key, listed in an AuthorizedKeysFile under tmp_dir. `stop()` (call it in
a finalizer) kills the listener AND its per-connection children, which is also how a test drops a
connection mid-transfer.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import subprocess
import time
from pathlib import Path

from devrig.net import free_port, tcp_reachable
from devrig.parts import find_binary


def generate_key(path: Path, comment: str = "hostpanel-test") -> str:
    """Create an ed25519 key pair at path (+ .pub); return the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return Path(f"{path}.pub").read_text().strip()


def _descendants(pid: int) -> list[int]:
    """All processes below pid (sshd's connection children call setsid, so a process group kill misses them)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class SshServer:
    def __init__(self, base: Path, *, client_key: Path | None = None) -> None:
        self.sshd = find_binary("sshd")
        find_binary("ssh-keygen")
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key_path = self.base / "ssh_host_ed25519_key"
        self.host_key = generate_key(self.host_key_path, "hostpanel-test-host")
        if client_key is None:
            client_key = self.base / "client_key"
            generate_key(client_key, "hostpanel-test-client")
        self.client_key_path = client_key
        self.authorized_keys = self.base / "authorized_keys"
        self.authorized_keys.write_text(Path(f"{client_key}.pub").read_text())
        self.config = self.base / "sshd_config"
        self.log = self.base / "sshd.log"
        self.home = self.base / "home"
        self.home.mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None

    def write_config(self) -> None:
        sftp = "internal-sftp"  # no shell start-up per SFTP session
        self.config.write_text(
            f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key_path}
PidFile {self.base / "sshd.pid"}
AuthorizedKeysFile {self.authorized_keys}
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers {self.user}
MaxSessions 50
MaxStartups 50
LogLevel ERROR
# A clean login environment: the login user's own ~/.bashrc (here root's, with pyenv init) would
# add ~0.5 s to every command; a real front-end's deploy user has no such start-up cost.
SetEnv HOME={self.home}
Subsystem sftp {sftp}
"""
        )

    def start(self, timeout: float = 10.0) -> SshServer:
        self.write_config()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.sshd, "-D", "-e", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not tcp_reachable("127.0.0.1", self.port, timeout=0.2):
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd did not listen on {self.port} within {timeout} s")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """Kill sshd and every connection it serves, at once (SIGKILL): a dropped connection."""
        if self.proc is None:
            return
        for pid in [*_descendants(self.proc.pid), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        elif self.proc is not None:
            for pid in _descendants(self.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc = None
