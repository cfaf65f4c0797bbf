from django.db import models


class RestartStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (stopped)"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_RESTART_STATUSES = (RestartStatus.QUEUED, RestartStatus.RUNNING)


class RestartStepName(models.TextChoices):
    DRAIN = "drain", "Drain on every front-end"
    WAIT_IDLE = "wait_idle", "Wait until not busy"
    RESTART = "restart", "Run the restart command"
    WAIT_HEALTHY = "wait_healthy", "Wait for the health path"
    WARM = "warm", "Warm the site paths"
    UNDRAIN = "undrain", "Clear the drain"
    SETTLE = "settle", "Settle"


class StepOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    WARNING = "warning", "OK with a warning"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
