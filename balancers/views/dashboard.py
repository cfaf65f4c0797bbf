"""The dashboard (the panel's home): live balancer-manager state of every front-end next to the
database's intended state, and the member toggles. Thin doors into balancers.selectors.overview and
balancers.services (parse_member_change + member_set_flags, status_refresh). The page and its 5 s
refresh read the poller's latest snapshots: no request reaches a front-end unless someone asks for
it ("refresh now", ?live=1, and after a toggle)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from balancers import services
from balancers.models import BalancerMember
from balancers.selectors.overview import status_overview
from balancers.selectors.summary import dashboard_summary
from certificates.selectors import certificates_needing_attention
from hostpanel.audit import Actor
from hostpanel.models import AuditEntry
from hostpanel.permissions import can_change, panel_view

REFRESH_MS = 5000
FLAGS = {"hot_standby": "hot standby", "drain": "drain", "disabled": "disabled"}


def _context(request: HttpRequest) -> dict:
    # asking every front-end now (and writing the answers) is for operators; viewers read the samples
    live = request.GET.get("live") == "1" and can_change(request.user)
    hosts = services.status_refresh() if live else None
    overview = status_overview(hosts=hosts)
    poll_seconds = settings.HOSTPANEL_STATUS_POLL_SECONDS
    now = timezone.now()
    certificates = certificates_needing_attention(now)  # one query
    return {
        "overview": overview,
        "refresh_ms": REFRESH_MS,
        "flags": FLAGS,
        "poll_seconds": poll_seconds,
        "certificates_attention": certificates,
        "summary": dashboard_summary(overview, now=now, certificates=certificates),
    }


@panel_view  # outermost: anonymous -> login, whatever the method
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "balancers/dashboard.html", _context(request))


@panel_view  # outermost: anonymous -> login, whatever the method
@require_GET
def dashboard_partial(request: HttpRequest) -> HttpResponse:
    """The grid alone, fetched every few seconds by hostpanel.js (data-poll-url)."""
    return render(request, "balancers/_dashboard_grid.html", _context(request))


@panel_view  # POST: operators only (403 for viewers)
@require_POST
def member_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(BalancerMember.objects.select_related("balancer", "zope_server"), pk=pk)
    data = request.POST
    changes: dict = {}
    try:
        changes = services.parse_member_change(data)
        force = data.get("force") == "1"
        result = services.member_set_flags(
            member, actor=Actor.from_user(request.user, AuditEntry.Source.WEB), force=force, **changes
        )
    except ValidationError as exc:
        if getattr(exc, "code", None) == "last_usable_member" and can_force(changes):
            return render(
                request,
                "balancers/member_toggle_confirm.html",
                {"member": member, "changes": changes, "reason": " ".join(exc.messages)},
                status=409,
            )
        for message in exc.messages:
            messages.error(request, f"{member}: {message}")
        return redirect("balancers:dashboard")
    what = ", ".join(f"{FLAGS.get(k, k)} {_word(v)}" for k, v in changes.items())
    messages.success(request, f"{member}: {what} saved{' (forced)' if result.forced else ''}.")
    for outcome in result.frontends:
        if outcome.applied:
            messages.success(request, f"{outcome.frontend_name}: applied live ({outcome.live_status}).")
        else:
            messages.error(request, f"{outcome.frontend_name}: not applied live: {outcome.reason}")
    if not result.frontends:
        messages.warning(request, "No enabled front-end: the change takes effect with the next deployment.")
    target = data.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(reverse("balancers:dashboard") + "?live=1")  # show the change's live state at once


def can_force(changes: dict) -> bool:
    return bool(changes)


def _word(value: object) -> str:
    return "on" if value is True else "off" if value is False else str(value)
