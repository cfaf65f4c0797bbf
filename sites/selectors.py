"""Reads of client sites: is a site's current configuration live on every front-end?

A change to a site is saved at `Site.updated_at`. A deployment host renders the database state AFTER it
took the front-end's lease, the moment recorded as `DeploymentHost.started_at` (deploy.runner),
so a succeeded (or unchanged) host with `started_at >= updated_at` carries the change. A site is live when
every enabled front-end has such a host and no rollback (a stored, older tree) landed there since, its last
deployment did not fail the proof that HostPanel's vhost is the one answering there (FrontEnd.apache_facts
release_proof, deploy.vhost_proof), and the last deployment did not leave it out of the config
(`Site.render_error`, set and cleared by the deployer: a left-out site serves at most its previous file, or
nothing; `left_out` gives the reason).

The fleet's side (front-ends and deployments) is read once per page, in two queries whatever the number of
sites; each site's answer is then a comparison with its own `updated_at` (no migration, no per-site query).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TypedDict

from django.db.models import OuterRef, Q, Subquery

from balancers.capacity import ApacheFacts
from balancers.choices import DeploymentStatus, DeploymentTrigger, HostStatus
from balancers.models import Deployment, DeploymentCause, DeploymentHost, FrontEnd
from sites.models import Site
from status.parse import UNREACHABLE_STATES

GOOD_HOST = (HostStatus.SUCCEEDED, HostStatus.UNCHANGED)
# every trigger but a rollback renders the database state (a rollback pushes an earlier stored tree)
RENDERING_TRIGGERS = tuple(t for t in DeploymentTrigger.values if t != DeploymentTrigger.ROLLBACK)
# how many of a front-end's newest good host rows are read: the leases may run deployments out of id order,
# never by this many
RECENT_HOSTS = 20


class SiteLiveness(TypedDict):
    live: bool
    pending_deployment: int | None
    left_out: str  # why the last deployment left the site out of the config; "" when it did not


@dataclass(frozen=True)
class PendingDeployment:
    id: int
    status: str
    started_at: datetime.datetime | None


@dataclass(frozen=True)
class FrontEndDeployState:
    """One enabled front-end's side: when it last rendered the database state (a good host row), when a
    rollback last landed there, why its last deployment could not prove HostPanel's vhost answers ("" =
    proven), and the deployment whose release it serves (ActivatedRelease)."""

    id: int
    name: str
    rendered: datetime.datetime | None
    rolled_back: datetime.datetime | None
    unproven: str
    serving_deployment: int | None

    @property
    def since(self) -> datetime.datetime | None:
        """The moment from which this front-end carries every change (None: never, or a rollback since)."""
        if self.rendered is None or self.unproven:
            return None
        if self.rolled_back is not None and self.rolled_back >= self.rendered:
            return None
        return self.rendered


@dataclass(frozen=True)
class DeployState:
    """What the enabled front-ends run: `current_since` is the oldest moment at which every one of them
    rendered the current state (None when one never did, or runs a rolled-back tree); `pending` are the
    queued and running deployments that render the current state (rollbacks excluded), oldest first."""

    frontends: int
    current_since: datetime.datetime | None
    pending: tuple[PendingDeployment, ...]
    hosts: tuple[FrontEndDeployState, ...] = ()

    def liveness(self, site: Site) -> SiteLiveness:
        """Is this site's latest change on every enabled front-end, and if not, which deployment carries it?"""
        left_out = site.render_error
        live = self.frontends > 0 and self.current_since is not None and self.current_since >= site.updated_at
        if live and not left_out:
            return {"live": True, "pending_deployment": None, "left_out": ""}
        carrier = next(
            (
                p.id
                for p in self.pending
                # a queued deployment renders the state current when it runs; a running one claimed after
                # the change rendered it too (its hosts take their lease after the claim)
                if p.status == DeploymentStatus.QUEUED or (p.started_at is not None and p.started_at >= site.updated_at)
            ),
            None,
        )
        return {"live": False, "pending_deployment": carrier, "left_out": left_out}

    def carrier(self, site: Site) -> int | None:
        """The queued or running deployment that will carry the site's latest change, if any."""
        return self.liveness(site)["pending_deployment"]


def _latest_good_start(triggers: tuple[str, ...]) -> Subquery:
    """Per front-end (the outer query): the latest started_at among its last RECENT_HOSTS good host rows
    that ran one of these triggers. Reading the newest rows only (by id: an index walk) keeps the cost flat
    however long the deployment history grows."""
    recent = (
        DeploymentHost.objects.filter(frontend=OuterRef(OuterRef("pk")), status__in=GOOD_HOST)
        .order_by("-id")
        .values("id")[:RECENT_HOSTS]
    )
    return Subquery(
        DeploymentHost.objects.filter(pk__in=recent, deployment__trigger__in=triggers)
        .order_by("-started_at")
        .values("started_at")[:1]
    )


def deploy_state() -> DeployState:
    """The fleet's side of every site's liveness, in two queries."""
    hosts = tuple(
        FrontEndDeployState(
            id=pk,
            name=name,
            rendered=rendered,
            rolled_back=rolled_back,
            unproven=ApacheFacts.from_json(facts).release_proof,
            serving_deployment=serving,
        )
        for pk, name, rendered, rolled_back, facts, serving in FrontEnd.objects.filter(enabled=True)
        .annotate(
            rendered=_latest_good_start(RENDERING_TRIGGERS),
            rolled_back=_latest_good_start((DeploymentTrigger.ROLLBACK,)),
        )
        .order_by("name")
        .values_list("pk", "name", "rendered", "rolled_back", "apache_facts", "activated__deployment_id")
    )
    since = [h.since for h in hosts]
    pending = tuple(
        PendingDeployment(id=pk, status=status, started_at=started_at)
        for pk, status, started_at in Deployment.objects.filter(
            status__in=(DeploymentStatus.QUEUED, DeploymentStatus.RUNNING)
        )
        .filter(trigger__in=RENDERING_TRIGGERS)
        .order_by("id")
        .values_list("id", "status", "started_at")
    )
    current_since = None if not since or None in since else min(s for s in since if s is not None)
    return DeployState(frontends=len(hosts), current_since=current_since, pending=pending, hosts=hosts)


def site_liveness(site: Site) -> SiteLiveness:
    """One site's liveness (two queries); for a page of sites read deploy_state() once instead."""
    return deploy_state().liveness(site)


# --- the site page: "live, and where" ------------------------------------------------------------------


class SitePlacement(TypedDict):
    """One enabled front-end's answer for one site."""

    frontend: str
    frontend_id: int
    state: str  # serving | pending | left_out | unproven | rolled_back | unreachable
    label: str  # the state in words
    detail: str  # why, in words
    serving_deployment: int | None  # the deployment whose release the front-end serves


STATE_LABELS = {
    "serving": "serving this release",
    "pending": "pending",
    "rolled_back": "runs an older release",
    "left_out": "left out",
    "unproven": "not proven",
    "unreachable": "unreachable",
}


def site_placement(
    site: Site, state: DeployState, reachability: dict[str, tuple[str, str]] | None = None
) -> list[SitePlacement]:
    """Per enabled front-end: does it serve the site's latest change, and if not, why. `reachability`:
    {front-end name: (status poller state, reason)} of the latest samples (status.poller.latest_hosts)."""
    carrier = state.carrier(site)
    rows: list[SitePlacement] = []
    for host in state.hosts:
        if site.render_error:
            code, detail = "left_out", f"the last deployment left this site out of the config: {site.render_error}"
        elif host.unproven:
            code, detail = "unproven", f"HostPanel's vhost is not the one answering there: {host.unproven}"
        elif host.since is not None and host.since >= site.updated_at:
            code, detail = "serving", "carries the site's latest change"
        elif host.rendered is not None and host.since is None and host.rolled_back is not None:
            code, detail = "rolled_back", "a rollback put back an earlier release since the site's last change"
        else:
            code = "pending"
            detail = (
                f"waits for deployment #{carrier}" if carrier else "no deployment queued carries the change: deploy now"
            )
        polled, reason = (reachability or {}).get(host.name, ("", ""))
        if polled in UNREACHABLE_STATES:
            detail = f"the status poller cannot reach it ({reason or polled}); last known: {STATE_LABELS[code]}"
            code = "unreachable"
        rows.append(
            {
                "frontend": host.name,
                "frontend_id": host.id,
                "state": code,
                "label": STATE_LABELS[code],
                "detail": detail,
                "serving_deployment": host.serving_deployment,
            }
        )
    return rows


def site_last_deployment(site: Site) -> Deployment | None:
    """The newest deployment that carried a change of this site or of its certificate (DeploymentCause)."""
    cause = (
        DeploymentCause.objects.filter(object_key=site.domain)
        .filter(Q(action__startswith="site.") | Q(action__startswith="certificate."))
        .select_related("deployment")
        .order_by("-deployment_id")
        .first()
    )
    return cause.deployment if cause is not None else None
