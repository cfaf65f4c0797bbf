"""A throwaway standalone Apache 2.4 around a rendered tree: used by `render_apache --check` and by
the test harness (tests/harness/apache.py). No SSH here: this only runs the local apache2 binary.

A standalone instance (`apache2 -f FILE`) needs its own PidFile, ErrorLog, DefaultRuntimeDir (which
must exist) and `Mutex file:DIR`, plus the modules listed in docs/apache-facts.md §3.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# docs/apache-facts.md §3: without slotmem_shm or an lbmethod the start fails; without proxy_http
# every request is a misleading 503; without headers the rendered config is a syntax error.
MODULES = (
    "mpm_event",
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
    "log_config",
    "unixd",
)
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
                p.chmod(p.stat().st_mode | 0o004)


def standalone_config(
    *,
    workdir: Path,
    include: Path | None,
    listen: list[str] | tuple[str, ...] = (),
    manager_listen: str | None = None,
    log_level: str = "warn",
) -> str:
    """The text of a minimal main config for `apache2 -f`: its own pid, logs, runtime dir and
    mutexes under workdir, `Listen` for each address in listen, an `Include` of include (a
    hostpanel.conf), and optionally a balancer-manager vhost on manager_listen (127.0.0.1 only)."""
    workdir = Path(workdir)
    run = workdir / "run"
    mods = module_dir()
    lines = [
        "# Throwaway standalone Apache written by balancers/apachectl.py",
        f'ServerRoot "{workdir}"',
        f'PidFile "{workdir}/httpd.pid"',
        f'ErrorLog "{workdir}/error.log"',
        f"LogLevel {log_level}",
        f'DefaultRuntimeDir "{run}"',
        f"Mutex file:{run} default",
        "ServerName 127.0.0.1",
    ]
    lines += [f"LoadModule {m}_module {mods}/mod_{m}.so" for m in MODULES if os.path.exists(f"{mods}/mod_{m}.so")]
    user = _run_user()
    if user:
        lines += [f"User {user}", f"Group #{pwd.getpwnam(user).pw_gid}"]
    lines += [
        # Small and quick: one child to start with, a few at most.
        "StartServers 1",
        "ServerLimit 4",
        "ThreadsPerChild 16",
        "MaxRequestWorkers 64",
        "MinSpareThreads 4",
        "MaxSpareThreads 32",
        "GracefulShutdownTimeout 5",
        'LogFormat "%h %{Host}i \\"%r\\" %>s %b %{BALANCER_WORKER_NAME}e" hostpanel',
        f'CustomLog "{workdir}/access.log" hostpanel',
    ]
    if os.path.exists("/etc/mime.types"):
        lines.append("TypesConfig /etc/mime.types")
    lines += [f"Listen {address}" for address in listen]
    if include is not None:
        lines.append(f'Include "{include}"')
    if manager_listen:
        lines += [
            f"Listen {manager_listen}",
            f"<VirtualHost {manager_listen}>",
            "    ServerName 127.0.0.1",
            "    <Location /balancer-manager>",
            "        SetHandler balancer-manager",
            "        Require ip 127.0.0.1",
            "    </Location>",
            "</VirtualHost>",
        ]
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
