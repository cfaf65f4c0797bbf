"""One front-end brought to a rendered tree, and never left broken (pure file/command work on a Transport).

1. compare the rendered tree with the host's MANIFEST; nothing changed -> nothing uploaded, no reload;
2. build the new release in a staging directory next to config_dir — a hard-linked copy of the live
   release plus ONLY the changed files — and rename it to `<config_dir>.releases/<digest>`;
3. swap: config_dir is a symlink, switched atomically (temporary symlink + rename); the previous
   release stays on disk;
4. configtest_command; on failure point config_dir back at the previous release, no reload;
5. reload_command (graceful), then check that the host answers (health_url, else
   balancer_manager_url); if not, restore the previous release and reload again.

A transport error before the swap leaves the live config untouched (the staging copy is discarded);
after the swap and before a reload, the previous release is put back (over a new connection if needed).
No database access here: balancers.deploy.runner records what happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import posixpath
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from balancers.choices import HostStage, HostStatus
from balancers.manifest import MANIFEST, is_private_key, parse_manifest, tree_digest
from balancers.models import FrontEnd
from balancers.status.client import wait_until_answers
from balancers.transport import Transport, TransportError

log = logging.getLogger(__name__)

RELEASES_SUFFIX = ".releases"
STAGING_PREFIX = ".staging-"
KEEP_RELEASES = 5  # current, previous and a few more for quick rollbacks
OUTPUT_LIMIT = 8000
COMMAND_TIMEOUT = 120.0
VERIFY_SECONDS = 60.0
PRIVATE_KEY_MODE = 0o600  # Apache's parent reads keys as root before it drops privileges

ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """What push_tree needs to know about a front-end (no database access inside push_tree)."""

    name: str
    config_dir: str
    configtest_command: str
    reload_command: str
    verify_url: str = ""

    @classmethod
    def of(cls, frontend: FrontEnd) -> Target:
        return cls(
            name=frontend.name,
            config_dir=frontend.config_dir.rstrip("/"),
            configtest_command=frontend.configtest_command,
            reload_command=frontend.reload_command,
            verify_url=frontend.health_url or frontend.balancer_manager_url,
        )

    @property
    def releases_dir(self) -> str:
        return self.config_dir + RELEASES_SUFFIX


@dataclass
class HostOutcome:
    status: str
    stage: str
    files_uploaded: int = 0
    bytes_uploaded: int = 0
    output: str = ""
    error: str = ""
    retryable: bool = False
    uploaded_paths: list[str] = field(default_factory=list)
    reloaded: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent in each stage

    def timings_line(self) -> str:
        return "stage seconds: " + ", ".join(f"{name} {seconds:.3f}" for name, seconds in self.timings.items())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def truncate(text: str, limit: int = OUTPUT_LIMIT) -> str:
    return text if len(text) <= limit else "…(truncated)…\n" + text[-limit:]


def _resolve(link_parent: str, target: str) -> str:
    return posixpath.normpath(posixpath.join(link_parent, target))


class _Swapper:
    """Points config_dir at a release and can put the previous one back."""

    def __init__(self, transport: Transport, target: Target) -> None:
        self.transport = transport
        self.target = target
        self.previous: str | None = None  # the previous symlink target; None: there was no config_dir
        self.swapped = False

    def prepare(self) -> None:
        t, live = self.transport, self.target.config_dir
        self.previous = t.readlink(live)
        if self.previous is None and t.exists(live):
            # First deploy onto a hand-made directory: keep it as a release and manage a symlink from now on.
            legacy = f"{self.target.releases_dir}/legacy-{time.strftime('%Y%m%d%H%M%S')}"
            t.rename(live, legacy)
            t.symlink_switch(live, legacy)
            self.previous = legacy

    def switch(self, release: str) -> None:
        self.transport.symlink_switch(self.target.config_dir, release)
        self.swapped = True

    def restore(self, transport: Transport | None = None) -> None:
        t = transport or self.transport
        if self.previous is None:
            t.remove_path(self.target.config_dir)
        else:
            t.symlink_switch(self.target.config_dir, self.previous)
        self.swapped = False


def push_tree(
    transport: Transport,
    target: Target,
    tree: dict[str, str],
    *,
    progress: ProgressFn = lambda stage: None,
    reconnect: Callable[[], Transport] | None = None,
    verify_seconds: float = VERIFY_SECONDS,
) -> HostOutcome:
    """Bring one front-end to `tree`: the stages of the module docstring. Never raises TransportError:
    a failure is an outcome with the stage reached, the error and whether retrying can help."""
    marks: list[tuple[str, float]] = [("compare", time.monotonic())]

    def timed(stage: str) -> None:
        marks.append((str(stage), time.monotonic()))
        progress(stage)

    outcome = _push_tree(transport, target, tree, progress=timed, reconnect=reconnect, verify_seconds=verify_seconds)
    marks.append(("end", time.monotonic()))
    outcome.timings = {name: marks[i + 1][1] - at for i, (name, at) in enumerate(marks[:-1]) if name != "done"}
    return outcome


def _push_tree(
    transport: Transport,
    target: Target,
    tree: dict[str, str],
    *,
    progress: ProgressFn,
    reconnect: Callable[[], Transport] | None,
    verify_seconds: float,
) -> HostOutcome:
    outcome = HostOutcome(status=HostStatus.RUNNING, stage=HostStage.CONNECT)
    swapper = _Swapper(transport, target)
    staging: str | None = None
    outputs: list[str] = []

    def stage(name: str) -> None:
        outcome.stage = name
        progress(name)

    def command(cmd: str) -> bool:
        result = transport.run(cmd, timeout=COMMAND_TIMEOUT)
        failed = "" if result.ok else f"\n(exit code {result.exit_code})"
        outputs.append(f"$ {cmd}\n{result.output}".rstrip() + failed)
        outcome.output = truncate("\n".join(outputs))
        return result.ok

    try:
        wanted = tree[MANIFEST].encode()
        live_manifest = transport.read_file(f"{target.config_dir}/{MANIFEST}")
        if live_manifest == wanted:
            outcome.status, outcome.stage = HostStatus.UNCHANGED, HostStage.DONE
            return outcome

        stage(HostStage.UPLOAD)
        digest = tree_digest(tree)
        releases = target.releases_dir
        release = f"{releases}/{digest}"
        transport.mkdir_p(releases)
        swapper.prepare()
        if transport.read_file(f"{release}/{MANIFEST}") != wanted:  # a release already on disk is reused as is
            staging = f"{releases}/{STAGING_PREFIX}{digest[:16]}-{secrets.token_hex(4)}"
            _build_release(transport, target, tree, live_manifest, swapper.previous, staging, outcome)
            if transport.exists(release):  # an incomplete copy of this revision: replace it
                transport.remove_path(release)
            transport.rename(staging, release)
            staging = None

        stage(HostStage.SWAP)
        swapper.switch(release)

        stage(HostStage.CONFIGTEST)
        if not command(target.configtest_command):
            swapper.restore()
            outcome.status = HostStatus.FAILED
            outcome.error = "configtest failed: the previous config was put back and Apache was not reloaded."
            return outcome

        stage(HostStage.RELOAD)
        reloaded = command(target.reload_command)
        outcome.reloaded = True
        if not reloaded:
            stage(HostStage.RESTORE)
            swapper.restore()
            command(target.reload_command)
            outcome.status = HostStatus.ROLLED_BACK
            outcome.error = "reload failed: the previous config was put back and reloaded."
            return outcome

        if target.verify_url:
            stage(HostStage.VERIFY)
            ok, detail = wait_until_answers(target.verify_url, verify_seconds)
            if not ok:
                stage(HostStage.RESTORE)
                swapper.restore()
                command(target.reload_command)
                outcome.status = HostStatus.ROLLED_BACK
                outcome.error = (
                    f"the front-end did not answer at {target.verify_url} after the reload ({detail}): "
                    "the previous config was put back and reloaded."
                )
                return outcome

        _prune(transport, target, keep={release, swapper.previous})
        outcome.status, outcome.stage = HostStatus.SUCCEEDED, HostStage.DONE
        progress(HostStage.DONE)
        return outcome
    except TransportError as exc:
        outcome.status = HostStatus.FAILED
        outcome.error = f"{exc.message} (stage: {outcome.stage})"
        outcome.retryable = exc.retryable
        if swapper.swapped and not outcome.reloaded:
            outcome.error += _restore_after_error(swapper, reconnect)
        elif staging:
            # if the connection is gone, the next deploy removes stale staging directories
            with contextlib.suppress(TransportError):
                transport.remove_path(staging)
            outcome.error += "; the live config was not touched."
        else:
            outcome.error += "; the live config was not touched."
        return outcome


def _restore_after_error(swapper: _Swapper, reconnect: Callable[[], Transport] | None) -> str:
    """The symlink already points at the new release but Apache was not reloaded: put it back."""
    try:
        swapper.restore()
        return "; the previous config was put back (Apache was not reloaded)."
    except TransportError:
        pass
    if reconnect is not None:
        try:
            fresh = reconnect()
            try:
                swapper.restore(fresh)
            finally:
                fresh.close()
            return "; the previous config was put back over a new connection (Apache was not reloaded)."
        except TransportError as exc:
            return (
                f"; WARNING: could not put the previous config back ({exc.message}): config_dir points at the new, "
                "untested release; Apache was not reloaded."
            )
    return "; WARNING: config_dir may point at the new, untested release; Apache was not reloaded."


def _build_release(
    transport: Transport,
    target: Target,
    tree: dict[str, str],
    live_manifest: bytes | None,
    previous: str | None,
    staging: str,
    outcome: HostOutcome,
) -> None:
    """Fill `staging` with the full tree, uploading only files that differ from the live release."""
    releases = target.releases_dir
    entries = transport.list_entries(releases)
    for name, _ in entries:
        if name.startswith(STAGING_PREFIX):  # left over by a dropped connection
            transport.remove_path(f"{releases}/{name}")
    live: dict[str, str] = {}
    if live_manifest is not None and previous is not None:
        try:
            live = parse_manifest(live_manifest.decode())
        except (ValueError, UnicodeDecodeError):
            live = {}
    changed: dict[str, bytes] = {}
    for path in sorted(tree):
        data = tree[path].encode()
        if path == MANIFEST or live.get(path) != sha256_hex(data):
            changed[path] = data
    base = _resolve(posixpath.dirname(target.config_dir), previous) if live and previous else None
    removed = sorted(set(live) - set(tree)) if base else []
    # a removed site's certificate and key go with its vhost (the copy of the live release drops them)
    modes = {path: PRIVATE_KEY_MODE for path in changed if is_private_key(path)}
    transport.build_tree(staging, changed, base=base, remove=removed, modes=modes)
    outcome.files_uploaded = len(changed)
    outcome.bytes_uploaded = sum(len(data) for data in changed.values())
    outcome.uploaded_paths = list(changed)


def _prune(transport: Transport, target: Target, keep: set[str | None]) -> None:
    """Remove old releases beyond KEEP_RELEASES (never the live or the previous one). Best effort."""
    try:
        releases = target.releases_dir
        keep_paths = {_resolve(posixpath.dirname(target.config_dir), k) for k in keep if k}
        candidates = [
            (mtime, name)
            for name, mtime in transport.list_entries(releases)
            if not name.startswith(".") and f"{releases}/{name}" not in keep_paths
        ]
        surplus = len(candidates) - max(0, KEEP_RELEASES - len(keep_paths))
        for _, name in sorted(candidates)[: max(0, surplus)]:
            transport.remove_path(f"{releases}/{name}")
    except TransportError as exc:
        log.warning("pruning old releases on %s failed: %s", target.name, exc)


def read_live_tree(transport: Transport, target: Target) -> dict[str, str]:
    """{path: text} of every file live under config_dir (MANIFEST included) — for drift and dry runs."""
    return {path: data.decode(errors="replace") for path, data in transport.read_tree(target.config_dir).items()}
