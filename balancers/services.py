"""Writes to Zope servers, front-ends, balancers and members. Every door (web, API, admin,
commands) calls these: they validate with full_clean(), audit, and report config changes so the
change reaches the front-ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from balancers.choices import RenderMode
from balancers.models import Balancer, BalancerMember, Deployment, FrontEnd, ZopeServer
from hostpanel import audit
from hostpanel.audit import Actor
from hostpanel.services import apply_fields, delete_audited, save_validated

ZOPE_SERVER_FIELDS = ("name", "host", "port", "description")
FRONTEND_FIELDS = (
    "name",
    "address",
    "transport",
    "ssh_port",
    "ssh_user",
    "ssh_host_key",
    "config_dir",
    "configtest_command",
    "reload_command",
    "balancer_manager_url",
    "manager_username",
    "manager_password",
    "health_url",
    "http_listen",
    "node_address",
    "node_port_base",
    "enabled",
    "description",
)
BALANCER_FIELDS = (
    "name",
    "description",
    "lbmethod",
    "sticky_cookie",
    "cookie_ttl",
    "nofailover",
    "maxattempts",
    "timeout",
    "error_document",
    "render_mode",
)
MEMBER_FIELDS = (
    "lbset",
    "loadfactor",
    "min",
    "max",
    "smax",
    "timeout",
    "retry",
    "hot_standby",
    "drain",
    "disabled",
)


def config_changed(*, actor: Actor) -> Deployment | None:
    """Called by every service whose change affects the rendered Apache config, inside its
    transaction. Returns the automatic deployment that will carry the change, or None when
    automatic deploy is off (HOSTPANEL_AUTO_DEPLOY) or no deployer is installed yet."""
    if not settings.HOSTPANEL_AUTO_DEPLOY:
        return None
    request = _deployment_requester()
    return request(actor=actor) if request else None


def _deployment_requester():
    """The deploy module's automatic-deployment entry point, once it exists."""
    try:
        from balancers import deploy  # noqa: PLC0415 - deploy depends on services, not the reverse
    except ImportError:
        return None
    return getattr(deploy, "request_automatic_deployment", None)


def _changed(instance: Any, actor: Actor) -> Any:
    instance.deployment = config_changed(actor=actor)
    return instance


# --- Zope servers ------------------------------------------------------------------------


@transaction.atomic
def zope_server_create(*, actor: Actor, **fields: Any) -> ZopeServer:
    server = ZopeServer()
    apply_fields(server, fields, ZOPE_SERVER_FIELDS)
    save_validated(server, actor=actor, action="zope_server.create")
    return server


@transaction.atomic
def zope_server_update(server: ZopeServer, *, actor: Actor, **fields: Any) -> ZopeServer:
    before = audit.snapshot(server)
    apply_fields(server, fields, ZOPE_SERVER_FIELDS)
    save_validated(server, actor=actor, action="zope_server.update", before=before)
    return _changed(server, actor) if server.memberships.exists() else server


@transaction.atomic
def zope_server_delete(server: ZopeServer, *, actor: Actor) -> None:
    delete_audited(server, actor=actor, action="zope_server.delete")


# --- front-ends ----------------------------------------------------------------------------


@transaction.atomic
def frontend_create(*, actor: Actor, **fields: Any) -> FrontEnd:
    frontend = FrontEnd()
    apply_fields(frontend, fields, FRONTEND_FIELDS)
    save_validated(frontend, actor=actor, action="frontend.create")
    return _changed(frontend, actor) if frontend.enabled else frontend


@transaction.atomic
def frontend_update(frontend: FrontEnd, *, actor: Actor, **fields: Any) -> FrontEnd:
    before = audit.snapshot(frontend)
    apply_fields(frontend, fields, FRONTEND_FIELDS)
    save_validated(frontend, actor=actor, action="frontend.update", before=before)
    return _changed(frontend, actor)


@transaction.atomic
def frontend_delete(frontend: FrontEnd, *, actor: Actor) -> None:
    delete_audited(frontend, actor=actor, action="frontend.delete")


# --- balancers ------------------------------------------------------------------------------


@transaction.atomic
def balancer_create(*, actor: Actor, **fields: Any) -> Balancer:
    balancer = Balancer()
    apply_fields(balancer, fields, BALANCER_FIELDS)
    save_validated(balancer, actor=actor, action="balancer.create")
    return _changed(balancer, actor)


@transaction.atomic
def balancer_update(balancer: Balancer, *, actor: Actor, **fields: Any) -> Balancer:
    before = audit.snapshot(balancer)
    apply_fields(balancer, fields, BALANCER_FIELDS)
    save_validated(balancer, actor=actor, action="balancer.update", before=before)
    return _changed(balancer, actor)


@transaction.atomic
def balancer_delete(balancer: Balancer, *, actor: Actor) -> Deployment | None:
    delete_audited(balancer, actor=actor, action="balancer.delete")
    return config_changed(actor=actor)


# --- members --------------------------------------------------------------------------------


@transaction.atomic
def member_create(*, actor: Actor, balancer: Balancer, zope_server: ZopeServer, **fields: Any) -> BalancerMember:
    member = BalancerMember(balancer=balancer, zope_server=zope_server)
    apply_fields(member, fields, MEMBER_FIELDS)
    save_validated(member, actor=actor, action="member.create")
    return _changed(member, actor)


@transaction.atomic
def member_update(member: BalancerMember, *, actor: Actor, **fields: Any) -> BalancerMember:
    before = audit.snapshot(member)
    apply_fields(member, fields, MEMBER_FIELDS)
    save_validated(member, actor=actor, action="member.update", before=before)
    return _changed(member, actor)


@transaction.atomic
def member_delete(member: BalancerMember, *, actor: Actor) -> Deployment | None:
    delete_audited(member, actor=actor, action="member.delete")
    return config_changed(actor=actor)


# --- live member toggles (issue #5) -----------------------------------------------------------
# A toggle is saved (validated, audited, rendered into the next config as status=+H/+N/+D, so a
# graceful reload keeps it) AND applied live through every enabled front-end's balancer-manager,
# because a deploy takes a while and the operator wants traffic to move now.

TOGGLE_FIELDS = ("hot_standby", "drain", "disabled", "loadfactor", "lbset")


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
    frontends: list[Any] = field(default_factory=list)  # balancers.status.ApplyResult

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
        names = list(ZopeServer.objects.order_by("name").values_list("name", flat=True))
        index = names.index(member.zope_server.name)
        host = f"[{frontend.node_address}]" if ":" in frontend.node_address else frontend.node_address
        urls.append(f"http://{host}:{frontend.node_port_base + index}")
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
    applied live on every enabled front-end's balancer-manager and read back (see balancers.status).

    Guard rail: a change that turns a usable member unusable (see member_is_usable) when no other member
    of the balancer stays usable is refused with a ValidationError unless force=True. Changes that do not
    reduce usability (e.g. the load factor of an already disabled member) are always allowed."""
    from balancers import status  # noqa: PLC0415 - status imports models; keep services importable alone

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
            disabled=wanted.get("disabled", current.disabled), drain=wanted.get("drain", current.drain)
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
        change = status.MemberChange(
            hot_standby=current.hot_standby if "hot_standby" in wanted else None,
            drain=current.drain if "drain" in wanted else None,
            disabled=current.disabled if "disabled" in wanted else None,
            loadfactor=current.loadfactor if "loadfactor" in wanted else None,
            lbset=current.lbset if "lbset" in wanted else None,
        )
        result.frontends = status.apply_member_change_all(
            [status.ManagerEndpoint.of(f) for f in frontends],
            balancer=current.balancer.name,
            worker_urls_by_frontend={f.pk: member_worker_urls(current, f) for f in frontends},
            route=current.route,
            change=change,
        )
    return result
