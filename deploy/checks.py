"""Read-only looks at a front-end: file drift (live files vs what the panel would render now), the
pending diff a deploy would apply, and the UI's connection test. Nothing here changes a host."""

from __future__ import annotations

import time
from dataclasses import dataclass

from balancers.models import FrontEnd
from deploy.plan import Target
from deploy.release import COMMAND_TIMEOUT, read_live_tree, sha256_hex, truncate
from deploy.transport.pool import open_transport
from deploy.transport.protocol import TransportError
from deploy.trees import render_for
from hostpanel.http import url_answers
from rendering.manifest import MANIFEST, hostpanel_paths, tree_diff


@dataclass(frozen=True)
class FileDrift:
    frontend: str
    changed: list[str]
    missing: list[str]
    extra: list[str]
    error: str = ""
    diff: str = ""

    @property
    def in_sync(self) -> bool:
        return not (self.changed or self.missing or self.extra or self.error)


def frontend_file_drift(
    frontend: FrontEnd, *, with_diff: bool = False, tree: dict[str, str] | None = None
) -> FileDrift:
    """Compare the live files on a front-end (each file's real content, not just its MANIFEST) with
    what the panel would render now (or `tree`, rendered by the caller: then no database access here)."""
    tree = render_for(frontend) if tree is None else tree
    target = Target.of(frontend)
    try:
        transport = open_transport(frontend)
        try:
            live = read_live_tree(transport, target)
        finally:
            transport.close()
    except TransportError as exc:
        return FileDrift(frontend.name, [], [], [], error=exc.message)
    changed = sorted(p for p in tree if p in live and live[p] != tree[p])
    missing = sorted(p for p in tree if p not in live)
    extra = sorted(p for p in live if p not in tree)
    foreign = set(live) - hostpanel_paths(live)  # named in the diff, their content never shown
    diff = tree_diff(live, tree, old_label="live", new_label="panel", foreign=foreign) if with_diff else ""
    return FileDrift(frontend.name, changed, missing, extra, diff=diff)


def frontend_pending_diff(frontend: FrontEnd, *, tree: dict[str, str] | None = None) -> str:
    """What a deploy would change on this front-end now (a unified diff), without changing anything."""
    drift = frontend_file_drift(frontend, with_diff=True, tree=tree)
    if drift.error:
        raise TransportError(drift.error, retryable=True)
    return drift.diff


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    detail: str


def dbm_step(transport) -> StepResult:
    """Is httxt2dbm there? Every release builds routes.dbm with it (rendering.routes.DBM_BUILD_SH)."""
    result = transport.run("command -v httxt2dbm || ls /usr/sbin/httxt2dbm", timeout=COMMAND_TIMEOUT)
    if result.ok:
        found = result.output.strip().splitlines()
        return StepResult("httxt2dbm", True, found[0] if found else "found")
    return StepResult("httxt2dbm", False, "not found: install apache2-utils (every deploy builds routes.dbm with it)")


def modules_step(transport, frontend: FrontEnd) -> StepResult:
    """Is mod_ssl loaded? HTTPS sites need it (and the https_listen Listen) in the front-end's main config.

    Asked by running configtest_command with `-D DUMP_MODULES` appended: apache2/httpd (`apache2 -t ...`,
    `apache2ctl -t`) then list the modules the main config loads. A command that does not list them
    (a wrapper script) gives an "unknown" step that does not fail the test, with the command to try."""
    command = f"{frontend.configtest_command} -D DUMP_MODULES"
    result = transport.run(command, timeout=COMMAND_TIMEOUT)
    listing = result.output
    if "Loaded Modules" not in listing and "_module" not in listing:
        return StepResult(
            "mod_ssl",
            True,
            f"could not list the loaded modules with `{command}`; check by hand that mod_ssl is loaded "
            "(`apache2ctl -M | grep ssl_module`): HTTPS sites need it",
        )
    if "ssl_module" in listing:
        return StepResult("mod_ssl", True, f"ssl_module is loaded (HTTPS on {frontend.https_listen} can be served)")
    return StepResult(
        "mod_ssl",
        False,
        f"mod_ssl is NOT loaded: HTTPS sites cannot be deployed to this front-end (configtest would fail on "
        f"SSLEngine). Enable it (`a2enmod ssl socache_shmcb`) and Listen {frontend.https_listen} in the main config.",
    )


def frontend_test_connection(frontend: FrontEnd) -> list[StepResult]:
    """For the UI's "Test connection" button: log in (pinned host key), look at config_dir, run configtest,
    check that mod_ssl is loaded."""
    steps: list[StepResult] = []
    started = time.monotonic()
    try:
        transport = open_transport(frontend)
    except TransportError as exc:
        steps.append(StepResult("connect", False, exc.message))
        return steps
    try:
        how = "local transport" if frontend.transport == "local" else "SSH login with the pinned host key"
        steps.append(StepResult("connect", True, f"{how} ({time.monotonic() - started:.2f} s)"))
        target = Target.of(frontend)
        link = transport.readlink(target.config_dir)
        manifest = transport.read_file(f"{target.config_dir}/{MANIFEST}")
        if manifest is not None:
            detail = f"{target.config_dir} -> {link or '(a directory)'}, MANIFEST digest {sha256_hex(manifest)[:12]}"
        elif transport.exists(target.config_dir):
            detail = f"{target.config_dir} exists but was not deployed by HostPanel yet"
        else:
            detail = f"{target.config_dir} does not exist yet (the first deploy creates it)"
        steps.append(StepResult("config_dir", True, detail))
        result = transport.run(frontend.configtest_command, timeout=COMMAND_TIMEOUT)
        steps.append(StepResult("configtest", result.ok, truncate(result.output or f"exit code {result.exit_code}")))
        steps.append(modules_step(transport, frontend))
        steps.append(dbm_step(transport))
        if target.verify_url:
            ok, detail = url_answers(target.verify_url)
            steps.append(StepResult("http", ok, f"{target.verify_url}: {detail}"))
    except TransportError as exc:
        steps.append(StepResult("error", False, exc.message))
    finally:
        transport.close()
    return steps
