"""The rows of the live status (status): one StatusSample per member per poll (the dashboard's
history), and one FrontEndSnapshot per front-end (its latest balancer-manager answer, which the dashboard
reads instead of asking every front-end on every refresh). Registered through balancers.models."""

from __future__ import annotations

from django.db import models


class StatusSample(models.Model):
    """One member's live balancer-manager figures on one front-end at one time (dashboard history)."""

    frontend = models.ForeignKey("balancers.FrontEnd", on_delete=models.CASCADE, related_name="status_samples")
    taken_at = models.DateTimeField(db_index=True)
    balancer = models.CharField(max_length=64)
    member_url = models.CharField(max_length=300)
    route = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=64, blank=True)
    elected = models.PositiveBigIntegerField(default=0)
    busy = models.PositiveIntegerField(default=0)
    transferred = models.PositiveBigIntegerField(default=0)
    read = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-taken_at"]
        indexes = [
            models.Index(fields=["frontend", "balancer", "member_url", "taken_at"], name="statussample_series_idx")
        ]

    def __str__(self) -> str:
        return f"{self.frontend_id} {self.balancer} {self.member_url} @ {self.taken_at:%H:%M:%S}"


class FrontEndSnapshot(models.Model):
    """The latest balancer-manager answer (or failure) of one front-end, written by every poll
    (status.poller) and by an on-demand refresh: the dashboard and GET /api/v1/status/ read
    this, so the number of browsers open never multiplies the requests to the front-ends."""

    frontend = models.OneToOneField(
        "balancers.FrontEnd", primary_key=True, on_delete=models.CASCADE, related_name="live_snapshot"
    )
    fetched_at = models.DateTimeField(help_text="When the front-end was asked.")
    state = models.CharField(max_length=16, help_text="ok, down, timeout, refused, html, junk or unconfigured.")
    reason = models.CharField(max_length=300, blank=True)
    duration = models.FloatField(default=0.0, help_text="Seconds the fetch took.")
    payload = models.JSONField(default=list, help_text="The parsed balancers (status.parse.live_payload).")

    class Meta:
        ordering = ["frontend_id"]

    def __str__(self) -> str:
        return f"{self.frontend_id}: {self.state} @ {self.fetched_at:%H:%M:%S}"


class WorkerSample(models.Model):
    """One front-end's mod_status figures at one time (`/server-status?auto`, status.poller): how many of its
    Apache workers were busy, the capacity view on the dashboard and the saturation alert read these."""

    frontend = models.ForeignKey("balancers.FrontEnd", on_delete=models.CASCADE, related_name="worker_samples")
    taken_at = models.DateTimeField(db_index=True)
    busy = models.PositiveIntegerField(default=0, help_text="BusyWorkers: threads serving a request.")
    idle = models.PositiveIntegerField(default=0, help_text="IdleWorkers: threads waiting for one.")
    graceful = models.PositiveIntegerField(default=0, help_text="Threads of an old generation finishing (G).")
    slots = models.PositiveIntegerField(default=0, help_text="Scoreboard slots (ServerLimit x ThreadsPerChild).")
    max_workers = models.PositiveIntegerField(
        default=0, help_text="MaxRequestWorkers as read from the front-end (apache_facts); 0 when unknown."
    )
    connections = models.PositiveIntegerField(default=0, help_text="ConnsTotal (event MPM).")
    keepalive = models.PositiveIntegerField(default=0, help_text="ConnsAsyncKeepAlive: idle keep-alive connections.")
    closing = models.PositiveIntegerField(default=0, help_text="ConnsAsyncClosing: connections being closed.")
    total_accesses = models.PositiveBigIntegerField(null=True, blank=True, help_text="With ExtendedStatus On.")
    requests_per_second = models.FloatField(
        null=True, blank=True, help_text="Requests/s since the previous sample (from Total Accesses)."
    )

    class Meta:
        ordering = ["-taken_at"]
        indexes = [models.Index(fields=["frontend", "taken_at"], name="workersample_series_idx")]

    def __str__(self) -> str:
        return f"{self.frontend_id}: {self.busy} busy @ {self.taken_at:%H:%M:%S}"
