"""Client sites: a domain (plus aliases) mapped to a Plone site through a balancer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse

if TYPE_CHECKING:
    from balancers.models import Deployment

from balancers.choices import ServerKind
from hostpanel.validators import (
    normalize_blocked_methods,
    normalize_hostname,
    normalize_passthrough_paths,
    validate_blocked_methods,
    validate_classic_ui_path,
    validate_domain,
    validate_no_control_characters,
    validate_passthrough_paths,
    validate_plone_path,
)
from sites.choices import HSTS_MAX_SECONDS, ManageAccess, SiteKind, SiteStatus, SiteTls

__all__ = [  # the choices are importable from here too (migrations, older imports)
    "HSTS_MAX_SECONDS",
    "ManageAccess",
    "Site",
    "SiteAlias",
    "SiteChange",
    "SiteHostname",
    "SiteStatus",
    "SiteTls",
    "default_tls",
]


def default_tls() -> str:
    """New sites get an ACME certificate when the panel has an ACME CA (HOSTPANEL_ACME_DIRECTORY), else none."""
    return SiteTls.ACME if settings.HOSTPANEL_ACME_DIRECTORY else SiteTls.NONE


class Site(models.Model):
    """A client's Plone site. Apache maps its domain and aliases to `plone_path` on the balancer's
    Zope servers through the VirtualHostMonster."""

    deployment: Deployment | None  # not a field: set by the write services, the deployment carrying the change

    domain = models.CharField(
        max_length=253,
        validators=[validate_domain],
        help_text="Lower-case; internationalised names are stored as punycode (xn--…).",
    )
    kind = models.CharField(
        max_length=16,
        choices=SiteKind.choices,
        default=SiteKind.CLASSIC,
        help_text="Classic UI: Zope renders every page. Volto: /++api++ goes to Zope, every other path to the "
        "site's Node.js frontend balancer. Frontend only: everything to the frontend balancer.",
    )
    balancer = models.ForeignKey(
        "balancers.Balancer",
        on_delete=models.PROTECT,
        related_name="sites",
        help_text="The Zope balancer: every page of a Classic UI site, the API (/++api++) of a Volto site, the "
        "API server a frontend-only site's Node.js application calls.",
    )
    frontend_balancer = models.ForeignKey(
        "balancers.Balancer",
        on_delete=models.PROTECT,
        related_name="frontend_sites",
        null=True,
        blank=True,
        help_text="The Node.js frontend balancer (Volto and frontend-only sites): one customer's build.",
    )
    classic_ui_path = models.CharField(
        "Classic UI path",
        max_length=64,
        blank=True,
        validators=[validate_classic_ui_path],
        help_text="Volto sites: keep Plone's Classic UI reachable under this path (e.g. /ClassicUI) for the "
        "staff networks only (403 for others). Empty: no Classic UI.",
    )
    plone_path = models.CharField(
        max_length=255, validators=[validate_plone_path], help_text="The Plone site in Zope, e.g. /plone/linux."
    )
    status = models.CharField(max_length=16, choices=SiteStatus.choices, default=SiteStatus.ACTIVE)
    suspended_reason = models.CharField(max_length=200, blank=True, validators=[validate_no_control_characters])
    customer_ref = models.CharField(
        max_length=100,
        blank=True,
        db_index=True,
        validators=[validate_no_control_characters],
        help_text="The billing system's id for this client.",
    )
    tls = models.CharField(
        max_length=8, choices=SiteTls.choices, default=default_tls, help_text="Where the site's certificate comes from."
    )
    https_redirect = models.BooleanField(
        default=True,
        help_text="HTTP answers 301 to the same URL on https (except ACME challenges) once a certificate is live.",
    )
    hsts_seconds = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(HSTS_MAX_SECONDS)],
        help_text="Strict-Transport-Security max-age on HTTPS answers; 0 = off, at most two years.",
    )
    # Site options: the extra rules hand-written vhosts carry, as checked fields (never Apache text). They
    # travel in the routing map (rendering/routes.py), so changing them is a map change: no reload.
    manage_access = models.CharField(
        "management interface",
        max_length=8,
        choices=ManageAccess.choices,
        default=ManageAccess.PUBLIC,
        help_text="Who reaches Zope's management interface (any path segment manage, manage_main or manage_*).",
    )
    blocked_methods = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_blocked_methods],
        help_text="HTTP methods Apache answers 405 without asking Zope (e.g. PUT, DELETE, PROPFIND: WebDAV).",
    )
    passthrough_paths = models.JSONField(
        "pass-through paths",
        default=list,
        blank=True,
        validators=[validate_passthrough_paths],
        help_text="Paths Apache serves itself (the front-end's own files), never proxied to Zope: a prefix "
        "ending in '/' (/icons/) or one exact path (/robots.txt).",
    )
    edit_host = models.CharField(
        max_length=253,
        blank=True,
        validators=[validate_domain],
        help_text="Another host name for the same Plone site, answered only for the staff networks "
        "(HOSTPANEL_STAFF_NETWORKS; 403 for others). Served over HTTP.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    render_error = models.TextField(
        blank=True,
        editable=False,
        help_text="Set by the deployer when this site could not be rendered: it was left out (its previous "
        "file kept) until the row is repaired.",
    )

    class Meta:
        ordering = ["domain"]
        # the balancer page counts its sites by status; the sites list filters by both
        indexes = [models.Index(fields=["balancer", "status"], name="site_balancer_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["domain"],
                name="site_domain_unique",
                violation_error_code="unique",
                violation_error_message="A site with this domain already exists.",
            ),
            models.CheckConstraint(
                condition=Q(domain=Lower("domain")),
                name="site_domain_lowercase",
                violation_error_message="The domain must be lower-case.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SiteStatus.values),
                name="site_status_valid",
                violation_error_message="Unknown site status.",
            ),
            models.UniqueConstraint(
                fields=["edit_host"],
                condition=~Q(edit_host=""),
                name="site_edit_host_unique",
                violation_error_code="taken",
                violation_error_message="This edit host already belongs to another site.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=SiteKind.values),
                name="site_kind_valid",
                violation_error_message="Unknown site kind.",
            ),
            models.CheckConstraint(
                condition=Q(kind=SiteKind.CLASSIC, frontend_balancer__isnull=True)
                | (~Q(kind=SiteKind.CLASSIC) & Q(frontend_balancer__isnull=False)),
                name="site_frontend_balancer_by_kind",
                violation_error_message="A Volto or frontend-only site needs a frontend balancer; a Classic UI "
                "site has none.",
            ),
            models.CheckConstraint(
                condition=Q(kind=SiteKind.VOLTO) | Q(classic_ui_path=""),
                name="site_classic_ui_path_volto_only",
                violation_error_message="Only a Volto site keeps a Classic UI path.",
            ),
            models.CheckConstraint(
                condition=Q(manage_access__in=ManageAccess.values),
                name="site_manage_access_valid",
                violation_error_message="Unknown management interface access.",
            ),
        ]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args, **kwargs) -> None:
        # The row and its host name together: the host name's unique index is what stops a name being
        # claimed twice (as a domain and an alias, or by two requests at once).
        with transaction.atomic():
            super().save(*args, **kwargs)
            if not SiteHostname.objects.filter(site=self, is_primary=True).update(name=self.domain):
                SiteHostname.objects.create(site=self, name=self.domain, is_primary=True)

    def get_absolute_url(self) -> str:
        return reverse("sites:site_detail", args=[self.domain])

    @property
    def is_suspended(self) -> bool:
        return self.status == SiteStatus.SUSPENDED

    def clean_fields(self, exclude=None) -> None:
        # Normalise before the validators run: lower-case, IDN -> punycode.
        if self.domain and (exclude is None or "domain" not in exclude):
            try:
                self.domain = normalize_hostname(self.domain)
            except ValidationError as exc:
                raise ValidationError({"domain": exc.messages}) from None
        errors: dict[str, list[str]] = {}
        for name, normalize in (
            ("blocked_methods", normalize_blocked_methods),
            ("passthrough_paths", normalize_passthrough_paths),
            ("edit_host", _normalize_edit_host),
        ):
            if exclude is None or name not in exclude:
                try:
                    setattr(self, name, normalize(getattr(self, name)))
                except ValidationError as exc:
                    errors[name] = exc.messages
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors.setdefault(name, messages)
        if errors:
            raise ValidationError(errors)

    def clean(self) -> None:
        super().clean()
        # one query for both: another site's alias, or any site's edit host (the import checks thousands)
        clash = (
            Site.objects.filter(Q(aliases__name=self.domain) | Q(edit_host=self.domain))
            .exclude(pk=self.pk)
            .values_list("edit_host", flat=True)
            .first()
            if self.domain
            else None
        )
        if clash is not None and clash != self.domain:
            raise ValidationError(
                {
                    "domain": ValidationError(
                        f"{self.domain} is already an alias of another site.", code="taken_by_alias"
                    )
                }
            )
        if clash is not None:
            raise ValidationError(
                {"domain": ValidationError(f"{self.domain} is already the edit host of another site.", code="taken")}
            )
        if self.edit_host:
            if self.edit_host == self.domain:
                raise ValidationError(
                    {"edit_host": ValidationError("The edit host must differ from the site's domain.", code="same")}
                )
            rival = Site.objects.filter(edit_host=self.edit_host).exclude(pk=self.pk).first()
            if rival is not None:
                raise ValidationError(
                    {
                        "edit_host": ValidationError(
                            f"{self.edit_host} is already the edit host of the site {rival.domain}.", code="taken"
                        )
                    }
                )
            owner = SiteHostname.objects.filter(name=self.edit_host).select_related("site").first()
            if owner is not None:
                whose = "this site" if owner.site_id == self.pk else f"the site {owner.site.domain}"
                kind = "the domain" if owner.is_primary else "an alias"
                raise ValidationError(
                    {
                        "edit_host": ValidationError(
                            f"{self.edit_host} is already {kind} of {whose}: an edit host is a name of its own.",
                            code="same" if owner.site_id == self.pk else "taken",
                        )
                    }
                )
        self._clean_kind()
        if self.status == SiteStatus.ACTIVE:
            self.suspended_reason = ""

    def _clean_kind(self) -> None:
        """The balancers must fit the kind: a Zope balancer always, a Node.js frontend balancer for Volto and
        frontend-only sites (and none for Classic UI)."""
        errors: dict[str, ValidationError] = {}
        if self.balancer_id and self.balancer.kind != ServerKind.ZOPE:
            errors["balancer"] = ValidationError(
                f"{self.balancer.name} is a Node.js frontend balancer; a site's balancer groups Zope servers "
                "(choose it as the frontend balancer).",
                code="kind",
            )
        if self.kind == SiteKind.CLASSIC:
            if self.frontend_balancer_id:
                errors["frontend_balancer"] = ValidationError(
                    "A Classic UI site has no frontend balancer: Zope renders its pages.", code="classic"
                )
            if self.classic_ui_path:
                errors["classic_ui_path"] = ValidationError(
                    "Only a Volto site keeps a Classic UI path.", code="classic"
                )
        else:
            frontend = self.frontend_balancer if self.frontend_balancer_id else None
            if frontend is None:
                errors["frontend_balancer"] = ValidationError(
                    f"A {self.get_kind_display().split(' (')[0]} site needs a Node.js frontend balancer.",
                    code="required",
                )
            elif frontend.kind != ServerKind.NODE:
                errors["frontend_balancer"] = ValidationError(
                    f"{frontend.name} groups Zope servers; the frontend balancer groups Node.js frontend servers.",
                    code="kind",
                )
            if self.kind == SiteKind.FRONTEND_ONLY and self.classic_ui_path:
                errors["classic_ui_path"] = ValidationError(
                    "Only a Volto site keeps a Classic UI path.", code="frontend_only"
                )
        if errors:
            raise ValidationError(errors)


def _normalize_edit_host(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    return normalize_hostname(text) if text else ""


class SiteAlias(models.Model):
    """Another host name of a site (ServerAlias). A name belongs to one site only."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=253, validators=[validate_domain])

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "site aliases"
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                name="sitealias_name_unique",
                violation_error_code="unique",
                violation_error_message="This host name is already an alias of a site.",
            ),
            models.CheckConstraint(
                condition=Q(name=Lower("name")),
                name="sitealias_name_lowercase",
                violation_error_message="An alias must be lower-case.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        with transaction.atomic():  # the alias and its host name together (see Site.save)
            super().save(*args, **kwargs)
            if not SiteHostname.objects.filter(alias=self).update(site_id=self.site_id, name=self.name):
                SiteHostname.objects.create(site_id=self.site_id, alias=self, name=self.name, is_primary=False)

    def clean_fields(self, exclude=None) -> None:
        if self.name and (exclude is None or "name" not in exclude):
            try:
                self.name = normalize_hostname(self.name)
            except ValidationError as exc:
                raise ValidationError({"name": exc.messages}) from None
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        super().clean()
        # one query for both: another site's domain, or any site's edit host (the import checks thousands)
        owners = (
            list(Site.objects.filter(Q(domain=self.name) | Q(edit_host=self.name)).values_list("pk", "domain")[:2])
            if self.name
            else []
        )
        if any(domain == self.name and pk != self.site_id for pk, domain in owners):
            raise ValidationError(
                {"name": ValidationError(f"{self.name} is already the domain of another site.", code="taken")}
            )
        if any(domain != self.name for _, domain in owners):
            raise ValidationError(
                {"name": ValidationError(f"{self.name} is already the edit host of a site.", code="taken")}
            )
        if self.site_id and self.name and self.site.domain == self.name:
            raise ValidationError(
                {"name": ValidationError("An alias must differ from the site's own domain.", code="same")}
            )


class SiteHostname(models.Model):
    """One host name a site answers for: its domain (is_primary) or one of its aliases. Written by
    Site.save() and SiteAlias.save() (and deleted with them), so every door keeps it in sync; its unique
    index on `name` is the database's guarantee that a host name belongs to one site only, across
    domains and aliases and under concurrency: Apache would give a name claimed twice to whichever vhost
    it reads first, and the renderer refuses such a tree."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="hostnames")
    alias = models.OneToOneField(
        SiteAlias, null=True, blank=True, on_delete=models.CASCADE, related_name="hostname", editable=False
    )
    name = models.CharField(max_length=253)
    is_primary = models.BooleanField(default=False, help_text="The site's domain (ServerName) rather than an alias.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                name="sitehostname_name_unique",
                violation_error_code="taken",
                violation_error_message="This host name already belongs to a site.",
            ),
            models.UniqueConstraint(
                fields=["site"],
                condition=Q(is_primary=True),
                name="sitehostname_one_primary_per_site",
                violation_error_message="A site has one domain.",
            ),
            models.CheckConstraint(
                condition=Q(is_primary=True, alias__isnull=True) | Q(is_primary=False, alias__isnull=False),
                name="sitehostname_primary_xor_alias",
                violation_error_message="A host name is either the site's domain or one of its aliases.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SiteChange(models.Model):
    """The change journal: one row per insert, update or delete of a site, of one of its aliases or of its
    certificate, written by DATABASE TRIGGERS (migration sites 0006), so a `QuerySet.update()`, a bulk
    operation or raw SQL is journaled too. rendering.snapshot reads it to reload only the sites that
    changed since its last snapshot. Never written by Django; pruned by the daily cleanup.

    `token` is random per row, so a journal position that a rolled-back transaction (or a flush) took
    away and another row reused is told apart. `xact` (PostgreSQL only) is the writing transaction's id:
    there ids are not committed in order, so a reader takes every row of a transaction it could not see
    finished yet (pg_snapshot_xmin) again next time."""

    site_id = models.BigIntegerField(help_text="The changed site (not a foreign key: a deleted site too).")
    token = models.BigIntegerField()
    xact = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"change of site #{self.site_id}"
