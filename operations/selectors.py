"""Reads of the operations app: whether a rolling restart can run, a job with its steps, the warm-up paths.

API::

    restart_refusals(balancer) -> list[str]          # why a rolling restart cannot start (empty: it can)
    restart_plan(balancer) -> list[BalancerMember]    # the members it restarts, in order
    restart_progress(job) -> list[MemberProgress]     # per member: its steps (the job page and the API)
    warm_paths(balancer, limit=3) -> list[str]        # VirtualHostMonster paths of a few active sites
    warm_requests(balancer, limit=3) -> list[WarmRequest]  # (path, Host) to warm a restarted member with
    health_path_of(zope_server) -> str                # the path a restarted server must answer 200 on
    zope_server_ops(zope_server) -> ZopeServerOps     # the server's restart settings (unsaved defaults if none)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from balancers.choices import ServerKind
from balancers.models import Balancer, BalancerMember, ZopeServer
from operations.choices import ACTIVE_RESTART_STATUSES, RestartStepName, StepOutcome
from operations.models import RollingRestart, RollingRestartStep, ZopeServerOps
from sites.choices import SiteStatus
from sites.models import Site


def zope_server_ops(zope_server: ZopeServer) -> ZopeServerOps:
    ops = ZopeServerOps.objects.filter(zope_server=zope_server).first()
    return ops if ops is not None else ZopeServerOps(zope_server=zope_server)


def restart_plan(balancer: Balancer) -> list[BalancerMember]:
    """The members a rolling restart takes in turn: every member that takes traffic now (not disabled,
    not drained by someone), lbset by lbset. Disabled or drained members are left as they are."""
    return [
        m
        for m in BalancerMember.objects.filter(balancer=balancer)
        .select_related("zope_server", "balancer")
        .order_by("lbset", "zope_server__name")
        if not m.disabled and not m.drain
    ]


def restart_refusals(balancer: Balancer) -> list[str]:
    """Every reason a rolling restart of this balancer cannot start; empty when it can."""
    reasons = []
    if RollingRestart.objects.filter(balancer=balancer, status__in=ACTIVE_RESTART_STATUSES).exists():
        reasons.append(f"A rolling restart of {balancer.name} is already queued or running.")
    plan = restart_plan(balancer)
    if len(plan) < 2:
        names = ", ".join(m.route for m in plan) or "none"
        reasons.append(
            f"{balancer.name} has {len(plan)} usable member(s) ({names}): draining one would leave no member "
            "for new clients (the last-usable-member guard rail)."
        )
    ops = {o.zope_server_id: o for o in ZopeServerOps.objects.filter(zope_server__in=[m.zope_server for m in plan])}
    missing = [m.route for m in plan if not (ops.get(m.zope_server_id) and ops[m.zope_server_id].can_restart)]
    if missing:
        noun = "Node.js frontend server(s)" if balancer.kind == ServerKind.NODE else "Zope server(s)"
        reasons.append(
            f"No restart command for the {noun} {', '.join(missing)}: a superuser sets it on the server's page "
            "(Restart settings)."
        )
    return reasons


@dataclass
class MemberProgress:
    route: str
    state: str  # pending / running / done / failed / cancelled
    steps: list[RollingRestartStep] = field(default_factory=list)

    @property
    def stages(self) -> list[tuple[str, str]]:
        """(label, state) of each of the seven steps, for the progress bar."""
        latest = {s.step: s for s in self.steps}
        labels = dict(RestartStepName.choices)
        css: dict[str, str] = {StepOutcome.RUNNING: "current", StepOutcome.FAILED: "failed"}
        return [
            (labels[name], css.get(latest[name].outcome, "done") if name in latest else "todo")
            for name in RestartStepName.values
        ]


def restart_progress(job: RollingRestart) -> list[MemberProgress]:
    steps = list(job.steps.order_by("started_at", "id"))
    progress = []
    for route in job.routes:
        own = [s for s in steps if s.route == route]
        if route in job.done_routes:
            state = "done"
        elif any(s.outcome == StepOutcome.FAILED for s in own[-1:]):
            state = "failed"
        elif own and own[-1].outcome == StepOutcome.RUNNING:
            state = "running"
        elif own and own[-1].outcome == StepOutcome.SKIPPED and "cancelled" in own[-1].detail:
            state = "cancelled"
        else:
            state = "pending"
        progress.append(MemberProgress(route=route, state=state, steps=own))
    return progress


def warm_paths(balancer: Balancer, *, limit: int = 3) -> list[str]:
    """The VirtualHostMonster paths (as the front-ends send them) of a few of the balancer's active sites."""
    sites = Site.objects.filter(balancer=balancer, status=SiteStatus.ACTIVE).order_by("domain")[: max(limit, 0)]
    return [f"/VirtualHostBase/http/{s.domain}:80{s.plone_path}/VirtualHostRoot/" for s in sites]


@dataclass(frozen=True)
class WarmRequest:
    path: str
    host: str = ""  # the Host header to send ("": the server's own address)


def warm_requests(balancer: Balancer, *, limit: int = 3) -> list[WarmRequest]:
    """What a restarted member is warmed with: a Zope server, the VirtualHostMonster paths of a few of the
    balancer's active sites; a Node.js frontend server, `/` of a few of the active sites that use the balancer
    as their frontend balancer, with the site's Host (Volto renders that site's front page, calling Zope)."""
    if balancer.kind == ServerKind.NODE:
        sites = Site.objects.filter(frontend_balancer=balancer, status=SiteStatus.ACTIVE).order_by("domain")
        return [WarmRequest("/", domain) for domain in sites.values_list("domain", flat=True)[: max(limit, 0)]]
    return [WarmRequest(path) for path in warm_paths(balancer, limit=limit)]


def health_path_of(zope_server: ZopeServer) -> str:
    """A Zope server: its restart settings' health path (/@@ok by default). A Node.js frontend server: its own
    health path, the one the front-ends check (/ok, Volto's health check, by default)."""
    if zope_server.kind == ServerKind.NODE:
        return zope_server.health_path
    return zope_server_ops(zope_server).health_path
