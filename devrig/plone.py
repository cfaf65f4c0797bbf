"""Real Plone 6.2 for the tests: Zope with plone.restapi and plone.volto in its own virtualenv, built once per
machine into the parts cache (devrig.partcache), and Zope instances started on free loopback ports.

    part = ensure_built()          # the virtualenv and two site databases, built once (minutes cold)
    part = built()                 # the built part, or MissingPart (a skip locally, a failure in CI)
    zopes = start_zopes(tmp, part, count=2)   # two instances, each with its OWN ZODB (FileStorage under tmp)
    zopes[0].port, zopes[0].url("/Plone")     # a Classic site at /Plone, a Volto site at /Volto
    stop_all(zopes)

`python -m devrig.plone build` builds the part (bin/test runs it): two cache entries, the virtualenv (keyed by
the pins, devrig/plone_constraints.txt: pip reaches PyPI only, there are no Plone constraints to download) and
the prepared databases (keyed by the pins and the site script), so a change of the sites does not reinstall Plone.
Both sites have plone.restapi installed (a Classic site gets its profile: plone.distribution's "classic" leaves
it out) and a site user ADMIN with the Manager role, who logs in through `@login`.

Each instance copies its own prepared Data.fs ("a", "b", ...), made by separate site creations: their keyrings
differ, so a login token (JWT, signed with the site's keyring secret) from one instance is refused by the other,
as with the separate databases of the seed's lab; the API path must then be sticky.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from devrig.net import free_ports, http_get
from devrig.partcache import build_once, require_built

PLONE_VERSION = "6.2.2"
CONSTRAINTS = Path(__file__).with_name("plone_constraints.txt")
CLASSIC_PATH = "/Plone"  # plone.distribution "classic"
VOLTO_PATH = "/Volto"  # plone.distribution "volto" (plone.restapi + plone.volto)
ADMIN = ("admin", "admin-of-a-throwaway-test-site")  # only ever in throwaway databases on 127.0.0.1
DATABASES = ("a", "b")  # one prepared Data.fs per instance a test may start
BUILD_TIMEOUT = 900
START_TIMEOUT = 120

SITE_SCRIPT = """\
# Run by `zconsole run etc/zope.conf`: a Zope admin, a Classic site and a Volto site, plone.restapi in both,
# and in each a site user with the Manager role (REST API logins are site users).
import transaction
from AccessControl.SecurityManagement import newSecurityManager
from plone import api
from plone.distribution.api import site as site_api
from Testing.makerequest import makerequest
from zope.component.hooks import setSite

app = makerequest(app)  # noqa: F821 (zconsole's global)
app.acl_users._doAddUser({user!r}, {password!r}, ["Manager"], [])
newSecurityManager(None, app.acl_users.getUserById({user!r}).__of__(app.acl_users))
for distribution, site_id in (("classic", {classic!r}), ("volto", {volto!r})):
    answers = {{"site_id": site_id, "title": site_id + " (HostPanel test site)", "setup_content": True,
               "default_language": "en", "portal_timezone": "UTC"}}
    site = site_api.create(app, distribution, answers)
    setSite(site)
    site.portal_setup.runAllImportStepsFromProfile("profile-plone.restapi:default")
    api.user.create(email={user!r} + "@example.org", username={user!r}, password={password!r}, roles=("Manager",))
    transaction.commit()
print("sites created")
"""

ZOPE_CONF = """\
%define INSTANCE {home}
instancehome $INSTANCE
<environment>
  CHAMELEON_CACHE $INSTANCE/var/cache
</environment>
<zodb_db main>
  <filestorage>
    path $INSTANCE/var/Data.fs
  </filestorage>
  mount-point /
</zodb_db>
"""

ZOPE_INI = """\
[app:zope]
use = egg:Zope#main
zope_conf = {home}/etc/zope.conf

[server:main]
use = egg:waitress#main
host = 127.0.0.1
port = {port}
threads = 4

[pipeline:main]
pipeline =
    egg:Zope#httpexceptions
    zope

[loggers]
keys = root

[handlers]
keys = eventlog

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = eventlog

[handler_eventlog]
class = FileHandler
args = (r'{home}/var/log/event.log', 'a')
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)s [%(name)s] %(message)s
"""


def plone_python() -> str:
    """The Python the Plone virtualenv is made with: a 3.12 (Plone 6.2's most used), else this one (3.13)."""
    candidates = [shutil.which("python3.12") or ""]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += [str(p / "bin" / "python3") for p in sorted(pyenv.glob("3.12*"), reverse=True)]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            probe = subprocess.run([candidate, "-c", "import venv"], capture_output=True, timeout=30)
            if probe.returncode == 0:
                return candidate
    return sys.executable


def _python_tag(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout.strip()


@dataclass(frozen=True)
class PlonePart:
    """The built part: the virtualenv (bin/runwsgi, bin/zconsole) and the prepared databases (a.fs, b.fs)."""

    venv: Path
    data: Path


def part_names(python: str | None = None) -> tuple[str, str]:
    """The two cache entries' names: Plone's version, the Python, and a hash of the pins (the virtualenv) or
    of the pins and the site script (the databases)."""
    tag = f"{PLONE_VERSION}-py{_python_tag(python or plone_python())}"
    pins = CONSTRAINTS.read_bytes()
    return (
        f"plone-{tag}-{hashlib.sha256(pins).hexdigest()[:10]}",
        f"plone-sites-{tag}-{hashlib.sha256(pins + SITE_SCRIPT.encode()).hexdigest()[:10]}",
    )


def _run(command: list[str], *, cwd: Path | None = None, timeout: float = BUILD_TIMEOUT) -> None:
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(command[:4])}... failed ({proc.returncode}):\n{tail}")


def _write_instance(home: Path, port: int) -> None:
    for sub in ("etc", "var/log", "var/cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    (home / "etc" / "zope.conf").write_text(ZOPE_CONF.format(home=home), encoding="utf-8")
    (home / "etc" / "zope.ini").write_text(ZOPE_INI.format(home=home, port=port), encoding="utf-8")


def _build_venv(target: Path, python: str) -> None:
    _run([python, "-m", "venv", str(target)])
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-c", str(CONSTRAINTS), f"Plone=={PLONE_VERSION}", "plone.volto", "plone.restapi"])


def _build_data(data: Path, venv: Path) -> None:
    script = SITE_SCRIPT.format(
        user=ADMIN[0], password=ADMIN[1], classic=CLASSIC_PATH.strip("/"), volto=VOLTO_PATH.strip("/")
    )
    for name in DATABASES:  # separate site creations: separate keyring secrets
        home = data / "make" / name
        _write_instance(home, 0)
        (home / "make_sites.py").write_text(script, encoding="utf-8")
        _run([str(venv / "bin" / "zconsole"), "run", str(home / "etc" / "zope.conf"), str(home / "make_sites.py")])
        shutil.copy2(home / "var" / "Data.fs", data / f"{name}.fs")
    shutil.rmtree(data / "make")


def ensure_built() -> PlonePart:
    """The built Plone part, building what this machine lacks first (each entry under its own lock)."""
    python = plone_python()
    venv_name, data_name = part_names(python)
    venv = build_once(venv_name, lambda target: _build_venv(target, python))
    return PlonePart(venv, build_once(data_name, lambda target: _build_data(target, venv)))


def built() -> PlonePart:
    """The built Plone part, or MissingPart saying how to build it."""
    how = "bin/test builds it, or: .venv/bin/python -m devrig.plone build"
    return PlonePart(*(require_built(name, how) for name in part_names()))


class ZopeInstance:
    """One Zope (waitress) on 127.0.0.1 serving a copy of one prepared database."""

    def __init__(self, part: PlonePart, home: Path, database: str, port: int) -> None:
        self.part, self.home, self.database, self.port = part, Path(home), database, port
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = START_TIMEOUT) -> ZopeInstance:
        _write_instance(self.home, self.port)
        data_fs = self.home / "var" / "Data.fs"
        if not data_fs.exists():
            shutil.copy2(self.part.data / f"{self.database}.fs", data_fs)
        started = time.monotonic()
        with open(self.home / "var" / "log" / "console.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(self.part.venv / "bin" / "runwsgi"), str(self.home / "etc" / "zope.ini")],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Zope {self.database} exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            try:
                if http_get(self.port, CLASSIC_PATH, timeout=5).status == 200:
                    self.started_in = time.monotonic() - started
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"Zope {self.database} did not answer within {timeout:.0f} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        text = ""
        for name in ("console.log", "event.log"):
            path = self.home / "var" / "log" / name
            if path.exists():
                text += path.read_text(errors="replace")
        return text

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_zopes(workdir: Path, part: PlonePart, count: int = 2) -> list[ZopeInstance]:
    """count instances (at most len(DATABASES)), each on a free port with its own copy of its own database,
    started side by side; all are stopped again when one fails to start."""
    if count > len(DATABASES):
        raise ValueError(f"at most {len(DATABASES)} instances (one prepared database each)")
    ports = free_ports(count)
    zopes = [
        ZopeInstance(part, Path(workdir) / f"zope-{db}", db, port)
        for db, port in zip(DATABASES[:count], ports, strict=True)
    ]
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(zope.start) for zope in zopes]
        errors = [future.exception() for future in futures]
    if any(errors):
        stop_all(zopes)
        raise next(error for error in errors if error)
    return zopes


def stop_all(zopes: list[ZopeInstance]) -> None:
    for zope in zopes:
        zope.stop()


def main(argv: list[str]) -> int:
    if argv[1:] != ["build"]:
        print("usage: python -m devrig.plone build", file=sys.stderr)
        return 2
    started = time.monotonic()
    part = ensure_built()
    print(f"plone: {part.venv} and {part.data} ready ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
