"""The import's entry points, shared by `manage.py import_apache` and the operators' page (balancers/views/imports.py).

    plan = import_preview("/srv/copy-of-etc-apache2")          # or a ConfigSource (DirectorySource, MappingSource)
    plan = import_preview_frontend(frontend, config_root="/etc/apache2")   # over the deploy transport (SSH)
    plan = import_preview_archive(data, name="etc-apache2.tar.gz")         # an uploaded .tar.gz / .zip
    report = import_check_equivalence(plan, actor=actor, frontend=frontend)  # old vs rendered, real Apache
    result = import_apply(plan, actor=actor, accept_warnings=True)

import_check_equivalence records its result on the front-end (an `import.equivalence` audit entry) when
the import is of a registered front-end: deploys to it are then refused while differences are unresolved
(deploy.holds; `manage.py deploy --accept-differences` or the Deploy-now tick accepts them).

import_preview reads, parses, recognises and plans; it writes nothing and raises ConfigRefused (with
file and line) for a config it will not read at all. import_apply writes the plan all-or-nothing in one
transaction, after rebuilding it against the database of that moment and checking its fingerprint (so
it applies exactly what the operator saw), and refuses a plan with errors or conflicts, or with warnings
unless accept_warnings. Running it twice creates nothing new: the second plan only matches.

Audit: the write services (zope_server_create, balancer_create, member_create, site_create) each write
one audit entry per row and cannot be told not to, and the issue wants the import audited as ONE entry.
Their signatures stay as they are; the rows are written here through the same plumbing those services use
(hostpanel.services.save_checked: full_clean(), then save, an integrity race becoming a ValidationError),
then one `import.apply` entry records the source, the fingerprint, the counts and the created keys, and
config_changed() is called once, so one automatic deployment carries the whole import.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from balancers.models import (
    BALANCER_SETTINGS,
    MEMBER_SETTINGS,
    Balancer,
    BalancerMember,
    Deployment,
    FrontEnd,
    ZopeServer,
)
from balancers.services import config_changed
from certificates.services import certificate_set_custom
from deploy.holds import EQUIVALENCE_ACTION, hold_record
from deploy.transport.pool import open_transport
from hostpanel import audit
from hostpanel.audit import Actor
from hostpanel.models import AuditEntry
from hostpanel.services import save_checked
from importer.archive import archive_files, archive_source
from importer.equivalence import EquivalenceReport, check_equivalence
from importer.plan import ImportPlan, build_plan, planned_site
from importer.reader import ConfigSource, DirectorySource, Limits, SourceError, read_config
from importer.recognise import recognise
from importer.remote import fetch_certificates, includes_cross_check, read_frontend_config
from sites.choices import SiteTls
from sites.models import SiteAlias

AUDIT_ACTION = "import.apply"
AUDIT_LISTED = 200
DEFAULT_CONFIG_ROOT = "/etc/apache2"  # created keys listed per kind in the audit entry; the counts are always complete


class ImportRefused(Exception):
    """import_apply would not write: the reasons, each with file and line where there is one."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons[:5]) + (f" (and {len(reasons) - 5} more)" if len(reasons) > 5 else ""))
        self.reasons = reasons


@dataclass
class ImportResult:
    created: dict[str, int]
    matched: dict[str, int]
    audit_entry: AuditEntry | None = None
    deployment: Deployment | None = None
    created_keys: dict[str, list[str]] = field(default_factory=dict)


def import_preview(
    source: ConfigSource | str | Path, *, server_root: str | None = None, limits: Limits | None = None
) -> ImportPlan:
    """Read the config tree at source and plan its import; nothing is written."""
    if isinstance(source, str | Path):
        source = DirectorySource(source)
    tree = read_config(source, server_root=server_root, limits=limits)
    return build_plan(recognise(tree))


def import_preview_frontend(
    frontend: FrontEnd, *, config_root: str = DEFAULT_CONFIG_ROOT, limits: Limits | None = None
) -> ImportPlan:
    """Read the live config under config_root on a registered front-end (its deploy transport: SSH with
    the pinned host key, or local) and plan its import. Where Apache can list its own includes
    (`<configtest> -D DUMP_INCLUDES`) every disagreement with what was read is a warning."""
    transport = open_transport(frontend)
    try:
        remote = read_frontend_config(
            transport,
            config_root,
            limits=limits,
            configtest_command=frontend.configtest_command,
            label=f"front-end {frontend.name}:{config_root}",
        )
        tree = read_config(remote.source, server_root=remote.root, limits=limits)
        fetch_certificates(transport, tree)  # HTTPS sites' files outside the root (/etc/ssl/private/...)
    finally:
        transport.close()
    recognition = recognise(tree)
    recognition.problems.extend(includes_cross_check(remote, tree))
    plan = build_plan(recognition)
    plan.apache_note = remote.apache_note or f"Apache lists {len(remote.apache_includes or [])} included files"
    return plan


def import_preview_archive(data: bytes, *, name: str = "", limits: Limits | None = None) -> ImportPlan:
    """Plan the import of an uploaded .tar.gz / .zip of a config directory (ArchiveRefused if unsafe)."""
    return import_preview(archive_source(data, name=name, limits=limits), limits=limits)


UPLOAD_KEEP_SECONDS = 24 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


def _uploads() -> Path:
    return Path(settings.VAR_DIR) / "imports"


def import_upload_store(data: bytes, *, name: str) -> str:
    """Keep an uploaded archive (checked first: ArchiveRefused) until its import is confirmed; a token.
    The page's preview and its confirmation read the same bytes, so the fingerprint can match."""
    archive_files(data, name=name)
    directory = _uploads()
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.archive"):  # uploads nobody confirmed within a day
        if time.time() - old.stat().st_mtime > UPLOAD_KEEP_SECONDS:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(24)
    (directory / f"{token}.archive").write_bytes(data)
    return token


def import_upload_preview(token: str, *, name: str = "") -> ImportPlan:
    """The plan of a stored upload (SourceError when the token is unknown or expired)."""
    path = _uploads() / f"{token}.archive"
    if not _TOKEN.fullmatch(token) or not path.exists():
        raise SourceError("the uploaded archive is no longer here: upload it again")
    return import_preview_archive(path.read_bytes(), name=name)


def import_upload_discard(token: str) -> None:
    if _TOKEN.fullmatch(token):
        (_uploads() / f"{token}.archive").unlink(missing_ok=True)


def import_check_equivalence(
    plan: ImportPlan, *, actor: Actor, frontend: FrontEnd | None = None, sample: int | None = None
) -> EquivalenceReport:
    """Run the old config and HostPanel's rendering of the plan side by side (importer.equivalence).
    With a front-end, the result is recorded on it (audit): differences hold back its deploys until accepted."""
    report = check_equivalence(plan, sample=sample)
    if frontend is not None:
        with transaction.atomic():
            entry = audit.record(
                actor, EQUIVALENCE_ACTION, frontend, key=frontend.name, before=None, after=report.summary()
            )
            hold_record(
                frontend,
                differences=report.difference_count,
                error=report.error,
                checked_at=entry.timestamp,
                entry_id=entry.pk,
            )
    return report


def _refusals(plan: ImportPlan, accept_warnings: bool) -> list[str]:
    reasons = [f"{p.file}:{p.line}: {p.message}" for p in plan.errors]
    reasons += [f"{c.file}:{c.line}: {c.message}" for c in plan.blocking_conflicts]
    if not accept_warnings:
        reasons += [f"{p.file}:{p.line}: {p.message} (accept the warnings to import)" for p in plan.warnings]
    return reasons


def import_apply(plan: ImportPlan, *, actor: Actor, accept_warnings: bool = False) -> ImportResult:
    """Write the previewed plan, all or nothing, audited as one entry, with one deployment request."""
    reasons = _refusals(plan, accept_warnings)
    if reasons:
        raise ImportRefused(reasons)
    with transaction.atomic():
        fresh = build_plan(plan.recognition)
        if fresh.fingerprint != plan.fingerprint:
            raise ImportRefused(["the panel's data changed since the preview: preview again"])
        result = _write(fresh, actor)
    return result


def _audit_imported(actor: Actor, instance: Any, source: str, **extra: Any) -> None:
    """Each imported object's own history starts with its import (the page of a site, a server ... shows it)."""
    model = instance._meta.model_name
    noun = {"zopeserver": "zope_server", "balancermember": "member"}.get(model, model)
    after = {**(audit.snapshot(instance) or {}), **extra, "imported_from": source}
    key = str(getattr(instance, "domain", "") or instance)
    audit.record(actor, f"{noun}.import", instance, key=key, before=None, after=after)


def _write(plan: ImportPlan, actor: Actor) -> ImportResult:
    servers = {s.name: s for s in ZopeServer.objects.filter(pk__in=[p.pk for p in plan.zope_servers if p.pk])}
    balancers = {b.name: b for b in Balancer.objects.filter(pk__in=[p.pk for p in plan.balancers if p.pk])}
    created: dict[str, list[str]] = {
        "zope_servers": [],
        "balancers": [],
        "members": [],
        "sites": [],
        "aliases": [],
        "certificates": [],
    }
    for planned in plan.zope_servers:
        if planned.action == "create":
            c = planned.candidate
            servers[c.name] = save_checked(ZopeServer(name=c.name, kind=c.kind, host=c.host, port=c.port, **c.health))
            _audit_imported(actor, servers[c.name], plan.source)
            created["zope_servers"].append(planned.key)
    for planned in plan.balancers:
        if planned.action == "create":
            c = planned.candidate
            balancers[c.name] = save_checked(
                Balancer(
                    name=c.name,
                    kind=c.kind,
                    **{name: getattr(c, name) for name in BALANCER_SETTINGS},
                )
            )
            _audit_imported(actor, balancers[c.name], plan.source)
            created["balancers"].append(planned.key)
    for planned in plan.members:
        if planned.action == "create":
            c = planned.candidate
            member = save_checked(
                BalancerMember(
                    balancer=balancers[c.balancer],
                    zope_server=servers[c.server],
                    **{name: getattr(c, name) for name in MEMBER_SETTINGS},
                )
            )
            _audit_imported(actor, member, plan.source)
            created["members"].append(planned.key)
    missing = {name for p in plan.sites for name in (p.candidate.balancer, p.candidate.frontend_balancer) if name}
    missing -= set(balancers)
    balancers.update((b.name, b) for b in Balancer.objects.filter(name__in=missing))
    for planned in plan.sites:
        if planned.action == "create":
            c = planned.candidate
            site = planned_site(c)  # with its structured site options (validated by the plan)
            site.balancer = balancers[c.balancer]
            if c.frontend_balancer:  # a Volto site's Node.js frontend balancer
                site.frontend_balancer = balancers[c.frontend_balancer]
            site = save_checked(site)
            if c.tls == SiteTls.CUSTOM and c.certificate is not None:
                # checked like an upload and stored encrypted (certificates.services), then the site switched
                certificate_set_custom(
                    site,
                    certificate_pem=c.certificate.certificate_pem,
                    private_key_pem=c.certificate.private_key_pem,
                    chain_pem=c.certificate.chain_pem,
                    actor=actor,
                )
                site.tls = SiteTls.CUSTOM
                site = save_checked(site)
                created["certificates"].append(planned.key)
            _audit_imported(actor, site, plan.source, aliases=[name for name, _ in c.aliases])
            for name, _ in c.aliases:
                save_checked(SiteAlias(site=site, name=name))
                created["aliases"].append(name)
            created["sites"].append(planned.key)
    counts = {kind: len(keys) for kind, keys in created.items() if keys or kind != "certificates"}
    matched = {kind: row["match"] for kind, row in plan.counts().items()}
    result = ImportResult(created=counts, matched=matched, created_keys=created)
    if any(counts.values()):
        result.audit_entry = audit.record(
            actor,
            AUDIT_ACTION,
            "apache_config",
            key=plan.source,
            before=None,
            after={
                "source": plan.source,
                "files": len(plan.files),
                "fingerprint": plan.fingerprint,
                "created": counts,
                "matched": matched,
                "created_keys": {kind: keys[:AUDIT_LISTED] for kind, keys in created.items()},
                "warnings_accepted": [f"{p.file}:{p.line}: {p.message}" for p in plan.warnings],
                "sites_left_out": [
                    {"domain": s.domain, "where": f"{s.file}:{s.line}", "reasons": list(s.reasons)}
                    for s in plan.skipped[:AUDIT_LISTED]
                ],
                "site_options": [f"{d}: {k}={v}" for d, k, v in plan.options[:AUDIT_LISTED]],
                "unrecognised": len(plan.unrecognised),
            },
        )
        result.deployment = config_changed(actor=actor, cause=(AUDIT_ACTION, plan.source))
    return result
