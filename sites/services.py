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
from typing import Any, overload

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from balancers.models import Balancer
from balancers.services import config_changed
from certificates.follow import certificate_follow_site
from certificates.models import Certificate
from certificates.selectors import acme_unavailable
from certificates.services import certificate_request_renewal, certificate_set_custom
from certificates.wake import certificates_wake
from hostpanel import audit
from hostpanel.audit import Actor
from hostpanel.services import apply_fields, delete_audited
from hostpanel.validators import normalize_hostname
from sites.choices import SiteKind, SiteStatus, SiteTls
from sites.models import Site, SiteAlias, SiteHostname

TLS_FIELDS = ("tls", "https_redirect", "hsts_seconds")  # optional on create: the model's defaults otherwise
# the site options (README, "Site options"): optional on create too
OPTION_FIELDS = ("manage_access", "blocked_methods", "passthrough_paths", "edit_host")
# Plone 6 (sites.choices.SiteKind): optional on create too (a Classic UI site without a frontend otherwise)
KIND_FIELDS = ("kind", "frontend_balancer", "classic_ui_path")
SITE_FIELDS = ("domain", "balancer", "plone_path", "customer_ref", *TLS_FIELDS, *OPTION_FIELDS, *KIND_FIELDS)


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
        for name in sorted(Site.objects.filter(edit_host__in=names).values_list("edit_host", flat=True)):
            errors.append(ValidationError(f"{name} is already the edit host of a site.", code="taken"))
    if errors:
        raise ValidationError({"aliases": errors})
    return sorted(names)


def _own_alias_clash(site: Site) -> ValidationError | None:
    """A change of the domain alone (no new alias list) to one of the site's own aliases."""
    if site.pk and site.domain and site.aliases.filter(name=site.domain).exists():
        return ValidationError(
            f"{site.domain} is already an alias of this site: send the new aliases in the same change "
            f"(without {site.domain}) to make it the domain.",
            code="same",
        )
    return None


def site_check(site: Site, *, aliases: Iterable[str] | None) -> list[str] | None:
    """Validate a site and its aliases together (every error at once, by field); return the cleaned
    aliases (None: keep the current ones). For doors that must show errors before saving (the admin)."""
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
    elif "domain" not in errors and (clash := _own_alias_clash(site)) is not None:
        errors["domain"] = [clash]
    if errors:
        raise ValidationError(errors)
    return clean_aliases


def _hostname_conflict(site: Site, aliases: list[str] | None) -> ValidationError:
    """The error for a write the database refused (a request that saved one of these names at the same
    time got there first): name the name and its owner when it is visible, else a generic conflict."""
    names = [site.domain, *(aliases or [])]
    owners = SiteHostname.objects.filter(name__in=names).exclude(site_id=site.pk).select_related("site")
    errors: dict[str, list[ValidationError]] = {}
    for owner in owners.order_by("name"):
        field = "domain" if owner.name == site.domain else "aliases"
        errors.setdefault(field, []).append(
            ValidationError(f"{owner.name} was just taken by the site {owner.site.domain}.", code="taken")
        )
    return ValidationError(
        errors or "This change conflicts with another record that was saved at the same time; try again.",
        code="conflict",
    )


def _save_site(site: Site, *, actor: Actor, action: str, before: dict | None, aliases: list[str] | None) -> Site:
    clean_aliases = site_check(site, aliases=aliases)
    creating = site.pk is None
    try:
        # One savepoint for the site, its aliases and their host names (sites.SiteHostname: the unique
        # index that settles a race the checks above could not see). Removed aliases go first, so a
        # domain and an alias can swap places in one change.
        with transaction.atomic():
            if clean_aliases is not None and not creating:
                site.aliases.exclude(name__in=clean_aliases).delete()
            site.save()
            if clean_aliases is not None:
                current = set(site.aliases.values_list("name", flat=True))
                for name in sorted(set(clean_aliases) - current):
                    SiteAlias(site=site, name=name).save()
    except IntegrityError as exc:
        if creating:
            site.pk = None
            site._state.adding = True
        raise _hostname_conflict(site, clean_aliases) from exc
    audit.record(actor, action, site, key=site.domain, before=before, after=site_snapshot(site))
    names_before = [before["domain"], *before["aliases"]] if before is not None else None
    certificate_follow_site(site, actor=actor, names_before=names_before)
    site.deployment = config_changed(actor=actor, cause=(action, site.domain))
    return site


def _names(snapshot: dict | None) -> set[str]:
    return {snapshot["domain"], *snapshot["aliases"]} if snapshot else set()


@overload
def _resolve_balancer(balancer: Balancer | str, field: str = ...) -> Balancer: ...
@overload
def _resolve_balancer(balancer: None, field: str = ...) -> None: ...
def _resolve_balancer(balancer: Balancer | str | None, field: str = "balancer") -> Balancer | None:
    if balancer is None or isinstance(balancer, Balancer):
        return balancer
    try:
        return Balancer.objects.get(name=balancer)
    except Balancer.DoesNotExist:
        raise ValidationError({field: f"There is no balancer named {balancer!r}."}, code="unknown") from None


def _resolve_frontend(fields: dict[str, Any]) -> None:
    """The frontend balancer given by name (or "" / None: none), resolved in place; the model checks the rest
    (the kind it needs, a Node.js balancer)."""
    if "frontend_balancer" in fields:
        fields["frontend_balancer"] = _resolve_balancer(fields["frontend_balancer"] or None, "frontend_balancer")


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
    https_redirect: bool | None = None,
    hsts_seconds: int | None = None,
    manage_access: str | None = None,
    blocked_methods: Iterable[str] | str | None = None,
    passthrough_paths: Iterable[str] | str | None = None,
    edit_host: str | None = None,
    kind: str | None = None,
    frontend_balancer: Balancer | str | None = None,
    classic_ui_path: str | None = None,
) -> Site:
    """A new site. `tls`, `https_redirect`, `hsts_seconds`, the options and the kind: None keeps the model's
    default (tls: acme when HOSTPANEL_ACME_DIRECTORY is set, else none; no option set; a Classic UI site).
    A Volto or frontend-only site names its Node.js `frontend_balancer` (a Balancer or its name)."""
    site = Site(domain=domain, plone_path=plone_path, customer_ref=customer_ref or "")
    given = {
        "tls": tls,
        "https_redirect": https_redirect,
        "hsts_seconds": hsts_seconds,
        "manage_access": manage_access,
        "blocked_methods": _as_list(blocked_methods),
        "passthrough_paths": _as_list(passthrough_paths),
        "edit_host": edit_host,
        "kind": kind,
        "frontend_balancer": frontend_balancer,
        "classic_ui_path": classic_ui_path,
    }
    given = {name: value for name, value in given.items() if value is not None}
    _resolve_frontend(given)
    apply_fields(site, given, SITE_FIELDS)
    resolved = _resolve_balancer(balancer)
    if resolved is None:
        raise ValidationError({"balancer": "A balancer is required."}, code="required")
    site.balancer = resolved
    return _save_site(site, actor=actor, action="site.create", before=None, aliases=list(aliases))


def _as_list(value: Iterable[str] | str | None) -> list[str] | str | None:
    """A list for the model (it normalises text like "PUT, DELETE" itself)."""
    return value if value is None or isinstance(value, str) else list(value)


@transaction.atomic
def site_update(site: Site, *, actor: Actor, aliases: Iterable[str] | None = None, **fields: Any) -> Site:
    before = site_snapshot(site)
    if "balancer" in fields:
        fields["balancer"] = _resolve_balancer(fields["balancer"])
        if fields["balancer"] is None:
            raise ValidationError({"balancer": "A balancer is required."}, code="required")
    for name in ("blocked_methods", "passthrough_paths"):
        if name in fields:
            fields[name] = _as_list(fields[name])
    _resolve_frontend(fields)
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
    return config_changed(actor=actor, cause=("site.delete", domain))


# --- the site's certificate (pages and API under sites/<domain>/certificate/) ----------------------


@transaction.atomic
def site_certificate_upload(
    site: Site, *, certificate_pem: str, private_key_pem: str, chain_pem: str = "", actor: Actor
) -> Certificate:
    """The customer's own certificate: every check first (ValidationError keyed by certificate_pem,
    private_key_pem or chain_pem), then, in one transaction, the certificate stored and the site switched
    to tls=custom; the deployment that carries it is `certificate.deployment`."""
    certificate = certificate_set_custom(
        site, certificate_pem=certificate_pem, private_key_pem=private_key_pem, chain_pem=chain_pem, actor=actor
    )
    if site.tls != SiteTls.CUSTOM:
        site = site_update(site, actor=actor, tls=SiteTls.CUSTOM)  # queues the deployment itself
        certificate.deployment = site.deployment
    else:
        certificate.deployment = config_changed(actor=actor, cause=("certificate.set_custom", site.domain))
    return certificate


def site_certificate_renew(site: Site, *, actor: Actor) -> Certificate:
    """ "Renew now" for a site with tls=acme: due at once, bypassing the backoff."""
    if site.tls != SiteTls.ACME:
        what = "uses its own certificate: upload a new one" if site.tls == SiteTls.CUSTOM else "is HTTP only (tls none)"
        raise ValidationError({"tls": ValidationError(f"{site.domain} {what}.", code="not_acme")})
    unavailable = acme_unavailable()
    if unavailable:
        raise ValidationError({"tls": ValidationError(unavailable, code="no_acme_ca")})
    certificate = certificate_request_renewal(site, actor=actor)
    certificates_wake()  # the order starts now, not at the next scan
    return certificate


def site_hostnames_backfill(domains: Iterable[str]) -> int:
    """Host-name rows for sites (and their aliases) written with bulk_create(), which bypasses
    Site.save(): the generated demo sites. Returns the number of rows written; raises IntegrityError
    (the caller's transaction is void) when one of the names is already taken."""
    sites = dict(Site.objects.filter(domain__in=list(domains)).values_list("pk", "domain"))
    have = set(SiteHostname.objects.filter(site_id__in=sites).values_list("name", flat=True))
    rows = [
        SiteHostname(site_id=pk, name=domain, is_primary=True) for pk, domain in sites.items() if domain not in have
    ]
    rows += [
        SiteHostname(site_id=site_id, alias_id=pk, name=name, is_primary=False)
        for pk, site_id, name in SiteAlias.objects.filter(site_id__in=sites).values_list("pk", "site_id", "name")
        if name not in have
    ]
    SiteHostname.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


# --- bulk import -----------------------------------------------------------------------------

IMPORT_COLUMNS = (
    "domain",
    "aliases",
    "balancer",
    "plone_path",
    "customer_ref",
    *TLS_FIELDS,
    *OPTION_FIELDS,
    *KIND_FIELDS,
)
IMPORT_REQUIRED_COLUMNS = ("domain", "balancer", "plone_path")
BOOLEAN_CELLS = {"1": True, "yes": True, "true": True, "on": True}
BOOLEAN_CELLS |= {"0": False, "no": False, "false": False, "off": False}
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


def _tls_cells(values: dict[str, Any], site: Site, errors: dict[str, list[str]]) -> None:
    """The optional columns tls, https_redirect, hsts_seconds: an empty cell keeps the default."""
    tls = str(values.get("tls") or "").strip().lower()
    if tls:
        site.tls = tls  # checked against the choices by full_clean()
    redirect = str(values.get("https_redirect") or "").strip().lower()
    if redirect:
        if redirect in BOOLEAN_CELLS:
            site.https_redirect = BOOLEAN_CELLS[redirect]
        else:
            errors["https_redirect"] = [f"{redirect!r} is not yes/no (or 1/0, true/false)."]
    hsts = str(values.get("hsts_seconds") or "").strip()
    if hsts:
        if hsts.isdigit():
            site.hsts_seconds = int(hsts)  # the range is checked by full_clean()
        else:
            errors["hsts_seconds"] = [f"{hsts!r} is not a number of seconds."]


def _option_cells(values: dict[str, Any], site: Site) -> None:
    """The optional option columns: an empty cell keeps the default (no option). Lists are separated by
    spaces or ';' (',' separates the CSV cells); the model normalises and checks them in full_clean()."""
    access = str(values.get("manage_access") or "").strip().lower()
    if access:
        site.manage_access = access  # checked against the choices by full_clean()
    for name in ("blocked_methods", "passthrough_paths"):
        cell = values.get(name)
        if cell:
            setattr(site, name, cell if isinstance(cell, str) else list(cell))
    edit_host = str(values.get("edit_host") or "").strip()
    if edit_host:
        site.edit_host = edit_host


def _kind_cells(values: dict[str, Any], site: Site, errors: dict[str, list[str]]) -> None:
    """The optional columns kind, frontend_balancer, classic_ui_path: an empty kind is classic (or, with a
    frontend balancer named, volto); full_clean() checks the combination (Site._clean_kind)."""
    kind = str(values.get("kind") or "").strip().lower().replace("-", "_")
    frontend = str(values.get("frontend_balancer") or "").strip()
    if kind:
        site.kind = kind  # checked against the choices by full_clean()
    elif frontend:
        site.kind = SiteKind.VOLTO
    if frontend:
        try:
            site.frontend_balancer = _resolve_balancer(frontend, "frontend_balancer")
        except ValidationError as exc:
            errors.update(exc.message_dict)
    site.classic_ui_path = str(values.get("classic_ui_path") or "").strip()


def _import_one(values: dict[str, Any], *, actor: Actor) -> dict[str, list[str]]:
    """Create one imported site inside a savepoint; return its errors by field (empty: saved)."""
    site = Site(
        domain=str(values["domain"] or "").strip(),
        plone_path=str(values["plone_path"] or "").strip(),
        customer_ref=str(values["customer_ref"] or "").strip(),
    )
    errors: dict[str, list[str]] = {}
    _tls_cells(values, site, errors)
    _option_cells(values, site)
    _kind_cells(values, site, errors)
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
        result.deployment = config_changed(actor=actor)  # each row named its own cause
    return result
