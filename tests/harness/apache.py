"""A standalone Apache 2.4 on 127.0.0.1 serving a config dir's hostpanel.conf, for tests.

API (keep it small)::

    apache = StandaloneApache(workdir, config_dir, listen=["127.0.0.1:PORT"], manager=True)
    apache.configtest()          # CheckResult(ok, output, seconds) of `apache2 -t`
    apache.start()               # starts and waits until every Listen port answers
    apache.graceful()            # `-k graceful`, waits until the new generation serves
    apache.stop()                # SIGTERM to its parent, waits until gone (works even with a broken tree)
    apache.manager_url           # "http://127.0.0.1:MPORT/balancer-manager" (manager=True only)
    apache.error_log()           # text of its error log (for assertion messages)

The main config (written to workdir/httpd.conf by balancers.apachectl.standalone_config) has its
own PidFile, ErrorLog, DefaultRuntimeDir and `Mutex file:DIR`, loads the modules of
docs/apache-facts.md §3, `Listen`s on the given addresses and `Include`s config_dir/hostpanel.conf.
The tree's own `Listen` lines (node vhosts) come from hostpanel.conf; the site vhosts'
address (FrontEnd.http_listen) must be passed in `listen`, as a front-end's main config owns it.

Fixture ``apache_factory`` (import it into a conftest): ``apache_factory(config_dir, listen=[...],
manager=False)`` returns a configured, NOT yet started StandaloneApache that is stopped when the test ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from balancers import apachectl
from balancers.apachectl import CheckResult
from tests.realparts import free_port, require_binary


class ApacheError(RuntimeError):
    pass


class StandaloneApache:
    def __init__(
        self,
        workdir: Path,
        config_dir: Path,
        *,
        listen: list[str] | tuple[str, ...] = (),
        manager: bool = False,
        binary: str | None = None,
        log_level: str = "warn",
    ) -> None:
        self.binary = binary or apachectl.apache_binary()
        if not self.binary:
            raise ApacheError("apache2 is not installed")
        self.workdir = Path(workdir)
        self.config_dir = Path(config_dir)
        self.listen = list(listen)
        self.manager_port = free_port() if manager else None
        (self.workdir / "run").mkdir(parents=True, exist_ok=True)
        self.conf = self.workdir / "httpd.conf"
        self.conf.write_text(
            apachectl.standalone_config(
                workdir=self.workdir,
                include=self.config_dir / "hostpanel.conf",
                listen=self.listen,
                manager_listen=f"127.0.0.1:{self.manager_port}" if manager else None,
                log_level=log_level,
            ),
            encoding="utf-8",
        )
        self.pid_file = self.workdir / "httpd.pid"
        self.error_log_path = self.workdir / "error.log"

    @property
    def manager_url(self) -> str:
        if not self.manager_port:
            raise ApacheError("started without manager=True")
        return f"http://127.0.0.1:{self.manager_port}/balancer-manager"

    def ports(self) -> list[int]:
        ports = [int(a.rsplit(":", 1)[-1]) for a in self.listen]
        return ports + ([self.manager_port] if self.manager_port else [])

    def error_log(self) -> str:
        return self.error_log_path.read_text(errors="replace") if self.error_log_path.exists() else ""

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, "-f", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=apachectl._clean_env(),
        )

    def configtest(self) -> CheckResult:
        return apachectl.configtest(self.conf, binary=self.binary)

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _generations(self) -> int:
        return self.error_log().count("resuming normal operations")

    def start(self, timeout: float = 20) -> StandaloneApache:
        apachectl.grant_traverse(self.config_dir)
        before = self._generations()
        proc = self._ctl("-k", "start")
        if proc.returncode != 0:
            raise ApacheError(f"apache2 -k start failed: {proc.stdout}{proc.stderr}\n{self.error_log()[-3000:]}")
        self._wait(lambda: self._generations() > before, timeout, "start")
        self.wait_until_answering(timeout=timeout)
        return self

    def graceful(self, timeout: float = 20) -> None:
        before = self._generations()
        proc = self._ctl("-k", "graceful")
        if proc.returncode != 0:
            raise ApacheError(f"apache2 -k graceful failed: {proc.stdout}{proc.stderr}")
        self._wait(lambda: self._generations() > before, timeout, "graceful")
        self.wait_until_answering(timeout=timeout)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to this instance's parent (what `-k stop` sends, without re-reading a config that a
        test may have broken), then SIGKILL if it lingers. Only a pid whose command line names our
        httpd.conf is signalled."""
        pid = self.pid()
        if pid is None or not _alive(pid) or not self._owns(pid):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid) and self._owns(pid):
            os.kill(pid, signal.SIGKILL)

    def _owns(self, pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                return str(self.conf).encode() in fh.read()
        except OSError:
            return False

    def wait_until_answering(self, timeout: float = 20) -> None:
        for port in self.ports():
            self._wait(lambda p=port: _connects(p), timeout, f"port {port} to answer")

    def _wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise ApacheError(f"timed out waiting for {what}:\n{self.error_log()[-3000:]}")
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def apache_factory(tmp_path):
    """Make StandaloneApache instances under tmp_path; each one is stopped when the test ends."""
    require_binary("apache2")
    made: list[StandaloneApache] = []

    def make(config_dir: Path, *, listen: list[str] | tuple[str, ...] = (), manager: bool = False, **kw):
        workdir = tmp_path / f"apache{len(made)}"
        apache = StandaloneApache(workdir, config_dir, listen=listen, manager=manager, **kw)
        made.append(apache)
        return apache

    yield make
    for apache in made:
        apache.stop()
