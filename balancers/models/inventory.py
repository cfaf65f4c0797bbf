"""Zope servers, Apache front-ends, balancers with their members (the inventory the renderer reads).

Every field that reaches an Apache config carries a validator from hostpanel.validators, so
`full_clean()` (which every service calls) is the one gate for the web UI, the API and the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

if TYPE_CHECKING:
    from balancers.models.deployments import Deployment

from balancers.choices import HealthMethod, LbMethod, RenderMode, ServerKind, TlsEdge, TransportKind
from certificates.crypto import decrypt_secret
from hostpanel.validators import (
    validate_command,
    validate_config_dir,
    validate_cookie_name,
    validate_health_path,
    validate_host,
    validate_http_url,
    validate_listen,
    validate_no_control_characters,
    validate_node_ports,
    validate_port,
    validate_route,
    validate_slug_name,
    validate_ssh_host_key,
    validate_ssh_user,
    validate_url_path,
)

LOCAL_TRANSPORT_OFF = (
    "The local transport is off on this panel (HOSTPANEL_LOCAL_TRANSPORT): it would run the front-end's "
    "commands on the panel's own host. Use SSH."
)


NODE_HEALTH_PATH = "/ok"  # Volto's SSR server answers it with "ok" (docs/plone6-facts.md)


class ZopeServer(models.Model):
    """An application server: a Zope server (Plone's backend) or a Node.js frontend server (Volto, one
    customer's build). Its name is the balancer route (the part after `balancer.` in the cookie)."""

    name = models.CharField(
        max_length=64,
        validators=[validate_route],
        help_text="The balancer route, e.g. zope1: letters, digits, '_' and '-' (no '.').",
    )
    kind = models.CharField(
        max_length=8,
        choices=ServerKind.choices,
        default=ServerKind.ZOPE,
        help_text="Zope serves Plone (pages for Classic UI sites, the API for Volto sites); a Node.js frontend "
        "server runs one Volto build and renders its pages.",
    )
    host = models.CharField(max_length=253, validators=[validate_host], help_text="Host name or IP address.")
    port = models.PositiveIntegerField(validators=[validate_port], default=8080)
    description = models.CharField(max_length=200, blank=True, validators=[validate_no_control_characters])
    # Active health checks (mod_proxy_hcheck on front-ends that load it): Apache asks each member on its
    # server's health path and takes it out of rotation after health_fails failures in a row.
    health_path = models.CharField(
        max_length=200,
        default="/",
        validators=[validate_health_path],
        help_text="Path the front-ends request to check this server (hcuri), e.g. / or /health.",
    )
    health_method = models.CharField(
        max_length=8, choices=HealthMethod.choices, default=HealthMethod.GET, help_text="hcmethod."
    )
    health_interval = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(3600)],
        help_text="Seconds between two checks (hcinterval).",
    )
    health_passes = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Checks in a row that must pass before a failed server takes traffic again (hcpasses).",
    )
    health_fails = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Checks in a row that must fail before the server leaves rotation (hcfails).",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                name="zopeserver_name_unique",
                violation_error_code="unique",
                violation_error_message="A Zope server with this name (route) already exists.",
            ),
            models.UniqueConstraint(
                fields=["host", "port"],
                name="zopeserver_host_port_unique",
                violation_error_message="Another Zope server already uses this host and port.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ServerKind.values),
                name="zopeserver_kind_valid",
                violation_error_message="Unknown server kind.",
            ),
            models.CheckConstraint(
                condition=Q(port__gte=1, port__lte=65535),
                name="zopeserver_port_range",
                violation_error_message="A port must be between 1 and 65535.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("balancers:zopeserver_detail", args=[self.pk])

    def clean(self) -> None:
        super().clean()
        if self.kind == ServerKind.NODE and self.health_path in ("", "/"):
            # a Node.js frontend's health check is GET /ok (Volto's ok middleware): "/" would render a page
            self.health_path = NODE_HEALTH_PATH
        if self.pk is None:  # one more server: every front-end's node ports must still fit
            highest = FrontEnd.objects.aggregate(models.Max("node_port_base"))["node_port_base__max"]
            validate_node_ports(highest, ZopeServer.objects.count() + 1)
        elif self.kind in ServerKind.values:
            # a member keeps the kind of its balancer: a server in use keeps its kind
            other = self.memberships.exclude(balancer__kind=self.kind).values_list("balancer__name", flat=True)
            if names := sorted(other):
                raise ValidationError(
                    {
                        "kind": ValidationError(
                            f"{self.name} is a member of {', '.join(names)}, which group(s) servers of its current "
                            "kind: remove it from there first.",
                            code="in_use",
                        )
                    }
                )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class FrontEnd(models.Model):
    """An Apache host the panel deploys its rendered config to and reads balancer-manager from."""

    name = models.CharField(max_length=64, validators=[validate_slug_name])
    address = models.CharField(
        max_length=253, validators=[validate_host], help_text="Host name or IP the panel connects to over SSH."
    )
    transport = models.CharField(max_length=8, choices=TransportKind.choices, default=TransportKind.SSH)
    ssh_port = models.PositiveIntegerField(default=22, validators=[validate_port])
    ssh_user = models.CharField(max_length=32, default="hostpanel", validators=[validate_ssh_user])
    ssh_host_key = models.TextField(
        blank=True,
        help_text="One OpenSSH public key line of the host (e.g. /etc/ssh/ssh_host_ed25519_key.pub). "
        "The connection is refused if the host presents another key. Required for SSH.",
    )
    config_dir = models.CharField(
        max_length=255,
        default="/etc/apache2/hostpanel",
        validators=[validate_config_dir],
        help_text="Absolute directory the rendered tree is deployed to; Apache includes hostpanel.conf from it.",
    )
    usage_log_dir = models.CharField(
        max_length=255,
        blank=True,
        default="",
        validators=[validate_config_dir],
        help_text="Traffic metering: the absolute directory where Apache's rotatelogs writes the usage log (one "
        "closed file per interval, collected and removed by the panel; writable by the SSH user). Empty: off.",
    )
    configtest_command = models.CharField(
        max_length=500, default="sudo apache2ctl configtest", validators=[validate_command]
    )
    reload_command = models.CharField(max_length=500, default="sudo apache2ctl graceful", validators=[validate_command])
    balancer_manager_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_http_url],
        help_text="e.g. http://10.0.0.5/balancer-manager (reachable from the panel).",
    )
    manager_username = models.CharField(max_length=150, blank=True, validators=[validate_no_control_characters])
    manager_password_encrypted = models.TextField(
        blank=True, help_text="The balancer-manager password, Fernet-encrypted (certificates.crypto); write-only."
    )
    health_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_http_url],
        help_text="Checked after a reload; the balancer-manager URL is used when empty.",
    )
    http_listen = models.CharField(
        max_length=64,
        default="*:80",
        validators=[validate_listen],
        help_text="Address and port of the client site vhosts, e.g. *:80 or 127.0.0.1:8080.",
    )
    https_listen = models.CharField(  # like http_listen, the front-end's main config owns Listen (and mod_ssl)
        max_length=64, default="*:443", validators=[validate_listen], help_text="Address and port of HTTPS vhosts."
    )
    tls_edge = models.CharField(
        max_length=8,
        choices=TlsEdge.choices,
        default=TlsEdge.APACHE,
        help_text="What terminates HTTPS on https_listen. nginx: an nginx on the front-end (its http{} block "
        "includes <config_dir>/edge/nginx.conf) reads each site's certificate at the handshake and hands the "
        "request to Apache on edge_backend_listen, so a new certificate goes live without any reload.",
    )
    edge_backend_listen = models.CharField(
        max_length=64,
        default="127.0.0.1:8443",
        validators=[validate_listen],
        help_text="nginx edge: the loopback address and port where Apache takes the requests nginx decrypted "
        "(HostPanel's tree carries its Listen; the client address comes from X-Forwarded-For, trusted from "
        "loopback only).",
    )
    edge_configtest_command = models.CharField(
        max_length=500, default="sudo nginx -t", validators=[validate_command], blank=True
    )
    edge_reload_command = models.CharField(
        max_length=500, default="sudo nginx -s reload", validators=[validate_command], blank=True
    )
    status_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_http_url],
        help_text="mod_status in machine-readable form, e.g. http://10.0.0.5/server-status?auto (same login as "
        "the balancer-manager). Empty: the balancer-manager URL's host with /server-status?auto.",
    )
    apache_facts = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the last readiness check read from this front-end's Apache (balancers.capacity.ApacheFacts): "
        "version, MPM and its limits, loaded modules, the virtual host map. Written by the panel, never by hand.",
    )
    node_address = models.CharField(
        max_length=64,
        default="127.0.0.1",
        validators=[validate_host],
        help_text="Node-vhosts mode: the address the node vhosts listen on (the front-end reaches itself there).",
    )
    node_port_base = models.PositiveIntegerField(
        default=18080,
        validators=[validate_port],
        help_text="Node-vhosts mode: the first port; each Zope server gets the next one, in name order.",
    )
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True, validators=[validate_no_control_characters])

    audit_redacted_fields = ("manager_password_encrypted",)

    class Meta:
        ordering = ["name"]
        verbose_name = "front-end"
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                name="frontend_name_unique",
                violation_error_code="unique",
                violation_error_message="A front-end with this name already exists.",
            ),
            models.CheckConstraint(
                condition=Q(ssh_port__gte=1, ssh_port__lte=65535),
                name="frontend_ssh_port_range",
                violation_error_message="The SSH port must be between 1 and 65535.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("balancers:frontend_detail", args=[self.pk])

    @property
    def manager_password(self) -> str:
        """The balancer-manager password in clear (for the status client's login only; set it through
        balancers.services). Raises certificates.crypto.SecretsError when HOSTPANEL_SECRETS_KEY cannot decrypt it."""
        if not self.manager_password_encrypted:
            return ""
        return decrypt_secret(self.manager_password_encrypted).decode("utf-8")

    def clean(self) -> None:
        super().clean()
        if self.transport == TransportKind.LOCAL and not settings.HOSTPANEL_LOCAL_TRANSPORT:
            raise ValidationError({"transport": LOCAL_TRANSPORT_OFF})
        try:
            validate_node_ports(self.node_port_base, ZopeServer.objects.count())
        except ValidationError as exc:
            raise ValidationError({"node_port_base": exc.messages}) from None
        usage, config = (self.usage_log_dir or "").rstrip("/"), (self.config_dir or "").rstrip("/")
        if usage and config and (usage == config or usage.startswith(config + "/") or usage.startswith(config + ".")):
            raise ValidationError(
                {"usage_log_dir": "The usage log directory must be outside the config directory and its releases."}
            )
        if self.tls_edge == TlsEdge.NGINX:
            self._clean_edge()
        if self.transport == TransportKind.SSH:
            if not (self.ssh_host_key or "").strip():
                raise ValidationError(
                    {"ssh_host_key": "The host key is required for SSH: it is how the front-end is authenticated."}
                )
            try:
                validate_ssh_host_key(self.ssh_host_key)
            except ValidationError as exc:
                raise ValidationError({"ssh_host_key": exc.messages}) from None
            self.ssh_host_key = self.ssh_host_key.strip()
        elif self.ssh_host_key:
            try:
                validate_ssh_host_key(self.ssh_host_key)
            except ValidationError as exc:
                raise ValidationError({"ssh_host_key": exc.messages}) from None

    def _clean_edge(self) -> None:
        """The nginx edge hands Apache the client's address in X-Forwarded-For: Apache may trust it only on a
        loopback listener of its own, which no site listener shares."""
        listen = (self.edge_backend_listen or "").strip()
        host, _, port = listen.split()[0].rpartition(":") if listen else ("", "", "")
        host = host.strip("[]")
        if not (host.startswith("127.") or host == "::1"):
            raise ValidationError(
                {
                    "edge_backend_listen": "The edge's Apache listener must be on loopback (127.0.0.1:PORT or "
                    "[::1]:PORT): Apache trusts the client address nginx sends only from there."
                }
            )
        for field in ("http_listen", "https_listen"):
            other = (getattr(self, field) or "").strip().split()
            if other and other[0].rpartition(":")[2] == port:
                raise ValidationError(
                    {"edge_backend_listen": f"The edge's Apache listener needs a port of its own (not {field}'s)."}
                )
        for field in ("edge_configtest_command", "edge_reload_command"):
            if not (getattr(self, field) or "").strip():
                raise ValidationError({field: "Required with the nginx edge."})


# A balancer's and a member's settings, each list once: what the services change, the snapshot reads,
# the renderer writes and the importer compares (rendering.snapshot's records carry the same names).
BALANCER_SETTINGS = (
    "lbmethod",
    "sticky_cookie",
    "cookie_ttl",
    "nofailover",
    "maxattempts",
    "timeout",
    "error_document",
    "render_mode",
)
MEMBER_SETTINGS = ("lbset", "loadfactor", "min", "max", "smax", "timeout", "retry", "hot_standby", "drain", "disabled")


class Balancer(models.Model):
    """A `<Proxy balancer://name>` with its sticky-session settings, shared by many client sites."""

    name = models.CharField(max_length=50, validators=[validate_slug_name], help_text="e.g. bronze")
    kind = models.CharField(
        max_length=8,
        choices=ServerKind.choices,
        default=ServerKind.ZOPE,
        help_text="The kind of server its members are: Zope servers, or the Node.js frontend servers of one "
        "Volto build (never two customers' builds in one balancer).",
    )
    description = models.CharField(max_length=200, blank=True, validators=[validate_no_control_characters])
    lbmethod = models.CharField(max_length=16, choices=LbMethod.choices, default=LbMethod.BYREQUESTS)
    sticky_cookie = models.CharField(
        max_length=64,
        default="BALANCEID",
        validators=[validate_cookie_name],
        help_text="Name of the cookie Apache sets and reads for stickiness (value: balancer.<route>).",
    )
    cookie_ttl = models.PositiveIntegerField(
        default=1200,
        validators=[MinValueValidator(1), MaxValueValidator(31_536_000)],
        help_text="Seconds the sticky cookie lives.",
    )
    nofailover = models.BooleanField(default=False, help_text="Off: a client whose server died moves on.")
    maxattempts = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(100)])
    timeout = models.PositiveIntegerField(
        default=20, validators=[MinValueValidator(1), MaxValueValidator(3600)], help_text="Seconds."
    )
    error_document = models.CharField(
        max_length=255,
        blank=True,
        default="/ERROR_503.html",
        validators=[validate_url_path],
        help_text="Served by Apache when no member can answer (503). Empty: Apache's own page.",
    )
    render_mode = models.CharField(max_length=16, choices=RenderMode.choices, default=RenderMode.SINGLE_PASS)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                name="balancer_name_unique",
                violation_error_code="unique",
                violation_error_message="A balancer with this name already exists.",
            ),
            models.CheckConstraint(
                condition=Q(cookie_ttl__gte=1),
                name="balancer_cookie_ttl_positive",
                violation_error_message="The cookie lifetime must be at least one second.",
            ),
            models.CheckConstraint(
                condition=Q(lbmethod__in=LbMethod.values),
                name="balancer_lbmethod_valid",
                violation_error_message="Unknown load-balancing method.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ServerKind.values),
                name="balancer_kind_valid",
                violation_error_message="Unknown balancer kind.",
            ),
            models.CheckConstraint(
                condition=Q(render_mode__in=RenderMode.values),
                name="balancer_render_mode_valid",
                violation_error_message="Unknown render mode.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("balancers:balancer_detail", args=[self.pk])

    def clean(self) -> None:
        """A balancer in use keeps its kind: its members are servers of that kind, and its sites use it as
        their Zope balancer (zope) or as their frontend balancer (node)."""
        super().clean()
        if self.pk is None or self.kind not in ServerKind.values:
            return
        reasons = []
        others = self.members.exclude(zope_server__kind=self.kind)
        if names := sorted(others.values_list("zope_server__name", flat=True)):
            reasons.append(f"its members {', '.join(names)} are servers of the other kind")
        uses = self.sites if self.kind == ServerKind.NODE else self.frontend_sites
        if count := uses.count():
            role = "Zope balancer" if self.kind == ServerKind.NODE else "frontend balancer"
            reasons.append(f"{count} site(s) use it as their {role}")
        if reasons:
            raise ValidationError(
                {"kind": ValidationError(f"The kind cannot change: {'; '.join(reasons)}.", code="in_use")}
            )


class BalancerMember(models.Model):
    """A Zope server inside a balancer. Its route is the Zope server's name; the flags are runtime
    states (hot standby, drain, disabled) that are both rendered into the config and applied live."""

    deployment: Deployment | None  # not a field: set by the write services, the deployment carrying the change

    balancer = models.ForeignKey(Balancer, on_delete=models.CASCADE, related_name="members")
    zope_server = models.ForeignKey(ZopeServer, on_delete=models.PROTECT, related_name="memberships")
    lbset = models.PositiveSmallIntegerField(default=1, validators=[MaxValueValidator(99)])
    loadfactor = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(100)])
    min = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(10_000)])
    max = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(10_000)]
    )
    smax = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(10_000)])
    timeout = models.PositiveIntegerField(default=10, validators=[MinValueValidator(1), MaxValueValidator(3600)])
    retry = models.PositiveIntegerField(default=60, validators=[MaxValueValidator(3600)])
    hot_standby = models.BooleanField(default=False, help_text="Used only when the other members are down (+H).")
    drain = models.BooleanField(default=False, help_text="Takes no new clients; sticky clients stay (+N).")
    disabled = models.BooleanField(default=False, help_text="Takes no traffic at all (+D).")

    class Meta:
        ordering = ["balancer__name", "lbset", "zope_server__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["balancer", "zope_server"],
                name="member_balancer_server_unique",
                violation_error_message="This Zope server is already a member of this balancer.",
            ),
            models.CheckConstraint(
                condition=Q(lbset__lte=99),
                name="member_lbset_range",
                violation_error_message="The lbset must be between 0 and 99.",
            ),
            models.CheckConstraint(
                condition=Q(loadfactor__gte=1, loadfactor__lte=100),
                name="member_loadfactor_range",
                violation_error_message="The load factor must be between 1 and 100.",
            ),
            models.CheckConstraint(
                condition=Q(min__isnull=True) | Q(max__isnull=True) | Q(min__lte=F("max")),
                name="member_min_le_max",
                violation_error_message="min must not exceed max.",
            ),
            models.CheckConstraint(
                condition=Q(smax__isnull=True) | Q(max__isnull=True) | Q(smax__lte=F("max")),
                name="member_smax_le_max",
                violation_error_message="smax must not exceed max.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.balancer_id and self.balancer.name}/{self.zope_server_id and self.zope_server.name}"

    def get_absolute_url(self) -> str:
        return reverse("balancers:balancer_detail", args=[self.balancer_id])

    def clean(self) -> None:
        super().clean()
        if self.balancer_id and self.zope_server_id and self.balancer.kind != self.zope_server.kind:
            raise ValidationError(
                {
                    "zope_server": ValidationError(
                        f"{self.zope_server.name} is a {self.zope_server.get_kind_display()} server; the balancer "
                        f"{self.balancer.name} groups {self.balancer.get_kind_display()} servers.",
                        code="kind",
                    )
                }
            )

    @property
    def route(self) -> str:
        return self.zope_server.name

    @property
    def state(self) -> str:
        """The member's intended state in words: disabled > drain > hot standby > active."""
        if self.disabled:
            return "disabled"
        if self.drain:
            return "drain"
        if self.hot_standby:
            return "hot standby"
        return "active"
