"""Bounded growth: what the panel keeps (`manage.py cleanup`, and daily by `manage.py reap --loop`).

* stored trees (`ConfigTree`, one per distinct rendered tree: ~4 KB per HTTPS site, or only its changes
  against a base tree; the routing map's base is a `ConfigBlob` shared by the trees that have it, deleted
  once none does): the last HOSTPANEL_KEEP_TREES trees per front-end (default 50), plus every tree a host
  has ACTIVATED and every tree a queued or running deployment (a rollback) needs, and the base tree of
  each kept one; older deployment rows keep their status and
  messages but lose their tree (no more diff or rollback to them);
* deployments (and their per-host rows): HOSTPANEL_KEEP_DEPLOYMENT_DAYS (default 90), but never a
  queued or running one, nor one whose tree a host still runs;
* finished task-queue results (django-tasks-db) as long as deployments;
* status samples: already pruned by every poll (HOSTPANEL_STATUS_HISTORY_MINUTES), pruned here too;
* the site change journal (sites.models.SiteChange, written by database triggers): a day;
* traffic usage (metering.retention): hourly rows HOSTPANEL_USAGE_HOURLY_DAYS, then rolled up into daily rows
  (kept for good, or HOSTPANEL_USAGE_DAILY_DAYS);
* the audit log is kept: it is the audit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from balancers.choices import DeploymentStatus
from balancers.models import ActivatedRelease, ConfigBlob, ConfigTree, Deployment, DeploymentHost
from deploy.stored import referenced_blobs
from metering.retention import usage_rollup
from sites.models import SiteChange
from status.poller import prune_samples

ACTIVE = (DeploymentStatus.QUEUED, DeploymentStatus.RUNNING)


@dataclass
class CleanupResult:
    trees_deleted: int = 0
    blobs_deleted: int = 0
    journal_rows_deleted: int = 0
    host_rows_detached: int = 0
    deployments_deleted: int = 0
    task_results_deleted: int = 0
    samples_deleted: int = 0
    usage_hours_rolled_up: int = 0
    usage_days_deleted: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def trees_to_keep(keep_per_frontend: int) -> set[int]:
    """Tree ids that stay: each front-end's newest `keep_per_frontend` distinct trees, every activated
    tree, and every tree of a queued or running deployment."""
    keep = set(ActivatedRelease.objects.filter(tree__isnull=False).values_list("tree_id", flat=True))
    keep |= set(
        DeploymentHost.objects.filter(deployment__status__in=ACTIVE, tree__isnull=False).values_list(
            "tree_id", flat=True
        )
    )
    latest = (
        DeploymentHost.objects.filter(tree__isnull=False)
        .values("frontend_name", "tree_id")
        .annotate(last=Max("id"))
        .order_by("frontend_name", "-last")
    )
    counts: dict[str, int] = {}
    for row in latest.iterator():
        seen = counts.get(row["frontend_name"], 0)
        if seen < keep_per_frontend:
            keep.add(row["tree_id"])
        counts[row["frontend_name"]] = seen + 1
    # a tree stored as its changes needs its base (deploy.stored)
    keep |= set(ConfigTree.objects.filter(pk__in=keep, base__isnull=False).values_list("base_id", flat=True))
    return keep


def cleanup_once(*, now: datetime | None = None) -> CleanupResult:
    now = now or timezone.now()
    result = CleanupResult()
    cutoff = now - timedelta(days=settings.HOSTPANEL_KEEP_DEPLOYMENT_DAYS)
    activated = set(ActivatedRelease.objects.filter(tree__isnull=False).values_list("tree_id", flat=True))
    with transaction.atomic():
        old = (
            Deployment.objects.filter(created_at__lt=cutoff)
            .exclude(status__in=ACTIVE)
            .exclude(hosts__tree_id__in=activated)
        )
        result.deployments_deleted = (
            Deployment.objects.filter(pk__in=list(old.values_list("pk", flat=True)))
            .delete()[1]
            .get(Deployment._meta.label, 0)
        )
    with transaction.atomic():
        keep = trees_to_keep(settings.HOSTPANEL_KEEP_TREES)
        result.host_rows_detached = (
            DeploymentHost.objects.filter(tree__isnull=False).exclude(tree_id__in=keep).update(tree=None)
        )
        unused = ConfigTree.objects.exclude(pk__in=keep).filter(
            pk__in=ConfigTree.objects.exclude(
                pk__in=DeploymentHost.objects.filter(tree__isnull=False).values("tree_id")
            ).values("pk")
        )
        # the trees stored as changes first, then the whole ones no remaining tree is stored against
        result.trees_deleted = unused.filter(base__isnull=False).delete()[0]
        result.trees_deleted += unused.exclude(
            pk__in=ConfigTree.objects.filter(base__isnull=False).values("base_id")
        ).delete()[0]
        # a large file (routes.map) no kept tree and no routing base needs any more
        result.blobs_deleted = ConfigBlob.objects.exclude(digest__in=referenced_blobs()).delete()[0]
    for config in apps.get_app_configs():
        if config.name == "django_tasks_db":  # the database queue's finished results
            task_results = config.get_model("DBTaskResult")
            result.task_results_deleted = task_results._default_manager.filter(finished_at__lt=cutoff).delete()[0]
    result.samples_deleted = prune_samples(now)
    result.journal_rows_deleted = prune_journal(now)
    rollup = usage_rollup(now=now)
    result.usage_hours_rolled_up, result.usage_days_deleted = rollup.hours_rolled_up, rollup.day_rows_deleted
    return result


def prune_journal(now: datetime) -> int:
    """The change journal's rows older than a day (the newest row always stays: it is the position every
    process's site cache checks; a cache is never older than rendering.journal.FULL_RELOAD_SECONDS)."""
    newest = SiteChange.objects.order_by("-id").values_list("id", flat=True).first()
    if newest is None:
        return 0
    old = SiteChange.objects.filter(created_at__lt=now - timedelta(days=1)).exclude(id=newest)
    return old.delete()[0]
