"""The dashboard's read model: intended (database) and live (balancer-manager) state of every balancer.

`status_overview()` is what the dashboard template, GET /api/v1/status/ and its OpenAPI schema all use;
its shape is declared once, by the TypedDicts below (the API derives its serializers from them). The live
side is the poller's latest snapshot of each front-end (status.poller): reading the dashboard
sends no request to any front-end; `live=True` (or hosts fetched by the caller) asks them now.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, NotRequired, TypedDict

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from balancers.capacity import ApacheFacts
from balancers.choices import RenderMode
from balancers.models import Balancer, BalancerMember, Deployment, FrontEnd, StatusSample, ZopeServer
from balancers.selectors.capacity import StatusWorkers, empty_usage, worker_usage
from hostpanel.readmodel import DATETIME, Help
from rendering.manifest import node_member_url, node_ports
from status.manager import ManagerEndpoint, fetch_all, status_timeout
from status.parse import BalancerStatus, FrontEndLive, HostState, MemberStatus, find_worker
from status.poller import latest_hosts


class StatusFrontEnd(TypedDict):
    id: int | None
    name: str
    url: Annotated[str, Help("The front-end's balancer-manager URL.")]
    state: Annotated[str, Help("ok, down, timeout, refused, html, junk, unconfigured, or unpolled (no sample yet).")]
    reason: Annotated[str, Help("Why the front-end is not ok, in words.")]
    duration: Annotated[float, Help("Seconds the fetch took.")]
    fetched_at: Annotated[str | None, DATETIME]
    age: Annotated[float | None, Help("Seconds since fetched_at: how old this sample is.")]
    stale: Annotated[bool, Help("No sample, or one older than three poll intervals (is the poller running?).")]
    workers: Annotated[StatusWorkers, Help("Apache workers (mod_status): an hour of busy workers against the limit.")]


class StatusDeploymentHost(TypedDict):
    frontend: str
    status: str
    stage: str
    error: str


class StatusDeployment(TypedDict):
    id: int
    status: str
    trigger: str
    actor: str
    revision: str
    created_at: Annotated[str | None, DATETIME]
    finished_at: Annotated[str | None, DATETIME]
    hosts: list[StatusDeploymentHost]


class StatusIntended(TypedDict):
    hot_standby: bool
    drain: bool
    disabled: bool
    loadfactor: int
    state: Annotated[str, Help("active, hot standby, drain or disabled.")]


class StatusLiveMember(TypedDict):
    """A member's worker on one front-end. When the front-end did not answer only state (the host's
    state), status (its reason) and host_down are given; when the worker is not there, state is
    "missing"; otherwise the worker's flags and counters."""

    state: Annotated[
        str,
        Help(
            "ok, hot standby, drain, disabled, error, health check failing (mod_proxy_hcheck took it out), "
            "stopped, unknown; missing; or the host's state."
        ),
    ]
    status: Annotated[str, Help("balancer-manager's status string, e.g. 'Init Ok'.")]
    host_down: NotRequired[bool]
    url: NotRequired[str]
    hot_standby: NotRequired[bool]
    drain: NotRequired[bool]
    disabled: NotRequired[bool]
    stopped: NotRequired[bool]
    error: NotRequired[bool]
    health_check_failed: NotRequired[Annotated[bool, Help("Out of rotation by its health checks (flag C).")]]
    loadfactor: NotRequired[float]
    lbset: NotRequired[int]
    elected: NotRequired[int]
    busy: NotRequired[int]
    load: NotRequired[Annotated[int, Help("The lbmethod's running score (lbstatus).")]]
    transferred: NotRequired[int]
    read: NotRequired[int]
    error_time: NotRequired[str | None]


class StatusHistory(TypedDict):
    elected: Annotated[list[int], Help("Requests per time bucket.")]
    traffic: Annotated[list[int], Help("Bytes per time bucket.")]


class StatusMember(TypedDict):
    id: int
    route: str
    zope_server: str
    url: str
    lbset: int
    intended: Annotated[StatusIntended, Help("The flags saved in the panel.")]
    live: Annotated[dict[str, StatusLiveMember], Help("The worker on each enabled front-end, by front-end name.")]
    in_sync: bool
    drift: Annotated[list[str], Help("Each difference, in words.")]
    history: StatusHistory


class StatusUnknownWorker(TypedDict):
    frontend: str
    url: str
    route: str
    status: str


class StatusBalancer(TypedDict):
    id: int
    name: str
    kind: Annotated[str, Help("zope: its members are Zope servers; node: Node.js frontend servers (one Volto build).")]
    lbmethod: str
    sticky_cookie: str
    members: list[StatusMember]
    unknown_live_members: Annotated[
        list[StatusUnknownWorker], Help("Live workers of this balancer that match no member in the panel.")
    ]
    missing_on: Annotated[list[str], Help("Front-ends that answered but do not have this balancer.")]


class StatusOverview(TypedDict):
    generated_at: Annotated[str, DATETIME]
    live: Annotated[bool, Help("True: every front-end was asked now (?live=1); false: the poller's latest samples.")]
    timeout: Annotated[float, Help("Seconds each front-end was given to answer.")]
    history_minutes: int
    frontends: list[StatusFrontEnd]
    last_deployment: StatusDeployment | None
    balancers: list[StatusBalancer]


SPARKLINE_MINUTES = 60


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _live_member_dict(worker: MemberStatus) -> StatusLiveMember:
    return {
        "state": worker.flags.state,
        "status": worker.status.strip(),
        "url": worker.url,
        "hot_standby": worker.flags.hot_standby,
        "drain": worker.flags.drain,
        "disabled": worker.flags.disabled,
        "stopped": worker.flags.stopped,
        "error": worker.flags.error,
        "health_check_failed": worker.flags.health_check_failed,
        "loadfactor": worker.loadfactor,
        "lbset": worker.lbset,
        "elected": worker.elected,
        "busy": worker.busy,
        "load": worker.load,
        "transferred": worker.transferred,
        "read": worker.read,
        "error_time": worker.error_time,
    }


def _live_mismatches(
    intended: StatusIntended, live: dict[str, StatusLiveMember], hosts: list[FrontEndLive]
) -> list[str]:
    """Human sentences for every way the live workers differ from the database or from each other."""
    problems: list[str] = []
    seen: dict[str, tuple] = {}
    for host in hosts:
        if not host.ok:
            continue
        worker = live.get(host.frontend_name)
        if worker is None or worker["state"] == "missing":
            problems.append(f"{host.frontend_name}: not in this balancer (not deployed yet?)")
            continue
        for flag, words in (("hot_standby", "hot standby"), ("drain", "drain"), ("disabled", "disabled")):
            if worker[flag] != intended[flag]:
                panel, actual = ("on", "off") if intended[flag] else ("off", "on")
                problems.append(f"{host.frontend_name}: {words} is {panel} in the panel but {actual} live")
        if abs(worker["loadfactor"] - intended["loadfactor"]) > 0.001:
            problems.append(
                f"{host.frontend_name}: loadfactor {intended['loadfactor']} in the panel, {worker['loadfactor']:g} live"
            )
        seen[host.frontend_name] = (worker["hot_standby"], worker["drain"], worker["disabled"], worker["loadfactor"])
    if len(set(seen.values())) > 1:
        problems.append("front-ends disagree: " + ", ".join(f"{name} {live[name]['status']}" for name in seen))
    return problems


def _sparklines(
    samples: Iterable[tuple[int, str, str, str, datetime.datetime, int, int, int]],
    member_key: dict[tuple[str, str], int],
    route_key: dict[tuple[str, str], int],
    *,
    now: datetime.datetime,
    buckets: int,
    minutes: int,
) -> dict[int, dict[str, list[int]]]:
    """Per member id: requests elected and bytes moved per time bucket, summed over front-ends. Apache's
    counters are cumulative since its last restart, so each bucket holds the delta to the previous sample
    (a counter that went down was reset by a restart: its new value is the delta)."""
    start = now - datetime.timedelta(minutes=minutes)
    width = minutes * 60 / buckets
    series: dict[int, dict[str, list[int]]] = {}
    previous: dict[tuple[int, str, str], tuple[int, int]] = {}
    for frontend_id, balancer, url, route, taken_at, elected, transferred, read in samples:
        member_id = member_key.get((balancer, url)) or (route_key.get((balancer, route)) if route else None)
        if member_id is None:
            continue
        traffic = transferred + read
        key = (frontend_id, balancer, url)
        before = previous.get(key)
        previous[key] = (elected, traffic)
        if before is None:
            continue
        d_elected = elected - before[0] if elected >= before[0] else elected
        d_traffic = traffic - before[1] if traffic >= before[1] else traffic
        index = min(int((taken_at - start).total_seconds() // width), buckets - 1)
        if index < 0:
            continue
        line = series.setdefault(member_id, {"elected": [0] * buckets, "traffic": [0] * buckets})
        line["elected"][index] += d_elected
        line["traffic"][index] += d_traffic
    return series


@dataclass(frozen=True)
class _Fleet:
    """The enabled front-ends, what each answered, and their Node ports (for node-vhosts balancers)."""

    frontends: list[FrontEnd]
    hosts: list[FrontEndLive]
    ports: dict[int, dict[str, int]]

    @classmethod
    def read(cls, frontends: list[FrontEnd], hosts: list[FrontEndLive]) -> _Fleet:
        server_names = list(ZopeServer.objects.order_by("name").values_list("name", flat=True))
        return cls(frontends, hosts, {f.pk: node_ports(server_names, f.node_port_base) for f in frontends})

    def frontend(self, pk: int | None) -> FrontEnd | None:
        return next((f for f in self.frontends if f.pk == pk), None)

    def node_url(self, frontend: FrontEnd, member: BalancerMember) -> str:
        """The member's worker URL on this front-end's Node tier (node-vhosts balancers)."""
        return node_member_url(frontend.node_address, self.ports[frontend.pk][member.zope_server.name])


@dataclass(frozen=True)
class _History:
    """An hour of requests and traffic per member id, in `buckets` time buckets."""

    buckets: int
    series: dict[int, dict[str, list[int]]]

    def of(self, member_id: int) -> StatusHistory:
        line = self.series.get(member_id)
        if line is None:
            return {"elected": [0] * self.buckets, "traffic": [0] * self.buckets}
        return {"elected": line["elected"], "traffic": line["traffic"]}


def status_overview(
    *, hosts: list[FrontEndLive] | None = None, timeout: float | None = None, live: bool = False
) -> StatusOverview:
    """Intended (database) and live state of every balancer, with drift, the last deployment and an hour
    of history. The live state is each enabled front-end's latest snapshot (no request to any front-end),
    or with live=True every balancer-manager asked now (or `hosts`, already fetched by the caller).
    JSON-safe; a fixed number of SQL queries whatever the number of sites, balancers, members or front-ends."""
    frontends = list(FrontEnd.objects.filter(enabled=True).select_related("live_snapshot").order_by("name"))
    asked_now = live or hosts is not None
    if hosts is None and live:
        hosts = fetch_all([ManagerEndpoint.of(f) for f in frontends], timeout=timeout)
    elif hosts is None:
        hosts = latest_hosts(frontends)
    now = timezone.now()
    balancers = list(
        Balancer.objects.order_by("name").prefetch_related(
            Prefetch(
                "members",
                queryset=BalancerMember.objects.select_related("zope_server").order_by("lbset", "zope_server__name"),
            )
        )
    )
    fleet = _Fleet.read(frontends, hosts)
    history = _history(balancers, fleet, now=now)
    deployment = Deployment.objects.order_by("-created_at", "-id").prefetch_related("hosts").first()
    return {
        "generated_at": now.isoformat(),
        "live": asked_now,
        "timeout": status_timeout() if timeout is None else timeout,
        "history_minutes": SPARKLINE_MINUTES,
        "frontends": _frontend_dicts(hosts, now, worker_usage([f.pk for f in frontends], now=now)),
        "last_deployment": _deployment_dict(deployment),
        "balancers": [_balancer_dict(balancer, fleet, history) for balancer in balancers],
    }


def _history(balancers: list[Balancer], fleet: _Fleet, *, now: datetime.datetime) -> _History:
    """The last hour of the poller's samples (one query), summed per member."""
    buckets = max(SPARKLINE_MINUTES * 60 // max(settings.HOSTPANEL_STATUS_POLL_SECONDS, 1), 2)
    buckets = min(buckets, 120)
    samples = (
        StatusSample.objects.filter(taken_at__gte=now - datetime.timedelta(minutes=SPARKLINE_MINUTES + 1))
        .order_by("taken_at", "id")
        .values_list("frontend_id", "balancer", "member_url", "route", "taken_at", "elected", "transferred", "read")
    )
    member_key, route_key = _sample_keys(balancers, fleet)
    series = _sparklines(samples.iterator(), member_key, route_key, now=now, buckets=buckets, minutes=SPARKLINE_MINUTES)
    return _History(buckets, series)


def _sample_keys(
    balancers: list[Balancer], fleet: _Fleet
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Member ids by (balancer, worker URL) - every front-end's Node URL too - and by (balancer, route)."""
    member_key: dict[tuple[str, str], int] = {}
    route_key: dict[tuple[str, str], int] = {}
    for balancer in balancers:
        for member in balancer.members.all():
            member_key[(balancer.name, member.zope_server.url)] = member.pk
            route_key[(balancer.name, member.zope_server.name)] = member.pk
            if balancer.render_mode == RenderMode.NODE_VHOSTS:
                for f in fleet.frontends:
                    member_key[(balancer.name, fleet.node_url(f, member))] = member.pk
    return member_key, route_key


def _balancer_dict(balancer: Balancer, fleet: _Fleet, history: _History) -> StatusBalancer:
    live_by_host = {h.frontend_name: h.balancer(balancer.name) for h in fleet.hosts if h.ok}
    members = [_member_dict(member, balancer, fleet, live_by_host, history) for member in balancer.members.all()]
    matched = {  # the workers that some member of this balancer is
        name: {m["live"][name]["url"] for m in members if "url" in m["live"].get(name, {})} for name in live_by_host
    }
    unknown: list[StatusUnknownWorker] = [
        {"frontend": name, "url": w.url, "route": w.route, "status": w.status.strip()}
        for name, live_balancer in live_by_host.items()
        if live_balancer
        for w in live_balancer.members
        if w.url not in matched[name]
    ]
    return {
        "id": balancer.pk,
        "name": balancer.name,
        "kind": balancer.kind,
        "lbmethod": balancer.lbmethod,
        "sticky_cookie": balancer.sticky_cookie,
        "members": members,
        "unknown_live_members": unknown,
        "missing_on": [name for name, b in live_by_host.items() if b is None],
    }


def _member_dict(
    member: BalancerMember,
    balancer: Balancer,
    fleet: _Fleet,
    live_by_host: dict[str, BalancerStatus | None],
    history: _History,
) -> StatusMember:
    intended: StatusIntended = {
        "hot_standby": member.hot_standby,
        "drain": member.drain,
        "disabled": member.disabled,
        "loadfactor": member.loadfactor,
        "state": member.state,
    }
    workers = _live_workers(member, balancer, fleet, live_by_host)
    drift = _live_mismatches(intended, workers, fleet.hosts)
    return {
        "id": member.pk,
        "route": member.zope_server.name,
        "zope_server": member.zope_server.name,
        "url": member.zope_server.url,
        "lbset": member.lbset,
        "intended": intended,
        "live": workers,
        "in_sync": not drift,
        "drift": drift,
        "history": history.of(member.pk),
    }


def _live_workers(
    member: BalancerMember, balancer: Balancer, fleet: _Fleet, live_by_host: dict[str, BalancerStatus | None]
) -> dict[str, StatusLiveMember]:
    """The member's worker on each front-end, by front-end name."""
    workers: dict[str, StatusLiveMember] = {}
    for host in fleet.hosts:
        if not host.ok:
            # the host's own state (refused, timeout ...): the member's live state is unknown
            workers[host.frontend_name] = {"state": str(host.state), "status": host.reason, "host_down": True}
            continue
        live_balancer = live_by_host[host.frontend_name]
        urls = [member.zope_server.url]
        frontend = fleet.frontend(host.frontend_id)
        if balancer.render_mode == RenderMode.NODE_VHOSTS and frontend is not None:
            urls.append(fleet.node_url(frontend, member))
        worker = find_worker(live_balancer, urls=urls, route=member.zope_server.name) if live_balancer else None
        if worker is None:
            workers[host.frontend_name] = {"state": "missing", "status": "not on this front-end"}
        else:
            workers[host.frontend_name] = _live_member_dict(worker)
    return workers


def _frontend_dicts(
    hosts: list[FrontEndLive], now: datetime.datetime, usage: dict[int, StatusWorkers]
) -> list[StatusFrontEnd]:
    stale_after = 3 * max(settings.HOSTPANEL_STATUS_POLL_SECONDS, 1)
    return [
        {
            "id": h.frontend_id,
            "name": h.frontend_name,
            "url": h.url,
            "state": str(h.state),
            "reason": h.reason,
            "duration": round(h.duration, 3),
            "fetched_at": _iso(h.fetched_at),
            "age": _age(h, now),
            "stale": h.state == HostState.UNPOLLED or (_age(h, now) or 0) > stale_after,
            "workers": usage.get(h.frontend_id) or empty_usage(),  # type: ignore[arg-type]
        }
        for h in hosts
    ]


def _age(host: FrontEndLive, now: datetime.datetime) -> float | None:
    return None if host.fetched_at is None else round(max((now - host.fetched_at).total_seconds(), 0.0), 1)


def _deployment_dict(deployment: Deployment | None) -> StatusDeployment | None:
    if deployment is None:
        return None
    return {
        "id": deployment.pk,
        "status": deployment.status,
        "trigger": deployment.trigger,
        "actor": deployment.actor,
        "revision": deployment.revision,
        "created_at": _iso(deployment.created_at),
        "finished_at": _iso(deployment.finished_at),
        "hosts": [
            {"frontend": h.frontend_name, "status": h.status, "stage": h.stage, "error": h.error[:300]}
            for h in deployment.hosts.all()
        ],
    }


def balancer_live_members(balancer: Balancer, members: list[BalancerMember]) -> dict[int, dict[str, StatusLiveMember]]:
    """The balancer page's live column: {member id: {front-end name: its worker there}}, from each enabled
    front-end's latest snapshot (no request to any front-end; empty before the poller's first sample)."""
    frontends = list(FrontEnd.objects.filter(enabled=True).select_related("live_snapshot").order_by("name"))
    fleet = _Fleet.read(frontends, latest_hosts(frontends))
    live_by_host = {h.frontend_name: h.balancer(balancer.name) for h in fleet.hosts if h.ok}
    return {member.pk: _live_workers(member, balancer, fleet, live_by_host) for member in members}


def frontends_checking_health() -> tuple[list[str], list[str]]:
    """(names of the enabled front-ends whose Apache loads mod_proxy_hcheck, names of the others), as their
    last connection test read them: where a Zope server's health-check settings are rendered."""
    checking: list[str] = []
    others: list[str] = []
    for name, facts in FrontEnd.objects.filter(enabled=True).order_by("name").values_list("name", "apache_facts"):
        (
            checking
            if ApacheFacts.from_json(facts if isinstance(facts, dict) else None).has("proxy_hcheck")
            else others
        ).append(name)
    return checking, others
