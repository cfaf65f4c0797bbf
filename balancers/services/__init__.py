"""All writes to Zope servers, front-ends, balancers, members and deployments: validated, audited, and
followed by the deployment that carries them to the front-ends. Every door (web, API, admin, commands)
calls these; `inventory` (CRUD), `members` (the one live member-change service), `deployments`
(automatic, manual and rollback deployments)."""

from balancers.services.deployments import (
    config_changed,
    deployment_enqueue,
    deployment_rollback,
    deployment_start,
    request_automatic_deployment,
)
from balancers.services.inventory import (
    BALANCER_FIELDS,
    COMMAND_FIELDS,
    FRONTEND_FIELDS,
    MEMBER_FIELDS,
    SUPERUSER_FIELDS,
    ZOPE_SERVER_FIELDS,
    balancer_create,
    balancer_delete,
    balancer_update,
    frontend_create,
    frontend_delete,
    frontend_update,
    member_create,
    member_delete,
    member_update,
    seal_manager_password,
    zope_server_create,
    zope_server_delete,
    zope_server_update,
)
from balancers.services.live import status_refresh
from balancers.services.members import (
    LIVE_MEMBER_FIELDS,
    MemberChangeResult,
    member_change,
    member_is_usable,
    member_set_flags,
    member_worker_urls,
    parse_member_change,
)
from balancers.services.readiness import frontend_connection_test, frontend_facts_save

__all__ = [
    "BALANCER_FIELDS",
    "COMMAND_FIELDS",
    "SUPERUSER_FIELDS",
    "FRONTEND_FIELDS",
    "LIVE_MEMBER_FIELDS",
    "MEMBER_FIELDS",
    "ZOPE_SERVER_FIELDS",
    "MemberChangeResult",
    "balancer_create",
    "balancer_delete",
    "balancer_update",
    "config_changed",
    "deployment_enqueue",
    "deployment_rollback",
    "deployment_start",
    "frontend_connection_test",
    "frontend_create",
    "frontend_delete",
    "frontend_facts_save",
    "frontend_update",
    "member_change",
    "member_create",
    "member_delete",
    "member_is_usable",
    "member_set_flags",
    "member_update",
    "seal_manager_password",
    "member_worker_urls",
    "parse_member_change",
    "request_automatic_deployment",
    "status_refresh",
    "zope_server_create",
    "zope_server_delete",
    "zope_server_update",
]
