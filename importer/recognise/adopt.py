"""The Plone vhosts people write by hand (issue 25), beside HostPanel's own shapes:

- the VirtualHostMonster rule straight to one Zope (`http://127.0.0.1:8080/VirtualHostBase/...`, a remote
  host, a cache port): the site goes on a one-member balancer named after that Zope server (the plan uses an
  existing balancer whose only member is that Zope instead);
- `ProxyPass / <VHM URL>` (with its `ProxyPassReverse`) read as its RewriteRule twin, and `<Proxy
  balancer://...>` sections inside a vhost read as the server-level ones;
- HTTPS vhosts (`VirtualHostBase/https/...:443`, `SSLEngine on`, the certificate files) become `tls=custom`
  with the certificate imported from the tree, and a port-80 twin that only redirects to https becomes
  `https_redirect`;
- extra rules around the VHM rule become candidate structured options (SiteCandidate.options): pass-through
  paths, the management interface blocked, methods blocked, an edit host restricted to networks;
- everything else in a site vhost is reported per directive with the reason HostPanel cannot keep it.
"""

from __future__ import annotations

import re

from importer.recognise.findings import (
    BalancerCandidate,
    MemberCandidate,
    Problem,
    ProxyingVhost,
    SiteCandidate,
    SiteCertificate,
    Translated,
)
from importer.recognise.servers import ServersPart
from importer.recognise.sites import SitesPart
from importer.recognise.syntax import (
    VHM_ANY,
    VHM_PATTERNS,
    VHM_TARGET,
    Rule,
    names_of,
    parse_url,
    proxies_traffic,
    rewrite_args,
    rules_of,
    vhost_names,
)
from importer.tokenizer import Directive, Section

CATCH_ALL_SLASH = frozenset({"^/(.*)", "^/(.*)$", "/(.*)", "/(.*)$"})  # with .../VirtualHostRoot/$1
CATCH_ALL_BARE = frozenset({"^(.*)", "^(.*)$", "(.*)", "(.*)$", "^/?(.*)", "^/?(.*)$"})  # with ...Root$1
_PASSTHROUGH_RULE = re.compile(r"^\^(/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]/?)$")
_EXCLUDE_COND = re.compile(r"^!\^/\(?([A-Za-z0-9._~|-]+)\)?/?$")
_METHODS_COND = re.compile(r"^\^\(?([A-Z|]+)\)?\$?$")
_HTTP_METHODS = frozenset(
    [
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "DELETE",
        "OPTIONS",
        "TRACE",
        "PATCH",
        "CONNECT",
        "PROPFIND",
        "PROPPATCH",
        "MKCOL",
        "COPY",
        "MOVE",
        "LOCK",
        "UNLOCK",
    ]
)
_REDIRECT_STATUS = {"permanent", "301", "302", "temp", "303", "seeother", "307", "308"}

# Directives of a site vhost HostPanel has nothing to do with, with the reason shown to the operator.
_IGNORED = {
    "errorlog": "logging: HostPanel writes its own per front-end",
    "customlog": "logging: HostPanel writes its own per front-end",
    "transferlog": "logging: HostPanel writes its own per front-end",
    "logformat": "logging: HostPanel writes its own per front-end",
    "loglevel": "logging: HostPanel writes its own per front-end",
    "serveradmin": "no effect in a vhost that proxies every request",
    "documentroot": "no effect in a vhost that proxies every request",
    "serversignature": "server signature on Apache's own error pages: HostPanel's setting",
    "usecanonicalname": "no effect on proxied requests (Zope builds URLs from the VHM path)",
    "proxyvia": "Via header: HostPanel does not add it",
    "proxyrequests": "HostPanel never turns the forward proxy on",
    "sslprotocol": "TLS settings: HostPanel renders its own (Mozilla intermediate)",
    "sslciphersuite": "TLS settings: HostPanel renders its own (Mozilla intermediate)",
    "sslhonorcipherorder": "TLS settings: HostPanel renders its own (Mozilla intermediate)",
    "sslcacertificatefile": "client-certificate CA: not used by HostPanel's sites",
}
# Directives `apache2 -t` refuses inside a <VirtualHost> ("not allowed here"): server config only.
SERVER_CONFIG_ONLY = frozenset(
    {
        "serverroot",
        "listen",
        "loadmodule",
        "loadfile",
        "user",
        "group",
        "pidfile",
        "startservers",
        "serverlimit",
        "threadlimit",
        "threadsperchild",
        "maxrequestworkers",
        "maxclients",
        "minspareservers",
        "maxspareservers",
        "minsparethreads",
        "maxsparethreads",
        "mutex",
        "defaultruntimedir",
        "scoreboardfile",
    }
)
_FILTER_KEYS = {"addoutputfilterbytype", "addoutputfilter", "setoutputfilter", "deflatecompressionlevel"}
_AUTH_KEYS = {"authtype", "authname", "authuserfile", "authgroupfile", "authbasicprovider", "authdigestprovider"}


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    return slug[:50].strip("-_") or "zope"


class AdoptPart(SitesPart, ServersPart):
    """Hand-written Plone vhosts: direct Zope targets, ProxyPass, HTTPS and its redirect twin, extra rules."""

    # --- which vhost is a site ---------------------------------------------------------------------

    def _vhm_rule(self, vhost: Section, rules: list[Rule]) -> Rule | None:
        """The vhost's VirtualHostMonster rule: a [P] RewriteRule, or `ProxyPass /` read as one."""
        proxied = [r for r in rules if "VirtualHostBase" in r.target and "P" in [f.upper() for f in r.flags]]
        catch_all = [r for r in proxied if r.pattern in CATCH_ALL_SLASH | CATCH_ALL_BARE]
        if catch_all or proxied:
            return (catch_all or proxied)[0]  # `^$` / `^/$` twins before the catch-all are read as extra rules
        for child in vhost.children:
            if isinstance(child, Directive) and child.key == "proxypass" and len(child.args) >= 2:
                path, url = child.args[0], child.args[1]
                if "VirtualHostBase" in url and url.endswith("/VirtualHostRoot/") and path == "/":
                    if child.args[2:]:
                        self._proxypass_params(child)
                    return Rule(child, "^/(.*)", url + "$1", ["L", "P"], [])
        return None

    def _proxypass_params(self, directive: Directive) -> None:
        for arg in directive.args[2:]:
            key, _, value = arg.partition("=")
            if key.lower() == "stickysession":
                self.translated(directive, f"stickysession={value} on ProxyPass: the balancer's sticky cookie")
                self._proxypass_sticky[directive.args[1].split("/")[2]] = value
            else:
                self.unrecognised(directive, f"ProxyPass parameter {arg} not modelled")

    def _inner_balancers(self, vhost: Section) -> None:
        """<Proxy balancer://...> inside a vhost: read as the server-level ones (they are global in Apache)."""
        for child in vhost.children:
            if (
                isinstance(child, Section)
                and child.key == "proxy"
                and child.args[:1]
                and child.args[0].lower().startswith("balancer://")
            ):
                self.proxies.append(child)
                self._handled.add(id(child))

    def _note_proxying(self, vhost: Section) -> None:
        for child in vhost.children:
            if isinstance(child, Directive) and child.key in SERVER_CONFIG_ONLY:
                self.problem(
                    "configtest",
                    "warning",
                    child,
                    f"`apache2 -t` rejects this line: {child.name} is not allowed inside <VirtualHost> "
                    "(this config does not start as it is)",
                )
        if vhost_names(vhost):
            self.r.answering.append(
                ProxyingVhost(vhost.file, vhost.line, tuple(vhost_names(vhost)), tuple(a.lower() for a in vhost.args))
            )
        if proxies_traffic(vhost):
            self.r.proxying.append(
                ProxyingVhost(vhost.file, vhost.line, tuple(vhost_names(vhost)), tuple(a.lower() for a in vhost.args))
            )

    def _redirect_twin(self, vhost: Section) -> bool:
        """A vhost whose only job is to send every request to https (the HTTPS site's port-80 twin)."""
        children = [c for c in vhost.children if not (isinstance(c, Directive) and c.key in _IGNORED)]
        if any(isinstance(c, Section) for c in children):
            return False
        target = None
        for child in children:
            assert isinstance(child, Directive)
            if child.key in ("servername", "serveralias") or (
                child.key == "rewriteengine" and [a.lower() for a in child.args] == ["on"]
            ):
                continue
            if child.key in ("redirect", "redirectpermanent") and target is None:
                args = [a for a in child.args if a.lower() not in _REDIRECT_STATUS]
                if len(args) == 2 and args[0] == "/" and args[1].lower().startswith("https://"):
                    target = args[1]
                    continue
            if child.key == "rewriterule" and target is None:
                words = rewrite_args(child.raw_args)
                flags = words[2].strip("[]").lower().split(",") if len(words) > 2 else []
                if (
                    len(words) >= 3
                    and words[0] in CATCH_ALL_SLASH | CATCH_ALL_BARE | {"/(.*)$", "^/?(.*)$"}
                    and words[1].lower().startswith("https://")
                    and any(f.startswith("r") for f in flags)
                ):
                    target = words[1]
                    continue
            if child.key == "rewritecond" and child.raw_args.split()[:1] == ["%{HTTPS}"]:
                continue
            return False
        if target is None:
            return False
        host = target[len("https://") :].split("/", 1)[0].lower()
        names = vhost_names(vhost)
        if host in ("%{server_name}", "%{http_host}") and names:
            host = names[0]  # the same name, on https
        self._twins.append((vhost, vhost_names(vhost), host))
        return True

    # --- the site ----------------------------------------------------------------------------------

    def _site(self, vhost: Section, vhm: Rule) -> None:
        """HostPanel's own shape (a RewriteRule to a balancer, http on port 80) is read by sites.py; every
        other VHM rule here."""
        own = VHM_TARGET.match(vhm.target)
        if (
            own is not None
            and vhm.directive.key == "rewriterule"
            and own["scheme"] == "http"
            and (own["port"] or "80") == "80"
            and vhm.pattern in VHM_PATTERNS
        ):
            super()._site(vhost, vhm)
            return
        site = self._adopt_site(vhost, vhm)
        if site is not None:
            self.r.sites.append(site)
            self._adopt_directives(vhost, vhm, site)

    def _adopt_site(self, vhost: Section, vhm: Rule) -> SiteCandidate | None:
        """A site from any VHM target (balancer or direct), or None with the vhost reported."""
        match = VHM_ANY.match(vhm.target)
        if match is None:
            self.unrecognised(vhm.directive, f"VirtualHostMonster target not understood: {vhm.target[:200]}")
            self.unrecognised(vhost, "virtual host not imported: its VirtualHostMonster rule is not understood")
            return None
        scheme, port = match["scheme"], match["port"] or ("443" if match["scheme"] == "https" else "80")
        if (scheme, port) not in (("http", "80"), ("https", "443")):
            self.unrecognised(vhm.directive, f"VirtualHostBase/{scheme}/...:{port}: HostPanel serves http:80/https:443")
            self.unrecognised(vhost, "virtual host not imported: an unusual scheme or port in its VHM rule")
            return None
        if match["vh"] or vhm.pattern not in CATCH_ALL_SLASH | CATCH_ALL_BARE:
            mount = vhm.pattern
            self.unrecognised(
                vhm.directive,
                f"a Plone site mounted under a sub-path ({mount}{', ' + match['vh'] if match['vh'] else ''}): "
                "HostPanel serves a site at the root of its host names only",
            )
            self.unrecognised(vhost, "virtual host not imported: its Plone site is mounted under a sub-path")
            return None
        if re.search(r"[%$]", match["path"]):
            self.unrecognised(
                vhm.directive,
                f"a Plone path built from the request ({match['path'][:100]}, e.g. a sub-domain captured with %1): "
                "one Plone site per host name is not expressible as one HostPanel site",
            )
            self.unrecognised(vhost, "virtual host not imported: its Plone path depends on the request")
            return None
        bare = vhm.pattern in CATCH_ALL_BARE
        if bare != (not vhm.target.endswith("/$1")):
            self.unrecognised(vhm.directive, "the rule's pattern and $1 do not join into a path (double or no '/')")
            self.unrecognised(vhost, "virtual host not imported: its VHM rule builds a broken path")
            return None
        names = vhost_names(vhost)
        if not names:
            self.problem("no-servername", "error", vhost, "a site vhost needs a ServerName")
            return None
        server_name, aliases = names_of(vhost)
        if match["name"]:
            balancer = match["name"]
            slashed = [m for m in self.r.members if m.balancer == balancer and m.url.endswith("/")]
            if slashed and vhm.directive.key == "proxypass":
                self.problem(
                    "member-slash",
                    "warning",
                    vhm.directive,
                    f"the members of balancer {balancer} end in '/' ({slashed[0].url}), so Zope gets "
                    "//VirtualHostBase/... today; HostPanel sends /VirtualHostBase/... (the check shows it)",
                )
        else:
            zport = int(match["zport"] or 80)
            server = self._server(match["zhost"].lower(), zport, None, vhm.directive, "VHM target")
            if server is None:
                self.unrecognised(vhost, "virtual host not imported: its Zope server conflicts (see problems)")
                return None
            balancer = self._direct_balancer(server.name, server.host, server.port, vhm.directive)
        first_alias_line = aliases[0].line if aliases else vhost.line
        site = SiteCandidate(
            domain=names[0],
            balancer=balancer,
            plone_path=match["path"],
            file=vhost.file,
            line=vhost.line,
            domain_line=server_name.line if server_name else first_alias_line,
            rule_line=vhm.directive.line,
            aliases=[(a, d.line) for d in aliases for a in d.args if a.lower() != names[0]],
            vhosts=[(vhost.file, vhost.line)],
        )
        if scheme == "https":
            site.tls = "custom"
            site.https_redirect = False
            site.certificate = self._certificate(vhost, site)
        host = match["host"]
        if host in ("%{HTTP_HOST}", "%{SERVER_NAME}"):
            self.translated(vhm.directive, f"{host} -> HostPanel renders %{{SERVER_NAME}}")
        elif host.lower() != names[0]:
            self.translated(vhm.directive, f"a fixed host {host} -> HostPanel renders %{{SERVER_NAME}} ({names[0]})")
        if not match["name"]:
            self.translated(
                vhm.directive,
                f"straight to one Zope ({match['zhost']}:{match['zport'] or 80}): a one-member balancer {balancer} "
                "(a cache such as Varnish on that port is proxied to the same way)",
            )
        if vhm.directive.key == "proxypass":
            self.translated(vhm.directive, "ProxyPass / to the VHM URL: HostPanel renders the RewriteRule twin")
        return site

    def _direct_balancer(self, server: str, host: str, port: int, directive: Directive) -> str:
        name = _slug(server)
        if not any(b.name == name for b in self.r.balancers):
            self.r.balancers.append(BalancerCandidate(name=name, file=directive.file, line=directive.line, direct=True))
            self.r.members.append(
                MemberCandidate(
                    balancer=name,
                    server=server,
                    url=f"http://{host}:{port}",
                    file=directive.file,
                    line=directive.line,
                    timeout=self.server_timeout,
                )
            )
        return name

    def _certificate(self, vhost: Section, site: SiteCandidate) -> SiteCertificate:
        paths = {
            c.key: c.args[0]
            for c in vhost.children
            if isinstance(c, Directive) and c.key.startswith("sslcertificate") and len(c.args) == 1
        }
        cert = SiteCertificate(
            certificate_path=paths.get("sslcertificatefile", ""),
            key_path=paths.get("sslcertificatekeyfile", ""),
            chain_path=paths.get("sslcertificatechainfile", ""),
        )
        files = self.tree.certificates
        for attr, path in (("certificate_pem", cert.certificate_path), ("private_key_pem", cert.key_path)):
            read = files.get(path) if path else None
            if not path:
                cert.error = cert.error or f"no {attr.split('_pem')[0].replace('_', ' ')} file in the vhost"
            elif read is None or read.text is None:
                why = read.error if read is not None else "not read"
                cert.error = cert.error or f"{path} cannot be read ({why})"
            else:
                setattr(cert, attr, read.text)
        if cert.chain_path:
            read = files.get(cert.chain_path)
            if read is None or read.text is None:
                cert.error = cert.error or f"{cert.chain_path} cannot be read ({read.error if read else 'not read'})"
            else:
                cert.chain_pem = read.text
        if not cert.private_key_pem and cert.certificate_pem and "PRIVATE KEY" in cert.certificate_pem:
            cert.private_key_pem, cert.error = cert.certificate_pem, ""  # key and certificate in one file
        return cert

    # --- every other directive of a site vhost -------------------------------------------------------

    def _adopt_directives(
        self, vhost: Section, vhm: Rule, site: SiteCandidate, used: frozenset[int] | set[int] = frozenset()
    ) -> None:
        """Every directive of a site vhost but its proxy rule (and, for a Volto vhost, its other `used` routes)."""
        rules, others = rules_of(vhost)
        engine_on = vhm.directive.key == "proxypass" or any(d.key == "proxypass" for d in others if id(d) in used)
        options = site.options
        for child in vhost.children:
            if isinstance(child, Section) and id(child) not in self._handled:
                self._site_section(child, site)
        for d in others:
            key = d.key
            if key in ("servername", "serveralias") or d is vhm.directive or id(d) in used:
                continue
            if key == "rewriteengine" and [a.lower() for a in d.args] == ["on"]:
                engine_on = True
            elif key == "header" and self._sticky_or_route_header(d, site):
                pass
            elif key in ("sslengine", "sslcertificatefile", "sslcertificatekeyfile", "sslcertificatechainfile"):
                if site.tls == "custom":
                    self.translated(d, "the site's certificate: imported (tls custom)")
                else:
                    self.unrecognised(d, "TLS in a vhost whose VHM rule says http: not imported")
            elif key in _IGNORED:
                self.ignored(d, _IGNORED[key])
            elif key == "proxypreservehost":
                self.translated(d, "ProxyPreserveHost On, set once at server level by HostPanel")
            elif key == "requestheader" and [a.lower() for a in d.args[:2]] == ["set", "x-forwarded-proto"]:
                self.translated(d, "X-Forwarded-Proto: HostPanel sets it in every site vhost")
            elif key == "proxypassreverse" and len(d.args) >= 2 and d.args[0] == "/" and "VirtualHostBase" in d.args[1]:
                self.translated(d, "ProxyPassReverse of the site's proxy: HostPanel renders its own")
            elif key == "proxypass" and d.args[1:2] == ("!",):
                self.unrecognised(d, f"{d.args[0]} not proxied: served by Apache here, which HostPanel does not keep")
            elif key in _FILTER_KEYS:
                self.unrecognised(d, "compression per vhost (mod_deflate): not managed by HostPanel")
            elif key == "header":
                words = [a.lower() for a in d.args]
                name = next((w for w in d.args[1:3] if w.lower() not in ("set", "add", "append")), "")
                if "strict-transport-security" in words:
                    self.unrecognised(d, "HSTS header: set the site's HSTS setting in HostPanel (not imported)")
                else:
                    self.unrecognised(d, f"response header {name}: not managed by HostPanel")
            elif key == "errordocument" and len(d.args) == 2 and d.args[0] == "503" and d.args[1].startswith("/"):
                self._site_error_documents[site.balancer].append((d.args[1], d))
            elif key == "rewritecond":
                self.unrecognised(d, "a condition with no rule after it")
            elif key == "proxypass":
                self.unrecognised(d, f"another proxy in this vhost ({' '.join(d.args[:2])}): not imported")
            else:
                self.unrecognised(d, f"{d.name} in a site vhost: not managed by HostPanel")
        for rule in rules:
            if id(rule.directive) in used:
                continue  # read with its conditions by volto.py
            if rule.directive is vhm.directive:
                for cond in rule.conds:
                    self._vhm_condition(cond, options)
                extra = [f for f in rule.flags if f.upper() not in ("L", "P", "NE", "QSA")]
                if extra:
                    self.unrecognised(rule.directive, f"rewrite flags not modelled: {','.join(extra)}")
                continue
            self._extra_rule(rule, options, vhm)
        if not engine_on:
            self.problem(
                "rewrite-engine-off",
                "warning",
                vhost,
                f"{site.domain}: no RewriteEngine On in this vhost, so Apache never runs its proxy rule and "
                "serves local files (a 404) today; HostPanel will proxy it to the Plone site",
            )

    def _vhm_condition(self, cond: Directive, options: dict[str, object]) -> None:
        words = rewrite_args(cond.raw_args)
        if words[:1] == ["%{REQUEST_URI}"] and len(words) >= 2:
            if words[1].startswith("!="):
                self.translated(cond, "the 503 page is not proxied (HostPanel renders this condition)")
                return
            found = _EXCLUDE_COND.match(words[1])
            if found and len(words) == 2:
                paths = [path for p in found[1].split("|") if p for path in _prefix_paths(f"/{p}")]
                passthrough = options.setdefault("passthrough_paths", [])
                assert isinstance(passthrough, list)
                passthrough.extend(p for p in paths if p not in passthrough)
                self.translated(cond, f"not proxied: {', '.join(paths)} -> structured option passthrough_paths")
                return
        self.unrecognised(cond, "a condition on the site's proxy rule is not modelled")

    def _extra_rule(self, rule: Rule, options: dict[str, object], vhm: Rule) -> None:
        flags = [f.upper() for f in rule.flags]
        nodes: list[Directive] = [*rule.conds, rule.directive]
        after = (
            rule.directive.line > vhm.directive.line
            and vhm.directive.key == "rewriterule"
            and rule.directive.file == vhm.directive.file
        )
        if after:
            for node in nodes:
                self.unrecognised(node, "never reached: after the catch-all proxy rule")
            return
        if (rule.pattern, rule.target, rule.flags, rule.conds) == (r"^/\.well-known/acme-challenge/", "-", ["L"], []):
            self.translated(rule.directive, "ACME challenges pass to the server-level Alias (HostPanel's rule)")
            return
        if (
            "P" in flags
            and rule.pattern in ("^$", "^/$", "^/?$", "^/?$")
            and rule.target.rstrip("/") == vhm.target.removesuffix("$1").rstrip("/")
        ):
            self.translated(rule.directive, "the root URL proxied like every other: the catch-all rule does the same")
            return
        passthrough = _PASSTHROUGH_RULE.match(rule.pattern)
        if passthrough and rule.target == "-" and flags == ["L"] and not rule.conds:
            paths = options.setdefault("passthrough_paths", [])
            assert isinstance(paths, list)
            paths.extend(p for p in _prefix_paths(passthrough[1]) if p not in paths)
            self.translated(rule.directive, f"{passthrough[1]} served by Apache -> structured option passthrough_paths")
            return
        if "manage" in rule.pattern and not rule.conds:
            if rule.target == "-" and "F" in flags:
                options["manage_access"] = "blocked"
                self.translated(rule.directive, "the management interface blocked -> structured option manage_access")
                return
            self.unrecognised(
                rule.directive,
                f"the management interface sent to {rule.target[:100]}: HostPanel can block it or keep it to the "
                "staff networks (structured option manage_access), not redirect it; not imported",
            )
            return
        if rule.target == "-" and "F" in flags and rule.conds:
            methods = self._methods(rule.conds)
            if methods:
                blocked = options.setdefault("blocked_methods", [])
                assert isinstance(blocked, list)
                blocked.extend(m for m in methods if m not in blocked)
                for node in nodes:
                    self.translated(node, f"methods {' '.join(methods)} refused -> structured option blocked_methods")
                return
        why = "rewrite rule not modelled"
        if any(f.startswith("R") for f in flags) or rule.target.lower().startswith(("http://", "https://")):
            why = f"a redirect to {rule.target[:100]}: not modelled (HostPanel redirects only http to https)"
        if any("HTTP_COOKIE" in c.raw_args for c in rule.conds):
            why += "; it depends on a cookie (logged-in users sent elsewhere)"
        for cond in rule.conds:
            self.unrecognised(cond, f"condition of a rule not modelled ({rule.directive.line})")
        self.unrecognised(rule.directive, why)

    @staticmethod
    def _methods(conds: list[Directive]) -> list[str]:
        if len(conds) != 1:
            return []
        words = rewrite_args(conds[0].raw_args)
        if words[:1] != ["%{REQUEST_METHOD}"] or len(words) < 2:
            return []
        found = _METHODS_COND.match(words[1])
        methods = found[1].split("|") if found else []
        return methods if methods and all(m in _HTTP_METHODS for m in methods) else []

    def _sticky_or_route_header(self, d: Directive, site: SiteCandidate) -> bool:
        """The `ROUTEID=.%{BALANCER_WORKER_ROUTE}e` idiom of mod_proxy_balancer's docs (HostPanel's own
        BALANCEID=balancer.<route> is read in sites.py)."""
        words = list(d.args)
        if len(words) < 3 or words[0].lower() not in ("add", "set") or words[1].lower() != "set-cookie":
            return False
        found = re.match(r"^([A-Za-z0-9_-]+)=\.%\{BALANCER_WORKER_ROUTE\}e(;.*)?$", words[2])
        if not found or words[3:] not in ([], ["env=BALANCER_ROUTE_CHANGED"]):
            return self._sticky_header(d, site)
        self._site_cookies[site.balancer].append((found[1], None, d))
        self.translated(
            d, f"sticky cookie {found[1]}=.<route>: HostPanel sets {found[1]}=balancer.<route> (read the same way)"
        )
        return True

    def _site_section(self, section: Section, site: SiteCandidate) -> None:
        children = [c for c in section.children if isinstance(c, Directive)]
        keys = {c.key for c in children}
        args = [a.lower() for a in section.args]
        if section.key == "proxy" and args == ["*"]:
            self.translated(section, "access to proxied URLs: HostPanel grants it per balancer")
        elif section.key == "locationmatch" and args in (['"^[^/]"'], ["^[^/]"]):
            self.translated(section, "refusing forward-proxy requests: HostPanel never acts as a forward proxy")
        elif section.key == "ifmodule":
            for child in section.children:
                if isinstance(child, Section):
                    self._site_section(child, site)
                elif child.key in _IGNORED:
                    self.ignored(child, _IGNORED[child.key])
                else:
                    self.unrecognised(child, f"{child.name} in a site vhost: not managed by HostPanel")
        elif keys & _AUTH_KEYS:
            for child in children:
                self.unrecognised(
                    child,
                    "authentication in front of Plone is not managed by HostPanel: the site would become public",
                )
            self.problem(
                "auth-dropped",
                "warning",
                section,
                f"site {site.domain}: Apache asks for a password today ({section.text[:80]}); HostPanel's config "
                "would serve it to everyone",
            )
        elif (
            section.key == "location"
            and args == ["/"]
            and keys == {"require"}
            and all([a.lower() for a in c.args[:1]] == ["ip"] for c in children)
        ):
            networks = [a for c in children for a in c.args[1:]]
            site.options["_restricted_to"] = networks
            self.translated(section, f"only networks {' '.join(networks)}: an edit host (structured option edit_host)")
        elif section.key == "location" and "sethandler" in keys:
            self.unrecognised(
                section, "an Apache handler (balancer-manager, server-status): HostPanel does not publish it"
            )
        elif section.key in ("directory", "directorymatch") and any(
            c.key == "allowoverride" and [a.lower() for a in c.args] != ["none"] for c in children
        ):
            self.unrecognised(section, "a docroot whose .htaccess may hold rules: not read (copy them into the vhost)")
        else:
            self.unrecognised(section, f"<{section.name}> in a site vhost: not managed by HostPanel")

    # --- after every vhost ---------------------------------------------------------------------------

    def _adopt_finish(self) -> None:
        nodes = {(n.section.file, n.section.line) for n in self.nodes}
        self.r.proxying = [p for p in self.r.proxying if (p.file, p.line) not in nodes]  # imported as servers
        quiet = nodes | self._catch_alls
        self.r.answering = [p for p in self.r.answering if (p.file, p.line) not in quiet]
        self._merge_https_twins()
        self._redirect_twins()
        self._edit_hosts()
        self._drop_unused_direct()
        for balancer in self.r.balancers:
            sticky = self._proxypass_sticky.get(balancer.name)
            if sticky:
                balancer.sticky_cookie = sticky.partition("|")[0]

    def _drop_unused_direct(self) -> None:
        """A one-member balancer made for a vhost that is not imported after all (an edit host folded into
        its public site): not created, nor its Zope server unless another balancer uses it."""
        used = {s.balancer for s in self.r.sites} | {s.frontend_balancer for s in self.r.sites}
        unused = {b.name for b in self.r.balancers if b.direct and b.name not in used}
        if not unused:
            return
        self.r.balancers = [b for b in self.r.balancers if b.name not in unused]
        dropped = [m for m in self.r.members if m.balancer in unused]
        self.r.members = [m for m in self.r.members if m.balancer not in unused]
        still = {m.server for m in self.r.members}
        for member in dropped:
            if member.server not in still:
                key = next((k for k, s in self.servers.items() if s.name == member.server), None)
                if key is not None:
                    del self.servers[key]

    def _merge_https_twins(self) -> None:
        """An HTTP VHM vhost and an HTTPS one for the same names and Plone site are one site, served on both."""
        by_domain: dict[str, SiteCandidate] = {}
        kept: list[SiteCandidate] = []
        for site in self.r.sites:
            other = by_domain.get(site.domain.lower())
            if other is not None and {other.tls, site.tls} == {"custom", None} and other.plone_path == site.plone_path:
                https, http = (other, site) if other.tls == "custom" else (site, other)
                if https.balancer == http.balancer:
                    https.vhosts = [*other.vhosts, *site.vhosts]
                    https.https_redirect = False
                    self.r.translated.append(
                        _translated(http, "the HTTP twin of the HTTPS site: HostPanel serves both (no redirect)")
                    )
                    if https is site:
                        kept[kept.index(other)] = site
                        by_domain[site.domain.lower()] = site
                    continue
            by_domain.setdefault(site.domain.lower(), site)
            kept.append(site)
        self.r.sites = kept

    def _redirect_twins(self) -> None:
        sites = {s.domain.lower(): s for s in self.r.sites if s.via == "vhost"}
        for vhost, names, host in self._twins:
            site = sites.get(host)
            if site is not None and site.tls == "custom" and set(names) <= {site.domain, *(a for a, _ in site.aliases)}:
                site.https_redirect = True
                site.vhosts.append((vhost.file, vhost.line))
                self.translated(vhost, f"the redirect to https of site {site.domain}: https_redirect on")
            else:
                self.unrecognised(
                    vhost,
                    f"redirects every request to https://{host}/: HostPanel redirects to https only the names of an "
                    "HTTPS site it serves (no such site imported)",
                )

    def _edit_hosts(self) -> None:
        """A vhost to the same Plone site, restricted to networks: the edit host of the public site."""
        kept = []
        for site in self.r.sites:
            networks = site.options.pop("_restricted_to", None)
            if networks is None:
                kept.append(site)
                continue
            public = next(
                (
                    s
                    for s in self.r.sites
                    if s is not site and s.plone_path == site.plone_path and "_restricted_to" not in s.options
                ),
                None,
            )
            if public is None:
                kept.append(site)
                self.r.problems.append(
                    _problem(
                        site,
                        f"site {site.domain} is restricted to networks {networks} today: HostPanel would "
                        "serve it to everyone (no public site of the same Plone site to hang it on as edit host)",
                    )
                )
                continue
            public.options["edit_host"] = site.domain
            public.edit_networks = list(networks)
            public.vhosts.extend(site.vhosts)
            self.r.translated.append(
                _translated(site, f"edit host of site {public.domain} (staff networks) -> structured option edit_host")
            )
            if site.balancer != public.balancer:
                self.r.problems.append(
                    _problem(
                        site,
                        f"edit host {site.domain} goes to balancer {site.balancer} today, the public site to "
                        f"{public.balancer}: HostPanel sends both to {public.balancer}",
                    )
                )
        self.r.sites = kept


def _prefix_paths(path: str) -> list[str]:
    """A hand-written `^/stats` (no `$`) is a prefix: as pass-through paths, /stats itself and everything
    under /stats/ (only /statsX, a rare name, is left to Zope). A path ending in '/' or naming a file
    (a dot in its last segment, /robots.txt) is kept as it is."""
    if path.endswith("/") or "." in path.rsplit("/", 1)[-1]:
        return [path]
    return [path, f"{path}/"]


def _translated(site: SiteCandidate, as_: str) -> Translated:
    return Translated(site.file, site.line, f"<VirtualHost> {site.domain}", as_)


def _problem(site: SiteCandidate, message: str) -> Problem:
    return Problem("site-restricted", "warning", site.file, site.line, message)


def url_host_port(url: str) -> tuple[str, int] | None:
    parsed = parse_url(url)
    return (parsed.host, parsed.port) if parsed else None
