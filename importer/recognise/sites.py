"""Client sites: a <VirtualHost> with ServerName, ServerAlias and the VirtualHostMonster rule to a balancer,
the single-pass sticky cookie header, and names Apache gives to an earlier vhost (shadowed)."""

from __future__ import annotations

import re

from importer.recognise.findings import Problem, SiteCandidate
from importer.recognise.state import RecogniserState
from importer.recognise.syntax import (
    STICKY_HEADER,
    VHM_PATTERNS,
    VHM_TARGET,
    Rule,
    int_or_none,
    names_of,
    rules_of,
)
from importer.tokenizer import Directive, Section

CHALLENGE_RULE = r"^/\.well-known/acme-challenge/"  # HostPanel's own rule (rendering/render.py)


class SitesPart(RecogniserState):
    """Site vhosts: the VHM rule, names and aliases, and every other directive inside them."""

    # --- sites -----------------------------------------------------------------------------------

    def _site(self, vhost: Section, vhm: Rule) -> None:
        match = VHM_TARGET.match(vhm.target)
        server_name, aliases = names_of(vhost)
        if match is None or match.group("scheme") != "http" or (match.group("port") or "80") != "80":
            self.unrecognised(vhost, f"VirtualHostMonster rule not modelled: {vhm.target[:200]} (only http on port 80)")
            return
        if vhm.pattern not in VHM_PATTERNS or "P" not in [f.upper() for f in vhm.flags]:
            self.unrecognised(vhost, f"rewrite rule {vhm.directive.text[:200]} is not the catch-all proxy rule")
            return
        if server_name is None or len(server_name.args) != 1:
            self.problem("no-servername", "error", vhost, "a site vhost needs exactly one ServerName")
            return
        domain = server_name.args[0]
        domain = re.sub(r"^https?://", "", domain, flags=re.IGNORECASE)
        if re.fullmatch(r".*:[0-9]+", domain):
            domain = domain.rsplit(":", 1)[0]
        site = SiteCandidate(
            domain=domain,
            balancer=match.group("name"),
            plone_path=match.group("path"),
            file=vhost.file,
            line=vhost.line,
            domain_line=server_name.line,
            rule_line=vhm.directive.line,
            aliases=[(a, d.line) for d in aliases for a in d.args],
        )
        self.r.sites.append(site)
        host = match.group("host")
        if host == "%{HTTP_HOST}":
            self.translated(
                vhm.directive,
                "%{HTTP_HOST}:80 -> HostPanel renders %{SERVER_NAME}:80 (same for clients on port 80; "
                "a Host with a port no longer becomes host:port:80)",
            )
        elif host != "%{SERVER_NAME}":
            self.translated(vhm.directive, f"a fixed host {host} -> HostPanel renders %{{SERVER_NAME}}")
        self._site_directives(vhost, vhm, site)

    def _site_directives(self, vhost: Section, vhm: Rule, site: SiteCandidate) -> None:
        rules, others = rules_of(vhost)
        engine_on = False
        error_paths: set[str] = set()
        for child in vhost.children:
            if isinstance(child, Section):
                self.unrecognised(child, "not modelled in a site vhost")
        for d in others:
            key = d.key
            if key in ("servername", "serveralias"):
                continue
            if key == "rewriteengine" and [a.lower() for a in d.args] == ["on"]:
                engine_on = True
            elif key == "header" and self._sticky_header(d, site):
                pass
            elif key == "errordocument" and len(d.args) == 2 and d.args[0] == "503" and d.args[1].startswith("/"):
                error_paths.add(d.args[1])
                self._site_error_documents[site.balancer].append((d.args[1], d))
            elif key == "alias" and d.args and d.args[0] in error_paths:
                self.translated(d, "the 503 page (HostPanel serves its own errors/503.html)")
            elif key in ("documentroot", "serveradmin"):
                self.ignored(d, "no effect in a vhost that proxies every request")
            elif key == "proxypreservehost":
                self.translated(d, "ProxyPreserveHost On, set once at server level by HostPanel")
            elif key == "requestheader" and [a.lower() for a in d.args[:2]] == ["set", "x-forwarded-proto"]:
                self.translated(d, "X-Forwarded-Proto: HostPanel sets it in every site vhost")
            elif key == "rewritecond":
                self.unrecognised(d, "a condition with no rule after it")
            else:
                self.unrecognised(d, "not modelled in a site vhost")
        after_catch_all = False
        for rule in rules:
            if rule is vhm or rule.directive is vhm.directive:
                for cond in rule.conds:
                    if (
                        cond.raw_args.split()[:1] == ["%{REQUEST_URI}"]
                        and cond.args[1:2]
                        and cond.args[1].startswith("!=")
                    ):
                        self.translated(cond, "the 503 page is not proxied (HostPanel renders this condition)")
                    else:
                        self.unrecognised(cond, "a condition on the site's proxy rule is not modelled")
                extra = [f for f in rule.flags if f.upper() not in ("L", "P")]
                if extra:
                    self.unrecognised(rule.directive, f"rewrite flags not modelled: {','.join(extra)}")
                after_catch_all = True
                continue
            if (rule.pattern, rule.target, rule.flags, rule.conds) == (CHALLENGE_RULE, "-", ["L"], []):
                self.translated(rule.directive, "ACME challenges pass to the server-level Alias (HostPanel's rule)")
                continue
            why = "never reached: after the catch-all proxy rule" if after_catch_all else "rewrite rule not modelled"
            self.unrecognised(rule.directive, why)
            for cond in rule.conds:
                self.unrecognised(cond, "condition of a rule not modelled")
        if not engine_on:
            self.problem(
                "rewrite-engine-off",
                "warning",
                vhost,
                f"{site.domain}: no RewriteEngine On in this vhost, so Apache never runs its proxy rule and "
                "serves local files (a 404) today; HostPanel will proxy it to the Plone site",
            )
        if error_paths and not any(
            c.raw_args.startswith("%{REQUEST_URI}") for r in rules if r.directive is vhm.directive for c in r.conds
        ):
            self.translated(
                vhm.directive, "HostPanel adds RewriteCond %{REQUEST_URI} !=<503 page> (else the page is proxied)"
            )

    def _sticky_header(self, d: Directive, site: SiteCandidate) -> bool:
        words = list(d.args)
        if len(words) < 3 or words[0].lower() not in ("add", "set") or words[1].lower() != "set-cookie":
            return False
        match = STICKY_HEADER.match(words[2])
        if not match or words[3:] not in ([], ["env=BALANCER_ROUTE_CHANGED"]):
            return False
        attrs = {
            k.strip().lower(): v.strip() for k, _, v in (a.partition("=") for a in match.group("attrs").split(";"))
        }
        ttl = int_or_none(attrs.get("max-age", "")) if "max-age" in attrs else None
        self._site_cookies[site.balancer].append((match.group("name"), ttl, d))
        self.translated(d, "single-pass sticky cookie (HostPanel renders it in every site of the balancer)")
        return True

    def _shadowed_names(self) -> None:
        """Apache gives a name claimed by two vhosts to the first one: the later claim never gets traffic."""
        owners: dict[str, SiteCandidate] = {}
        kept: list[SiteCandidate] = []
        for site in self.r.sites:
            domain = site.domain.lower()
            if domain in owners:
                first = owners[domain]
                self.r.problems.append(
                    Problem(
                        "shadowed",
                        "warning",
                        site.file,
                        site.domain_line,
                        f"{domain} {_served_by(first, site)}: this {_what(site)} never gets its requests; not imported",
                    )
                )
                continue
            aliases = []
            for alias, line in site.aliases:
                name = alias.lower()
                if name in owners or name == domain or name in {a.lower() for a, _ in aliases}:
                    if name != domain and name not in {a.lower() for a, _ in aliases}:
                        first = owners[name]
                        self.r.problems.append(
                            Problem(
                                "shadowed",
                                "warning",
                                site.file,
                                line,
                                f"alias {name} {_served_by(first, site)}: not imported for this site",
                            )
                        )
                    continue
                aliases.append((alias, line))
            site.aliases = aliases
            for name in [domain, *(a.lower() for a, _ in aliases)]:
                owners.setdefault(name, site)
            kept.append(site)
        self.r.sites = kept


def _what(site: SiteCandidate) -> str:
    return "routes.map group" if site.via == "map" else "vhost"


def _served_by(first: SiteCandidate, site: SiteCandidate) -> str:
    """Why Apache gives a name to `first`: the earlier vhost, a vhost before the map's catch-all routing
    vhost (a named vhost wins over the default one), or the earlier line of the map (a txt map's first)."""
    if first.via == "map":
        return f"is already a route of site {first.domain} ({first.file}:{first.line}; Apache reads a map's first line)"
    if site.via == "map":
        return (
            f"is served by the vhost at {first.file}:{first.line}: Apache picks a vhost by its names before the "
            "routing vhost, which only answers names no vhost claims"
        )
    return f"is already served by the vhost at {first.file}:{first.line}, which Apache reads first"
