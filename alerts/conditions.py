"""What is wrong right now, as a list of Conditions (event, subject, summary, detail) — no state, no debounce.

* from one balancer-manager poll (the hosts status.poller fetched): a member in error on a
  front-end, a front-end that does not answer, a member whose live flags differ from the panel's;
* from the mod_status samples (WorkerSample) after each poll: a front-end whose busy workers have stayed at
  or above HOSTPANEL_SATURATION_PERCENT of MaxRequestWorkers for HOSTPANEL_SATURATION_MINUTES;
* from the database: the last finished deployment failed or was reverted, a front-end the last deployment
  left behind, a deployment queued longer than HOSTPANEL_DEPLOY_REQUEUE_MAX_SECONDS (no worker takes it),
  certificates failing to renew or expiring within 14 days (certificates.selectors), a front-end whose usage
  logs wait uncollected past HOSTPANEL_USAGE_BACKLOG_MAX_FILES (metering.collect).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings

from alerts.choices import AlertEvent
from balancers.capacity import ApacheFacts, peak_clients_seen, sizing_advice
from balancers.choices import DeploymentStatus, HostStatus, RenderMode
from balancers.models import Balancer, BalancerMember, Deployment, DeploymentHost, FrontEnd, WorkerSample
from balancers.services import member_worker_urls
from certificates.choices import CertificateStatus
from certificates.selectors import ATTENTION_WINDOW, certificates_needing_attention
from metering.backlog import backlog_files
from metering.models import CollectionState
from status.manager import MemberChange
from status.parse import FrontEndLive, HostState, find_worker

_BAD_HOST = {HostStatus.FAILED, HostStatus.ROLLED_BACK, HostStatus.REVERTED}
# finished deployments that say something about the front-ends (a superseded one never ran)
_COUNTED = [DeploymentStatus.SUCCEEDED, DeploymentStatus.PARTIAL, DeploymentStatus.FAILED, DeploymentStatus.REVERTED]


@dataclass(frozen=True)
class Condition:
    event: str
    subject: str
    summary: str
    detail: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.event, self.subject)


def poll_conditions(hosts: list[FrontEndLive]) -> list[Condition]:
    found: list[Condition] = []
    frontends = {f.pk: f for f in FrontEnd.objects.filter(enabled=True)}
    members = list(BalancerMember.objects.select_related("balancer", "zope_server"))
    for host in hosts:
        if host.state == HostState.UNCONFIGURED or host.frontend_id not in frontends:
            continue
        if not host.ok:
            found.append(
                Condition(
                    AlertEvent.FRONTEND_DOWN,
                    host.frontend_name,
                    f"Front-end {host.frontend_name} does not answer ({host.state})",
                    f"{host.url}: {host.reason}",
                )
            )
            continue
        for balancer in host.balancers:
            for worker in balancer.members:
                if worker.flags.error or worker.flags.health_check_failed:
                    name = worker.route or worker.url
                    found.append(
                        Condition(
                            AlertEvent.MEMBER_DOWN,
                            f"{host.frontend_name}/{balancer.name}/{name}",
                            f"Member {name} of {balancer.name} is down on {host.frontend_name}",
                            f"{worker.url} is '{worker.status.strip()}' in {host.frontend_name}'s balancer-manager.",
                        )
                    )
        found += _drift(host, frontends[host.frontend_id], members)
    return found


def _drift(host: FrontEndLive, frontend: FrontEnd, members: list[BalancerMember]) -> list[Condition]:
    found = []
    for member in members:
        live = host.balancer(member.balancer.name)
        worker = find_worker(live, urls=member_worker_urls(member, frontend), route=member.route) if live else None
        if worker is None:
            wrong = [f"not in the balancer-manager of {host.frontend_name} (not deployed?)"]
        else:
            wanted = MemberChange(hot_standby=member.hot_standby, drain=member.drain, disabled=member.disabled)
            wrong = wanted.mismatches(worker)
        if wrong:
            found.append(
                Condition(
                    AlertEvent.DRIFT,
                    f"{host.frontend_name}/{member.balancer.name}/{member.route}",
                    f"{member.balancer.name}/{member.route} on {host.frontend_name} differs from the panel",
                    "; ".join(wrong),
                )
            )
    return found


SATURATION_CONSEQUENCE = "keep-alive connections are being closed: visitors can see failed requests"


def saturated(busy: int, limit: int, percent: float) -> bool:
    """busy workers at or above percent % of limit (a limit of 0 is unknown: never saturated)."""
    return limit > 0 and busy * 100 >= percent * limit


def worker_limit(max_workers: int, slots: int) -> int:
    """What busy workers are measured against: MaxRequestWorkers as read by the connection test, else the
    scoreboard's slots (ServerLimit x ThreadsPerChild, which MaxRequestWorkers never exceeds)."""
    return max_workers or slots


def saturation_conditions(now: datetime.datetime) -> list[Condition]:
    """One condition per enabled front-end whose mod_status samples have all been saturated for at least
    HOSTPANEL_SATURATION_MINUTES up to its latest sample (which must be recent: a poller that stopped
    proves nothing). A constant number of queries."""
    percent = float(settings.HOSTPANEL_SATURATION_PERCENT)
    window = datetime.timedelta(minutes=float(settings.HOSTPANEL_SATURATION_MINUTES))
    poll = datetime.timedelta(seconds=max(float(settings.HOSTPANEL_STATUS_POLL_SECONDS), 1.0))
    recent = now - 3 * poll
    rows = (
        WorkerSample.objects.filter(taken_at__gte=now - window - 3 * poll, taken_at__lte=now, frontend__enabled=True)
        .order_by("frontend_id", "-taken_at", "-id")
        .values_list("frontend_id", "taken_at", "busy", "keepalive", "max_workers", "slots")
    )
    series: dict[int, list[tuple]] = {}
    for frontend_id, *sample in rows:
        series.setdefault(frontend_id, []).append(tuple(sample))  # newest first
    found: list[Condition] = []
    if not series:
        return found
    frontends = {f.pk: f for f in FrontEnd.objects.filter(pk__in=series)}
    node_vhosts = Balancer.objects.filter(render_mode=RenderMode.NODE_VHOSTS).exists()
    for frontend_id, samples in series.items():
        frontend = frontends.get(frontend_id)
        if frontend is None or samples[0][0] < recent:
            continue
        since = None
        for taken_at, busy, _keepalive, max_workers, slots in samples:
            if not saturated(busy, worker_limit(max_workers, slots), percent):
                break
            since = taken_at
        if since is None or now - since < window:
            continue
        _at, busy, _ka, max_workers, slots = samples[0]
        limit = worker_limit(max_workers, slots)
        advice = sizing_advice(
            ApacheFacts.of(frontend),
            peak_clients_seen([(s[1], s[2]) for s in samples], node_vhosts=node_vhosts),
            node_vhosts=node_vhosts,
            peak_source="the most seen while saturated: demand is at least that",
        )
        what = "MaxRequestWorkers" if max_workers else "scoreboard slots (MaxRequestWorkers not read yet)"
        minutes = (now - since).total_seconds() / 60
        found.append(
            Condition(
                AlertEvent.SATURATION,
                frontend.name,
                f"Front-end {frontend.name}: {busy} of {limit} Apache workers busy for {minutes:.1f} min",
                f"Busy workers have stayed at or above {percent:g} % of {what} ({limit}) since "
                f"{since:%H:%M:%S} UTC: {SATURATION_CONSEQUENCE}.\n\nSizing advice:\n"
                + "\n".join(f"- {line}" for line in advice.lines)
                + (f"\n\n{advice.config}" if advice.config else ""),
            )
        )
    return found


def database_conditions(now: datetime.datetime) -> list[Condition]:
    found: list[Condition] = []
    last = Deployment.objects.filter(status__in=_COUNTED).order_by("-created_at", "-id").first()
    if last is not None and last.status in (DeploymentStatus.FAILED, DeploymentStatus.REVERTED):
        event = (
            AlertEvent.DEPLOYMENT_FAILED if last.status == DeploymentStatus.FAILED else AlertEvent.DEPLOYMENT_REVERTED
        )
        errors = "; ".join(f"{h.frontend_name}: {h.error}" for h in last.hosts.all() if h.error)
        found.append(Condition(event, "deployments", f"Deployment #{last.pk} {last.status}", errors[:4000]))
    for frontend in FrontEnd.objects.filter(enabled=True).order_by("name"):
        host = (
            DeploymentHost.objects.filter(frontend=frontend, deployment__status__in=_COUNTED)
            .select_related("deployment")
            .order_by("-deployment__created_at", "-id")
            .first()
        )
        if host and host.status in _BAD_HOST and host.deployment.status != DeploymentStatus.FAILED:
            found.append(
                Condition(
                    AlertEvent.HOST_BEHIND,
                    frontend.name,
                    f"Deployment #{host.deployment_id} left {frontend.name} behind ({host.status})",
                    host.error[:4000],
                )
            )
    found += _waiting_deployments(now)
    found += _usage_backlogs(now)
    for cert in certificates_needing_attention(now):
        domain = cert.site.domain
        if cert.status == CertificateStatus.MISMATCH:
            found.append(
                Condition(
                    AlertEvent.CERTIFICATE_FAILING,
                    domain,
                    f"The certificate of {domain} does not cover every name of the site (mismatch)",
                    cert.last_error[:4000],
                )
            )
        elif cert.status in (CertificateStatus.FAILED, CertificateStatus.EXPIRED) or cert.failures:
            found.append(
                Condition(
                    AlertEvent.CERTIFICATE_FAILING,
                    domain,
                    f"The certificate of {domain} fails to renew ({cert.status}, {cert.failures} failure(s))",
                    cert.last_error[:4000],
                )
            )
        if cert.not_after is not None and cert.not_after <= now + ATTENTION_WINDOW:
            found.append(
                Condition(
                    AlertEvent.CERTIFICATE_EXPIRING,
                    domain,
                    f"The certificate of {domain} expires {cert.not_after:%Y-%m-%d %H:%M} UTC",
                    f"Issued by {cert.issuer or '?'}; status {cert.status}.",
                )
            )
    return found


def _waiting_deployments(now: datetime.datetime) -> list[Condition]:
    """One condition while any deployment has been queued longer than the longest requeue wait: the reaper
    has handed it over again and again, and no worker took it (none running, or the queue loses it)."""
    cap = datetime.timedelta(seconds=settings.HOSTPANEL_DEPLOY_REQUEUE_MAX_SECONDS)
    waiting = Deployment.objects.filter(status=DeploymentStatus.QUEUED, created_at__lt=now - cap)
    oldest = waiting.order_by("created_at", "id").first()
    if oldest is None:
        return []
    minutes = int((now - oldest.created_at).total_seconds() // 60)
    return [
        Condition(
            AlertEvent.DEPLOYMENT_WAITING,
            "deployment queue",
            f"Deployment #{oldest.pk} has waited {minutes} min in the queue",
            f"{waiting.count()} deployment(s) queued longer than HOSTPANEL_DEPLOY_REQUEUE_MAX_SECONDS "
            f"({cap.total_seconds():g} s); #{oldest.pk} was handed to the task queue {oldest.enqueue_attempts} "
            f"time(s). Is a deploy worker running? {oldest.message}".strip()[:4000],
        )
    ]


def _usage_backlogs(now: datetime.datetime) -> list[Condition]:
    """A front-end with usage logging on whose closed usage-log files wait uncollected past the bound: as
    last seen, or one per rotation interval since its last full collection while it cannot be reached."""
    bound = settings.HOSTPANEL_USAGE_BACKLOG_MAX_FILES
    found = []
    states = CollectionState.objects.filter(frontend__enabled=True).exclude(frontend__usage_log_dir="")
    for state in states.select_related("frontend").order_by("frontend__name"):
        waiting = backlog_files(state, now)
        if waiting > bound:
            name = state.frontend.name
            found.append(
                Condition(
                    AlertEvent.USAGE_BACKLOG,
                    name,
                    f"{waiting} usage-log file(s) wait uncollected on {name}",
                    f"More than HOSTPANEL_USAGE_BACKLOG_MAX_FILES ({bound}); last collected "
                    f"{state.collected_at:%Y-%m-%d %H:%M} UTC. {state.error}".strip()[:4000]
                    if state.collected_at
                    else f"More than HOSTPANEL_USAGE_BACKLOG_MAX_FILES ({bound}); never collected. {state.error}"[
                        :4000
                    ],
                )
            )
    return found
