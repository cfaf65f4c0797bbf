from django.db import models


class LbMethod(models.TextChoices):
    BYREQUESTS = "byrequests", "By requests"
    BYTRAFFIC = "bytraffic", "By traffic"
    BYBUSYNESS = "bybusyness", "By busyness"
    HEARTBEAT = "heartbeat", "Heartbeat"


class ServerKind(models.TextChoices):
    """What an application server runs; a balancer groups servers of one kind."""

    ZOPE = "zope", "Zope (Plone backend)"
    NODE = "node", "Node.js frontend (Volto)"


class TlsEdge(models.TextChoices):
    """What terminates HTTPS on a front-end (README "HTTPS at scale")."""

    APACHE = "apache", "Apache (mod_ssl, one vhost per certificate: a new certificate needs a graceful)"
    NGINX = "nginx", "nginx edge (certificates read per handshake: a new certificate needs no reload)"


class HealthMethod(models.TextChoices):
    GET = "GET", "GET (the answer's status must be below 400)"
    HEAD = "HEAD", "HEAD"
    OPTIONS = "OPTIONS", "OPTIONS"


class RenderMode(models.TextChoices):
    SINGLE_PASS = "single-pass", "Single pass (Apache sets the cookie)"
    NODE_VHOSTS = "node-vhosts", "Node vhosts (the seed's three passes)"


class TransportKind(models.TextChoices):
    SSH = "ssh", "SSH"
    LOCAL = "local", "Local (this host)"


class DeploymentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partial"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded"
    REVERTED = "reverted", "Reverted (post-deploy probes failed)"


FINISHED_DEPLOYMENT_STATUSES = frozenset(
    {
        DeploymentStatus.SUCCEEDED,
        DeploymentStatus.PARTIAL,
        DeploymentStatus.FAILED,
        DeploymentStatus.SUPERSEDED,
        DeploymentStatus.REVERTED,
    }
)


class DeploymentTrigger(models.TextChoices):
    MANUAL = "manual", "Manual"
    AUTOMATIC = "automatic", "Automatic"
    ROLLBACK = "rollback", "Rollback"


class HostStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    UNCHANGED = "unchanged", "Unchanged"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    REVERTED = "reverted", "Reverted (post-deploy probes failed)"


class ChangeKind(models.TextChoices):
    """What a front-end's new release changed (rendering.routes.is_map_only)."""

    NONE = "", "None"
    MAP = "map", "Routing map only (no reload)"
    CONFIG = "config", "Config (configtest + graceful)"


class HostStage(models.TextChoices):
    QUEUED = "queued", "Queued"
    RENDER = "render", "Render"
    CONNECT = "connect", "Connect"
    UPLOAD = "upload", "Upload"
    SWAP = "swap", "Swap"
    CONFIGTEST = "configtest", "Configtest"
    RELOAD = "reload", "Reload"
    VERIFY = "verify", "Verify"
    MAP = "map", "Map switched (no reload)"
    PROBE = "probe", "Probe sites"
    RESTORE = "restore", "Restore"
    DONE = "done", "Done"


# The member actions: ONE vocabulary for the dashboard, the balancer page and the confirmation page.
# action -> (button label, the member's state after it in the words Member.state uses, what it means, flags);
# every action sets all three flags.
MEMBER_ACTIONS = {
    "active": (
        "Back to active",
        "active",
        "Takes new clients again.",
        {"hot_standby": False, "drain": False, "disabled": False},
    ),
    "hot_standby": (
        "Hot standby",
        "hot standby",
        "Takes new clients only while no active member of its balancer can.",
        {"hot_standby": True, "drain": False, "disabled": False},
    ),
    "drain": (
        "Drain",
        "drain",
        "Takes no new clients; clients already stuck to it stay until their session ends.",
        {"hot_standby": False, "drain": True, "disabled": False},
    ),
    "disabled": (
        "Disable",
        "disabled",
        "Takes no traffic at all.",
        {"hot_standby": False, "drain": False, "disabled": True},
    ),
}


def member_actions(current_state: str) -> list[dict[str, str]]:
    """The actions offered for a member in `current_state` (Member.state): every one that changes it."""
    return [
        {"key": key, "label": label, "help": text}
        for key, (label, state, text, _flags) in MEMBER_ACTIONS.items()
        if state != current_state
    ]


def help_of(key: str) -> dict[str, str]:
    """{"help": what the action means} for a page about it."""
    return {"help": MEMBER_ACTIONS[key][2]}
