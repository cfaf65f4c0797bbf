"""Live member changes: hot standby, drain, disable, load factor and lbset — the ONE service (and the one
field list and parser) behind the dashboard's toggles, the member page and the API's PATCH."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from balancers.choices import RenderMode
from balancers.models import BalancerMember, Deployment, FrontEnd, ZopeServer
from balancers.services.inventory import member_update
from hostpanel.audit import Actor
from rendering.manifest import node_member_url, node_ports
from status.manager import ApplyResult, ManagerEndpoint, MemberChange, apply_member_change_all

# A toggle is saved (validated, audited, rendered into the next config as status=+H/+N/+D, so a
# graceful reload keeps it) AND applied live through every enabled front-end's balancer-manager,
# because a deploy takes a while and the operator wants traffic to move now.

LIVE_MEMBER_FIELDS = ("hot_standby", "drain", "disabled", "loadfactor", "lbset")
_FLAG_FIELDS = ("hot_standby", "drain", "disabled")
_YES, _NO = ("1", "on", "true"), ("0", "off", "false")


def parse_member_change(data: Mapping[str, str]) -> dict[str, Any]:
    """The live fields of a submitted form ({field: "1"/"on"/"true"/"0"/"off"/"false", loadfactor/lbset:
    a number}) as member_set_flags keywords; absent or empty fields are left out. Raises ValidationError."""
    changes: dict[str, Any] = {}
    for name in LIVE_MEMBER_FIELDS:
        raw = (data.get(name) or "").strip()
        if not raw:
            continue
        if name in _FLAG_FIELDS:
            if raw not in _YES + _NO:
                raise ValidationError(f"Not a yes/no value for {name.replace('_', ' ')}: {raw[:20]!r}.", code="invalid")
            changes[name] = raw in _YES
        else:
            try:
                changes[name] = int(raw)
            except ValueError:
                raise ValidationError(f"The {name} must be a whole number.", code="invalid") from None
    return changes


def member_is_usable(*, disabled: bool, drain: bool) -> bool:
    """A member is *usable* when Apache may send it new clients: neither disabled (+D: no traffic at
    all) nor draining (+N: sticky clients only). Hot standby (+H) members ARE usable: Apache sends them
    new clients as soon as no active member of their lbset is available, so a balancer whose only
    usable members are hot standbys still serves."""
    return not disabled and not drain


@dataclass
class MemberChangeResult:
    """What member_set_flags did: the saved member, the fields that changed in the database, the
    automatic deployment that carries the change into the config, and each front-end's live outcome."""

    member: BalancerMember
    changed: dict[str, Any]
    forced: bool
    deployment: Deployment | None
    frontends: list[ApplyResult] = field(default_factory=list)

    @property
    def all_applied(self) -> bool:
        return all(r.applied for r in self.frontends)

    def summary(self) -> str:
        if not self.frontends:
            return "Saved; no enabled front-end to apply it to."
        failed = [f"{r.frontend_name}: {r.reason}" for r in self.frontends if not r.applied]
        done = [r.frontend_name for r in self.frontends if r.applied]
        parts = []
        if done:
            parts.append("applied live on " + ", ".join(done))
        if failed:
            parts.append("NOT applied on " + "; ".join(failed))
        return "Saved; " + "; ".join(parts) + "."


def member_worker_urls(member: BalancerMember, frontend: FrontEnd) -> list[str]:
    """The URLs a member's worker may have on a front-end: the Zope server itself (single pass) or the
    front-end's node vhost for that server (node vhosts: node_port_base + the server's place in name order)."""
    urls = [member.zope_server.url]
    if member.balancer.render_mode == RenderMode.NODE_VHOSTS:
        ports = node_ports(ZopeServer.objects.values_list("name", flat=True), frontend.node_port_base)
        urls.append(node_member_url(frontend.node_address, ports[member.zope_server.name]))
    return urls


def member_set_flags(
    member: BalancerMember,
    *,
    actor: Actor,
    force: bool = False,
    hot_standby: bool | None = None,
    drain: bool | None = None,
    disabled: bool | None = None,
    loadfactor: int | None = None,
    lbset: int | None = None,
    apply_live: bool = True,
) -> MemberChangeResult:
    """Change a member's hot standby / drain / disabled flags or load factor: validated and audited through
    member_update (which reports config_changed, so the automatic deployment renders status=+H ...), then
    applied live on every enabled front-end's balancer-manager and read back (see status).

    Guard rail: a change that turns a usable member unusable (see member_is_usable) when no other member
    of the balancer stays usable is refused with a ValidationError unless force=True. Changes that do not
    reduce usability (e.g. the load factor of an already disabled member) are always allowed."""
    wanted = {
        name: value
        for name, value in (
            ("hot_standby", hot_standby),
            ("drain", drain),
            ("disabled", disabled),
            ("loadfactor", loadfactor),
            ("lbset", lbset),
        )
        if value is not None
    }
    if not wanted:
        raise ValidationError(
            "Nothing to change: give hot_standby, drain, disabled, loadfactor or lbset.", code="empty"
        )
    with transaction.atomic():
        members = list(
            BalancerMember.objects.select_for_update()
            .filter(balancer_id=member.balancer_id)
            .select_related("zope_server", "balancer")
            .order_by("pk")
        )
        current = next((m for m in members if m.pk == member.pk), None)
        if current is None:
            raise ValidationError("This member no longer exists.", code="gone")
        was_usable = member_is_usable(disabled=current.disabled, drain=current.drain)
        will_be_usable = member_is_usable(
            disabled=bool(wanted.get("disabled", current.disabled)), drain=bool(wanted.get("drain", current.drain))
        )
        others_usable = [
            m for m in members if m.pk != current.pk and member_is_usable(disabled=m.disabled, drain=m.drain)
        ]
        if was_usable and not will_be_usable and not others_usable and not force:
            raise ValidationError(
                f"Balancer {current.balancer.name} would have no usable member left: {current.route} is its last "
                "member that is neither disabled nor draining, so every new client would get a 503. "
                "Enable or undrain another member first, or force the change.",
                code="last_usable_member",
            )
        changed = {name: value for name, value in wanted.items() if getattr(current, name) != value}
        if changed:
            current = member_update(current, actor=actor, **changed)
        else:
            current.deployment = None
        deployment = current.deployment
    member.refresh_from_db()
    result = MemberChangeResult(member=member, changed=changed, forced=force, deployment=deployment)
    if apply_live:
        frontends = list(FrontEnd.objects.filter(enabled=True).order_by("name"))
        change = MemberChange(
            hot_standby=current.hot_standby if "hot_standby" in wanted else None,
            drain=current.drain if "drain" in wanted else None,
            disabled=current.disabled if "disabled" in wanted else None,
            loadfactor=current.loadfactor if "loadfactor" in wanted else None,
            lbset=current.lbset if "lbset" in wanted else None,
        )
        result.frontends = apply_member_change_all(
            [ManagerEndpoint.of(f) for f in frontends],
            balancer=current.balancer.name,
            worker_urls_by_frontend={f.pk: member_worker_urls(current, f) for f in frontends},
            route=current.route,
            change=change,
        )
    return result


def member_change(member: BalancerMember, *, actor: Actor, force: bool = False, **fields: Any) -> MemberChangeResult:
    """Any change to a member: the live fields (LIVE_MEMBER_FIELDS) go through member_set_flags (guard
    rail, applied live on every front-end), the others through member_update. One deployment carries both."""
    live = {name: fields.pop(name) for name in LIVE_MEMBER_FIELDS if name in fields}
    deployment: Deployment | None = None
    if fields:
        member = member_update(member, actor=actor, **fields)
        deployment = member.deployment
    if not live:
        return MemberChangeResult(member=member, changed=fields, forced=False, deployment=deployment)
    result = member_set_flags(member, actor=actor, force=force, **live)
    result.deployment = result.deployment or deployment
    result.changed = {**fields, **result.changed}
    return result
