"""Read-only looks at a front-end: file drift (live files vs what the panel would render now), the
pending diff a deploy would apply, and the UI's connection test. Nothing here changes a host."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from balancers.capacity import HTTPS_MODULES, LBMETHOD_MODULE, NEEDED_MODULES, OPTIONAL_MODULES, ApacheFacts
from balancers.choices import TlsEdge
from balancers.models import FrontEnd
from deploy.plan import Target
from deploy.readiness import apache_command, read_apache_facts
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
    ok: bool | None  # None: could not be checked (shown as "skipped")
    detail: str


def dbm_step(transport) -> StepResult:
    """Is httxt2dbm there? Every release builds routes.dbm with it (rendering.routes.DBM_BUILD_SH)."""
    result = transport.run("command -v httxt2dbm || ls /usr/sbin/httxt2dbm", timeout=COMMAND_TIMEOUT)
    if result.ok:
        found = result.output.strip().splitlines()
        return StepResult("httxt2dbm", True, found[0] if found else "found")
    return StepResult("httxt2dbm", False, "not found: install apache2-utils (every deploy builds routes.dbm with it)")


EDGE_MODULES = ["remoteip"]  # the nginx edge's vhost takes the client address from X-Forwarded-For


def needs_of(tree: dict[str, str]) -> tuple[bool, set[str]]:
    """What the rendered tree asks of Apache: HTTPS vhosts (mod_ssl, socache_shmcb, HostPanel's default
    vhost on https_listen) and the lbmethods its balancers use."""
    https = any(path.startswith("sites/") for path in tree) or "<VirtualHost" in tree.get("default.conf", "")
    return https, set(_LBMETHOD.findall(tree.get("balancers.conf", "")))


_LBMETHOD = re.compile(r"\blbmethod=([a-z]+)")


def readiness_steps(
    facts: ApacheFacts, *, https: bool, lbmethods: set[str], asked: bool = True, edge: bool = False
) -> list[StepResult]:
    """The connection test's report of deploy.readiness: Apache and its MPM, the modules HostPanel needs,
    and per address which vhost is the default (HostPanel's catch-all must be)."""
    if not facts.modules:  # a configtest command that is not Apache's own (a wrapper): unknown, not failed
        ok = None if not asked else False
        return [StepResult("apache", ok, "; ".join(facts.errors) or "Apache could not be read")]
    steps: list[StepResult] = []
    limits = facts.limits
    shown = ("ServerLimit", "ThreadsPerChild", "MaxRequestWorkers", "KeepAliveTimeout")
    numbers = ", ".join(
        f"{name} {limits[name]}{' (default)' if name in facts.defaults else ''}" for name in shown if name in limits
    )
    steps.append(
        StepResult(
            "apache",
            bool(facts.version),
            f"Apache {facts.version or '(version unknown)'}, MPM {facts.mpm or 'unknown'}"
            + (f": {numbers}" if numbers else "")
            + (
                " (default: Apache's compiled-in value for this MPM, not set in the config)"
                if set(shown) & set(facts.defaults)
                else ""
            ),
        )
    )
    needed = [*NEEDED_MODULES, *sorted(LBMETHOD_MODULE.get(m, f"lbmethod_{m}") for m in lbmethods)]
    if https:
        needed += HTTPS_MODULES
    if edge:
        needed += EDGE_MODULES
    missing = [m for m in needed if not facts.has(m)]
    optional = [f"{m} ({what})" for m, what in OPTIONAL_MODULES.items() if not facts.has(m)]
    if missing:
        detail = (
            f"missing: {', '.join(missing)}: enable them (`a2enmod {' '.join(missing)}`, or LoadModule lines on "
            "RHEL-style layouts) and reload Apache"
        )
    else:
        detail = f"all needed modules are loaded ({', '.join(needed)})"
    if optional:
        detail += f"; optional, not loaded: {'; '.join(optional)}"
    steps.append(StepResult("modules", not missing, detail))
    if facts.vhosts:
        bad = [v for v in facts.vhosts if not v.hostpanel_first]
        lines = [v.advice for v in bad] or [
            f"{v.address}: HostPanel's catch-all is the default vhost ({v.default_source})" for v in facts.vhosts
        ]
        steps.append(StepResult("vhosts", not bad, "\n".join(lines)))
    steps += [StepResult("apache", False, error) for error in facts.errors]
    return steps


def frontend_test_connection(
    frontend: FrontEnd, *, on_facts: Callable[[ApacheFacts], None] | None = None
) -> list[StepResult]:
    """For the UI's "Test connection" button: log in (pinned host key), look at config_dir, run configtest,
    read the front-end's Apache (deploy.readiness: version, MPM and limits, modules, which vhost is the
    default on each address), handed to `on_facts` (the service that stores them)."""
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
        https, lbmethods = needs_of(render_for(frontend))
        facts = read_apache_facts(transport, frontend, https=https)
        if on_facts is not None:
            on_facts(facts)
        asked = apache_command(frontend.configtest_command) is not None
        edge = frontend.tls_edge == TlsEdge.NGINX
        steps += readiness_steps(facts, https=https, lbmethods=lbmethods, asked=asked, edge=edge)
        if edge:  # nginx reads <config_dir>/edge/*.conf from its http {} block (README "HTTPS at scale")
            result = transport.run(frontend.edge_configtest_command, timeout=COMMAND_TIMEOUT)
            output = truncate(result.output or f"exit code {result.exit_code}")
            steps.append(StepResult("nginx edge", result.ok, output))
        steps.append(dbm_step(transport))
        if target.verify_url:
            ok, detail = url_answers(target.verify_url)
            steps.append(StepResult("http", ok, f"{target.verify_url}: {detail}"))
    except TransportError as exc:
        steps.append(StepResult("error", False, exc.message))
    finally:
        transport.close()
    return steps
