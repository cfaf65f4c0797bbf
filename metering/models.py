"""Traffic per site for billing (issue #29): what every front-end's usage log counted, per site per hour,
and which closed log file of which front-end has been counted (so a file is counted exactly once).

    UsageHour      requests and bytes of one site in one UTC hour, summed over every front-end
    CollectedFile  one closed usage-log file of one front-end: counted (in the same transaction as its
                   UsageHour increments), then removed from the front-end
    CollectionState  per front-end: the last collection, its error, and the backlog it saw
    SiteQuota      an optional monthly bytes-out quota of a site, with its policy
    QuotaEvent     what a quota did (80 %/100 % notices, suspension, unsuspension), once per site per month
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models


class UsageHour(models.Model):
    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="usage_hours")
    hour = models.DateTimeField(help_text="The start of the UTC hour.")
    requests = models.PositiveBigIntegerField(default=0)
    bytes_in = models.PositiveBigIntegerField(default=0, help_text="Bytes received, headers included (%I).")
    bytes_out = models.PositiveBigIntegerField(default=0, help_text="Bytes sent, headers included (%O).")
    status_2xx = models.PositiveBigIntegerField(default=0)
    status_3xx = models.PositiveBigIntegerField(default=0)
    status_4xx = models.PositiveBigIntegerField(default=0)
    status_5xx = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-hour"]
        constraints = [models.UniqueConstraint(fields=["site", "hour"], name="usagehour_site_hour_unique")]
        indexes = [models.Index(fields=["hour"], name="usagehour_hour_idx")]

    def __str__(self) -> str:
        return f"{self.site_id} @ {self.hour:%Y-%m-%d %H}: {self.requests} requests"


class UsageDay(models.Model):
    """The roll-up of UsageHour rows older than HOSTPANEL_USAGE_HOURLY_DAYS (same fields, one UTC day)."""

    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    requests = models.PositiveBigIntegerField(default=0)
    bytes_in = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    status_2xx = models.PositiveBigIntegerField(default=0)
    status_3xx = models.PositiveBigIntegerField(default=0)
    status_4xx = models.PositiveBigIntegerField(default=0)
    status_5xx = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["site", "day"], name="usageday_site_day_unique")]
        indexes = [models.Index(fields=["day"], name="usageday_day_idx")]

    def __str__(self) -> str:
        return f"{self.site_id} @ {self.day}: {self.requests} requests"


class CollectedFile(models.Model):
    frontend = models.ForeignKey("balancers.FrontEnd", on_delete=models.CASCADE, related_name="collected_usage")
    name = models.CharField(max_length=255, help_text="The file's name in the front-end's usage log directory.")
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    lines = models.PositiveBigIntegerField(default=0)
    unknown_lines = models.PositiveBigIntegerField(default=0, help_text="Requests for names no site claims.")
    bad_lines = models.PositiveBigIntegerField(default=0, help_text="Lines that did not parse (reported).")
    counted_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True, help_text="When it was deleted on the front-end.")

    class Meta:
        ordering = ["-counted_at"]
        constraints = [models.UniqueConstraint(fields=["frontend", "name"], name="collectedfile_frontend_name_unique")]

    def __str__(self) -> str:
        return f"{self.frontend_id}:{self.name}"


class CollectionState(models.Model):
    """How collecting one front-end's usage log went last (metering.collect): when it was last looked at and
    last collected in full, the error of the last failed look, and what waited there (closed files not yet
    counted) - the backlog shown on the front-end page and watched by the usage_backlog alert."""

    frontend = models.OneToOneField(
        "balancers.FrontEnd", on_delete=models.CASCADE, related_name="usage_collection", primary_key=True
    )
    checked_at = models.DateTimeField(null=True, blank=True, help_text="The last attempt, failed or not.")
    collected_at = models.DateTimeField(
        null=True, blank=True, help_text="The last time every closed file was counted and removed."
    )
    failing_since = models.DateTimeField(null=True, blank=True, help_text="First failed attempt of the current run.")
    error = models.TextField(blank=True, help_text="Why the last attempt failed; empty when it succeeded.")
    waiting_files = models.PositiveIntegerField(default=0, help_text="Closed files not yet counted, last seen.")
    waiting_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["frontend"]

    def __str__(self) -> str:
        return f"{self.frontend_id}: {self.waiting_files} file(s) waiting"


class QuotaPolicy(models.TextChoices):
    NOTIFY = "notify", "Notify at 80 % and 100 %"
    SUSPEND = "suspend", "Notify at 80 %, suspend at 100 %, unsuspend next month"


class SiteQuota(models.Model):
    site = models.OneToOneField("sites.Site", on_delete=models.CASCADE, related_name="quota", primary_key=True)
    monthly_bytes_out = models.PositiveBigIntegerField(validators=[MinValueValidator(1)])
    policy = models.CharField(max_length=16, choices=QuotaPolicy.choices, default=QuotaPolicy.NOTIFY)

    def __str__(self) -> str:
        return f"{self.site_id}: {self.monthly_bytes_out} B/month ({self.policy})"


class QuotaEvent(models.Model):
    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="quota_events")
    month = models.DateField(help_text="The first day of the calendar month (UTC).")
    kind = models.CharField(max_length=16, help_text="warn80, reached100, suspended or unsuspended.")
    at = models.DateTimeField()
    bytes_out = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(fields=["site", "month", "kind"], name="quotaevent_site_month_kind_unique")
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.month:%Y-%m} {self.kind}"
