"""The dashboard's summary band: what is wrong at a glance, each problem a count and links to the things.

Read from the dashboard's own overview (status_overview: the poller's latest samples, no request to any
front-end) plus a fixed number of queries (holds, unproven front-ends, recent deployments, certificates,
alerts), whatever the size of the fleet. A member's live state is explained in words here too
(`member_health`), so that a dead member never shows only a red badge beside a green "in sync".
"""

from __future__ import annotations

import datetime
from typing import TypedDict

from django.urls import reverse

from alerts.choices import AlertState
from alerts.models import Alert
from balancers.capacity import ApacheFacts
from balancers.choices import DeploymentStatus
from balancers.models import DeployHold, Deployment, FrontEnd
from balancers.selectors.overview import StatusLiveMember, StatusOverview
from certificates.models import Certificate
from status.parse import UNREACHABLE_STATES

RECENT_DEPLOYMENTS = datetime.timedelta(hours=24)
BAD_DEPLOYMENTS = (DeploymentStatus.FAILED, DeploymentStatus.PARTIAL, DeploymentStatus.REVERTED)
LISTED = 8  # links shown per problem; the count says how many there are


class SummaryLink(TypedDict):
    text: str
    url: str


class SummaryItem(TypedDict):
    key: str  # standby_only | no_member | members_down | frontends_unreachable | frontends_held | ...
    count: int
    label: str
    help: str
    links: list[SummaryLink]


def usable(worker: StatusLiveMember) -> bool:
    """Would Apache send a new visitor to this worker? (not disabled, stopped, in error, taken out by its
    health check, or draining)"""
    return not any(
        worker.get(flag) for flag in ("disabled", "stopped", "error", "health_check_failed", "drain", "host_down")
    ) and worker.get("state") not in ("missing", None)


def member_health(worker: StatusLiveMember | None) -> str:
    """Why a worker takes no visitors, in words ("" when it takes them, or is meant not to)."""
    if not worker or worker.get("host_down"):
        return ""
    # a member missing on the front-end is drift, explained by the "settings differ" column
    if worker.get("stopped"):
        return "stopped by Apache"
    if worker.get("health_check_failed"):
        return "its health check fails: out of rotation"
    if worker.get("error") and not worker.get("disabled"):
        since = worker.get("error_time")
        return "down: Apache could not reach it" + (f" (since {since})" if since else "") + "; retried after a while"
    return ""


def _balancer_problems(overview: StatusOverview) -> tuple[list[SummaryLink], list[SummaryLink], list[SummaryLink]]:
    """(balancers on hot standby only, balancers with no usable member, members down) per front-end."""
    dashboard = reverse("balancers:dashboard")
    standby_only: list[SummaryLink] = []
    no_member: list[SummaryLink] = []
    down: list[SummaryLink] = []
    answered = [f["name"] for f in overview["frontends"] if f["state"] == "ok"]
    for balancer in overview["balancers"]:
        anchor = f"{dashboard}#balancer-{balancer['name']}"
        for frontend in answered:
            empty: StatusLiveMember = {"state": "missing", "status": ""}
            workers = [(m, m["live"].get(frontend) or empty) for m in balancer["members"]]
            regular = [w for m, w in workers if not m["intended"]["hot_standby"] and usable(w)]
            standby = [w for m, w in workers if m["intended"]["hot_standby"] and usable(w)]
            if not workers:
                continue
            if not regular and standby:
                standby_only.append({"text": f"{balancer['name']} on {frontend}", "url": anchor})
            elif not regular and not standby:
                no_member.append({"text": f"{balancer['name']} on {frontend}", "url": anchor})
            for member, worker in workers:
                if member["intended"]["disabled"]:
                    continue  # switched off on purpose
                if member_health(worker):
                    down.append({"text": f"{member['route']} ({balancer['name']}) on {frontend}", "url": anchor})
    return standby_only, no_member, down


def dashboard_summary(
    overview: StatusOverview, *, now: datetime.datetime, certificates: list[Certificate]
) -> list[SummaryItem]:
    """Every problem with a non-zero count, worst first; empty when nothing is wrong. `certificates`: the
    dashboard's certificates_needing_attention()."""
    standby_only, no_member, down = _balancer_problems(overview)
    unreachable: list[SummaryLink] = [
        {"text": f"{f['name']}: {f['reason'] or f['state']}", "url": _frontend_url(f["id"])}
        for f in overview["frontends"]
        if f["state"] in UNREACHABLE_STATES
    ]
    held: list[SummaryLink] = [
        {"text": f"{hold.frontend.name}: imported config behaves differently", "url": _frontend_url(hold.frontend_id)}
        for hold in DeployHold.objects.select_related("frontend").order_by("frontend__name")
    ]
    enabled = FrontEnd.objects.filter(enabled=True).order_by("name").values_list("pk", "name", "apache_facts")
    proofs = [(pk, name, ApacheFacts.from_json(facts).release_proof) for pk, name, facts in enabled]
    held += [{"text": f"{name}: not proven ({why})", "url": _frontend_url(pk)} for pk, name, why in proofs if why]
    failed_qs = Deployment.objects.filter(status__in=BAD_DEPLOYMENTS, created_at__gte=now - RECENT_DEPLOYMENTS)
    deployments: list[SummaryLink] = [
        {"text": f"#{pk} {status}", "url": reverse("balancers:deployment_detail", args=[pk])}
        for pk, status in failed_qs.order_by("-created_at", "-id").values_list("pk", "status")[:LISTED]
    ]
    certificate_links: list[SummaryLink] = [
        {
            "text": f"{c.site.domain}: {c.get_status_display().lower()}"
            + (f", expires {c.not_after:%Y-%m-%d}" if c.not_after else ""),
            "url": reverse("sites:site_detail", args=[c.site.domain]) + "#certificate",
        }
        for c in certificates[:LISTED]
    ]
    alerts_qs = Alert.objects.filter(state=AlertState.OPEN)
    alert_links: list[SummaryLink] = [
        {"text": summary, "url": reverse("alerts:alert_detail", args=[pk])}
        for pk, summary in alerts_qs.order_by("-first_seen_at").values_list("pk", "summary")[:LISTED]
    ]
    failed_count = failed_qs.count() if len(deployments) == LISTED else len(deployments)
    alert_count = alerts_qs.count() if len(alert_links) == LISTED else len(alert_links)
    items = [
        _item(
            "no_member",
            len(no_member),
            ("balancer with no usable member", "balancers with no usable member"),
            "Every member is down, disabled or draining on that front-end: its sites answer 503.",
            no_member,
        ),
        _item(
            "standby_only",
            len(standby_only),
            ("balancer running on hot standby only", "balancers running on hot standby only"),
            "Every regular member is down, disabled or draining: only the hot-standby (backup) member serves.",
            standby_only,
        ),
        _item(
            "members_down",
            len(down),
            ("member down", "members down"),
            "Apache marked them in error (they did not answer), their health check fails, or they are stopped.",
            down,
        ),
        _item(
            "frontends_unreachable",
            len(unreachable),
            ("front-end unreachable", "front-ends unreachable"),
            "The status poller could not read their balancer-manager.",
            unreachable,
        ),
        _item(
            "frontends_held",
            len(held),
            ("front-end holding back", "front-ends holding back"),
            "Deploys wait for someone to accept an imported config's differences, or the last deployment "
            "could not prove HostPanel's vhost answers there (no site counts as live on it).",
            held,
        ),
        _item(
            "deployments_failed",
            failed_count,
            ("deployment failed or reverted (24 h)", "deployments failed or reverted (24 h)"),
            "Failed, partial, or reverted after the post-deploy probes failed.",
            deployments,
        ),
        _item(
            "certificates",
            len(certificates),
            ("certificate failing or expiring", "certificates failing or expiring"),
            "Failed, expired or mismatched, renewals failing, or expiring within 14 days.",
            certificate_links,
        ),
        _item(
            "alerts_open",
            alert_count,
            ("open alert", "open alerts"),
            "Alerts that fired and have not resolved.",
            alert_links,
        ),
    ]
    return [item for item in items if item["count"]]


def _item(key: str, count: int, label: tuple[str, str], help_text: str, links: list[SummaryLink]) -> SummaryItem:
    """label: (singular, plural), the one that fits the count is used."""
    return {
        "key": key,
        "count": count,
        "label": label[0] if count == 1 else label[1],
        "help": help_text,
        "links": links,
    }


def _frontend_url(pk: int | None) -> str:
    return reverse("balancers:frontend_detail", args=[pk]) if pk else reverse("balancers:frontend_list")
