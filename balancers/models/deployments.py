"""Deployments and what they leave behind: stored trees, per-host rows, leases, what each host activated,
and the live status samples."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.urls import reverse

from balancers.choices import (
    FINISHED_DEPLOYMENT_STATUSES,
    ChangeKind,
    DeploymentStatus,
    DeploymentTrigger,
    HostStage,
    HostStatus,
)
from balancers.models.inventory import FrontEnd


class ConfigBlob(models.Model):
    """A large file of stored trees (routes.map at 10,000 sites: 1 MB), kept once by its content: the
    trees of every front-end and every deployment since the last rebase share the same base map."""

    digest = models.CharField(max_length=64, unique=True, help_text="sha256 of the text (UTF-8).")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.digest[:12]


class RoutesBase(models.Model):
    """The base of the routing map (rendering.routes: routes.map; changes since go to routes-recent.map).
    One row; written by the deploy worker when a rendered tree starts a new base."""

    blob = models.ForeignKey(ConfigBlob, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"routes base {self.blob.digest[:12]}"


class ConfigTree(models.Model):
    """A rendered config tree for one front-end, stored once per content digest so that any two
    revisions can be diffed and any earlier one redeployed. Large files are ConfigBlobs (`blobs`). A tree
    with a `base` is stored as its changes against that (whole) tree: `files`/`blobs` hold only what
    differs, `delta` the paths removed and the MANIFEST lines that changed (deploy.stored). Read the whole
    tree with deploy.stored.stored_files / stored_files_many, never `files` alone."""

    digest = models.CharField(max_length=64, help_text="sha256 of the MANIFEST.")
    files = models.JSONField(help_text="{relative path: text} of the files not in blobs")
    blobs = models.JSONField(default=dict, blank=True, help_text="{relative path: ConfigBlob digest}")
    base = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deltas",
        help_text="The whole tree this one is stored against (empty: this row holds every file).",
    )
    delta = models.JSONField(
        default=dict, blank=True, help_text='Against the base: {"removed": [path], "manifest": {path: sha256}}.'
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["digest"], name="configtree_digest_unique")]

    def __str__(self) -> str:
        return self.digest[:12]


class Deployment(models.Model):
    """One attempt to bring every enabled front-end to a rendered revision."""

    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=DeploymentTrigger.choices, default=DeploymentTrigger.MANUAL)
    actor = models.CharField(max_length=150, help_text="User name, API token name, or 'system'.")
    revision = models.CharField(max_length=64, blank=True, help_text="Hash of the rendered trees.")
    rollback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rollbacks")
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When the task queue last accepted it; empty: never handed over."
    )
    enqueue_attempts = models.PositiveIntegerField(default=0, help_text="Hand-overs to the task queue tried.")
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="While running: the worker's heartbeat lease; past it the reaper fails it."
    )
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="superseded"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "trigger"], name="deployment_status_trigger_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeploymentStatus.values),
                name="deployment_status_valid",
                violation_error_message="Unknown deployment status.",
            )
        ]

    def __str__(self) -> str:
        return f"Deployment #{self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("balancers:deployment_detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_DEPLOYMENT_STATUSES


# "site.create" -> the words of a cause: the object's noun and the verb (DeploymentCause.text)
CAUSE_NOUNS = {
    "site": "site",
    "certificate": "certificate of",
    "zope_server": "Zope server",
    "frontend": "front-end",
    "balancer": "balancer",
    "member": "member",
    "import": "import of",
    "facts": "Apache modules of",
    "renewal": "certificate renewals:",
}
CAUSE_VERBS = {
    "create": "created",
    "bulk_create": "created",
    "update": "changed",
    "delete": "deleted",
    "suspend": "suspended",
    "unsuspend": "back online",
    "set_custom": "uploaded",
    "issued": "issued",
    "expired": "expired",
    "apply": "applied",
    "run": "",
}


class DeploymentCause(models.Model):
    """One change a deployment carries, written by the service that asked for it (config_changed) in the
    same transaction: an automatic deployment coalesces several. Kept so that pages can say WHY a
    deployment ran ("site x.example created by billing-token") without reading the audit log back."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="causes")
    action = models.CharField(max_length=64, help_text="The service's action, e.g. site.create.")
    object_key = models.CharField(max_length=255, help_text="The changed object's natural key, e.g. the domain.")
    actor = models.CharField(max_length=150)
    source = models.CharField(max_length=16, blank=True, help_text="web, api, admin, command or system.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["deployment_id", "id"]
        indexes = [models.Index(fields=["object_key", "deployment"], name="deploymentcause_key_idx")]

    def __str__(self) -> str:
        return f"#{self.deployment_id}: {self.text}"

    @property
    def object_type(self) -> str:
        return self.action.partition(".")[0]

    @property
    def text(self) -> str:
        """In words: "site x.example created"."""
        noun, _, verb = self.action.partition(".")
        return f"{CAUSE_NOUNS.get(noun, noun)} {self.object_key} {CAUSE_VERBS.get(verb, verb)}".strip()


class DeploymentHost(models.Model):
    """One front-end's part of a deployment: the stage it reached, its output and its error."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="hosts")
    frontend = models.ForeignKey(
        FrontEnd, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployment_hosts"
    )
    frontend_name = models.CharField(max_length=64, help_text="Kept when the front-end is deleted.")
    tree = models.ForeignKey(ConfigTree, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=HostStatus.choices, default=HostStatus.PENDING)
    stage = models.CharField(max_length=16, choices=HostStage.choices, default=HostStage.QUEUED)
    change_kind = models.CharField(
        max_length=8,
        choices=ChangeKind.choices,
        default=ChangeKind.NONE,
        blank=True,
        help_text="map: only routes.map changed (no configtest, no reload); config: configtest + graceful.",
    )
    files_uploaded = models.PositiveIntegerField(default=0)
    bytes_uploaded = models.PositiveBigIntegerField(default=0)
    output = models.TextField(blank=True, help_text="configtest / reload output (truncated).")
    error = models.TextField(blank=True)
    retryable = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Connection attempts (transient failures retry).")
    left_out = models.JSONField(
        default=list, blank=True, help_text="Sites left out of this tree at render time: [{site, reason, kept}]."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds.")

    class Meta:
        ordering = ["deployment_id", "frontend_name"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "frontend_name"], name="deploymenthost_unique_per_deployment")
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}/{self.frontend_name} {self.status}"


class ActivatedRelease(models.Model):
    """What the panel knows a front-end is serving: the tree it last ACTIVATED there (configtest passed
    and the reload succeeded, and the host answered). Cleared before every switch of config_dir and
    written only after a good reload, so an empty digest means "unknown: the next deployment runs
    configtest and reload whatever the host's files say"."""

    frontend = models.OneToOneField(FrontEnd, primary_key=True, on_delete=models.CASCADE, related_name="activated")
    digest = models.CharField(max_length=64, blank=True, help_text="sha256 of the activated MANIFEST; empty: unknown.")
    tree = models.ForeignKey(ConfigTree, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    deployment = models.ForeignKey(Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True, help_text="Why the state is what it is (e.g. unknown).")

    class Meta:
        ordering = ["frontend_id"]

    def __str__(self) -> str:
        return f"{self.frontend_id}: {self.digest[:12] or 'unknown'}"


class DeployHold(models.Model):
    """A front-end held back from deploys (deploy.holds): the equivalence check of its imported
    config found differences, or could not run, and nobody has accepted them yet. Keyed by the front-end
    row, so renaming it keeps the hold; gone when the differences are accepted or a later check of that
    front-end is equivalent. The check itself stays in the audit log (`check_entry`)."""

    frontend = models.OneToOneField(FrontEnd, primary_key=True, on_delete=models.CASCADE, related_name="deploy_hold")
    differences = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the check could not run (empty when it ran).")
    checked_at = models.DateTimeField()
    check_entry = models.PositiveBigIntegerField(null=True, blank=True, help_text="The check's audit entry id.")

    class Meta:
        ordering = ["frontend_id"]

    def __str__(self) -> str:
        return f"{self.frontend_id}: {self.differences} difference(s)"


class DeployLock(models.Model):
    """A lease on one front-end: at most one deployment touches a front-end at a time, across
    processes and machines. Claimed with a conditional UPDATE (free or expired -> ours), renewed
    at every stage, released at the end; a crashed worker's lease simply expires."""

    frontend = models.OneToOneField(FrontEnd, primary_key=True, on_delete=models.CASCADE, related_name="deploy_lock")
    owner = models.CharField(max_length=100, blank=True, help_text="Who holds the lease; empty when free.")
    expires_at = models.DateTimeField(null=True, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)
    token = models.PositiveBigIntegerField(
        default=0, help_text="Fencing token: grows by one at every claim, so a stale holder is told apart."
    )

    class Meta:
        ordering = ["frontend_id"]

    def __str__(self) -> str:
        return f"{self.frontend_id}: {self.owner or 'free'}"
