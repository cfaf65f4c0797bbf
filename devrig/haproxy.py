"""Debian's HAProxy as a TLS edge, for measuring (bench/https.py --part edge): TLS terminated with every
certificate of a crt-list, requests handed to a backend on loopback; certificates added at run time through
the runtime API (`new ssl cert`, `set ssl cert`, `commit ssl cert`, `add ssl crt-list`), no reload.
Not part of the product (README "HTTPS at scale": the measured path to a certificate live without a reload).

API (keep it small)::

    edge = HaproxyEdge(workdir, backend_port).start(certificates)  # {name: PEM of key + certificate + chain}
    edge.port                     # the TLS listener on 127.0.0.1
    edge.add_certificate(name, pem)   # written to disk, then added at run time (4 runtime commands)
    edge.command("show ssl cert")     # one runtime API command on the admin socket
    edge.rss_mb()                 # RSS of every haproxy process
    edge.stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from devrig.net import free_port


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if os.path.exists(p)), None)


class HaproxyEdge:
    def __init__(self, workdir: Path, backend_port: int) -> None:
        self.workdir = Path(workdir)
        self.backend_port = backend_port
        self.port = free_port()
        self.certs = self.workdir / "certs"
        self.crt_list = self.workdir / "crt-list.txt"
        self.socket = self.workdir / "admin.sock"
        self.conf = self.workdir / "haproxy.cfg"
        self.process: subprocess.Popen | None = None

    def _config(self) -> str:
        return f"""global
    stats socket {self.socket} mode 600 level admin expose-fd listeners
    maxconn 2000
    nbthread 2
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend tls
    bind 127.0.0.1:{self.port} ssl crt-list {self.crt_list} alpn h2,http/1.1
    http-request set-header X-Forwarded-Proto https
    default_backend apache
backend apache
    server apache 127.0.0.1:{self.backend_port}
"""

    def start(self, certificates: dict[str, str], timeout: float = 600) -> HaproxyEdge:
        """Write every certificate (one PEM file each, key included) and the crt-list, start, wait for the socket."""
        binary = haproxy_binary()
        if binary is None:
            raise RuntimeError("haproxy is not installed (apt-get install haproxy)")
        self.certs.mkdir(parents=True, exist_ok=True)
        lines = []
        for name, pem in sorted(certificates.items()):
            path = self.certs / f"{name}.pem"
            path.write_text(pem)
            lines.append(f"{path}\n")
        self.crt_list.write_text("".join(lines))
        self.conf.write_text(self._config())
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary and our own config
            [binary, "-db", "-f", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                self.command("show info")
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def command(self, line: str, payload: str | None = None) -> str:
        """One runtime API command (with a `<<` payload when given): its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(60)
            sock.connect(str(self.socket))
            text = f"{line} <<\n{payload.rstrip()}\n\n" if payload is not None else f"{line}\n"
            sock.sendall(text.encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def add_certificate(self, name: str, pem: str) -> None:
        """The certificate on disk (a restart keeps it) and in the running process: no reload."""
        path = self.certs / f"{name}.pem"
        path.write_text(pem)
        with self.crt_list.open("a") as fh:
            fh.write(f"{path}\n")
        for line, payload in (
            (f"new ssl cert {path}", None),
            (f"set ssl cert {path}", pem),
            (f"commit ssl cert {path}", None),
            (f"add ssl crt-list {self.crt_list}", str(path)),
        ):
            answer = self.command(line, payload)
            if any(word in answer.lower() for word in ("error", "unknown", "can't", "cannot", "failed")):
                raise RuntimeError(f"{line}: {answer.strip()}")

    def rss_mb(self) -> float:
        if self.process is None:
            return 0.0
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(entry) != self.process.pid and int(fields[1]) != self.process.pid:
                    continue
                with open(f"/proc/{entry}/smaps_rollup") as fh:
                    total += next(int(line.split()[1]) for line in fh if line.startswith("Rss:"))
            except (OSError, StopIteration):
                continue
        return total / 1024

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)  # soft stop
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
