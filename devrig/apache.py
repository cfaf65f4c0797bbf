"""The one standalone Apache 2.4 launcher: `render_apache --check`, the demo front-end, the tests and the
benchmarks all use it. No SSH here: this only runs the local apache2 binary.

A standalone instance (`apache2 -f FILE`) needs its own PidFile, ErrorLog, DefaultRuntimeDir (which
must exist) and `Mutex file:DIR`, plus the modules listed in docs/apache-facts.md §3 (MODULES).

API (keep it small)::

    check_rendered(render, listen=...)   # `apache2 -t` on a rendered tree in a throwaway config
    apache = StandaloneApache(workdir, config_dir, listen=["127.0.0.1:PORT"], manager=True)
    # workers=(2, 16): event MPM with 2 processes x 16 threads (MaxRequestWorkers 32), a busy front-end
    # before_include="<VirtualHost *:80>...": a stock vhost ahead of HostPanel's; without_modules=("headers",)
    apache.configtest()          # CheckResult(ok, output, seconds) of `apache2 -t`
    apache.start()               # writes workdir/httpd.conf, starts, waits until every Listen port answers
    apache.graceful()            # `-k graceful`, waits until the new generation serves
    apache.stop()                # SIGTERM to its parent, waits until gone (works even with a broken tree)
    apache.running               # its parent process is alive (also from another process, by the pid file)
    apache.manager_url           # "http://127.0.0.1:MPORT/balancer-manager" (manager=True or manager_port)
    apache.status_url            # "http://127.0.0.1:MPORT/server-status?auto" (mod_status, same vhost;
                                 # extended_status=True for Total Accesses)
    apache.error_log()           # text of its error log (for assertion messages)

The main config `Include`s config_dir/hostpanel.conf. The tree's own `Listen` lines (node vhosts)
come from hostpanel.conf; the site vhosts' addresses (FrontEnd.http_listen, and https_listen as
"127.0.0.1:PORT https") must be passed in `listen`, as a front-end's main config owns them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.transport.protocol import build_routes_dbm
from devrig.daemon import PidFileDaemon, alive
from devrig.net import free_port, tcp_reachable
from rendering.manifest import is_private_key

# docs/apache-facts.md §3: without slotmem_shm or an lbmethod the start fails; without proxy_http
# every request is a misleading 503; without headers the rendered config is a syntax error.
MODULES = (
    "authz_core",
    "authz_host",
    "proxy",
    "proxy_http",
    "proxy_balancer",
    "lbmethod_byrequests",
    "lbmethod_bytraffic",
    "lbmethod_bybusyness",
    "lbmethod_heartbeat",
    "slotmem_shm",
    "rewrite",
    "headers",
    "status",
    "mime",
    "dir",
    "alias",
    "env",
    "log_config",
    # the usage log's bytes (%I %O, traffic metering); built into Debian's apache2, a module elsewhere
    "logio",
    "unixd",
    # HTTPS sites: a tree with TLS vhosts needs them (a tree without any does not mind them)
    "socache_shmcb",
    "ssl",
    # HTTP/2 for HTTPS vhosts (`Protocols h2 http/1.1` inside <IfModule http2_module>), when installed
    "http2",
    # node-vhosts over h2c (balancers.conf.j2, <IfModule proxy_http2_module>), when installed
    "proxy_http2",
    # active health checks (hc* member parameters), when installed; hcheck needs watchdog, which Debian
    # compiles into the binary (no .so: then there is nothing to load)
    "watchdog",
    "proxy_hcheck",
    # the nginx TLS edge's loopback listener (edge.conf): the client address from X-Forwarded-For
    "remoteip",
)
MPMS = ("event", "worker")  # mpm_event is what a front-end runs; worker is measured beside it (bench/dataplane.py)
MODULE_DIRS = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/libexec/apache2")


def apache_binary() -> str | None:
    """The apache2/httpd binary, or None when Apache is not installed."""
    for name in ("apache2", "httpd"):
        found = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
        if found:
            return found
    return None


def module_dir() -> str:
    for directory in MODULE_DIRS:
        if os.path.exists(os.path.join(directory, "mod_proxy.so")):
            return directory
    raise FileNotFoundError("Apache module directory not found (looked in " + ", ".join(MODULE_DIRS) + ")")


def _run_user() -> str | None:
    """Apache refuses to serve as root: when we are root, children run as www-data (or nobody)."""
    if os.geteuid() != 0:
        return None
    for name in ("www-data", "apache", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


def grant_traverse(path: Path) -> None:
    """When Apache's children run as another user (we are root), let them reach files under path:
    add o+x on every ancestor directory (search only, no listing) and o+rX inside path."""
    if os.geteuid() != 0:
        return
    path = Path(path).resolve()
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            for name in dirs:
                p = Path(root, name)
                p.chmod(p.stat().st_mode | 0o005)
            for name in files:
                p = Path(root, name)
                if not is_private_key(name if Path(root).name != "tls" else f"tls/{name}"):
                    p.chmod(p.stat().st_mode | 0o004)  # private keys stay 0600: the parent reads them as root


def standalone_config(
    *,
    workdir: Path,
    include: Path | None,
    listen: list[str] | tuple[str, ...] = (),
    manager_listen: str | None = None,
    log_level: str = "warn",
    workers: tuple[int, int] | None = None,
    mpm: str = "event",
    switch_user: bool = True,
    before_include: str = "",
    after_include: str = "",
    without_modules: tuple[str, ...] = (),
    extended_status: bool = False,
) -> str:
    """The text of a minimal main config for `apache2 -f`: its own pid, logs, runtime dir and
    mutexes under workdir, `Listen` for each address in listen, an `Include` of include (a
    hostpanel.conf), and optionally a balancer-manager vhost on manager_listen (127.0.0.1 only).

    workers=(processes, threads): fixed event-MPM limits, every process started at once (ServerLimit,
    ThreadsPerChild, MaxRequestWorkers = their product), e.g. (2, 16), the small limits a busy
    front-end runs into (bench/dataplane.py, the burst test). None: small and quick, 1 to 4 processes.
    mpm: "event" (default) or "worker" (same limits; no async keep-alive handling).
    before_include / after_include: config text around the Include (e.g. a stock `<VirtualHost *:80>` before
    it, as Debian's 000-default.conf is); without_modules: MODULES names left unloaded (a front-end without
    headers, proxy_hcheck...).
    The manager vhost also serves mod_status at /server-status (127.0.0.1 only); extended_status=True adds
    `ExtendedStatus On` (Total Accesses, so requests/s)."""
    if mpm not in MPMS:
        raise ValueError(f"mpm must be one of {MPMS}, not {mpm!r}")
    workdir = Path(workdir)
    run = workdir / "run"
    mods = module_dir()
    lines = [
        "# Throwaway standalone Apache written by devrig/apache.py",
        f'ServerRoot "{workdir}"',
        f'PidFile "{workdir}/httpd.pid"',
        f'ErrorLog "{workdir}/error.log"',
        f"LogLevel {log_level}",
        f'DefaultRuntimeDir "{run}"',
        f"Mutex file:{run} default",
        "ServerName 127.0.0.1",
    ]
    lines.append(f"LoadModule mpm_{mpm}_module {mods}/mod_mpm_{mpm}.so")
    lines += [
        f"LoadModule {m}_module {mods}/mod_{m}.so"
        for m in MODULES
        if m not in without_modules and os.path.exists(f"{mods}/mod_{m}.so")
    ]
    user = _run_user() if switch_user else None  # a sandboxed Apache already runs unprivileged
    if user:
        lines += [f"User {user}", f"Group #{pwd.getpwnam(user).pw_gid}"]
    processes, threads = workers or (4, 16)
    lines += [
        # Small and quick by default: one child to start with, a few at most.
        f"StartServers {processes if workers else 1}",
        f"ServerLimit {processes}",
        f"ThreadsPerChild {threads}",
        f"MaxRequestWorkers {processes * threads}",
        f"MinSpareThreads {min(4, threads)}",
        f"MaxSpareThreads {processes * threads if workers else 32}",
        "GracefulShutdownTimeout 5",
        'LogFormat "%h %{Host}i \\"%r\\" %>s %b %{BALANCER_WORKER_NAME}e" hostpanel',
        f'CustomLog "{workdir}/access.log" hostpanel',
    ]
    if os.path.exists("/etc/mime.types"):
        lines.append("TypesConfig /etc/mime.types")
    lines += [f"Listen {address}" for address in listen]
    if before_include:
        lines.append(before_include.rstrip("\n"))
    if include is not None:
        lines.append(f'Include "{include}"')
    if after_include:
        lines.append(after_include.rstrip("\n"))
    if manager_listen:
        lines += [
            f"Listen {manager_listen}",
            f"<VirtualHost {manager_listen}>",
            "    ServerName 127.0.0.1",
            "    <Location /balancer-manager>",
            "        SetHandler balancer-manager",
            "        Require ip 127.0.0.1",
            "    </Location>",
            # mod_status beside it, as README's "mod_status" section sets it up (status.poller reads ?auto)
            "    <Location /server-status>",
            "        SetHandler server-status",
            "        Require ip 127.0.0.1",
            "    </Location>",
            "</VirtualHost>",
        ]
        if extended_status:  # Total Accesses (requests/s); opt-in: see README "mod_status"
            lines.append("ExtendedStatus On")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    output: str
    seconds: float


def write_tree(tree: dict[str, str], directory: Path) -> None:
    """Write a rendered tree {relative path: text} under directory (paths are checked to stay inside)."""
    directory = Path(directory)
    root = directory.resolve()
    for relpath, text in tree.items():
        target = (directory / relpath).resolve()
        if root not in target.parents:
            raise ValueError(f"refusing to write {relpath!r} outside {directory}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if is_private_key(relpath):
            target.chmod(0o600)
    build_routes_dbm(directory)  # what Apache reads: routes.map's SDBM, as a front-end builds it


def configtest(conf: Path, *, binary: str | None = None, timeout: float = 120) -> CheckResult:
    """Run `apache2 -t -f conf`."""
    binary = binary or apache_binary()
    if not binary:
        raise FileNotFoundError("apache2 is not installed")
    started = time.monotonic()
    proc = subprocess.run(
        [binary, "-t", "-f", str(conf)], capture_output=True, text=True, timeout=timeout, env=_clean_env()
    )
    return CheckResult(proc.returncode == 0, (proc.stdout + proc.stderr).strip(), time.monotonic() - started)


def check_rendered(render: Callable[[str], dict[str, str]], *, listen: tuple[str, ...] = ()) -> CheckResult:
    """Run `apache2 -t` on a tree inside a throwaway standalone config.

    render(config_dir) must return the tree rendered for that config_dir (a fresh temp directory):
    the tree's Include and Alias lines are absolute, so it is checked where it would be served from.
    """
    with tempfile.TemporaryDirectory(prefix="hostpanel-check-") as tmp:
        workdir = Path(tmp) / "apache"
        (workdir / "run").mkdir(parents=True)
        config_dir = Path(tmp) / "tree"
        write_tree(render(str(config_dir)), config_dir)
        conf = workdir / "httpd.conf"
        conf.write_text(
            standalone_config(workdir=workdir, include=config_dir / "hostpanel.conf", listen=listen),
            encoding="utf-8",
        )
        return configtest(conf)


def _clean_env() -> dict[str, str]:
    # apache2 reads nothing from the environment when given -f; keep PATH and locale only.
    return {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "TZ"}}


class ApacheError(RuntimeError):
    pass


class StandaloneApache(PidFileDaemon):
    """`apache2 -f workdir/httpd.conf` on 127.0.0.1, including config_dir/hostpanel.conf."""

    def __init__(
        self,
        workdir: Path,
        config_dir: Path,
        *,
        listen: list[str] | tuple[str, ...] = (),
        manager: bool = False,
        manager_port: int | None = None,
        binary: str | None = None,
        log_level: str = "warn",
        workers: tuple[int, int] | None = None,
        mpm: str = "event",
        command_prefix: list[str] | None = None,
        before_include: str = "",
        after_include: str = "",
        without_modules: tuple[str, ...] = (),
        extended_status: bool = False,
    ) -> None:
        """command_prefix: run apache2 under it (the equivalence check's sandbox, importer.sandbox);
        the Apache then runs as whoever the prefix makes it, with no User/Group of its own.
        before_include, after_include, without_modules: see standalone_config (a front-end prepared wrongly)."""
        self.binary = binary or apache_binary()
        self.command_prefix = list(command_prefix or ())
        if not self.binary:
            raise ApacheError("apache2 is not installed")
        self.workdir = Path(workdir)
        self.config_dir = Path(config_dir)
        self.listen = list(listen)
        self.manager_port = manager_port or (self._free_port_beside_listen() if manager else None)
        self.log_level = log_level
        self.workers = workers
        self.mpm = mpm
        self.before_include, self.after_include = before_include, after_include
        self.without_modules = tuple(without_modules)
        self.extended_status = extended_status
        self.conf = self.workdir / "httpd.conf"
        self.pid_file = self.workdir / "httpd.pid"
        self.error_log_path = self.workdir / "error.log"

    def _free_port_beside_listen(self) -> int:
        """A free port that is none of the Listen ports: free_port() closes its socket, so it can hand out
        a port the caller chose a moment ago ("Cannot define multiple Listeners on the same IP:port")."""
        taken = {address.split()[0].rpartition(":")[2] for address in self.listen}
        for _ in range(100):
            port = free_port()
            if str(port) not in taken:
                return port
        raise ApacheError("no free port for the balancer-manager")

    def write_config(self) -> StandaloneApache:
        """Write workdir/httpd.conf (start() and configtest() do it when it is missing)."""
        (self.workdir / "run").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            standalone_config(
                workdir=self.workdir,
                include=self.config_dir / "hostpanel.conf",
                listen=self.listen,
                manager_listen=f"127.0.0.1:{self.manager_port}" if self.manager_port else None,
                log_level=self.log_level,
                workers=self.workers,
                mpm=self.mpm,
                switch_user=not self.command_prefix,
                before_include=self.before_include,
                after_include=self.after_include,
                without_modules=self.without_modules,
                extended_status=self.extended_status,
            ),
            encoding="utf-8",
        )
        return self

    @property
    def manager_url(self) -> str:
        if not self.manager_port:
            raise ApacheError("started without a balancer-manager (manager=True or manager_port)")
        return f"http://127.0.0.1:{self.manager_port}/balancer-manager"

    @property
    def status_url(self) -> str:
        """mod_status in machine-readable form, on the balancer-manager's vhost (ExtendedStatus On)."""
        return self.manager_url.replace("/balancer-manager", "/server-status?auto")

    def ports(self) -> list[int]:
        ports = [int(a.split()[0].rsplit(":", 1)[-1]) for a in self.listen]  # "127.0.0.1:8443 https"
        return ports + ([self.manager_port] if self.manager_port else [])

    def error_log(self) -> str:
        return self.error_log_path.read_text(errors="replace") if self.error_log_path.exists() else ""

    def generations(self) -> int:
        """How many times Apache started a new generation (start + every graceful)."""
        return self.error_log().count("resuming normal operations")

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.command_prefix, self.binary, "-f", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_clean_env(),
        )

    def configtest(self) -> CheckResult:
        if not self.conf.exists():
            self.write_config()
        if self.command_prefix:
            started = time.monotonic()
            proc = self._ctl("-t", timeout=120)
            return CheckResult(proc.returncode == 0, (proc.stdout + proc.stderr).strip(), time.monotonic() - started)
        return configtest(self.conf, binary=self.binary)

    def start(self, timeout: float = 20) -> StandaloneApache:
        if not self.conf.exists():
            self.write_config()
        if not self.command_prefix:
            grant_traverse(self.config_dir)
        self._new_generation("start", timeout)
        return self

    def graceful(self, timeout: float = 20) -> None:
        self._new_generation("graceful", timeout)

    def _new_generation(self, action: str, timeout: float) -> None:
        """`apache2 -k action`, then wait until a new generation runs and every port answers."""
        before = self.generations()
        proc = self._ctl("-k", action, timeout=max(60.0, timeout))  # 10,000 TLS vhosts on a busy box: minutes
        if proc.returncode != 0:
            raise ApacheError(f"apache2 -k {action} failed: {proc.stdout}{proc.stderr}\n{self.error_log()[-3000:]}")
        self._wait(lambda: self.generations() > before, timeout, action)
        self.wait_until_answering(timeout=timeout)

    def stop(self, timeout: float = 20) -> bool:
        """SIGTERM to this instance's parent (what `-k stop` sends, without re-reading a config that a
        test may have broken), then SIGKILL if it lingers. Only a pid whose command line names our
        httpd.conf is signalled. True if it was running."""
        pid = self.pid()
        if pid is None or not alive(pid) or not self._owns(pid):
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid) and self._owns(pid):
            os.kill(pid, signal.SIGKILL)
        return True

    def wait_until_answering(self, timeout: float = 20) -> None:
        for port in self.ports():
            self._wait(lambda p=port: tcp_reachable("127.0.0.1", p, timeout=0.5), timeout, f"port {port} to answer")

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise ApacheError(f"timed out waiting for {what}:\n{self.error_log()[-3000:]}")
            time.sleep(0.05)
