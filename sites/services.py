"""Writes to client sites. The web panel, the REST API, the CSV importer, the admin and the
management commands all come through here: validation (full_clean), audit, automatic deploy.

HTTPS life cycle: a site with tls=acme gets its certificate row (certificates.services.certificate_ensure:
the renewal scan orders it); when its names (domain, aliases) change, a renewal is requested so the new
certificate covers them. tls=none drops the certificate from the rendered tree (the row and key stay,
unordered, in case it comes back); deleting the site deletes its certificate, and the next deployment
removes its key and certificate files from every front-end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from balancers.models import Balancer
from balancers.services import config_changed
from certificates.choices import CertificateStatus
from certificates.services import certificate_ensure, certificate_request_renewal, certificate_use_acme
from hostpanel import audit
from hostpanel.audit import Actor
from hostpanel.services import apply_fields, delete_audited, save_cleaned
from hostpanel.validators import normalize_hostname
from sites.models import Site, SiteAlias, SiteStatus, SiteTls

SITE_FIELDS = ("domain", "balancer", "plone_path", "customer_ref", "tls", "https_redirect", "hsts_seconds")


def site_snapshot(site: Site) -> dict:
    data = audit.snapshot(site) or {}
    data["aliases"] = sorted(a.name for a in site.aliases.all()) if site.pk else []
    return data


def _clean_aliases(site: Site, aliases: Iterable[str]) -> list[str]:
    """Normalise and validate a site's aliases; errors are reported under the field 'aliases'."""
    names: list[str] = []
    errors: list[ValidationError] = []  # with codes, so the API can tell a conflict (409) from bad input (400)
    for raw in aliases:
        raw = (raw or "").strip() if isinstance(raw, str) else raw
        if not raw:
            continue
        try:
            name = normalize_hostname(raw)
            alias = SiteAlias(site=site if site.pk else None, name=name)
            alias.full_clean(exclude=["site"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                found = exc.error_dict.get("name") or [e for errs in exc.error_dict.values() for e in errs]
            else:
                found = exc.error_list
            for error in found:
                errors.extend(ValidationError(f"{raw!r}: {m}", code=error.code) for m in error.messages)
            continue
        if name == site.domain:
            errors.append(ValidationError(f"{name}: an alias must differ from the site's own domain.", code="same"))
        elif name in names:
            errors.append(ValidationError(f"{name} is listed twice.", code="duplicate"))
        else:
            names.append(name)
    if names:
        taken_alias = SiteAlias.objects.filter(name__in=names)
        if site.pk:
            taken_alias = taken_alias.exclude(site_id=site.pk)
        for name in sorted(taken_alias.values_list("name", flat=True)):
            errors.append(ValidationError(f"{name} is already an alias of another site.", code="taken"))
        taken_domain = Site.objects.filter(domain__in=names)
        if site.pk:
            taken_domain = taken_domain.exclude(pk=site.pk)
        for name in sorted(taken_domain.values_list("domain", flat=True)):
            errors.append(ValidationError(f"{name} is already the domain of another site.", code="taken"))
    if errors:
        raise ValidationError({"aliases": errors})
    return sorted(names)


def _save_site(site: Site, *, actor: Actor, action: str, before: dict | None, aliases: list[str] | None) -> Site:
    errors: dict[str, list[ValidationError]] = {}
    try:
        site.full_clean()
    except ValidationError as exc:
        errors.update(exc.error_dict)
    clean_aliases: list[str] | None = None
    if aliases is not None:
        try:
            clean_aliases = _clean_aliases(site, aliases)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    save_cleaned(site)  # full_clean() ran above, once; a race it could not see still becomes a ValidationError
    if clean_aliases is not None:
        current = set(site.aliases.values_list("name", flat=True))
        wanted = set(clean_aliases)
        site.aliases.filter(name__in=current - wanted).delete()
        SiteAlias.objects.bulk_create([SiteAlias(site=site, name=n) for n in sorted(wanted - current)])
    after = site_snapshot(site)
    audit.record(actor, action, site, key=site.domain, before=before, after=after)
    _certificate_follows(site, actor=actor, before=before, after=after)
    site.deployment = config_changed(actor=actor)
    return site


def _names(snapshot: dict | None) -> set[str]:
    return {snapshot["domain"], *snapshot["aliases"]} if snapshot else set()


def _certificate_follows(site: Site, *, actor: Actor, before: dict | None, after: dict) -> None:
    """tls=acme: the site has a certificate row (ordered by the scan); changed names: renewed now."""
    if site.tls != SiteTls.ACME:
        return
    switched = before is not None and before.get("tls") != SiteTls.ACME
    certificate = certificate_use_acme(site, actor=actor) if switched else certificate_ensure(site, actor=actor)
    if before is not None and _names(before) != _names(after) and certificate.status != CertificateStatus.PENDING:
        certificate_request_renewal(site, actor=actor)


def _resolve_balancer(balancer: Balancer | str | None) -> Balancer | None:
    if balancer is None or isinstance(balancer, Balancer):
        return balancer
    try:
        return Balancer.objects.get(name=balancer)
    except Balancer.DoesNotExist:
        raise ValidationError({"balancer": f"There is no balancer named {balancer!r}."}, code="unknown") from None


@transaction.atomic
def site_create(
    *,
    actor: Actor,
    domain: str,
    balancer: Balancer | str,
    plone_path: str,
    aliases: Iterable[str] = (),
    customer_ref: str = "",
    tls: str | None = None,
    https_redirect: bool = True,
    hsts_seconds: int = 0,
) -> Site:
    """tls: acme | custom | none (None: the default, acme when the panel has an ACME CA)."""
    site = Site(
        domain=domain,
        plone_path=plone_path,
        customer_ref=customer_ref or "",
        https_redirect=https_redirect,
        hsts_seconds=hsts_seconds,
    )
    if tls is not None:
        site.tls = tls
    resolved = _resolve_balancer(balancer)
    if resolved is None:
        raise ValidationError({"balancer": "A balancer is required."}, code="required")
    site.balancer = resolved
    return _save_site(site, actor=actor, action="site.create", before=None, aliases=list(aliases))


@transaction.atomic
def site_update(site: Site, *, actor: Actor, aliases: Iterable[str] | None = None, **fields: Any) -> Site:
    before = site_snapshot(site)
    if "balancer" in fields:
        fields["balancer"] = _resolve_balancer(fields["balancer"])
        if fields["balancer"] is None:
            raise ValidationError({"balancer": "A balancer is required."}, code="required")
    apply_fields(site, fields, SITE_FIELDS)
    return _save_site(
        site, actor=actor, action="site.update", before=before, aliases=None if aliases is None else list(aliases)
    )


@transaction.atomic
def site_suspend(site: Site, *, actor: Actor, reason: str = "") -> Site:
    """Suspend a site (Apache answers with the suspended page). Idempotent: suspending a suspended
    site only updates the reason when one is given."""
    if site.status == SiteStatus.SUSPENDED and (not reason or reason == site.suspended_reason):
        site.deployment = None
        return site
    before = site_snapshot(site)
    site.status = SiteStatus.SUSPENDED
    site.suspended_reason = reason or site.suspended_reason
    return _save_site(site, actor=actor, action="site.suspend", before=before, aliases=None)


@transaction.atomic
def site_unsuspend(site: Site, *, actor: Actor) -> Site:
    """Bring a suspended site back. Idempotent: an active site is returned unchanged."""
    if site.status == SiteStatus.ACTIVE:
        site.deployment = None
        return site
    before = site_snapshot(site)
    site.status = SiteStatus.ACTIVE
    site.suspended_reason = ""
    return _save_site(site, actor=actor, action="site.unsuspend", before=before, aliases=None)


@transaction.atomic
def site_delete(site: Site, *, actor: Actor):
    """Delete a site and its aliases; returns the automatic deployment that removes its vhost."""
    domain = site.domain
    before = site_snapshot(site)
    delete_audited(site, actor=actor, action="site.delete", key=domain, before=before)
    return config_changed(actor=actor)


# --- bulk import -----------------------------------------------------------------------------

IMPORT_COLUMNS = ("domain", "aliases", "balancer", "plone_path", "customer_ref")
IMPORT_MAX_ROWS = 10_000


@dataclass
class ImportRow:
    """One row of an import: its line number, the values read, and its errors by field."""

    line: int
    values: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportResult:
    rows: list[ImportRow]
    imported: bool = False
    deployment: Any = None

    @property
    def error_count(self) -> int:
        return sum(1 for row in self.rows if row.errors)


def _split_aliases(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        # one cell: aliases separated by spaces, ';' or line breaks (',' separates the CSV cells)
        return [part for part in value.replace(";", " ").split() if part]
    return list(value)


def _import_one(values: dict[str, Any], *, actor: Actor) -> dict[str, list[str]]:
    """Create one imported site inside a savepoint; return its errors by field (empty: saved)."""
    site = Site(
        domain=str(values["domain"] or "").strip(),
        plone_path=str(values["plone_path"] or "").strip(),
        customer_ref=str(values["customer_ref"] or "").strip(),
    )
    errors: dict[str, list[str]] = {}
    name = str(values["balancer"] or "").strip()
    if not name:
        errors["balancer"] = ["A balancer is required."]
    else:
        try:
            site.balancer = _resolve_balancer(name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    try:
        with transaction.atomic():  # a savepoint: a failed row leaves no trace
            # config_changed() runs per row: the deploy module coalesces it into one queued
            # deployment, and a rolled-back import leaves none (its on_commit hooks are dropped)
            _save_site(site, actor=actor, action="site.create", before=None, aliases=_split_aliases(values["aliases"]))
            if errors:
                raise ValidationError(errors)
    except ValidationError as exc:
        found = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        found.update(errors)  # our balancer message beats "This field cannot be null."
        return found
    values["domain"] = site.domain
    return {}


def site_import(
    rows: Iterable[Mapping[str, Any]], *, actor: Actor, dry_run: bool = False, first_line: int = 1
) -> ImportResult:
    """Create many sites at once, all or nothing.

    Every row goes through site_create (the same normalisation, validators and uniqueness checks
    as a single site, including clashes between rows of the same import). If any row fails, or on
    a dry run (the preview), the whole transaction is rolled back and nothing is saved or audited;
    otherwise every site is saved and one automatic deployment carries them all. Never raises for
    a bad row: the per-row errors are in the result.
    """
    result = ImportResult(rows=[])
    with transaction.atomic():
        for offset, raw in enumerate(rows):
            line = first_line + offset
            if offset >= IMPORT_MAX_ROWS:
                result.rows.append(
                    ImportRow(line=line, values={}, errors={"__all__": [f"At most {IMPORT_MAX_ROWS} rows at once."]})
                )
                break
            values = {key: raw.get(key, "") for key in IMPORT_COLUMNS}
            row = ImportRow(line=line, values=values)
            unknown = sorted(set(raw) - set(IMPORT_COLUMNS))
            if unknown:
                row.errors["__all__"] = [f"Unknown column(s): {', '.join(map(str, unknown))}."]
            else:
                row.errors = _import_one(values, actor=actor)
            result.rows.append(row)
        if dry_run or result.error_count or not result.rows:
            transaction.set_rollback(True)
            return result
        result.imported = True
        result.deployment = config_changed(actor=actor)
    return result
