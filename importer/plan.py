"""The import plan: what a recognised config becomes in the database, checked without saving.

    plan = build_plan(recognition)

Each candidate is matched to an existing row by its natural key (a Zope server by host:port, a
balancer by name, a member by balancer + route, a site by domain) or planned for creation. A match
whose values differ, or a name taken by another row, is a Conflict. Every candidate to create is
validated with the models' full_clean() (hostpanel.validators) without saving; what fails is an
error Problem with the file and line it came from, except a site's structured options (manage_access,
blocked_methods, passthrough_paths, edit_host, validated with its row): a refused option leaves that
site out (skip-one) with the validator's message, and on a match they are compared like its other
fields. Errors and conflicts block the import; warnings (behaviour that changes, or something not
imported) need an explicit accept.

`fingerprint` digests the config read and every decision, so a confirmation can prove it applies
exactly what was previewed (import_apply rebuilds the plan and compares).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Count

from balancers.choices import ServerKind
from balancers.models import BALANCER_SETTINGS, MEMBER_SETTINGS, Balancer, BalancerMember, ZopeServer
from certificates.validation import validate_custom_certificate
from hostpanel.validators import normalize_hostname
from importer.recognise import (
    OPTION_NAMES,
    BalancerCandidate,
    Ignored,
    MemberCandidate,
    Problem,
    Recognition,
    ServerCandidate,
    SiteCandidate,
    Translated,
    Unrecognised,
)
from sites.choices import SiteKind, SiteStatus
from sites.models import Site, SiteAlias

type Action = Literal["create", "match"]

_CHUNK = 500


@dataclass
class Planned[C]:
    """A candidate and what importing it does: create a row, or match an existing one (pk)."""

    candidate: C
    action: Action
    key: str
    pk: int | None = None


@dataclass(frozen=True)
class Conflict:
    kind: str
    key: str
    file: str
    line: int
    message: str


@dataclass(frozen=True)
class Skipped:
    """A site left out of the import (skip-one): the rest is imported, this one is not, for these reasons."""

    domain: str
    file: str
    line: int
    reasons: tuple[str, ...]


# Conflicts that concern one site only: that site is left out (skip-one); any other conflict blocks the import.
SITE_CONFLICTS = frozenset({"site", "alias"})


@dataclass
class ImportPlan:
    recognition: Recognition
    zope_servers: list[Planned[ServerCandidate]] = field(default_factory=list)
    balancers: list[Planned[BalancerCandidate]] = field(default_factory=list)
    members: list[Planned[MemberCandidate]] = field(default_factory=list)
    sites: list[Planned[SiteCandidate]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # sites left out, each with its reasons
    fingerprint: str = ""
    apache_note: str = ""  # read from a front-end: what Apache's own include list said

    @property
    def source(self) -> str:
        return self.recognition.source

    @property
    def files(self) -> list[str]:
        return self.recognition.files

    @property
    def unrecognised(self) -> list[Unrecognised]:
        return self.recognition.unrecognised

    @property
    def ignored(self) -> list[Ignored]:
        return self.recognition.ignored

    @property
    def translated(self) -> list[Translated]:
        return self.recognition.translated

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def blocking_conflicts(self) -> list[Conflict]:
        """Conflicts that make the whole import unsafe (a Zope server, a balancer, a member); a site's own
        conflict only leaves that site out (skip-one)."""
        return [c for c in self.conflicts if c.kind not in SITE_CONFLICTS]

    @property
    def blocked(self) -> bool:
        return bool(self.errors or self.blocking_conflicts)

    @property
    def options(self) -> list[tuple[str, str, str]]:
        """(domain, option, value): the structured site options the imported sites get (from extra rules
        around a VHM rule, or from HostPanel's own map line)."""
        return [
            (p.candidate.domain, k, option_text(v)) for p in self.sites for k, v in sorted(p.candidate.options.items())
        ]

    def to_create(self) -> dict[str, list[Planned[Any]]]:
        return {kind: [p for p in rows if p.action == "create"] for kind, rows in self._rows().items()}

    def matches(self) -> dict[str, list[Planned[Any]]]:
        return {kind: [p for p in rows if p.action == "match"] for kind, rows in self._rows().items()}

    def counts(self) -> dict[str, dict[str, int]]:
        counts = {
            kind: {"create": sum(p.action == "create" for p in rows), "match": sum(p.action == "match" for p in rows)}
            for kind, rows in self._rows().items()
        }
        counts["aliases"] = {
            "create": sum(len(p.candidate.aliases) for p in self.sites if p.action == "create"),
            "match": sum(len(p.candidate.aliases) for p in self.sites if p.action == "match"),
        }
        return counts

    @property
    def creates_anything(self) -> bool:
        return any(self.to_create().values())

    def _rows(self) -> dict[str, list[Planned[Any]]]:
        return {
            "zope_servers": self.zope_servers,
            "balancers": self.balancers,
            "members": self.members,
            "sites": self.sites,
        }


def site_status(cand: SiteCandidate) -> str:
    """The status a site candidate is created with (a routes.map group can say suspended; a vhost cannot)."""
    return SiteStatus.SUSPENDED if cand.suspended else SiteStatus.ACTIVE


_OPTION_LABELS = {
    "manage_access": "management interface",
    "blocked_methods": "blocked methods",
    "passthrough_paths": "pass-through paths",
    "edit_host": "edit host",
}


def option_text(value: object) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "(none)"
    return str(value) if value not in (None, "") else "(none)"


def site_options(site: Site, cand: SiteCandidate) -> dict[str, object]:
    """The candidate's structured site options as the validated row holds them (normalised: methods in
    their fixed order, paths sorted, the edit host lower-case); only those the candidate sets."""
    return {name: getattr(site, name) for name in OPTION_NAMES if name in cand.options}


def planned_site(cand: SiteCandidate) -> Site:
    """The unsaved Site row a (validated) candidate becomes: its fields, and its options over the defaults."""
    site = Site(
        domain=cand.domain,
        kind=cand.kind,
        classic_ui_path=cand.classic_ui_path,
        plone_path=cand.plone_path,
        status=site_status(cand),
    )
    for name in OPTION_NAMES:
        if name in cand.options:
            setattr(site, name, cand.options[name])
    if cand.https_redirect is not None:
        site.https_redirect = cand.https_redirect
    return site


def _messages(exc: ValidationError) -> list[tuple[str, str]]:
    if hasattr(exc, "error_dict"):
        return [(name, message) for name, errors in exc.message_dict.items() for message in errors]
    return [("__all__", message) for message in exc.messages]


def _chunks(values: list[str]):
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class _Planner:
    def __init__(self, recognition: Recognition) -> None:
        self.r = recognition
        self.plan = ImportPlan(recognition=recognition, problems=list(recognition.problems))
        self.renamed: dict[str, str] = {}  # a derived server name -> the name of the existing row it matches
        # a one-member balancer made for a direct Zope target -> the existing balancer used instead
        self.balancer_renamed: dict[str, str] = {}
        self.existing_direct: set[str] = set()  # names of existing balancers used for direct targets

    def invalid(self, what: str, file: str, line: int, exc: ValidationError) -> None:
        for name, message in _messages(exc):
            label = "" if name == "__all__" else f" {name}:"
            self.plan.problems.append(Problem("invalid", "error", file, line, f"{what}:{label} {message}"))

    def conflict(self, kind: str, key: str, file: str, line: int, message: str) -> None:
        self.plan.conflicts.append(Conflict(kind, key, file, line, message))

    def run(self) -> ImportPlan:
        self._servers()
        self._balancers()
        self._members()
        self._sites()
        self._prune()
        self.plan.fingerprint = self._fingerprint()
        return self.plan

    def _servers(self) -> None:
        existing = list(ZopeServer.objects.all())
        by_address = {(s.host.lower(), s.port): s for s in existing}
        by_name = {s.name: s for s in existing}
        for cand in self.r.servers:
            key = f"{cand.host}:{cand.port}"
            found = by_address.get((cand.host.lower(), cand.port))
            if found is not None and cand.derived and found.name != cand.name:
                self.renamed[cand.name] = found.name
                cand = replace(cand, name=found.name)
            if found is not None:
                if found.name != cand.name:
                    self.conflict(
                        "zope_server",
                        key,
                        cand.file,
                        cand.line,
                        f"{key} is Zope server {found.name!r} in the panel but route {cand.name!r} in this config "
                        "(the route is the server's name: rename one of them first)",
                    )
                differ = [
                    f"{name} {getattr(found, name)!r} -> {value!r}"
                    for name, value in cand.health.items()
                    if getattr(found, name) != value
                ]
                if found.kind != cand.kind:
                    differ.insert(0, f"kind {found.kind} -> {cand.kind}")
                if differ:
                    self.conflict(
                        "zope_server",
                        key,
                        cand.file,
                        cand.line,
                        f"server {found.name} has other settings in the panel: {'; '.join(differ)}",
                    )
                self.plan.zope_servers.append(Planned(cand, "match", key, found.pk))
                continue
            if cand.name in by_name:
                other = by_name[cand.name]
                self.conflict(
                    "zope_server",
                    key,
                    cand.file,
                    cand.line,
                    f"route {cand.name!r} is {other.host}:{other.port} in the panel, {key} in this config",
                )
            server = ZopeServer(name=cand.name, kind=cand.kind, host=cand.host, port=cand.port, **cand.health)
            try:
                server.full_clean(validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                self.invalid(f"Zope server {cand.name} ({key})", cand.file, cand.line, exc)
            self.plan.zope_servers.append(Planned(cand, "create", key))

    def _direct(self, cand: BalancerCandidate) -> BalancerCandidate:
        """A one-member balancer for a direct Zope target: an existing balancer whose only member is that
        Zope server is used instead (no new balancer); else a free name."""
        member = next((m for m in self.r.members if m.balancer == cand.name), None)
        server = next(
            (
                p
                for p in self.plan.zope_servers
                if member and p.candidate.name == self.renamed.get(member.server, member.server)
            ),
            None,
        )
        if server is not None and server.pk is not None:
            single = (
                Balancer.objects.annotate(n=Count("members"))
                .filter(n=1, members__zope_server_id=server.pk, kind=cand.kind)
                .order_by("name")
                .first()
            )
            if single is not None:
                self.balancer_renamed[cand.name] = single.name
                self.existing_direct.add(single.name)
                self.plan.problems.append(
                    Problem(
                        "direct-balancer",
                        "warning",
                        cand.file,
                        cand.line,
                        f"{server.key} is the only member of balancer {single.name} in the panel: the sites that "
                        f"go straight to it use {single.name} (with its settings) instead of a new balancer",
                    )
                )
                return replace(cand, name=single.name)
        name, n = cand.name, 2
        while Balancer.objects.filter(name=name).exists() or any(
            b.name == name and b is not cand for b in self.r.balancers
        ):
            name, n = f"{cand.name[:45]}-{n}", n + 1
        if name != cand.name:
            self.balancer_renamed[cand.name] = name
        return replace(cand, name=name)

    def _balancers(self) -> None:
        candidates = [self._direct(c) if c.direct else c for c in self.r.balancers]
        existing = {b.name: b for b in Balancer.objects.filter(name__in=[c.name for c in candidates])}
        for cand in candidates:
            found = existing.get(cand.name)
            if found is not None and cand.name in self.existing_direct:
                self.plan.balancers.append(Planned(cand, "match", cand.name, found.pk))
                continue
            if found is not None:
                differ = [
                    f"{name} {getattr(found, name)!r} -> {getattr(cand, name)!r}"
                    for name in ("kind", *BALANCER_SETTINGS)
                    if getattr(found, name) != getattr(cand, name)
                ]
                if differ:
                    self.conflict(
                        "balancer",
                        cand.name,
                        cand.file,
                        cand.line,
                        f"balancer {cand.name} exists in the panel with other settings: {'; '.join(differ)}",
                    )
                self.plan.balancers.append(Planned(cand, "match", cand.name, found.pk))
                continue
            balancer = Balancer(
                name=cand.name, kind=cand.kind, **{name: getattr(cand, name) for name in BALANCER_SETTINGS}
            )
            try:
                balancer.full_clean(validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                self.invalid(f"balancer {cand.name}", cand.file, cand.line, exc)
            self.plan.balancers.append(Planned(cand, "create", cand.name))

    def _members(self) -> None:
        existing = {
            (m.balancer.name, m.zope_server.name): m
            for m in BalancerMember.objects.select_related("balancer", "zope_server").filter(
                balancer__name__in=[c.name for c in self.r.balancers]
            )
        }
        planned_names = [p.candidate.name for p in self.plan.balancers]
        existing.update(
            {
                (m.balancer.name, m.zope_server.name): m
                for m in BalancerMember.objects.select_related("balancer", "zope_server").filter(
                    balancer__name__in=planned_names
                )
            }
        )
        for cand in self.r.members:
            if cand.server in self.renamed:
                cand = replace(cand, server=self.renamed[cand.server])
            if cand.balancer in self.balancer_renamed:
                cand = replace(cand, balancer=self.balancer_renamed[cand.balancer])
            key = f"{cand.balancer}/{cand.server}"
            found = existing.get((cand.balancer, cand.server))
            if found is not None and cand.balancer in self.existing_direct:
                self.plan.members.append(Planned(cand, "match", key, found.pk))
                continue
            if found is not None:
                differ = [
                    f"{name} {getattr(found, name)!r} -> {getattr(cand, name)!r}"
                    for name in MEMBER_SETTINGS
                    if getattr(found, name) != getattr(cand, name)
                ]
                if differ:
                    self.conflict(
                        "member",
                        key,
                        cand.file,
                        cand.line,
                        f"member {key} exists in the panel with other settings: {'; '.join(differ)}",
                    )
                self.plan.members.append(Planned(cand, "match", key, found.pk))
                continue
            member = BalancerMember(**{name: getattr(cand, name) for name in MEMBER_SETTINGS})
            try:
                member.full_clean(exclude=["balancer", "zope_server"], validate_unique=False)
            except ValidationError as exc:
                self.invalid(f"member {key}", cand.file, cand.line, exc)
            self.plan.members.append(Planned(cand, "create", key))

    def _sites(self) -> None:
        kinds = {p.candidate.name: p.candidate.kind for p in self.plan.balancers}  # every balancer a site may name
        named = {self.balancer_renamed.get(n, n) for s in self.r.sites for n in (s.balancer, s.frontend_balancer) if n}
        kinds.update(Balancer.objects.filter(name__in=named - set(kinds)).values_list("name", "kind"))
        known_balancers = set(kinds)
        normalised: list[tuple[SiteCandidate, Site, list[tuple[str, int]]]] = []
        claimed = {  # every name the imported sites answer (an edit host must be a name of its own)
            name.lower(): cand.domain.lower()
            for cand in self.r.sites
            for name in [cand.domain, *(a for a, _ in cand.aliases)]
        }
        self.skip: dict[int, list[str]] = {}  # id(candidate as read) -> why it is left out
        for cand in self.r.sites:
            if cand.balancer in self.balancer_renamed:
                cand = replace(cand, balancer=self.balancer_renamed[cand.balancer])
            if cand.frontend_balancer in self.balancer_renamed:
                cand = replace(cand, frontend_balancer=self.balancer_renamed[cand.frontend_balancer])
            reasons: list[str] = self._kind_reasons(cand, kinds)
            site = Site(
                pk=self._existing_pk(cand) if cand.options.get("edit_host") else None,
                domain=cand.domain,
                kind=cand.kind,
                classic_ui_path=cand.classic_ui_path,
                plone_path=cand.plone_path,
                status=site_status(cand),
                **{name: value for name, value in cand.options.items() if name in OPTION_NAMES},
            )
            valid, refused = True, len(reasons)
            # a frontend-only site's Zope side (balancer, Plone path) is not in the Apache config
            exclude = ["balancer", "plone_path"] if cand.kind == SiteKind.FRONTEND_ONLY else ["balancer"]
            try:
                site.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                valid = False
                errors = dict(exc.message_dict)
                # the frontend balancer is a row to be made (or matched): its kind is checked in _kind_reasons
                errors.pop("frontend_balancer", None)
                for message in errors.pop("classic_ui_path", []):  # a Classic UI path refused: this site only
                    reasons.append(f"its Classic UI path {cand.classic_ui_path} is refused: {message}")
                for name in OPTION_NAMES:  # a site option the validators refuse: this site only is left out
                    for message in errors.pop(name, []):
                        shown = option_text(cand.options.get(name))
                        reasons.append(f"its site option {name} ({shown}) is refused: {message}")
                if not errors:
                    valid = len(reasons) == refused
                elif cand.plone_path.strip("/") == "" and set(errors) == {"plone_path"}:
                    # a VHM rule to the Zope root (no Plone site in the path): this site only is left out
                    reasons.append("its VirtualHostMonster rule serves the Zope root, not a Plone site")
                else:  # a value no door accepts: the whole import is refused (errors, with file and line)
                    for name, message in _messages(ValidationError(errors)):
                        line = {"domain": cand.domain_line, "plone_path": cand.rule_line}.get(name, cand.line)
                        what = f"site {cand.domain[:80]!r}" + ("" if name == "__all__" else f" {name}")
                        self.plan.problems.append(Problem("invalid", "error", cand.file, line, f"{what}: {message}"))
            aliases: list[tuple[str, int]] = []
            for name, line in cand.aliases:
                alias = SiteAlias(name=name)
                try:
                    alias.full_clean(exclude=["site"], validate_unique=False, validate_constraints=False)
                except ValidationError as exc:
                    for _, message in _messages(exc):
                        self.plan.problems.append(
                            Problem("invalid", "error", cand.file, line, f"alias {name[:80]!r}: {message}")
                        )
                    continue
                aliases.append((alias.name, line))
            edit_host = site.edit_host if valid else ""
            if edit_host and edit_host in claimed and claimed[edit_host] != site.domain:
                reasons.append(f"its edit host {edit_host} is also a name of site {claimed[edit_host]} in this import")
            for what, name in (("", cand.balancer), ("its frontend ", cand.frontend_balancer)):
                if name and name not in known_balancers:
                    self.plan.problems.append(
                        Problem(
                            "unknown-balancer",
                            "error",
                            cand.file,
                            cand.rule_line,
                            f"site {cand.domain}: {what}balancer://{name} is defined neither in this config nor in "
                            "the panel",
                        )
                    )
            if cand.tls == "custom":
                reasons += self._certificate(cand, aliases)
            if valid:  # lower-case, IDN as punycode: the natural key (the recognition itself stays as read)
                cand = replace(cand, domain=site.domain, aliases=aliases, options=site_options(site, cand))
            normalised.append((cand, site, aliases))
            if reasons:
                self.skip[len(normalised) - 1] = reasons
        domains = [c.domain for c, _, _ in normalised]
        existing: dict[str, Site] = {}
        for chunk in _chunks(domains):
            existing.update(
                (s.domain, s)
                for s in Site.objects.filter(domain__in=chunk)
                .select_related("balancer", "frontend_balancer")
                .prefetch_related("aliases")
            )
        alias_names = [name for _, _, aliases in normalised for name, _ in aliases]
        alias_owner: dict[str, str] = {}
        for chunk in _chunks(alias_names):
            alias_owner.update(SiteAlias.objects.filter(name__in=chunk).values_list("name", "site__domain"))
        for index, (cand, _, aliases) in enumerate(normalised):
            reasons = self.skip.get(index, [])
            found = existing.get(cand.domain)
            for name, line in aliases:
                owner = alias_owner.get(name)
                if owner is not None and owner != cand.domain:
                    message = f"{name} is already an alias of {owner} in the panel"
                    self.conflict("alias", name, cand.file, line, message)
                    reasons.append(message)
            if found is None:
                self._site_planned(Planned(cand, "create", cand.domain), reasons)
                continue
            differ = []
            if found.balancer.name != cand.balancer:
                differ.append(f"balancer {found.balancer.name} -> {cand.balancer}")
            if found.plone_path != cand.plone_path:
                differ.append(f"plone path {found.plone_path} -> {cand.plone_path}")
            if found.kind != cand.kind:
                differ.append(f"kind {found.kind} -> {cand.kind}")
            have_front = found.frontend_balancer.name if found.frontend_balancer else ""
            if have_front != cand.frontend_balancer:
                differ.append(f"frontend balancer {have_front or '(none)'} -> {cand.frontend_balancer or '(none)'}")
            if found.classic_ui_path != cand.classic_ui_path:
                differ.append(
                    f"Classic UI path {found.classic_ui_path or '(none)'} -> {cand.classic_ui_path or '(none)'}"
                )
            if cand.via == "map" and found.status != site_status(cand):
                differ.append(f"status {found.status} -> {site_status(cand)}")
            if cand.https_redirect is not None and found.https_redirect != cand.https_redirect:
                differ.append(f"https redirect {found.https_redirect} -> {cand.https_redirect}")
            for name in OPTION_NAMES:
                have_value, want_value = getattr(found, name), getattr(planned_site(cand), name)
                if have_value != want_value:
                    differ.append(f"{_OPTION_LABELS[name]} {option_text(have_value)} -> {option_text(want_value)}")
            have = sorted(a.name for a in found.aliases.all())
            want = sorted(name for name, _ in aliases)
            if have != want:
                differ.append(f"aliases {' '.join(have) or '(none)'} -> {' '.join(want) or '(none)'}")
            if differ:
                message = f"site {cand.domain} exists in the panel differently: {'; '.join(differ)}"
                self.conflict("site", cand.domain, cand.file, cand.line, message)
                reasons.append(message)
            self._site_planned(Planned(cand, "match", cand.domain, found.pk), reasons)

    @staticmethod
    def _kind_reasons(cand: SiteCandidate, kinds: dict[str, str]) -> list[str]:
        """Why a Volto or frontend-only site cannot be made as read (skip-one): its balancers' kinds."""
        reasons = []
        if cand.kind == SiteKind.FRONTEND_ONLY and not cand.balancer:
            reasons.append(
                "a frontend-only site needs its Zope balancer (the API server its Node.js application calls), which "
                "the Apache config never names: add the site in the panel with it"
            )
        if cand.balancer and kinds.get(cand.balancer, ServerKind.ZOPE) != ServerKind.ZOPE:
            reasons.append(f"its balancer {cand.balancer} groups Node.js frontend servers, not Zope servers")
        if cand.frontend_balancer and kinds.get(cand.frontend_balancer, ServerKind.NODE) != ServerKind.NODE:
            reasons.append(f"its frontend balancer {cand.frontend_balancer} groups Zope servers in the panel")
        return reasons

    @staticmethod
    def _existing_pk(cand: SiteCandidate) -> int | None:
        """The existing row of a candidate with an edit host (so its own edit host is not "taken")."""
        try:
            domain = normalize_hostname(cand.domain)
        except ValidationError:
            return None
        return Site.objects.filter(domain=domain).values_list("pk", flat=True).first()

    def _prune(self) -> None:
        """A one-member balancer made for a site that is left out is not created either (nor its Zope server
        when nothing else uses it)."""
        used = {name for p in self.plan.sites for name in (p.candidate.balancer, p.candidate.frontend_balancer)}
        drop = {
            p.candidate.name
            for p in self.plan.balancers
            if p.action == "create" and p.candidate.direct and p.candidate.name not in used
        }
        if not drop:
            return
        self.plan.balancers = [p for p in self.plan.balancers if p.candidate.name not in drop]
        self.plan.members = [p for p in self.plan.members if p.candidate.balancer not in drop]
        servers = {p.candidate.server for p in self.plan.members}
        self.plan.zope_servers = [
            p for p in self.plan.zope_servers if p.action == "match" or p.candidate.name in servers
        ]

    def _site_planned(self, planned: Planned[SiteCandidate], reasons: list[str]) -> None:
        """Skip-one: a site with a reason of its own is left out (shown, and a warning to accept); the rest
        of the import goes on."""
        cand = planned.candidate
        if not reasons:
            self.plan.sites.append(planned)
            return
        self.plan.skipped.append(Skipped(cand.domain, cand.file, cand.line, tuple(reasons)))
        self.plan.problems.append(
            Problem(
                "site-left-out",
                "warning",
                cand.file,
                cand.line,
                f"site {cand.domain[:80]} is left out of the import: {'; '.join(reasons)}",
            )
        )

    def _certificate(self, cand: SiteCandidate, aliases: list[tuple[str, int]]) -> list[str]:
        """An HTTPS site's certificate, checked as an upload is (certificates.validation); nothing is stored."""
        cert = cand.certificate
        if cert is None or cert.error:
            return [f"its certificate cannot be imported: {cert.error if cert else 'none found'}"]
        try:
            validate_custom_certificate(
                certificate_pem=cert.certificate_pem,
                private_key_pem=cert.private_key_pem,
                chain_pem=cert.chain_pem,
                names=[cand.domain.lower(), *(a for a, _ in aliases)],
            )
        except ValidationError as exc:
            return [f"its certificate ({cert.certificate_path}) is refused: {m}" for _, m in _messages(exc)]
        return []

    def _fingerprint(self) -> str:
        decisions = {
            "digest": self.r.digest,
            "rows": {
                kind: [[p.action, p.key, p.pk, asdict(p.candidate)] for p in rows]
                for kind, rows in self.plan._rows().items()
            },
            "conflicts": [asdict(c) for c in self.plan.conflicts],
            "problems": [asdict(p) for p in self.plan.problems],
            "skipped": [asdict(s) for s in self.plan.skipped],
        }
        return hashlib.sha256(json.dumps(decisions, sort_keys=True, default=str).encode()).hexdigest()


def build_plan(recognition: Recognition) -> ImportPlan:
    """Match and validate a recognition against the current database; nothing is saved."""
    return _Planner(recognition).run()
