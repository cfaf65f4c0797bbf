"""The worker's body of a rolling restart: one member at a time, every step a row.

For each member in turn (RollingRestart.routes, fixed when the job was queued):

1. **drain** it on every enabled front-end through `balancers.services.member_set_flags(drain=True)` —
   the one member-change service: guard rail, audit, applied live and read back. It is SAVED, not only
   applied live, because a graceful reload during the job (anyone's deployment) re-renders the config:
   a live-only drain would vanish and send new clients to a server that is about to stop;
2. **wait_idle**: until its `busy` count is 0 in every balancer-manager, or HOSTPANEL_RESTART_IDLE_TIMEOUT;
3. **restart**: disable it (its sticky clients' requests now go to the other members) and wait for its
   requests in flight, then its restart command over SSH on the server's host (deploy.transport.ssh, pinned
   host key);
4. **wait_healthy**: until its health path answers 200 directly on the server (a Zope server: its restart
   settings' path, /@@ok; a Node.js frontend server: its own health path, /ok);
5. **warm**: requested directly on it: a Zope server, a few of the balancer's site paths (VirtualHostMonster
   URLs); a Node.js frontend server, `/` of a few of the sites using the balancer as their frontend balancer,
   with the site's Host (Volto renders the front page, calling Zope);
6. **undrain** (and enable) on every front-end (the same service);
7. **settle**: wait HOSTPANEL_RESTART_SETTLE_SECONDS, then until every front-end shows it usable
   (not in error: Apache keeps a member that failed a request in error for `retry` seconds, and draining
   the next member then would leave new clients no server).

A failure stops the job where it is and says which member is left drained; `resume` re-runs that member
from its drain (idempotent), `cancel` stops at the next safe point (never between restart and health).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from balancers.choices import TransportKind
from balancers.models import BalancerMember, FrontEnd
from balancers.services import member_set_flags, member_worker_urls
from deploy.transport.protocol import LocalTransport, TransportError
from deploy.transport.ssh import SSHTransport
from hostpanel.audit import Actor
from hostpanel.http import http_exchange
from operations.choices import RestartStatus, RestartStepName, StepOutcome
from operations.models import RollingRestart, RollingRestartStep, ZopeServerOps
from operations.selectors import health_path_of, warm_requests
from status.manager import ManagerEndpoint, fetch_all
from status.parse import MemberStatus, find_worker

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25


class StepFailed(Exception):  # noqa: N818 - control flow inside the runner
    """A step failed: the job stops with this message (the member stays as the step left it)."""


class Cancelled(Exception):  # noqa: N818 - control flow inside the runner
    """An operator asked the job to stop."""


class _Job:
    """One running rolling restart: its row, its actor, its step rows."""

    def __init__(self, job: RollingRestart, on_step: Callable[[RollingRestartStep], None] | None) -> None:
        self.job = job
        self.on_step = on_step
        self.actor = Actor(name=f"rolling restart #{job.pk} ({job.actor})"[:150], source="system")

    def begin(self, member: BalancerMember, step: str) -> RollingRestartStep:
        row = RollingRestartStep.objects.create(
            restart=self.job, member=member, route=member.route, step=step, started_at=timezone.now()
        )
        self._report(row)
        return row

    def end(self, row: RollingRestartStep, outcome: str, detail: str = "") -> None:
        row.outcome, row.detail, row.finished_at = outcome, detail[:4000], timezone.now()
        row.save(update_fields=["outcome", "detail", "finished_at"])
        self._report(row)

    def _report(self, row: RollingRestartStep) -> None:
        if self.on_step is not None:
            self.on_step(row)

    def cancel_requested(self) -> bool:
        return RollingRestart.objects.filter(pk=self.job.pk, cancel_requested=True).exists()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake up for a cancellation."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.cancel_requested():
                raise Cancelled
            time.sleep(min(left, POLL_SECONDS))


def _endpoints() -> tuple[list[FrontEnd], list[ManagerEndpoint]]:
    frontends = list(FrontEnd.objects.filter(enabled=True).order_by("name"))
    return frontends, [ManagerEndpoint.of(f) for f in frontends]


def _live_workers(member: BalancerMember) -> dict[str, tuple[MemberStatus | None, str]]:
    """{front-end name: (live worker or None, why not)} for the member on every enabled front-end."""
    frontends, endpoints = _endpoints()
    found: dict[str, tuple[MemberStatus | None, str]] = {}
    for frontend, host in zip(frontends, fetch_all(endpoints), strict=True):
        if not host.ok:
            found[frontend.name] = (None, f"{host.state}: {host.reason}")
            continue
        live = host.balancer(member.balancer.name)
        worker = find_worker(live, urls=member_worker_urls(member, frontend), route=member.route) if live else None
        found[frontend.name] = (worker, "" if worker else "member not found in its balancer-manager")
    return found


def _drain(job: _Job, member: BalancerMember, drain: bool) -> str:
    """Drain (or undrain: then also enable again, see _stop_traffic) on every front-end."""
    try:
        result = member_set_flags(member, actor=job.actor, drain=drain, disabled=None if drain else False)
    except ValidationError as exc:
        raise StepFailed(" ".join(exc.messages)) from None
    if not result.all_applied:
        state = "drained in the panel" if drain else "no longer drained in the panel"
        raise StepFailed(f"{result.summary()} {member.route} is {state}; fix the front-end and resume.")
    return result.summary()


def _stop_traffic(job: _Job, member: BalancerMember) -> str:
    """Just before the restart: disable the drained member, so that not even its sticky clients' requests
    reach it any more (they fail over to the other members), and wait for its requests in flight to end.
    A drained member still serves its sticky sessions, and a request in flight when Zope stops is lost
    (Apache does not resend a GET on a connection the backend closed: a 502 or a cut response)."""
    try:
        result = member_set_flags(member, actor=job.actor, disabled=True)
    except ValidationError as exc:
        raise StepFailed(" ".join(exc.messages)) from None
    if not result.all_applied:
        raise StepFailed(f"{result.summary()} {member.route} is disabled in the panel; fix the front-end and resume.")
    _, idle = _wait_idle(job, member, timeout=min(30.0, settings.HOSTPANEL_RESTART_IDLE_TIMEOUT))
    return f"{result.summary()} {idle}"


def _wait_idle(job: _Job, member: BalancerMember, timeout: float | None = None) -> tuple[StepOutcome, str]:
    timeout = settings.HOSTPANEL_RESTART_IDLE_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        workers = _live_workers(member)
        busy = {name: (w.busy if w is not None else None, why) for name, (w, why) in workers.items()}
        if all(count == 0 for count, _ in busy.values()):
            return StepOutcome.OK, "busy 0 on " + (", ".join(sorted(busy)) or "no front-end")
        if time.monotonic() >= deadline:
            left = "; ".join(f"{n}: {'busy ' + str(c) if c is not None else why}" for n, (c, why) in busy.items() if c)
            return StepOutcome.WARNING, f"still not idle after {timeout:g} s ({left}); restarting anyway"
        job.sleep(POLL_SECONDS * 2)


def _transport(ops: ZopeServerOps) -> SSHTransport | LocalTransport:
    """SSH to the Zope host (the host key pinned), or this host when the ops say local and the panel allows it."""
    if ops.transport == TransportKind.LOCAL:
        if not settings.HOSTPANEL_LOCAL_TRANSPORT:
            raise TransportError("the local transport is off on this panel (HOSTPANEL_LOCAL_TRANSPORT)", False)
        return LocalTransport(f"local restart of {ops.zope_server.name}")
    return SSHTransport(host=ops.login_host, port=ops.ssh_port, user=ops.ssh_user, host_key=ops.ssh_host_key)


def _restart(member: BalancerMember) -> str:
    ops = ZopeServerOps.objects.filter(zope_server=member.zope_server).first()
    if ops is None or not ops.can_restart:
        raise StepFailed(f"{member.route} has no restart command (any more); set one on its server's page.")
    try:
        transport = _transport(ops)
    except TransportError as exc:
        raise StepFailed(f"cannot log in to the server's host: {exc.message}") from None
    try:
        result = transport.run(ops.restart_command, timeout=settings.HOSTPANEL_RESTART_COMMAND_TIMEOUT)
    except TransportError as exc:
        raise StepFailed(f"the restart command did not complete: {exc.message}") from None
    finally:
        transport.close()
    output = f"$ {ops.restart_command}\n{result.output}".strip()
    if not result.ok:
        raise StepFailed(f"{output}\n(exit code {result.exit_code})")
    return output


def _wait_healthy(job: _Job, member: BalancerMember) -> str:
    url = member.zope_server.url + health_path_of(member.zope_server)
    timeout = settings.HOSTPANEL_RESTART_HEALTH_TIMEOUT
    deadline, tries = time.monotonic() + timeout, 0
    while True:
        tries += 1
        answer = http_exchange("GET", url, timeout=min(5.0, max(deadline - time.monotonic(), 0.5)))
        if answer.status == 200:
            return f"{url} answered 200 after {tries} request(s)"
        if time.monotonic() >= deadline:
            last = f"HTTP {answer.status}" if answer.status else answer.error
            raise StepFailed(f"{url} did not answer 200 within {timeout:g} s (last: {last})")
        time.sleep(POLL_SECONDS)


def _warm(member: BalancerMember) -> tuple[StepOutcome, str]:
    requests = warm_requests(member.balancer, limit=settings.HOSTPANEL_RESTART_WARM_SITES)
    if not requests:
        return StepOutcome.SKIPPED, "the balancer has no active site"
    lines, bad = [], 0
    for request in requests:
        answer = http_exchange("GET", member.zope_server.url + request.path, host=request.host, timeout=30)
        bad += not (0 < answer.status < 500)
        shown = f"{request.host} {request.path}" if request.host else request.path
        lines.append(f"{shown}: {f'HTTP {answer.status}' if answer.status else answer.error} ({answer.seconds:.2f} s)")
    return (StepOutcome.WARNING if bad else StepOutcome.OK), "\n".join(lines)


def _settle(job: _Job, member: BalancerMember) -> str:
    settle = settings.HOSTPANEL_RESTART_SETTLE_SECONDS
    job.sleep(settle)
    timeout = settings.HOSTPANEL_RESTART_IDLE_TIMEOUT
    deadline = time.monotonic() + timeout
    while True:
        workers = _live_workers(member)
        wrong = {n: (w.status.strip() if w else why) for n, (w, why) in workers.items() if not (w and _usable(w))}
        if not wrong:
            return f"settled {settle:g} s; usable on " + (", ".join(sorted(workers)) or "no front-end")
        if time.monotonic() >= deadline:
            raise StepFailed(
                f"{member.route} is not usable again after {timeout:g} s ("
                + "; ".join(f"{n}: {s}" for n, s in wrong.items())
                + "): not going on to the next member."
            )
        job.sleep(POLL_SECONDS * 2)


def _usable(worker) -> bool:
    flags = worker.flags
    return not (flags.error or flags.drain or flags.disabled or flags.stopped)


def _restart_member(job: _Job, route: str) -> None:
    member = (
        BalancerMember.objects.select_related("zope_server", "balancer")
        .filter(balancer=job.job.balancer, zope_server__name=route)
        .first()
    )
    if member is None:
        raise StepFailed(f"{route} is no longer a member of {job.job.balancer.name}.")
    if job.cancel_requested():
        raise Cancelled
    drained = False
    for step in RestartStepName.values:
        row = job.begin(member, step)
        try:
            outcome, detail = StepOutcome.OK, ""
            if step == RestartStepName.DRAIN:
                detail, drained = _drain(job, member, True), True
            elif step == RestartStepName.WAIT_IDLE:
                outcome, detail = _wait_idle(job, member)
            elif step == RestartStepName.RESTART:
                detail = _stop_traffic(job, member) + "\n" + _restart(member)
            elif step == RestartStepName.WAIT_HEALTHY:
                detail = _wait_healthy(job, member)
            elif step == RestartStepName.WARM:
                outcome, detail = _warm(member)
            elif step == RestartStepName.UNDRAIN:
                detail, drained = _drain(job, member, False), False
            elif step == RestartStepName.SETTLE:
                detail = _settle(job, member)
            member.refresh_from_db()
            job.end(row, outcome, detail)
        except Cancelled:
            note = ""
            if drained and step == RestartStepName.WAIT_IDLE:  # not restarted yet: put it back
                note = " " + _drain(job, member, False)
                drained = False
            job.end(row, StepOutcome.SKIPPED, "cancelled" + note)
            raise Cancelled(f"{route} was not restarted; its drain was cleared." if note else "") from None
        except StepFailed as exc:
            disabled = step in (RestartStepName.RESTART, RestartStepName.WAIT_HEALTHY, RestartStepName.WARM)
            left = f" {route} is left drained{' and disabled' if disabled else ''}." if drained else ""
            job.end(row, StepOutcome.FAILED, str(exc) + left)
            raise StepFailed(f"{route}: {step.replace('_', ' ')} failed: {exc}{left}") from None


def _finish(job: RollingRestart, status: str, message: str) -> None:
    RollingRestart.objects.filter(pk=job.pk).update(status=status, message=message, finished_at=timezone.now())


def restart_execute(
    restart_id: int, *, on_step: Callable[[RollingRestartStep], None] | None = None
) -> RollingRestart | None:
    """Claim the queued rolling restart (conditional UPDATE) and run it; None when another worker has it."""
    claimed = RollingRestart.objects.filter(pk=restart_id, status=RestartStatus.QUEUED).update(
        status=RestartStatus.RUNNING, started_at=timezone.now(), finished_at=None, message=""
    )
    if claimed != 1:
        return None
    job = _Job(RollingRestart.objects.select_related("balancer").get(pk=restart_id), on_step)
    try:
        for route in job.job.routes:
            if route in job.job.done_routes:
                continue
            _restart_member(job, route)
            job.job.done_routes = [*job.job.done_routes, route]
            RollingRestart.objects.filter(pk=restart_id).update(done_routes=job.job.done_routes)
        _finish(job.job, RestartStatus.SUCCEEDED, f"Restarted {', '.join(job.job.routes)}.")
    except Cancelled as exc:
        _finish(job.job, RestartStatus.CANCELLED, f"Cancelled. {exc}".strip())
    except StepFailed as exc:
        _finish(job.job, RestartStatus.FAILED, str(exc))
    except Exception as exc:  # a bug must still end the job's row
        log.exception("rolling restart #%s failed", restart_id)
        _finish(job.job, RestartStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
    job.job.refresh_from_db()
    return job.job
