"""Writes to Zope servers, front-ends, balancers and members. Every door (web, API, admin, commands)
calls these: they validate with full_clean(), audit, and report config changes (config_changed) so the
change reaches the front-ends."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from balancers.models import Balancer, BalancerMember, Deployment, FrontEnd, ZopeServer
from balancers.models.inventory import BALANCER_SETTINGS, MEMBER_SETTINGS
from balancers.services.deployments import config_changed
from certificates.crypto import SecretsError, encrypt_secret
from hostpanel import audit
from hostpanel.audit import Actor
from hostpanel.http import url_origin
from hostpanel.services import apply_fields, delete_audited, save_validated
from hostpanel.validators import validate_no_control_characters

ZOPE_SERVER_FIELDS = (
    "name",
    "kind",
    "host",
    "port",
    "description",
    # active health checks, rendered where the front-end loads mod_proxy_hcheck
    "health_path",
    "health_method",
    "health_interval",
    "health_passes",
    "health_fails",
)
FRONTEND_FIELDS = (
    "name",
    "address",
    "transport",
    "ssh_port",
    "ssh_user",
    "ssh_host_key",
    "config_dir",
    "usage_log_dir",
    "configtest_command",
    "reload_command",
    "balancer_manager_url",
    "manager_username",
    "manager_password",
    "status_url",
    "health_url",
    "http_listen",
    "https_listen",
    "tls_edge",
    "edge_backend_listen",
    "edge_configtest_command",
    "edge_reload_command",
    "node_address",
    "node_port_base",
    "enabled",
    "description",
)
# Shell commands run on the front-end as its deploy user (usually with sudo): superusers only, read-only
# in the API (README "Roles"). Every other field is checked so that it cannot become a command.
COMMAND_FIELDS = ("configtest_command", "reload_command", "edge_configtest_command", "edge_reload_command")
# The fields only a superuser (or the panel host's shell) may change: the commands, and config_dir, the
# directory every deploy replaces on the front-end (README "Roles"). A new front-end gets their defaults.
SUPERUSER_FIELDS = (*COMMAND_FIELDS, "config_dir", "usage_log_dir")
_SUPERUSER_ONLY = {
    "configtest_command": "Only a superuser may change a command.",
    "reload_command": "Only a superuser may change a command.",
    "edge_configtest_command": "Only a superuser may change a command.",
    "edge_reload_command": "Only a superuser may change a command.",
    "config_dir": "Only a superuser may change config_dir (the directory each deploy replaces on the front-end).",
    "usage_log_dir": "Only a superuser may change usage_log_dir (a directory the panel removes files from).",
}
BALANCER_FIELDS = ("name", "kind", "description", *BALANCER_SETTINGS)
MEMBER_FIELDS = MEMBER_SETTINGS  # every setting of a member may be changed


def _changed(instance: Any, actor: Actor, action: str) -> Any:
    instance.deployment = config_changed(actor=actor, cause=(action, str(instance)))
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
    return _changed(server, actor, "zope_server.update") if server.memberships.exists() else server


@transaction.atomic
def zope_server_delete(server: ZopeServer, *, actor: Actor) -> None:
    delete_audited(server, actor=actor, action="zope_server.delete")


# --- front-ends ----------------------------------------------------------------------------


def _check_superuser_fields(frontend: FrontEnd, fields: dict[str, Any], actor: Actor) -> None:
    """Refuse a change of a superuser-only field by anyone else (a new front-end: any value but its default)."""
    if actor.may_set_commands:
        return
    changed = [name for name in SUPERUSER_FIELDS if name in fields and fields[name] != getattr(frontend, name)]
    if changed:
        raise ValidationError({name: ValidationError(_SUPERUSER_ONLY[name], code="forbidden") for name in changed})


def seal_manager_password(password: str) -> str:
    """The stored (Fernet-encrypted) form of a balancer-manager password; "" for none. A ValidationError
    on `manager_password` for a junk value or when no HOSTPANEL_SECRETS_KEY is configured."""
    if not password:
        return ""
    if len(password) > 200:
        raise ValidationError({"manager_password": "At most 200 characters."})
    try:
        validate_no_control_characters(password)
        return encrypt_secret(password.encode("utf-8"))
    except ValidationError as exc:
        raise ValidationError({"manager_password": exc.messages}) from None
    except SecretsError:
        raise ValidationError(
            {
                "manager_password": "HOSTPANEL_SECRETS_KEY is not set: the password cannot be stored encrypted. "
                "Set it (README, Keys at rest) or leave the password empty."
            }
        ) from None


def _apply_frontend_fields(frontend: FrontEnd, fields: dict[str, Any]) -> None:
    fields = dict(fields)
    password = fields.pop("manager_password", None)
    apply_fields(frontend, fields, FRONTEND_FIELDS)
    if password is not None:  # stored encrypted only, never in clear (README "Keys at rest")
        frontend.manager_password_encrypted = seal_manager_password(password)


@transaction.atomic
def frontend_create(*, actor: Actor, **fields: Any) -> FrontEnd:
    frontend = FrontEnd()
    _check_superuser_fields(frontend, fields, actor)
    _apply_frontend_fields(frontend, fields)
    save_validated(frontend, actor=actor, action="frontend.create")
    return _changed(frontend, actor, "frontend.create") if frontend.enabled else frontend


@transaction.atomic
def frontend_update(frontend: FrontEnd, *, actor: Actor, **fields: Any) -> FrontEnd:
    before = audit.snapshot(frontend)
    _check_superuser_fields(frontend, fields, actor)
    url = fields.get("balancer_manager_url")
    if (
        url is not None
        and url_origin(url) != url_origin(frontend.balancer_manager_url)
        and "manager_password" not in fields
    ):
        # the stored password was given for the old host: never send it to the new one
        fields = {**fields, "manager_password": ""}
    _apply_frontend_fields(frontend, fields)
    save_validated(frontend, actor=actor, action="frontend.update", before=before)
    return _changed(frontend, actor, "frontend.update")


@transaction.atomic
def frontend_delete(frontend: FrontEnd, *, actor: Actor) -> None:
    delete_audited(frontend, actor=actor, action="frontend.delete")


# --- balancers ------------------------------------------------------------------------------


@transaction.atomic
def balancer_create(*, actor: Actor, **fields: Any) -> Balancer:
    balancer = Balancer()
    apply_fields(balancer, fields, BALANCER_FIELDS)
    save_validated(balancer, actor=actor, action="balancer.create")
    return _changed(balancer, actor, "balancer.create")


@transaction.atomic
def balancer_update(balancer: Balancer, *, actor: Actor, **fields: Any) -> Balancer:
    before = audit.snapshot(balancer)
    apply_fields(balancer, fields, BALANCER_FIELDS)
    save_validated(balancer, actor=actor, action="balancer.update", before=before)
    return _changed(balancer, actor, "balancer.update")


@transaction.atomic
def balancer_delete(balancer: Balancer, *, actor: Actor) -> Deployment | None:
    name = balancer.name
    delete_audited(balancer, actor=actor, action="balancer.delete")
    return config_changed(actor=actor, cause=("balancer.delete", name))


# --- members --------------------------------------------------------------------------------


@transaction.atomic
def member_create(*, actor: Actor, balancer: Balancer, zope_server: ZopeServer, **fields: Any) -> BalancerMember:
    member = BalancerMember(balancer=balancer, zope_server=zope_server)
    apply_fields(member, fields, MEMBER_FIELDS)
    save_validated(member, actor=actor, action="member.create")
    return _changed(member, actor, "member.create")


@transaction.atomic
def member_update(member: BalancerMember, *, actor: Actor, **fields: Any) -> BalancerMember:
    before = audit.snapshot(member)
    apply_fields(member, fields, MEMBER_FIELDS)
    save_validated(member, actor=actor, action="member.update", before=before)
    return _changed(member, actor, "member.update")


@transaction.atomic
def member_delete(member: BalancerMember, *, actor: Actor) -> Deployment | None:
    name = str(member)
    delete_audited(member, actor=actor, action="member.delete")
    return config_changed(actor=actor, cause=("member.delete", name))
