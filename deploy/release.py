"""One front-end brought to a rendered tree, and never left broken (pure file/command work on a Transport).

1. compare, from this attempt's one read of the host (deploy.plan.HostPlan, shared with the probes):
   the host is "unchanged" only when the release it last ACTIVATED (the `.activated` marker in
   `<config_dir>.releases`, written after configtest, reload and the answer check all passed) is the new
   tree's digest and config_dir points at that release — never from the MANIFEST alone, which a
   switched-but-untested release also carries;
2. upload: build the new release in a staging directory next to config_dir — a hard-linked copy of
   the last activated release plus ONLY the changed files — renamed to `<config_dir>.releases/<digest>`;
   the copy is the spare one built after that release's activation when it is untouched (deploy.swap);
3. swap: the marker is cleared ("switching"), then config_dir (a symlink) is switched atomically;
4. configtest_command; on failure config_dir goes back to the previous release, no reload;
5. reload_command (graceful), then a check that the host answers (health_url, else
   balancer_manager_url); on failure the previous release is put back, configtested and reloaded;
   then the proof that HostPanel's vhost is the one answering on each listener, with THIS release
   (deploy.vhost_proof, also after a map-only switch); on failure the same, and the reason names the vhost
   that answers instead (deploy.readiness);
6. the marker records the new digest: the host has activated it; old releases are pruned and the spare
   copy of this release is built, off the deployment's path (deploy.swap.after_activation).

A release that differs from the ACTIVATED one (the one config_dir points at) in routes.map alone is a
*map-only* change (deploy.plan.change_of, the one rule): steps 4 and 5 are skipped. Apache stats the map on every
lookup and reads the new one once the symlink switch makes it the file at `config_dir/routes.map` (the
switch is one rename: a reader sees the old map or the new one, never half of one); no configtest, no
graceful, no new generation of children. The post-deploy probes (deploy.probes) then check
through the front-end that each changed name answers as the new map says.

ANY exception in a stage (a dropped connection, a database error in the progress callback, a bug)
restores the previous release — reloading it when the new one may have been loaded — and the outcome
says whether that restore worked: a restore that failed is `failed` with a WARNING, never
`rolled_back`. `LeaseLost` (the worker no longer holds the front-end) is the one exception that stops
at once without touching the host again: another worker owns it now.
No database access here: deploy.runner records what happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from balancers.choices import ChangeKind, HostStage, HostStatus
from deploy.leases import LeaseLost
from deploy.plan import HostPlan, Target, read_plan
from deploy.readiness import read_apache_facts
from deploy.swap import Swapper, after_activation, build_release, digest_of
from deploy.transport.protocol import Transport, TransportError
from deploy.vhost_proof import https_served, prove_release
from hostpanel.http import wait_until_answers
from rendering.manifest import DIGEST, MANIFEST

STAGING_PREFIX = ".staging-"
OUTPUT_LIMIT = 8000
COMMAND_TIMEOUT = 120.0
VERIFY_SECONDS = 60.0


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class Hooks:
    """What the caller of a push has done along the way, handed once down host -> probes -> release
    (no database access in the push itself: these are where the caller's records happen)."""

    progress: Callable[[str], None] = lambda stage: None  # each stage reached (the caller's fence and record)
    fence: Callable[[], None] = _nothing  # raises LeaseLost when the worker lost the front-end
    reconnect: Callable[[], Transport] | None = None  # a fresh connection to put the previous release back over
    before_swap: Callable[[], None] = _nothing  # the caller's own wait once uploaded, before the switch
    attempt: Callable[[int], None] = lambda number: None  # a connection attempt starts (host.push_with_retries)


NO_HOOKS = Hooks()


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
    reload_attempted: bool = False  # the reload command was started: Apache may run the new config
    touched: bool = False  # config_dir was switched at some point
    activated: str = ""  # digest of the release the host has activated when known, "" = unknown
    change: str = ChangeKind.NONE  # map: routes.map alone changed (no configtest, no reload); config
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent in each stage
    proof: str | None = None  # deploy.vhost_proof: None not asked, "" HostPanel's vhost answered, else why not
    apache_facts: dict | None = None  # deploy.readiness, read when the proof failed (names the vhost answering)
    spare_taken: bool = False  # the release was built on the spare copy of its base (deploy.swap), not copied

    def timings_line(self) -> str:
        spare = "; built on the spare copy of the previous release" if self.spare_taken else ""
        return "stage seconds: " + ", ".join(f"{name} {seconds:.3f}" for name, seconds in self.timings.items()) + spare


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def truncate(text: str, limit: int = OUTPUT_LIMIT) -> str:
    return text if len(text) <= limit else "…(truncated)…\n" + text[-limit:]


def unreadable(exc: TransportError) -> HostOutcome:
    """The outcome of an attempt whose read of the host failed (deploy.plan): nothing was changed."""
    return HostOutcome(
        status=HostStatus.FAILED,
        stage=HostStage.CONNECT,
        retryable=exc.retryable,
        error=f"{exc.message} (stage: {HostStage.CONNECT}); the live config was not touched.",
    )


def push_tree(
    transport: Transport,
    target: Target,
    tree: dict[str, str],
    *,
    plan: HostPlan | None = None,
    hooks: Hooks = NO_HOOKS,
    verify_seconds: float = VERIFY_SECONDS,
) -> HostOutcome:
    """Bring one front-end to `tree`: the stages of the module docstring. Never raises (but for
    KeyboardInterrupt and the like): a failure is an outcome with the stage reached, the error and
    whether retrying can help. `plan`: this attempt's one read of the host (deploy.plan; read here when
    not given). `hooks.before_swap()` runs once the release is uploaded, just before config_dir is
    switched (the probes finish their "before" round there, while the upload ran)."""
    marks: list[tuple[str, float]] = [("compare", time.monotonic() - (plan.seconds if plan else 0.0))]

    def timed(stage: str) -> None:
        marks.append((str(stage), time.monotonic()))
        hooks.progress(stage)

    outcome = _Push(transport, target, tree, plan, replace(hooks, progress=timed), verify_seconds).run()
    marks.append(("end", time.monotonic()))
    outcome.timings = {name: marks[i + 1][1] - at for i, (name, at) in enumerate(marks[:-1]) if name != "done"}
    return outcome


class _Push:
    """The state of one push: which release was live before, how far it got, what to put back."""

    def __init__(
        self,
        transport: Transport,
        target: Target,
        tree: dict[str, str],
        plan: HostPlan | None,
        hooks: Hooks,
        verify_seconds: float,
    ) -> None:
        self.transport, self.target, self.tree, self.plan = transport, target, tree, plan
        self.progress, self.fence, self.reconnect = hooks.progress, hooks.fence, hooks.reconnect
        self.before_swap, self.verify_seconds = hooks.before_swap, verify_seconds
        self.outcome = HostOutcome(status=HostStatus.RUNNING, stage=HostStage.CONNECT)
        self.swapper = Swapper(transport, target.config_dir, target.releases_dir)
        self.digest = digest_of(tree)
        self.release = f"{target.releases_dir}/{self.digest}"
        self.activated_before = ""
        self.staging: str | None = None
        self.verified = False
        self.outputs: list[str] = []

    def stage(self, name: str) -> None:
        self.outcome.stage = name
        self.progress(name)
        self.fence()

    def configtest(self, transport: Transport | None = None) -> bool:
        """Apache's configtest, then the nginx edge's (when the front-end has one): both read the new release."""
        edge = self.target.edge_configtest_command
        return self.command(self.target.configtest_command, transport) and (not edge or self.command(edge, transport))

    def reload(self, transport: Transport | None = None) -> bool:
        """Apache's graceful, then the nginx edge's reload (when the front-end has one)."""
        edge = self.target.edge_reload_command
        return self.command(self.target.reload_command, transport) and (not edge or self.command(edge, transport))

    def command(self, cmd: str, transport: Transport | None = None) -> bool:
        result = (transport or self.transport).run(cmd, timeout=COMMAND_TIMEOUT)
        failed = "" if result.ok else f"\n(exit code {result.exit_code})"
        self.outputs.append(f"$ {cmd}\n{result.output}".rstrip() + failed)
        self.outcome.output = truncate("\n".join(self.outputs))
        return result.ok

    def mark(self, text: str, transport: Transport | None = None) -> None:
        (transport or self.transport).write_file(self.target.marker, f"{text}\n".encode(), atomic=True)

    def run(self) -> HostOutcome:
        outcome, t = self.outcome, self.transport
        try:
            self.fence()
            wanted = self.tree[MANIFEST].encode()
            plan = self.plan or read_plan(t, self.target, self.tree)
            self.activated_before = plan.activated
            outcome.activated = self.activated_before
            if plan.unchanged:
                outcome.status, outcome.stage = HostStatus.UNCHANGED, HostStage.DONE
                return outcome

            self.stage(HostStage.UPLOAD)
            activated_release = f"{self.target.releases_dir}/{self.activated_before}" if self.activated_before else ""
            outcome.change = plan.change
            on_disk = activated_release and (plan.serves_activated or t.exists(activated_release))
            self.swapper.prepare(plan.link, prefer=activated_release if on_disk else "")
            t.mkdir_p(self.target.releases_dir)  # after prepare: nothing is created next to a refused config_dir
            if t.read_file(f"{self.release}/{MANIFEST}") != wanted:  # a release already on disk is reused as is
                self.staging = f"{self.target.releases_dir}/{STAGING_PREFIX}{self.digest[:16]}-{secrets.token_hex(4)}"
                base = self.swapper.previous_path()
                known = plan.live_tree if base == activated_release and plan.serves_activated else None
                build_release(
                    t,
                    base,
                    self.tree,
                    self.staging,
                    outcome,
                    STAGING_PREFIX,
                    base_tree=known,
                    base_changed=plan.live_changed if known is not None else None,
                )
                if t.exists(self.release):  # an incomplete copy of this revision: replace it
                    t.remove_path(self.release)
                t.rename(self.staging, self.release)
                self.staging = None

            self.before_swap()
            self.stage(HostStage.SWAP)
            self.mark(f"switching {self.digest}")
            outcome.touched = True
            outcome.activated = ""
            self.swapper.switch(self.release)

            if outcome.change == ChangeKind.MAP:
                self.stage(HostStage.MAP)
                if reason := self.prove():  # the switch alone changed the release file served
                    return self.fail(reason, retryable=False, reload=False)
                return self.activate()

            self.stage(HostStage.CONFIGTEST)
            if not self.configtest():
                return self.fail(
                    "configtest failed", retryable=False, reload=False, status_if_restored=HostStatus.FAILED
                )

            self.stage(HostStage.RELOAD)
            outcome.reload_attempted = True
            if not self.reload():
                return self.fail("reload failed", retryable=False, reload=True)

            if self.target.verify_url:
                self.stage(HostStage.VERIFY)
                ok, detail = wait_until_answers(self.target.verify_url, self.verify_seconds)
                if not ok:
                    return self.fail(
                        f"the front-end did not answer at {self.target.verify_url} after the reload ({detail})",
                        retryable=False,
                        reload=True,
                    )
            if reason := self.prove():
                return self.fail(reason, retryable=False, reload=True)
            return self.activate()
        except LeaseLost as exc:
            outcome.status, outcome.retryable = HostStatus.FAILED, True
            outcome.activated = "" if outcome.touched else outcome.activated
            outcome.error = (
                f"stopped at stage {outcome.stage}: {exc}; nothing more was done on the host "
                "(another deployment may hold it now)."
            )
            return outcome
        except Exception as exc:  # noqa: BLE001 - any failure in a stage ends in a truthful outcome
            return self.after_error(exc)

    def prove(self) -> str:
        """ "" when HostPanel's vhost answers with this release's file on every listener (deploy.vhost_proof),
        else why not, with the front-end's vhost map read (deploy.readiness) to name the vhost answering."""
        target = self.target
        if not target.prove_release:
            return ""
        self.stage(HostStage.VERIFY)
        started = time.monotonic()
        reason = prove_release(
            self.tree, http_listen=target.http_listen, https_listen=target.https_listen, address=target.address
        )
        self.outcome.proof = reason
        self.outcome.timings["proof"] = time.monotonic() - started
        if not reason:
            return ""
        facts = read_apache_facts(self.transport, target, https=https_served(self.tree))
        self.outcome.apache_facts = facts.as_json()
        advice = " ".join(v.advice for v in facts.vhosts if not v.hostpanel_first).rstrip(".")
        return f"{reason}. {advice}" if advice else reason

    def activate(self) -> HostOutcome:
        """Everything passed: record the new release as activated, prune old ones."""
        outcome, t = self.outcome, self.transport
        self.verified = True
        self.mark(self.digest)
        outcome.activated = self.digest
        after_activation(t, self.release, keep={self.release, self.swapper.previous_path()})
        outcome.status, outcome.stage = HostStatus.SUCCEEDED, HostStage.DONE
        self.progress(HostStage.DONE)
        return outcome

    def after_error(self, exc: Exception) -> HostOutcome:
        outcome = self.outcome
        what = exc.message if isinstance(exc, TransportError) else f"{type(exc).__name__}: {exc}"
        retryable = exc.retryable if isinstance(exc, TransportError) else False
        if self.verified:  # configtest, reload and the check passed; only the marker could not be written
            outcome.status, outcome.retryable = HostStatus.FAILED, True
            outcome.error = (
                f"{what} (stage: {outcome.stage}); the new config is live (configtest, reload and the check "
                "passed) but its activation could not be recorded on the host: the next deployment runs "
                "configtest and reload again."
            )
            return outcome
        if self.swapper.swapped:
            return self.fail(f"{what} (stage: {outcome.stage})", retryable=retryable, reload=outcome.reload_attempted)
        outcome.status, outcome.retryable = HostStatus.FAILED, retryable
        outcome.error = f"{what} (stage: {outcome.stage})"
        if self.staging:  # if the connection is gone, the next deploy removes stale staging directories
            with contextlib.suppress(Exception):
                self.transport.remove_path(self.staging)
        outcome.error += "; the live config was not touched."
        return outcome

    def fail(self, reason: str, *, retryable: bool, reload: bool, status_if_restored: str = "") -> HostOutcome:
        """Put the previous release back (configtest + reload it when the new one may have been loaded)."""
        outcome = self.outcome
        outcome.retryable = retryable
        if reload:
            self.outcome.stage = HostStage.RESTORE
            with contextlib.suppress(Exception):  # recording progress must not stop the restore
                self.progress(HostStage.RESTORE)
        try:
            self.fence()
        except LeaseLost as exc:
            outcome.status, outcome.activated = HostStatus.FAILED, ""
            outcome.error = f"{reason}; WARNING: {exc}: the previous config was NOT put back."
            return outcome
        restored, how = self.put_back(reload=reload)
        if restored:
            outcome.status = status_if_restored or (HostStatus.ROLLED_BACK if reload else HostStatus.FAILED)
            previous = self.swapper.previous_path() or ""
            if outcome.activated and previous.endswith(f"/{outcome.activated}"):
                # the new release took the spare: the one put back gets its own again (best effort)
                after_activation(self.transport, previous, keep={previous, self.release})
        else:
            outcome.status = HostStatus.FAILED
        outcome.error = f"{reason}: {how}"
        return outcome

    def put_back(self, *, reload: bool) -> tuple[bool, str]:
        transport, fresh = self.transport, None
        try:
            for attempt in (1, 2):
                try:
                    return self._put_back_over(transport, reload=reload, reconnected=attempt == 2)
                except TransportError as exc:
                    if attempt == 2 or self.reconnect is None:
                        return False, (
                            f"WARNING: could not put the previous config back ({exc.message}): config_dir may "
                            "point at the new, unchecked release; the next deployment runs configtest and reload."
                        )
                    try:
                        fresh = transport = self.reconnect()
                    except TransportError as again:
                        return False, (
                            f"WARNING: could not put the previous config back ({exc.message}; reconnecting: "
                            f"{again.message}): config_dir may point at the new, unchecked release."
                        )
            raise AssertionError("unreachable")
        finally:
            if fresh is not None:
                fresh.close()

    def _put_back_over(self, transport: Transport, *, reload: bool, reconnected: bool) -> tuple[bool, str]:
        over = " over a new connection" if reconnected else ""
        self.swapper.restore(transport)
        previous = self.swapper.previous_path() or ""
        previous_digest = posixpath.basename(previous) if DIGEST.fullmatch(posixpath.basename(previous)) else ""
        if not reload:
            # Apache was not reloaded: it still runs what it activated before.
            back = self.activated_before if previous_digest == self.activated_before else ""
            self.mark(back or "unknown", transport)
            self.outcome.activated = back
            return True, f"the previous config was put back{over} and Apache was not reloaded."
        if not self.configtest(transport):
            self.outcome.activated = ""
            return False, (
                f"WARNING: the previous config was put back{over} but ITS configtest failed, so it was not "
                "reloaded: Apache may still run the new config; fix the host, then deploy again."
            )
        if not self.reload(transport):
            self.outcome.activated = ""
            return False, (
                f"WARNING: the previous config was put back{over} but ITS reload failed: what Apache runs is "
                "unknown; fix the host, then deploy again."
            )
        self.mark(previous_digest or "unknown", transport)
        self.outcome.activated = previous_digest
        return True, f"the previous config was put back{over}, passed configtest and was reloaded."


def read_live_tree(transport: Transport, target: Target) -> dict[str, str]:
    """{path: text} of every file live under config_dir (MANIFEST included) — for drift and dry runs."""
    return {path: data.decode(errors="replace") for path, data in transport.read_tree(target.config_dir).items()}
