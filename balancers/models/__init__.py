"""The balancers app's models: the inventory (Zope servers, front-ends, balancers, members) and the
deployment side (trees, deployments, per-host rows, leases, activated releases, status samples)."""

from balancers.models.deployments import (
    ActivatedRelease,
    ConfigBlob,
    ConfigTree,
    DeployHold,
    DeployLock,
    Deployment,
    DeploymentCause,
    DeploymentHost,
    RoutesBase,
)
from balancers.models.inventory import (
    BALANCER_SETTINGS,
    MEMBER_SETTINGS,
    Balancer,
    BalancerMember,
    FrontEnd,
    ZopeServer,
)
from balancers.models.status import FrontEndSnapshot, StatusSample, WorkerSample

__all__ = [
    "BALANCER_SETTINGS",
    "MEMBER_SETTINGS",
    "ActivatedRelease",
    "Balancer",
    "BalancerMember",
    "ConfigBlob",
    "ConfigTree",
    "DeployHold",
    "DeployLock",
    "Deployment",
    "DeploymentCause",
    "DeploymentHost",
    "FrontEnd",
    "FrontEndSnapshot",
    "RoutesBase",
    "StatusSample",
    "WorkerSample",
    "ZopeServer",
]
