"""Operations on running servers: how a Zope server is restarted, and rolling restarts with a row per step.

`ZopeServerOps` extends balancers.ZopeServer one-to-one (balancers/models.py is kept small): the restart
command runs over SSH on the Zope host — its own address, port, user and pinned host key, through the
same transport as deploys (deploy.transport.ssh) — and only a superuser may set it (it is a shell command).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse

from balancers.choices import TransportKind
from balancers.models import Balancer, BalancerMember, ZopeServer
from hostpanel.validators import (
    validate_host,
    validate_no_control_characters,
    validate_port,
    validate_request_path,
    validate_ssh_host_key,
    validate_ssh_user,
)
from operations.choices import ACTIVE_RESTART_STATUSES, RestartStatus, RestartStepName, StepOutcome

# The fields only a superuser may set: they choose what runs, where, as whom.
COMMAND_FIELDS = ("restart_command", "transport", "ssh_address", "ssh_port", "ssh_user", "ssh_host_key")


class ZopeServerOps(models.Model):
    """How to restart one Zope server and how to tell it is back."""

    zope_server = models.OneToOneField(ZopeServer, on_delete=models.CASCADE, primary_key=True, related_name="ops")
    restart_command = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_no_control_characters],
        help_text="Run over SSH on the Zope host, e.g. 'sudo systemctl restart zope-instance1'. Empty: "
        "this server cannot be restarted by the panel. Only a superuser may set it.",
    )
    transport = models.CharField(
        max_length=8,
        choices=TransportKind.choices,
        default=TransportKind.SSH,
        help_text="Where the restart command runs: over SSH on the Zope host, or on the panel's own host "
        "(single-box installs and the demo; only while HOSTPANEL_LOCAL_TRANSPORT is on).",
    )
    ssh_address = models.CharField(
        max_length=253,
        blank=True,
        validators=[validate_host],
        help_text="Host the panel logs in to; empty: the Zope server's own host.",
    )
    ssh_port = models.PositiveIntegerField(default=22, validators=[validate_port])
    ssh_user = models.CharField(max_length=32, default="hostpanel", validators=[validate_ssh_user])
    ssh_host_key = models.TextField(
        blank=True, help_text="One OpenSSH public key line of the Zope host; any other key is refused."
    )
    health_path = models.CharField(
        max_length=255,
        default="/@@ok",
        validators=[validate_request_path],
        help_text="Requested directly on the Zope server after a restart until it answers 200 "
        "(/@@ok on Plone 5.2 and later, or the VirtualHostMonster path of a site).",
    )

    class Meta:
        ordering = ["zope_server__name"]
        verbose_name = "Zope server operations"
        verbose_name_plural = "Zope server operations"
        constraints = [
            models.CheckConstraint(
                condition=Q(ssh_port__gte=1, ssh_port__lte=65535),
                name="zopeserverops_ssh_port_range",
                violation_error_message="The SSH port must be between 1 and 65535.",
            )
        ]

    def __str__(self) -> str:
        return f"operations of {self.zope_server_id and self.zope_server.name}"

    def get_absolute_url(self) -> str:
        return reverse("balancers:zopeserver_detail", args=[self.zope_server_id])

    @property
    def can_restart(self) -> bool:
        return bool(self.restart_command.strip())

    @property
    def login_host(self) -> str:
        return self.ssh_address or self.zope_server.host

    def clean(self) -> None:
        super().clean()
        if self.transport == TransportKind.LOCAL:
            if not settings.HOSTPANEL_LOCAL_TRANSPORT:
                raise ValidationError(
                    {"transport": "The local transport is off on this panel (HOSTPANEL_LOCAL_TRANSPORT)."}
                )
        elif self.restart_command.strip() and not self.ssh_host_key.strip():
            raise ValidationError(
                {
                    "ssh_host_key": "The Zope host's SSH host key is required with a restart command: it is how "
                    "the host is authenticated."
                }
            )
        if self.ssh_host_key.strip():
            try:
                validate_ssh_host_key(self.ssh_host_key)
            except ValidationError as exc:
                raise ValidationError({"ssh_host_key": exc.messages}) from None
            self.ssh_host_key = self.ssh_host_key.strip()


class RollingRestart(models.Model):
    """One rolling restart of a balancer's members, one member at a time (its steps are the rows below)."""

    balancer = models.ForeignKey(Balancer, on_delete=models.CASCADE, related_name="rolling_restarts")
    status = models.CharField(max_length=16, choices=RestartStatus.choices, default=RestartStatus.QUEUED)
    actor = models.CharField(max_length=150)
    routes = models.JSONField(default=list, help_text="The members' routes, in the order they are restarted.")
    done_routes = models.JSONField(default=list, help_text="Routes whose restart is complete.")
    cancel_requested = models.BooleanField(default=False)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["balancer"],
                condition=Q(status__in=ACTIVE_RESTART_STATUSES),
                name="rollingrestart_one_active_per_balancer",
                violation_error_message="A rolling restart of this balancer is already queued or running.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RestartStatus.values),
                name="rollingrestart_status_valid",
                violation_error_message="Unknown rolling restart status.",
            ),
        ]

    def __str__(self) -> str:
        return f"Rolling restart #{self.pk} of {self.balancer_id and self.balancer.name} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("operations:restart_detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status not in ACTIVE_RESTART_STATUSES

    @property
    def can_resume(self) -> bool:
        return self.status in (RestartStatus.FAILED, RestartStatus.CANCELLED) and len(self.done_routes) < len(
            self.routes
        )

    @property
    def can_cancel(self) -> bool:
        return self.status in (*ACTIVE_RESTART_STATUSES, RestartStatus.FAILED) and not self.cancel_requested


class RollingRestartStep(models.Model):
    """One step of one member in a rolling restart: the audit trail and the progress bar at once."""

    restart = models.ForeignKey(RollingRestart, on_delete=models.CASCADE, related_name="steps")
    member = models.ForeignKey(BalancerMember, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    route = models.CharField(max_length=64, help_text="Kept when the member is deleted.")
    step = models.CharField(max_length=16, choices=RestartStepName.choices)
    outcome = models.CharField(max_length=16, choices=StepOutcome.choices, default=StepOutcome.RUNNING)
    detail = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["restart_id", "started_at", "id"]

    def __str__(self) -> str:
        return f"{self.restart_id}/{self.route}/{self.step} {self.outcome}"

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
