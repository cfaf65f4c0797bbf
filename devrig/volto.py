"""A real Volto 18 production build for the tests: the project's few files live in devrig/volto_project/ (Volto's
generator fetches from GitHub, so they are written by hand), built once per machine with Debian's Node 20 from the
npm registry into the parts cache (devrig.partcache), keyed by a hash of those files and Node's major version.

    part = ensure_built()        # npm install + razzle production build, once (a few minutes cold)
    part = built()               # the built part, or MissingPart (a skip locally, a failure in CI)
    node = VoltoServer(part, internal_api="http://127.0.0.1:8080/Volto").start()   # on a free port
    node.port                    # GET /ok answers "ok"; pages are rendered server-side by calling Zope
    node.stop()

`python -m devrig.volto build` builds the part (bin/test runs it). The server runs in "seamless mode": no
RAZZLE_API_PATH, so Volto derives each page's public API URL from Host and X-Forwarded-Proto, and its own
/++api++ proxy is off (devrig/volto_project/src/config.js; VoltoServer(dev_proxy=...) turns it on), so a
front-end that sends /++api++ to Node gets no API answer instead of one that carries the wrong site's URLs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from devrig.net import free_port, http_get
from devrig.partcache import build_once, require_built
from devrig.parts import find_binary

VOLTO_VERSION = "18.33.0"
PROJECT = Path(__file__).with_name("volto_project")
INSTALL_TIMEOUT = 900
BUILD_TIMEOUT = 900
START_TIMEOUT = 60


def _generated(relpath: Path) -> bool:
    """What a build writes into a project (devrig/volto_project/.gitignore): never part of its files."""
    parts = relpath.parts
    return bool({"node_modules", "build"} & set(parts)) or (parts[0] == "locales" and relpath.suffix == ".json")


def project_files() -> list[Path]:
    """The project's files (relative to PROJECT), in a stable order."""
    return sorted(
        path.relative_to(PROJECT)
        for path in PROJECT.rglob("*")
        if path.is_file() and not _generated(path.relative_to(PROJECT))
    )


def _node_major() -> str:
    node = find_binary("node")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip().lstrip("v").split(".")[0]


def part_name() -> str:
    digest = hashlib.sha256()
    for relpath in project_files():
        digest.update(str(relpath).encode() + b"\0" + (PROJECT / relpath).read_bytes() + b"\0")
    return f"volto-{VOLTO_VERSION}-node{_node_major()}-{digest.hexdigest()[:10]}"


def _build_env() -> dict[str, str]:
    # Nothing RAZZLE_* at build time: razzle would bake it into the bundles; the server reads them when it starts.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAZZLE_")}
    env.update({"CI": "true", "NODE_ENV": "production", "BROWSERSLIST_IGNORE_OLD_DATA": "1"})
    return env


def _run(command: list[str], *, cwd: Path, timeout: float) -> None:
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_build_env())
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")


def _build(target: Path) -> None:
    npm = find_binary("npm")
    project = target / "project"
    for relpath in project_files():
        (project / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT / relpath, project / relpath)
    # devDependencies are the build's tools: install them even though NODE_ENV is production
    _run([npm, "install", "--include=dev", "--loglevel=error"], cwd=project, timeout=INSTALL_TIMEOUT)
    _run([npm, "run", "build"], cwd=project, timeout=BUILD_TIMEOUT)
    if not (project / "build" / "server.js").exists():
        raise RuntimeError("the Volto build finished without build/server.js")


def ensure_built() -> Path:
    """The built Volto part, building it first when this machine has none (under the part's lock)."""
    return build_once(part_name(), _build)


def built() -> Path:
    """The built Volto part, or MissingPart saying how to build it."""
    return require_built(part_name(), "bin/test builds it, or: .venv/bin/python -m devrig.volto build")


class VoltoServer:
    """One Volto SSR server (node build/server.js) on 127.0.0.1, calling Zope at internal_api for its pages."""

    def __init__(
        self,
        part: Path,
        *,
        internal_api: str,
        port: int | None = None,
        log: Path | None = None,
        dev_proxy: str | None = None,
    ) -> None:
        """dev_proxy: turn Volto's own /++api++ proxy on, to that Zope site URL (off by default: see the module)."""
        self.part, self.internal_api, self.dev_proxy = part, internal_api, dev_proxy
        self.port = port or free_port()
        self.log_path = log or part.parent / f"volto-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None

    def start(self, timeout: float = START_TIMEOUT) -> VoltoServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAZZLE_")}
        env.update(
            {
                "NODE_ENV": "production",
                "PORT": str(self.port),
                "HOST": "127.0.0.1",
                # what Volto's server binds to (start-server.js; HOST is not read at run time): loopback only
                "RAZZLE_BIND_ADDRESS": "127.0.0.1",
                "RAZZLE_INTERNAL_API_PATH": self.internal_api,
            }
        )
        if self.dev_proxy:
            env["RAZZLE_DEV_PROXY_API_PATH"] = self.dev_proxy
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [find_binary("node"), "build/server.js"],
                cwd=self.part / "project",
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Volto exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            try:
                if http_get(self.port, "/ok", timeout=5).body.strip() == "ok":
                    self.started_in = time.monotonic() - started
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Volto did not answer /ok within {timeout:.0f} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def main(argv: list[str]) -> int:
    if argv[1:] != ["build"]:
        print("usage: python -m devrig.volto build", file=sys.stderr)
        return 2
    started = time.monotonic()
    part = ensure_built()
    print(f"volto: {part} ready ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
