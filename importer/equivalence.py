"""Equivalence check: does HostPanel's rendered config route every imported site as the old one does?

    report = check_equivalence(plan, sample=None)      # needs apache2; ~3 ms per request on loopback
    report.equivalent, report.sites[0].differences

Both configs run at once, each in a throwaway standalone Apache on 127.0.0.1 (devrig.apache) in
front of its own recording fake backends (devrig.backends), one per Zope server; how the old
config is adapted for that is in importer.throwaway (and listed in `report.changes`).

For every imported site (or an evenly spaced sample of `sample` sites), for its domain and each alias,
the same requests go to both: GET /hostpanel-check/<n>/page?q=1 without a cookie (as many as the
balancer has members, so round-robin shows the whole member set) and once with the sticky cookie of
each of the balancer's routes. Per request it compares what the backend received: which backend
answered (the member set), the path (the VirtualHostMonster path), the Host header, and which balancer
routed it (a response header the throwaway configs add). Each balancer is also asked directly (a probe
vhost sends /hostpanel-probe/<balancer>/... to it), so a difference in a balancer shows even when the
old site vhost never reaches it (the seed's site without `RewriteEngine On`).

HostPanel's side is rendered with the sites' structured options (and HOSTPANEL_STAFF_NETWORKS), and option
probes ask both sides what the options decide: every site's management interface (/.../manage_main), each
blocked method, each pass-through path (and below an exact one) and the edit host. Which member answers is
not compared for them; whether Zope was reached, the status Apache answered itself, the path and the
balancer are. An edit host kept today to other networks than the staff networks is a difference too.

One difference is expected and reported as a note, not a difference: the old config sends Zope its own
address as Host (no ProxyPreserveHost) where HostPanel sends the client's; Plone builds its URLs from the
VirtualHostMonster path, which the check compares.
"""

from __future__ import annotations

import errno
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings

from devrig.apache import ApacheError, StandaloneApache, write_tree
from devrig.backends import Backend
from devrig.net import free_port, free_port_block, free_ports, http_get, https_get
from importer.plan import ImportPlan
from importer.recognise.findings import NODE, SiteCandidate
from importer.sandbox import SandboxUnavailable, prepare, sandbox_prefix
from importer.throwaway import BALANCER_HEADER, HEADER_LINE, old_config_copy, plan_snapshot
from rendering.render import UnsafeValue, render_tree
from rendering.snapshot import FrontEndRecord

PROBE_HOST = "hostpanel-probe.invalid"
_SEQ = re.compile(r"/hostpanel-(?:check|probe)/(?P<seq>[0-9]+)/")
_ABSOLUTE = re.compile(r"^[a-z]+://[^/]+", re.IGNORECASE)
MAX_ROUND_ROBIN = 4


@dataclass(frozen=True)
class Seen:
    """What one request produced on one side."""

    status: int
    backend: str | None = None
    path: str | None = None
    host: str | None = None
    balancer: str | None = None

    def describe(self) -> str:
        if self.backend is None:
            return f"answered {self.status} by Apache itself (no Zope server reached)"
        return self.backend


@dataclass
class SiteCheck:
    domain: str
    names: list[str]
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class EquivalenceReport:
    sites: list[SiteCheck] = field(default_factory=list)
    balancers: list[SiteCheck] = field(default_factory=list)  # the direct probes, one per balancer
    total_sites: int = 0
    requests: int = 0
    seconds: float = 0.0
    changes: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)  # directives of the old config left out (allowlist)
    error: str = ""
    fingerprint: str = ""
    # Every old vhost that proxies traffic ([P], ProxyPass, a balancer), imported or not, with its site
    # check's domain ("" when it was not imported): the "N of M vhosts equivalent" count.
    vhosts: dict[tuple[str, int], str] = field(default_factory=dict)
    left_out: list[SiteCheck] = field(default_factory=list)  # proxying vhosts not imported: differences
    not_compared: list[SiteCheck] = field(default_factory=list)  # imported, but not comparable here
    unanswered: list[SiteCheck] = field(default_factory=list)  # other names the old config answers, HostPanel not

    @property
    def differing(self) -> list[SiteCheck]:
        checks = [*self.balancers, *self.sites, *self.left_out, *self.not_compared, *self.unanswered]
        return [s for s in checks if s.differences]

    @property
    def nothing_to_compare(self) -> bool:
        """No old vhost proxies anything and no site was recognised: never called equivalent."""
        return not self.vhosts and not self.sites and not self.balancers

    @property
    def equivalent(self) -> bool:
        return not self.error and not self.differing and not self.nothing_to_compare

    @property
    def vhosts_equivalent(self) -> int:
        bad = {c.domain for c in self.differing}
        return sum(1 for domain in self.vhosts.values() if domain and domain not in bad)

    def headline(self) -> str:
        if self.error:
            return f"not checked: {self.error[:200]}"
        if self.nothing_to_compare:
            return "nothing to compare: no site recognised (NOT equivalent)"
        counted = f"{self.vhosts_equivalent} of {len(self.vhosts)} vhosts equivalent"
        names = sum(len(c.names) for c in self.unanswered)
        if names:
            counted += f"; {names} other name(s) answered today and not by HostPanel's config"
        return counted if self.equivalent else f"{counted}: NOT equivalent"

    @property
    def difference_count(self) -> int:
        # nothing to compare counts as one difference, so a deploy stays held (deploy.holds)
        return sum(len(s.differences) for s in self.differing) + (1 if self.nothing_to_compare else 0)

    def summary(self, limit: int = 50) -> dict:
        """JSON for the audit entry (bounded)."""
        return {
            "equivalent": self.equivalent,
            "error": self.error[:2000],
            "fingerprint": self.fingerprint,
            "sites_checked": len(self.sites),
            "total_sites": self.total_sites,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "differences": self.difference_count,
            "headline": self.headline(),
            "vhosts_total": len(self.vhosts),
            "vhosts_equivalent": self.vhosts_equivalent,
            "left_out": [asdict(s) for s in [*self.left_out, *self.unanswered][:limit]],
            "differing": [asdict(s) for s in self.differing[:limit]],
            "changes": self.changes[:limit],
            "not_run": self.not_run[:limit],
            "not_run_count": len(self.not_run),
        }


@dataclass(frozen=True)
class _Probe:
    seq: int
    owner: str  # site domain or "balancer://name"
    name: str  # the Host asked for
    label: str  # "no cookie" / "cookie BALANCEID=balancer.zope2"
    cookie: str | None
    old_port: int
    new_port: int
    group: int  # probes of one round-robin group are compared as a set
    tls: bool = False  # HostPanel's side asked over TLS (an HTTPS site); the old copy runs it as plain HTTP
    method: str = "GET"
    path: str = ""  # an option probe's own path ("{seq}" marks where its number goes); "" for the page
    option: bool = False  # asks a site option (or what the old rules do there): which member answers is not compared


def sample_evenly[T](items: list[T], sample: int | None) -> list[T]:
    if not sample or sample >= len(items):
        return list(items)
    step = len(items) / sample
    return [items[int(i * step)] for i in range(sample)]


_VHM_HOST = re.compile(r"^(/VirtualHostBase/(https?)/[^/:]+)(?=/)")


def _default_port(path: str | None) -> str | None:
    """`/VirtualHostBase/https/host/...` as Zope reads it: the scheme's default port (443, 80) made explicit."""
    if path is None:
        return None
    return _VHM_HOST.sub(lambda m: f"{m[1]}:{443 if m[2] == 'https' else 80}", path, count=1)


def _index(backends: dict[str, Backend]) -> dict[int, tuple[str, str, str]]:
    seen: dict[int, tuple[str, str, str]] = {}
    for name, backend in backends.items():
        for request in backend.requests:
            path = _ABSOLUTE.sub("", request.path)
            match = _SEQ.search(path)
            if match:
                seen[int(match["seq"])] = (name, path, request.host)
    return seen


def _send(probes: list[_Probe], side: str) -> dict[int, tuple[int, str | None]]:
    answers: dict[int, tuple[int, str | None]] = {}
    for probe in probes:
        if probe.path:
            path = probe.path.replace("{seq}", str(probe.seq))
        else:
            path = f"/hostpanel-{'probe/' + probe.owner[11:] if probe.owner.startswith('balancer://') else 'check'}"
            path += f"/{probe.seq}/page?q=1"
        port = probe.old_port if side == "old" else probe.new_port
        try:
            if probe.tls and side == "new":
                secure = https_get(
                    port, probe.name, path, root_pem=None, headers={"Cookie": probe.cookie} if probe.cookie else None
                )
                status, headers = secure.status, secure.headers
            else:
                answer = http_get(port, path, host=probe.name, cookie=probe.cookie, timeout=30, method=probe.method)
                status, headers = answer.status, dict(answer.headers.items())
            values = [v for k, v in headers.items() if k.lower() == BALANCER_HEADER.lower()]
            answers[probe.seq] = (status, values[0] if values else None)
        except OSError as exc:
            answers[probe.seq] = (0, f"no answer: {exc}")
    return answers


class _Check:
    def __init__(self, plan: ImportPlan, sample: int | None, workdir: Path) -> None:
        self.plan = plan
        self.sample = sample
        self.workdir = workdir
        self.report = EquivalenceReport(fingerprint=plan.fingerprint)
        names = [p.candidate.name for p in plan.zope_servers]
        self.old_backends = {n: Backend(n) for n in names}
        self.new_backends = {n: Backend(n) for n in names}
        self.apaches: list[StandaloneApache] = []
        self.direct = {p.candidate.name for p in plan.balancers if p.candidate.direct}
        # balancers no probe vhost of the old config can reach: made here, or defined inside a vhost
        self.unprobed = self.direct | {p.candidate.name for p in plan.balancers if p.candidate.in_vhost}
        self.frontends = {p.candidate.name for p in plan.balancers if p.candidate.kind == NODE}
        self.site_balancers = {
            p.candidate.domain: {p.candidate.balancer, p.candidate.frontend_balancer} - {""} for p in plan.sites
        }

    def start(self) -> tuple[int, int, dict[tuple[str, int], int]]:
        """Write and start both Apaches; return the probe ports (old, new) and the old vhost ports."""
        for backend in [*self.old_backends.values(), *self.new_backends.values()]:
            backend.start()
        tree = self.plan.recognition.tree
        if tree is None:
            raise ValueError("this plan was not made from a config read (no tree to run)")
        zope = {
            (p.candidate.host, p.candidate.port): self.old_backends[p.candidate.name].port
            for p in self.plan.zope_servers
        }
        old_dir = self.workdir / "old"
        old = old_config_copy(tree, zope_ports=zope, blackhole=free_port(), directory=str(old_dir.resolve()))
        self.report.changes = old.changes
        self.report.not_run = old.not_run
        # three DIFFERENT ports, none of them one the old copy listens on already (one Apache refuses two
        # Listen lines on a port, and free_port() twice in a row can return the same one)
        taken = {int(address.split()[0].rsplit(":", 1)[1]) for address in old.listen}
        probe_old, probe_new, site_new, https_new = free_ports(4)
        while taken & {probe_old, probe_new, site_new, https_new}:
            probe_old, probe_new, site_new, https_new = free_ports(4)
        probe_vhost = (
            "<VirtualHost 127.0.0.1:{port}>\n    ServerName " + PROBE_HOST + "\n    RewriteEngine On\n"
            "    RewriteRule ^/hostpanel-probe/([a-z0-9_-]+)/(.*)$ balancer://$1/hostpanel-probe/$2 [P,L]\n"
            "</VirtualHost>\n"
        )
        modules = "".join(f"{line}\n" for line in old.modules)  # allowlisted modules first (auth_basic...)
        write_tree({**old.files, "hostpanel.conf": modules + old.text + probe_vhost.format(port=probe_old)}, old_dir)
        snapshot = plan_snapshot(self.plan, zope_ports={n: b.port for n, b in self.new_backends.items()})
        rendered_dir = self.workdir / "new-tree"
        frontend = FrontEndRecord(
            name="equivalence",
            config_dir=str(rendered_dir),
            http_listen=f"127.0.0.1:{site_new}",
            https_listen=f"127.0.0.1:{https_new}",
            node_port_base=free_port_block(max(1, len(snapshot.zope_servers))),
        )
        write_tree(render_tree(snapshot, frontend), rendered_dir)
        wrapper = f"{HEADER_LINE}\nInclude {rendered_dir}/hostpanel.conf\n" + probe_vhost.format(port=probe_new)
        write_tree({"hostpanel.conf": wrapper}, self.workdir / "new")
        prefix = sandbox_prefix(self.workdir)
        for side, config_dir, listen in (
            ("old", old_dir, [*old.listen, f"127.0.0.1:{probe_old}"]),
            (
                "new",
                self.workdir / "new",
                [f"127.0.0.1:{site_new}", f"127.0.0.1:{probe_new}", f"127.0.0.1:{https_new}"],
            ),
        ):
            apache = StandaloneApache(
                self.workdir / f"{side}-apache", config_dir, listen=listen, log_level="error", command_prefix=prefix
            )
            self.apaches.append(apache.write_config())
        prepare(self.workdir)  # the sandbox user owns the check's directory, and nothing else of ours
        for side, apache in zip(("old", "new"), self.apaches, strict=True):
            try:
                apache.start(timeout=60)
            except ApacheError as exc:
                what = "the old config" if side == "old" else "HostPanel's rendered config"
                raise ApacheError(f"{what} does not start in a throwaway Apache: {str(exc)[-1500:]}") from None
        self.site_new = site_new
        self.https_new = https_new
        return probe_old, probe_new, old.vhost_ports

    def probes(self, probe_old: int, probe_new: int, vhost_ports: dict[tuple[str, int], int]) -> list[_Probe]:
        members: dict[str, list[str]] = {}
        cookies = {p.candidate.name: p.candidate.sticky_cookie for p in self.plan.balancers}
        for planned in self.plan.members:
            members.setdefault(planned.candidate.balancer, []).append(planned.candidate.server)
        probes: list[_Probe] = []

        def add(
            owner: str, name: str, balancer: str, old_port: int, new_port: int, tls: bool = False, prefix: str = ""
        ) -> None:
            routes = members.get(balancer, [])
            group = len(probes)
            label = ("https, " if tls else "") + (f"{prefix}/..., " if prefix else "")
            path = f"{prefix}/hostpanel-check/{{seq}}/page?q=1" if prefix else ""
            for _ in range(max(1, min(len(routes), MAX_ROUND_ROBIN))):
                seq = len(probes)
                probes.append(
                    _Probe(seq, owner, name, f"{label}no cookie", None, old_port, new_port, group, tls, "GET", path)
                )
            if balancer in self.frontends:
                return  # a Node.js frontend is stateless: which member answers is compared as a set only
            for route in routes:
                cookie = f"{cookies[balancer]}=balancer.{route}"
                seq = len(probes)
                probes.append(
                    _Probe(
                        seq, owner, name, f"{label}cookie {cookie}", cookie, old_port, new_port, -1, tls, "GET", path
                    )
                )

        def add_site(site: SiteCandidate, name: str, old_port: int, new_port: int, tls: bool = False) -> None:
            """A Classic UI site's pages on its balancer; a Volto site's pages on its frontend balancer and
            its API on its Zope balancer, at /++api++ (and at /api for the legacy form it has today)."""
            if not site.frontend_balancer:
                add(site.domain, name, site.balancer, old_port, new_port, tls)
                return
            add(site.domain, name, site.frontend_balancer, old_port, new_port, tls)
            if site.balancer:
                for prefix in ("/++api++", "/api") if site.api_path == "/api" else ("/++api++",):
                    add(site.domain, name, site.balancer, old_port, new_port, tls, prefix=prefix)

        for name in sorted(cookies):
            if name not in self.unprobed:  # made for a direct target, or inside a vhost: asked through its sites
                add(f"balancer://{name}", PROBE_HOST, name, probe_old, probe_new)
        sites = [p.candidate for p in self.plan.sites if p.candidate.balancer in cookies]
        self.report.total_sites = len(self.plan.sites)
        https = [s for s in sites if s.tls == "custom"]
        for site in https:  # HostPanel's side over TLS with the imported certificate; the old vhost as plain HTTP
            names = [site.domain, *(a for a, _ in site.aliases)]
            old_port = vhost_ports.get((site.file, site.line))
            if old_port is None:
                continue
            for name in names:
                add_site(site, name, old_port, self.https_new, tls=True)
            for twin in site.vhosts:  # the port-80 twin (a redirect, or the same site on HTTP)
                twin_port = vhost_ports.get(twin)
                if twin != (site.file, site.line) and twin_port is not None:
                    for name in names:
                        add_site(site, name, twin_port, self.site_new)
        for site in https:
            old_port = vhost_ports.get((site.file, site.line))
            if old_port is not None:
                self._option_probes(probes, site, old_port, self.https_new, tls=True)
        sites = [s for s in sites if s.tls != "custom"]
        for site in sample_evenly(sites, self.sample):
            old_port = vhost_ports.get((site.file, site.line))
            if old_port is None:
                continue
            for name in [site.domain, *(a for a, _ in site.aliases)]:
                add_site(site, name, old_port, self.site_new)
            self._option_probes(probes, site, old_port, self.site_new)
        return probes

    @staticmethod
    def _option_probes(
        probes: list[_Probe], site: SiteCandidate, old_port: int, new_port: int, tls: bool = False
    ) -> None:
        """What the structured site options decide, asked of both sides: Zope's management interface (every
        site: a hand-written rule about it that was not imported shows here too), each blocked method, each
        pass-through path (and below an exact one), and the edit host (HTTP only, from 127.0.0.1)."""

        def add(label: str, path: str, *, method: str = "GET", name: str = site.domain) -> None:
            probes.append(
                _Probe(len(probes), site.domain, name, label, None, old_port, new_port, -1, tls, method, path, True)
            )

        add("management interface", "/hostpanel-check/{seq}/manage_main")
        if site.classic_ui_path:  # a Volto site's Classic UI, kept to the staff networks by HostPanel
            add(f"Classic UI {site.classic_ui_path}", f"{site.classic_ui_path}/hostpanel-check/{{seq}}/page")
        methods = site.options.get("blocked_methods") or []
        for method in methods if isinstance(methods, list | tuple) and not tls else []:  # (HTTPS asks GET only)
            add(f"method {method}", "/hostpanel-check/{seq}/page", method=str(method))
        paths = site.options.get("passthrough_paths") or []
        for path in paths if isinstance(paths, list | tuple) else []:
            path = str(path)
            if path.endswith("/"):
                add(f"pass-through {path}", f"{path}hostpanel-check/{{seq}}/page")
            else:
                add(f"pass-through {path}", f"{path}?hostpanel-check/{{seq}}/")
                add(f"below pass-through {path}", f"{path}/hostpanel-check/{{seq}}/page")
        edit_host = site.options.get("edit_host")
        if isinstance(edit_host, str) and edit_host and not tls:
            add("edit host", "/hostpanel-check/{seq}/page", name=edit_host)

    def compare(self, probes: list[_Probe]) -> None:
        answers: dict[str, dict[int, tuple[int, str | None]]] = {}
        threads = [
            threading.Thread(target=lambda s=side: answers.__setitem__(s, _send(probes, s)), daemon=True)
            for side in ("old", "new")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.report.requests = 2 * len(probes)
        time.sleep(0.05)  # a backend records a request just before it answers
        received = {"old": _index(self.old_backends), "new": _index(self.new_backends)}
        checks: dict[str, SiteCheck] = {}
        groups: dict[tuple[int, str], list[Seen]] = {}
        for probe in probes:
            check = checks.setdefault(probe.owner, SiteCheck(probe.owner, []))
            if probe.name not in check.names:
                check.names.append(probe.name)
            seen = {}
            for side in ("old", "new"):
                status, balancer = answers[side][probe.seq]
                backend, path, host = received[side].get(probe.seq, (None, None, None))
                seen[side] = Seen(status, backend, path, host, balancer)
            if probe.group >= 0:
                for side in ("old", "new"):
                    groups.setdefault((probe.group, side), []).append(seen[side])
            self._differences(check, probe, seen["old"], seen["new"])
        for (group, side), seens in groups.items():
            if side != "old":
                continue
            first = next(p for p in probes if p.seq == group)
            old_set = sorted({s.backend or "-" for s in seens})
            new_set = sorted({s.backend or "-" for s in groups[(group, "new")]})
            if old_set != new_set:
                checks[first.owner].differences.append(
                    f"{first.name}, no cookie, {len(seens)} requests: served today by {', '.join(old_set)}, "
                    f"by HostPanel's config {', '.join(new_set)}"
                )
        for check in checks.values():
            check.differences = list(dict.fromkeys(check.differences))
            check.notes = list(dict.fromkeys(check.notes))
            (self.report.balancers if check.domain.startswith("balancer://") else self.report.sites).append(check)

    def _differences(self, check: SiteCheck, probe: _Probe, old: Seen, new: Seen) -> None:
        where = f"{probe.name}, {probe.label}"
        if probe.option:
            where += f" ({probe.method} {probe.path.replace('{seq}', str(probe.seq))})"
        if (old.backend is None) != (new.backend is None) or (old.backend is None and old.status != new.status):
            check.differences.append(f"{where}: today {old.describe()}, HostPanel's config {new.describe()}")
            return
        if old.backend is None:
            return
        if probe.group < 0 and not probe.option and old.backend != new.backend:
            check.differences.append(f"{where}: served today by {old.backend}, by HostPanel's config {new.backend}")
        if old.path != new.path and _default_port(old.path) == _default_port(new.path):
            check.notes.append(
                f"{probe.name}: the VirtualHostMonster host has no port today ({old.path[:80]}...); HostPanel writes "
                "the scheme's default port, which is what Zope assumes"
            )
        elif old.path != new.path:
            check.differences.append(f"{where}: Zope gets the path {old.path} today, {new.path} from HostPanel")
        new_name = (new.balancer or "").removeprefix("balancer://")
        if old.balancer is None and new_name in self.direct and new_name in self.site_balancers.get(probe.owner, ()):
            check.notes.append(
                f"{probe.name}: straight to its server today; through the one-member balancer {new.balancer} in "
                "HostPanel's config (same server, same path)"
            )
        elif old.balancer != new.balancer:
            check.differences.append(f"{where}: routed today by {old.balancer}, by HostPanel's config {new.balancer}")
        if old.host != new.host:
            if new.host == probe.name or probe.name == PROBE_HOST:
                check.notes.append(
                    f"{probe.name}: Zope gets Host {old.host} today and {new.host} from HostPanel "
                    "(ProxyPreserveHost On); Plone builds its URLs from the VirtualHostMonster path, which is the same"
                )
            else:
                check.differences.append(f"{where}: Zope gets Host {old.host} today, {new.host} from HostPanel")

    def stop(self) -> None:
        for apache in self.apaches:
            apache.stop()
        for backend in [*self.old_backends.values(), *self.new_backends.values()]:
            backend.stop()


def _account_vhosts(plan: ImportPlan, report: EquivalenceReport) -> None:
    """Every old vhost that proxies traffic is counted: imported ones by the site that stands for them, the
    others as differences (HostPanel's config would not serve their names)."""
    imported: dict[tuple[str, int], str] = {}
    for planned in plan.sites:
        site = planned.candidate
        for where in site.vhosts or [(site.file, site.line)]:
            imported[where] = site.domain
    for vhost in plan.recognition.proxying:
        where = (vhost.file, vhost.line)
        report.vhosts[where] = imported.get(where, "")
        if where in imported:
            continue
        names = list(vhost.names) or [f"(no name, {', '.join(vhost.addresses)})"]
        left_out = next((s for s in plan.skipped if (s.file, s.line) == where), None)
        why = f" (left out: {'; '.join(left_out.reasons)})" if left_out else ""
        report.left_out.append(
            SiteCheck(
                names[0],
                names,
                [
                    f"{vhost.file}:{vhost.line} proxies traffic for {', '.join(names)} today but is not imported"
                    f"{why}: HostPanel's config does not serve these names"
                ],
            )
        )
    for planned in plan.sites:  # HostPanel-shaped sites (and map sites) are vhosts of their own
        site = planned.candidate
        for where in site.vhosts or [(site.file, site.line)]:
            report.vhosts.setdefault(where, site.domain)
    served: set[str] = set()
    for planned in plan.sites:
        site = planned.candidate
        served |= {site.domain.lower(), *(a.lower() for a, _ in site.aliases)}
        edit_host = site.options.get("edit_host")
        if isinstance(edit_host, str):
            served.add(edit_host.lower())
        staff = sorted(str(n) for n in settings.HOSTPANEL_STAFF_NETWORKS)
        if isinstance(edit_host, str) and site.edit_networks and sorted(site.edit_networks) != staff:
            check = next((c for c in report.sites if c.domain == site.domain), None)
            if check is None:
                check = SiteCheck(site.domain, [site.domain])
                report.sites.append(check)
            check.differences.append(
                f"{edit_host}: restricted today to the networks {' '.join(site.edit_networks)}; HostPanel keeps an "
                f"edit host to its staff networks (HOSTPANEL_STAFF_NETWORKS: {' '.join(staff)}) instead: other "
                "clients reach it, or staff are refused, until the networks agree (or the difference is accepted)"
            )
    counted = {(v.file, v.line) for v in plan.recognition.proxying}  # already a difference when not imported
    for vhost in plan.recognition.answering:
        missing = [n for n in vhost.names if n not in served]
        if missing and (vhost.file, vhost.line) not in counted and (vhost.file, vhost.line) not in imported:
            report.unanswered.append(
                SiteCheck(
                    missing[0],
                    missing,
                    [
                        f"{vhost.file}:{vhost.line} answers {', '.join(missing)} today; HostPanel's config does not "
                        "(a 404)"
                    ],
                )
            )


def check_equivalence(plan: ImportPlan, *, sample: int | None = None) -> EquivalenceReport:
    """Run the old config and HostPanel's rendering of the plan side by side and compare (see above).
    A config that cannot run (Apache refuses it) gives a report with `error` set, not an exception."""
    started = time.monotonic()
    if not plan.sites and not plan.balancers:
        report = EquivalenceReport(fingerprint=plan.fingerprint)
        _account_vhosts(plan, report)  # nothing imported: every proxying vhost is a difference, or nothing at all
        report.seconds = time.monotonic() - started
        return report
    with tempfile.TemporaryDirectory(prefix="hostpanel-equivalence-") as tmp:
        for attempt in range(3):
            workdir = Path(tmp) / f"attempt{attempt}"
            workdir.mkdir()
            check = _Check(plan, sample, workdir)
            try:
                ports = check.start()
                check.compare(check.probes(*ports))
            except ApacheError as exc:
                taken = ("Address already in use", "Cannot define multiple Listeners on the same IP:port")
                if any(why in str(exc) for why in taken) and attempt < 2:
                    continue  # a chosen port was taken (by another process, or chosen twice): choose again
                check.report.error = str(exc)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE and attempt < 2:
                    continue  # a fake backend's chosen port was taken meanwhile: choose again
                check.report.error = str(exc)
            except (UnsafeValue, ValueError, SandboxUnavailable) as exc:
                check.report.error = str(exc)
            finally:
                check.stop()
            break
    _account_vhosts(plan, check.report)
    check.report.seconds = time.monotonic() - started
    return check.report
