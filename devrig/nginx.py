"""The one standalone nginx launcher: a front-end's TLS edge (FrontEnd.tls_edge = "nginx") for the tests, the
fleet and the benchmarks. No SSH here: this only runs the local nginx binary.

A front-end's nginx includes HostPanel's edge config inside its `http {}` block with a glob
(`include <config_dir>/edge/*.conf;`), so it starts before the first deploy (nothing to include, nothing
listened on) and serves HTTPS once a deployment wrote edge/nginx.conf and ran the edge's reload command.
The certificates are read per handshake (`ssl_certificate` with variables): a new one needs no reload.

API (keep it small)::

    nginx = StandaloneNginx(workdir, config_dir, listen="127.0.0.1:PORT")   # listen: FrontEnd.https_listen
    nginx.configtest_command      # "nginx -p WORKDIR/ -c CONF -e LOG -t": FrontEnd.edge_configtest_command
    nginx.reload_command          # "... -s reload": FrontEnd.edge_reload_command
    nginx.configtest()            # CheckResult(ok, output, seconds) of `nginx -t`
    nginx.start()                 # writes workdir/nginx.conf, starts (daemon), waits for its workers
    nginx.reload()                # `-s reload`, waits until the new workers run
    nginx.stop()                  # SIGTERM to its master (then SIGKILL to it and its workers), waits until gone
    nginx.running, nginx.pid()    # its master process is alive (also from another process, by the pid file)
    nginx.reloads()               # how many reloads it took (HUP: "reconfiguring" in its error log)
    nginx.wait_until_settled()    # every reload sent (by a deployment) applied, the listener answering
    nginx.generations()           # start + every reload that started new workers
    nginx.rss_mb()                # RSS of the master and its workers
    nginx.error_log()             # text of its error log (notice level: starts and reloads are in it)
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from devrig.apache import CheckResult
from devrig.daemon import PidFileDaemon, alive, children
from devrig.net import tcp_reachable
from devrig.parts import MissingPart

TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str | None:
    """The nginx binary, or None when nginx is not installed."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def standalone_config(*, workdir: Path, config_dir: Path, worker_processes: int = 1) -> str:
    """The text of a minimal main config for `nginx -c`: pid, error log and every temp path under workdir, and
    HostPanel's edge include inside `http {}` (a glob: nothing deployed yet is no error). When we are root,
    the workers run as root too: they read the tree's 0640 root-owned keys at each handshake."""
    workdir, config_dir = Path(workdir), Path(config_dir)
    lines = [
        "# Throwaway standalone nginx written by devrig/nginx.py",
        f"pid {workdir}/nginx.pid;",
        f"error_log {workdir}/error.log notice;",  # notice: starts and reloads are counted from it
        f"worker_processes {worker_processes};",
    ]
    if os.geteuid() == 0:  # without it the workers would run as nobody (the directive warns when not root)
        lines.append(f"user {pwd.getpwuid(os.geteuid()).pw_name};")
    lines += ["events {", "    worker_connections 1024;", "}", "http {", "    access_log off;"]
    lines += [f"    {name}_temp_path {workdir}/temp/{name};" for name in TEMP_PATHS]
    lines += [f"    include {config_dir}/edge/*.conf;", "}"]
    return "\n".join(lines) + "\n"


class NginxError(RuntimeError):
    pass


class StandaloneNginx(PidFileDaemon):
    """`nginx -p workdir/ -c workdir/nginx.conf` including config_dir/edge/*.conf in its http block."""

    def __init__(
        self,
        workdir: Path,
        config_dir: Path,
        listen: str = "",
        *,
        binary: str | None = None,
        worker_processes: int = 1,
    ) -> None:
        """listen: the address the deployed edge config listens on (FrontEnd.https_listen), waited for after a
        start or reload once an edge config is deployed."""
        self.binary = binary or nginx_binary()
        if not self.binary:
            raise MissingPart("nginx is not installed (apt-get install -y nginx)")
        self.workdir = Path(workdir)
        self.config_dir = Path(config_dir)
        self.listen = listen
        self.worker_processes = worker_processes
        self.conf = self.workdir / "nginx.conf"
        self.pid_file = self.workdir / "nginx.pid"
        self.error_log_path = self.workdir / "error.log"

    # -- the commands a FrontEnd runs (over SSH on a fleet host) ------------------------------------------
    def _argv(self, *args: str) -> list[str]:
        # -e: the error log before the config is read (Debian's default /var/log/nginx is not ours)
        prefix = f"{self.workdir}/"
        return [self.binary, "-p", prefix, "-c", str(self.conf), "-e", str(self.error_log_path), *args]

    @property
    def configtest_command(self) -> str:
        return shlex.join(self._argv("-t"))

    @property
    def reload_command(self) -> str:
        return shlex.join(self._argv("-s", "reload"))

    def write_config(self) -> StandaloneNginx:
        """Write workdir/nginx.conf (start() and configtest() do it when it is missing)."""
        for name in TEMP_PATHS:
            (self.workdir / "temp" / name).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            standalone_config(workdir=self.workdir, config_dir=self.config_dir, worker_processes=self.worker_processes),
            encoding="utf-8",
        )
        return self

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - our binary and our own config
            self._argv(*args), capture_output=True, text=True, timeout=timeout, env=_clean_env()
        )

    def configtest(self) -> CheckResult:
        if not self.conf.exists():
            self.write_config()
        started = time.monotonic()
        proc = self._run("-t")
        return CheckResult(proc.returncode == 0, (proc.stdout + proc.stderr).strip(), time.monotonic() - started)

    # -- state --------------------------------------------------------------------------------------------
    def error_log(self) -> str:
        return self.error_log_path.read_text(errors="replace") if self.error_log_path.exists() else ""

    def reloads(self) -> int:
        """How many reload signals (HUP) the master took."""
        return sum(1 for line in self.error_log().splitlines() if line.endswith(": reconfiguring"))

    def generations(self) -> int:
        """How many times the master started workers (start + every reload that was applied)."""
        return self.error_log().count(": start worker processes")

    def processes(self) -> list[int]:
        """The master and its workers (and cache helpers)."""
        master = self.pid()
        if master is None or not self.running:
            return []
        return [master, *children(master)]

    def rss_mb(self) -> float:
        total = 0
        for pid in self.processes():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as fh:
                    total += next(int(line.split()[1]) for line in fh if line.startswith("Rss:"))
            except (OSError, StopIteration):
                continue
        return total / 1024

    def port(self) -> int | None:
        return int(self.listen.split()[0].rpartition(":")[2]) if self.listen else None

    def edge_deployed(self) -> bool:
        """Whether the include glob matches a file now (else nginx listens on nothing)."""
        return any((self.config_dir / "edge").glob("*.conf"))

    # -- start, reload, stop ------------------------------------------------------------------------------
    def start(self, timeout: float = 30) -> StandaloneNginx:
        if self.running:
            raise NginxError(f"nginx already running with {self.conf}")
        if not self.conf.exists():
            self.write_config()
        before = self.generations()
        proc = self._run(timeout=max(60.0, timeout))  # daemonizes: returns once the master runs
        if proc.returncode != 0:
            raise NginxError(f"nginx failed to start: {proc.stdout}{proc.stderr}\n{self.error_log()[-3000:]}")
        self._wait(lambda: self.running and self.generations() > before, timeout, "its workers")
        self.wait_until_answering(timeout)
        return self

    def reload(self, timeout: float = 30) -> None:
        """`nginx -s reload` (what FrontEnd.edge_reload_command runs), then wait until the new workers run."""
        before = self.generations()
        proc = self._run("-s", "reload", timeout=max(60.0, timeout))
        if proc.returncode != 0:
            raise NginxError(f"nginx -s reload failed: {proc.stdout}{proc.stderr}\n{self.error_log()[-3000:]}")
        self._wait(lambda: self.generations() > before, timeout, "the reload")
        self.wait_until_answering(timeout)

    def wait_until_settled(self, timeout: float = 30) -> None:
        """Wait until every reload signal sent so far (e.g. by the edge reload command, over SSH) started its
        workers, and the listener answers: `nginx -s reload` returns before the master has read the config."""
        self._wait(lambda: self.generations() > self.reloads(), timeout, "the reloads to apply")
        self.wait_until_answering(timeout)

    def wait_until_answering(self, timeout: float = 30) -> None:
        port = self.port()
        if port is not None and self.edge_deployed():
            self._wait(lambda: tcp_reachable("127.0.0.1", port, timeout=0.5), timeout, f"port {port} to answer")

    def stop(self, timeout: float = 20) -> bool:
        """SIGTERM to this instance's master (fast shutdown), then SIGKILL to it and its workers if they
        linger. Only a pid whose command line names our nginx.conf is signalled. True if it was running."""
        pid = self.pid()
        if pid is None or not alive(pid) or not self._owns(pid):
            return False
        workers = children(pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        for straggler in (pid, *workers):  # a SIGKILLed master leaves its workers behind: they go too
            if alive(straggler) and _is_nginx(straggler):
                os.kill(straggler, signal.SIGKILL)
        return True

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise NginxError(f"timed out waiting for {what}:\n{self.error_log()[-3000:]}")
            time.sleep(0.02)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "TZ"}}


def _is_nginx(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().startswith(b"nginx:")
    except OSError:
        return False
