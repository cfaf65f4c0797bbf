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
