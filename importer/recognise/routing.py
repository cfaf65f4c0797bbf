"""HostPanel's own map routing read back: the one HTTP vhost that includes routing-http.conf, the HTTPS vhosts
that inherit routing-https.conf from server level (or, as rendered before, include it), both
rendering/templates/apache/routing.conf.j2, and the sites of the
routes.map file their `RewriteMap hostpanel-routes "dbm=sdbm:.../routes.dbm"` is built from (read from the same
tree by the reader, beside the SDBM).

A routing vhost is recognised by its structure: the `hostpanel-routes` map and the proxy rule
`balancer://%1/VirtualHostBase/<scheme>/%{SERVER_NAME}:<port>%2/VirtualHostRoot/$1` under its map lookup.
Each of its directives is one of the routing snippet's (translated) or listed as not understood. Each
`# site` group of the map becomes a site candidate (domain, the other names as aliases, balancer, Plone
path, suspended, https redirect); the plan validates them through the models as for every other door.
"""

from __future__ import annotations

import re
from dataclasses import replace

from importer.recognise.findings import NODE_VHOSTS, Problem, SiteCandidate
from importer.recognise.routemap import parse_routes_map
from importer.recognise.state import RecogniserState
from importer.recognise.syntax import Rule, names_of, rules_of
from importer.tokenizer import Directive, Section
from rendering.routes import REDIRECT, SUSPENDED, merge_map

MAP_NAME = "hostpanel-routes"
DEFAULT_NAME = "hostpanel-default.invalid"
_HOLES = {
    "MAP": r'[^"\s]+',
    "DIR": r'[^"\s]+',
    "EPATH": r"/\S*?",
    "PATH": r"/\S*",
    "NAME": r"[a-z0-9_-]+",
    "SCHEME": r"https?",
    "PORT": r"[0-9]+",
    "N": r"[0-9]+",
    "SECURE": r"(?:; Secure)?",
    "MARK": r"(?: && -n reqenv\('HP_HTTPS'\))?",  # inherited HTTPS routing: only HostPanel's HTTPS vhosts
    "PROXIED": r"(?:live|\(\?:live\|redirect\))",  # HTTP proxies live sites, HTTPS live and redirect ones
    "STAFF": r"(?:-R '[0-9A-Fa-f.:/]+'(?: \|\| -R '[0-9A-Fa-f.:/]+')*|false)",  # HOSTPANEL_STAFF_NETWORKS
}
_LOOKUP = "RewriteCond ${hostpanel-recent:%{SERVER_NAME}|${hostpanel-routes:%{SERVER_NAME}|-}} "
RECENT_NAME = "hostpanel-recent"


def _shape(template: str) -> re.Pattern[str]:
    """A template of the rendered text with <<HOLE>>s for the values the renderer fills in."""
    parts = re.split(r"<<([A-Z]+)>>", template)
    return re.compile("".join(f"(?P<{p.lower()}>{_HOLES[p]})" if i % 2 else re.escape(p) for i, p in enumerate(parts)))


_PROXY = _shape(
    _LOOKUP + r"^<<PROXIED>>\|([^|]+)\|([^|]+)\|s\|([^|]+)\|([0-9]+)$"
    "\nRewriteRule ^/(.*) balancer://%1/VirtualHostBase/<<SCHEME>>/%{SERVER_NAME}:<<PORT>>%2/VirtualHostRoot/$1 "
    "[L,P,E=HP_COOKIE:%3,E=HP_TTL:%4]"
)
_NODE_PROXY = _shape(
    _LOOKUP + r"^<<PROXIED>>\|([^|]+)\|([^|]+)\|n\|[^|]+\|[0-9]+$"
    "\nRewriteRule ^/(.*) balancer://%1/VirtualHostBase/<<SCHEME>>/%{SERVER_NAME}:<<PORT>>%2/VirtualHostRoot/$1 "
    "[L,P,E=HP_NODE:1]"
)
_MAP = _shape(f'RewriteMap {MAP_NAME} "dbm=sdbm:<<MAP>>"')
_RECENT = _shape(f'RewriteMap {RECENT_NAME} "txt:<<MAP>>"')
_BALANCER_PAGE = _shape(
    _LOOKUP + r"^(?:live|redirect)\|<<NAME>>\|" + '\nRewriteRule ^<<EPATH>>$ "<<DIR>>/errors/503.html" [L]'
)
_RELEASE = _shape(r'RewriteRule ^/\.well-known/hostpanel-release$ "<<DIR>>/public/hostpanel-release.txt" [L]')
_OPTION = "the site options block (sites with options in their map line: imported from the map): "
_SITE_OPTIONS = [
    (
        _LOOKUP + r"^<<PROXIED>>\|([^|]+\|[^|]+\|[sn]\|[^|]+\|[0-9]+)(\|.+)$"
        "\nRewriteRule ^ - [E=HP_ROUTE:%1,E=HP_OPT:%2|]",
        "the options of the name",
    ),
    ('RewriteCond %{ENV:HP_OPT} ^\\|e\\|\nRewriteCond expr "!(<<STAFF>>)"\nRewriteRule ^ - [F]', "edit hosts"),
    (
        'RewriteCond "%{REQUEST_METHOD}#%{ENV:HP_OPT}" "^([A-Z]+)#.*\\|m=(?:[A-Z]+,)*\\1[,|]"\n'
        "RewriteRule ^ - [R=405,L]",
        "blocked methods",
    ),
    (
        "RewriteCond %{ENV:HP_OPT} \\|z=b\\|\nRewriteRule ^/(?:.*/)?manage(?:_[^/]*)?(?:/|$) - [F]",
        "management interface blocked",
    ),
    (
        'RewriteCond %{ENV:HP_OPT} \\|z=s\\|\nRewriteCond expr "!(<<STAFF>>)"\n'
        "RewriteRule ^/(?:.*/)?manage(?:_[^/]*)?(?:/|$) - [F]",
        "management interface for the staff networks",
    ),
    (
        "RewriteCond %{QUERY_STRING} :|%3a [NC]\nRewriteCond %{ENV:HP_OPT} \\|z=b\\|\n"
        'RewriteCond expr "unescape(%{QUERY_STRING}) =~ /:(?:default_)?(?:method|action)/ && '
        'unescape(%{QUERY_STRING}) =~ /manage/"\nRewriteRule ^ - [F]',
        "management interface blocked (query string)",
    ),
    (
        "RewriteCond %{QUERY_STRING} :|%3a [NC]\nRewriteCond %{ENV:HP_OPT} \\|z=s\\|\n"
        'RewriteCond expr "!(<<STAFF>>)"\n'
        'RewriteCond expr "unescape(%{QUERY_STRING}) =~ /:(?:default_)?(?:method|action)/ && '
        'unescape(%{QUERY_STRING}) =~ /manage/"\nRewriteRule ^ - [F]',
        "management interface for the staff networks (query string)",
    ),
    (
        'RewriteCond "%{REQUEST_URI}#%{ENV:HP_OPT}" "^(/(?:[^#]*/)?)[^#]*#.*\\|p=(?:[^|,]*,)*\\1[,|]" [OR]\n'
        'RewriteCond "%{REQUEST_URI}#%{ENV:HP_OPT}" "^([^#]+)#.*\\|p=(?:[^|,]*,)*\\1[,|]"\nRewriteRule ^ - [L]',
        "pass-through paths",
    ),
    # Volto and frontend-only sites (the map value's |v=, |f= and |c=; rendering/routes.py)
    (
        "RewriteCond %{ENV:HP_OPT} \\|v=\n"
        "RewriteCond %{ENV:HP_ROUTE} ^([^|]+)\\|([^|]+)\\|s\\|([^|]+)\\|([0-9]+)$\n"
        "RewriteRule ^/\\+\\+api\\+\\+($|/.*) balancer://%1/VirtualHostBase/<<SCHEME>>/%{SERVER_NAME}:<<PORT>>%2"
        "/++api++/VirtualHostRoot$1 [L,P,E=HP_COOKIE:%3,E=HP_TTL:%4]",
        "a Volto site's API (/++api++) to its Zope balancer, single-pass",
    ),
    (
        "RewriteCond %{ENV:HP_OPT} \\|v=\n"
        "RewriteCond %{ENV:HP_ROUTE} ^([^|]+)\\|([^|]+)\\|n\\|\n"
        "RewriteRule ^/\\+\\+api\\+\\+($|/.*) balancer://%1/VirtualHostBase/<<SCHEME>>/%{SERVER_NAME}:<<PORT>>%2"
        "/++api++/VirtualHostRoot$1 [L,P,E=HP_NODE:1]",
        "a Volto site's API (/++api++) to its Zope balancer, node-vhosts",
    ),
    (
        'RewriteCond "$1#%{ENV:HP_OPT}" "^([^#]+)#.*\\|c=\\1\\|$"\nRewriteCond expr "!(<<STAFF>>)"\n'
        "RewriteRule ^/([^/]+)(?:/|$) - [F]",
        "a Volto site's Classic UI path: staff networks only",
    ),
    (
        'RewriteCond "$1#%{ENV:HP_OPT}" "^([^#]+)#.*\\|c=\\1\\|$"\n'
        "RewriteCond %{ENV:HP_ROUTE} ^([^|]+)\\|([^|]+)\\|s\\|([^|]+)\\|([0-9]+)$\n"
        "RewriteRule ^/([^/]+)($|/.*) balancer://%1/VirtualHostBase/<<SCHEME>>/%{SERVER_NAME}:<<PORT>>%2"
        "/VirtualHostRoot/_vh_$1$2 [L,P,E=HP_COOKIE:%3,E=HP_TTL:%4]",
        "a Volto site's Classic UI path to its Zope balancer, single-pass",
    ),
    (
        'RewriteCond "$1#%{ENV:HP_OPT}" "^([^#]+)#.*\\|c=\\1\\|$"\n'
        "RewriteCond %{ENV:HP_ROUTE} ^([^|]+)\\|([^|]+)\\|n\\|\n"
        "RewriteRule ^/([^/]+)($|/.*) balancer://%1/VirtualHostBase/<<SCHEME>>/%{SERVER_NAME}:<<PORT>>%2"
        "/VirtualHostRoot/_vh_$1$2 [L,P,E=HP_NODE:1]",
        "a Volto site's Classic UI path to its Zope balancer, node-vhosts",
    ),
    (
        "RewriteCond %{ENV:HP_OPT} \\|[vf]=([a-z0-9_-]+)\\|\n"
        "RewriteRule ^/(static/.*|(?:.*/)?[^/]+\\.[0-9a-f]{8,}\\.(?:chunk\\.)?"
        "(?:js|css|map|woff2?|ttf|eot|svg|png|jpe?g|gif|webp|avif|ico))$ balancer://%1/$1 [L,P,E=HP_STATIC:1]",
        "a Volto or frontend-only site's static assets to its frontend balancer (cached for a year)",
    ),
    (
        "RewriteCond %{ENV:HP_OPT} \\|[vf]=([a-z0-9_-]+)\\|\nRewriteRule ^/(.*) balancer://%1/$1 [L,P]",
        "a Volto or frontend-only site's pages to its frontend balancer",
    ),
    (
        "RewriteCond %{ENV:HP_ROUTE} ^([^|]+)\\|([^|]+)\\|s\\|([^|]+)\\|([0-9]+)$\n"
        "RewriteRule ^/(.*) balancer://%1/VirtualHostBase/<<SCHEME>>/%{SERVER_NAME}:<<PORT>>%2/VirtualHostRoot/$1 "
        "[L,P,E=HP_COOKIE:%3,E=HP_TTL:%4]",
        "single-pass proxy",
    ),
    (
        "RewriteCond %{ENV:HP_ROUTE} ^([^|]+)\\|([^|]+)\\|n\\|\n"
        "RewriteRule ^/(.*) balancer://%1/VirtualHostBase/<<SCHEME>>/%{SERVER_NAME}:<<PORT>>%2/VirtualHostRoot/$1 "
        "[L,P,E=HP_NODE:1]",
        "node-vhosts proxy",
    ),
]
_RULES = [
    *((_shape(text), _OPTION + what) for text, what in _SITE_OPTIONS),
    (_shape(r"RewriteRule ^/\.well-known/acme-challenge/ - [L]"), "ACME challenges pass to the server-level Alias"),
    (
        _RELEASE,
        "the release file every deployment's verify step asks for (HostPanel renders its own)",
    ),
    (
        _shape(
            'RewriteCond %{ENV:REDIRECT_HP_SUSPENDED} =1\nRewriteRule ^<<EPATH>>$ "<<DIR>>/errors/suspended.html" [L]'
        ),
        "the suspended page (HostPanel's errors/suspended.html)",
    ),
    (
        _shape('RewriteCond %{ENV:REDIRECT_STATUS} =503\nRewriteRule ^<<EPATH>>$ "<<DIR>>/errors/503.html" [L]'),
        "the 503 page (HostPanel's errors/503.html)",
    ),
    (_PROXY, "a live single-pass site proxied to the balancer its map line names (routes imported from the map)"),
    (
        _shape(
            _LOOKUP + r"^<<PROXIED>>\|([^|]+)\|([^|]+)\|s\|([^|]+)\|([0-9]+)\|v=[a-z0-9_-]+$"
            "\nRewriteRule ^/\\+\\+api\\+\\+($|/.*) balancer://%1/VirtualHostBase/<<SCHEME>>/%{SERVER_NAME}:<<PORT>>%2"
            "/++api++/VirtualHostRoot$1 [L,P,E=HP_COOKIE:%3,E=HP_TTL:%4]"
        ),
        "a live Volto site's API (/++api++) proxied to its Zope balancer, single-pass",
    ),
    (
        _shape(
            _LOOKUP + r"^<<PROXIED>>\|([^|]+)\|([^|]+)\|n\|[^|]+\|[0-9]+\|v=[a-z0-9_-]+$"
            "\nRewriteRule ^/\\+\\+api\\+\\+($|/.*) balancer://%1/VirtualHostBase/<<SCHEME>>/%{SERVER_NAME}:<<PORT>>%2"
            "/++api++/VirtualHostRoot$1 [L,P,E=HP_NODE:1]"
        ),
        "a live Volto site's API (/++api++) proxied to its Zope balancer, node-vhosts",
    ),
    (
        _shape(
            _LOOKUP + r"^<<PROXIED>>\|[^|]+\|[^|]+\|[sn]\|[^|]+\|[0-9]+\|[vf]=([a-z0-9_-]+)$"
            "\nRewriteRule ^/(static/.*|(?:.*/)?[^/]+\\.[0-9a-f]{8,}\\.(?:chunk\\.)?"
            "(?:js|css|map|woff2?|ttf|eot|svg|png|jpe?g|gif|webp|avif|ico))$ balancer://%1/$1 [L,P,E=HP_STATIC:1]"
        ),
        "a live Volto or frontend-only site's static assets proxied to its frontend balancer (cached for a year)",
    ),
    (
        _shape(
            _LOOKUP + r"^<<PROXIED>>\|[^|]+\|[^|]+\|[sn]\|[^|]+\|[0-9]+\|[vf]=([a-z0-9_-]+)$"
            "\nRewriteRule ^/(.*) balancer://%1/$1 [L,P]"
        ),
        "a live Volto or frontend-only site's pages proxied to its frontend balancer",
    ),
    (_NODE_PROXY, "a live node-vhosts site proxied to the balancer its map line names"),
    (_shape("RewriteRule ^ - [R=404,L]"), "404 for a name no site claims"),
    (_shape("RewriteRule ^ - [R=404,L,E=HP_UNKNOWN:1]"), "404 for a name no site claims (counted for no site)"),
    (_shape("RewriteRule ^ - [E=HP_USAGE:1]"), "traffic metering: marks the requests the usage log counts"),
    (_shape("RewriteRule ^ - [E=HP_HTTPS:1]"), "marks HostPanel's HTTPS vhost, which runs the inherited routing"),
    (
        _shape("RewriteCond %{ENV:HP_HTTPS} !=1\nRewriteRule ^ - [L]"),
        "the inherited routing leaves any vhost that is not HostPanel's HTTPS vhost untouched",
    ),
    (_shape(_LOOKUP + r"^suspended\|" + "\nRewriteRule ^ - [R=503,L,E=HP_SUSPENDED:1]"), "503 for a suspended site"),
    (
        _shape(_LOOKUP + r"^redirect\|" + "\nRewriteRule ^/(.*) https://%{SERVER_NAME}/$1 [R=301,L]"),
        "HTTP to HTTPS redirect of a site whose state is redirect (its https_redirect setting)",
    ),
]
_DIRECTIVES = [
    (_shape("RewriteEngine On"), "rendered by HostPanel in its routing"),
    (_MAP, "HostPanel's routing map (an SDBM of the routes.map beside it): its sites are imported from it"),
    (_RECENT, "HostPanel's routing overlay (the changes since routes.map): imported with it"),
    (_shape('RequestHeader set X-Forwarded-Proto "<<SCHEME>>"'), "X-Forwarded-Proto: HostPanel sets it"),
    (
        _shape('RequestHeader set X-Forwarded-Proto "<<SCHEME>>" "expr=-n reqenv(\'HP_HTTPS\')"'),
        "X-Forwarded-Proto: HostPanel sets it",
    ),
    (_shape("RewriteOptions InheritDown"), "HostPanel's HTTPS routing, defined once and inherited by its vhosts"),
    (_shape("ErrorDocument 503 <<PATH>>"), "the 503 page (HostPanel renders its own)"),
    (
        _shape('Header always set Retry-After "<<N>>" env=REDIRECT_HP_SUSPENDED'),
        "Retry-After on a suspended site's 503",
    ),
    (
        _shape(
            'Header add Set-Cookie "%{HP_COOKIE}e=balancer.%{BALANCER_WORKER_ROUTE}e; path=/; Max-Age=%{HP_TTL}e; '
            "HttpOnly<<SECURE>>\" \"expr=-n reqenv('HP_COOKIE') && -n reqenv('BALANCER_ROUTE_CHANGED')<<MARK>>\""
        ),
        "single-pass sticky cookie (name and lifetime from the map, checked against the balancer)",
    ),
    (
        _shape(
            'Header set Cache-Control "public, max-age=31536000, immutable" '
            "\"expr=-n reqenv('HP_STATIC') && %{REQUEST_STATUS} -eq 200\""
        ),
        "year-long caching of a Volto frontend's static assets",
    ),
    (
        _shape(
            r'Header edit Set-Cookie "^([A-Za-z0-9_-]+=balancer\.[A-Za-z0-9_-]+;.*)$" "$1; Secure; HttpOnly" '
            "env=HP_NODE"
        ),
        "node-vhosts sticky cookie made Secure on HTTPS",
    ),
    (
        _shape(
            r'Header edit Set-Cookie "^([A-Za-z0-9_-]+=balancer\.[A-Za-z0-9_-]+;.*)$" "$1; Secure; HttpOnly" '
            "\"expr=-n reqenv('HP_NODE') && -n reqenv('HP_HTTPS')\""
        ),
        "node-vhosts sticky cookie made Secure on HTTPS",
    ),
]
_TLS = [
    (_shape("SSLEngine on"), "TLS: the site's certificate is not imported"),
    (_shape('SSLCertificateFile "<<PATH>>"'), "the site's certificate: not imported"),
    (_shape('SSLCertificateKeyFile "<<PATH>>"'), "the site's private key: not imported"),
    (_shape('Header always set Strict-Transport-Security "max-age=<<N>>"'), "HSTS: comes back with a certificate"),
]


def _text(node: Directive) -> str:
    return " ".join(node.text.split())


def _rule_text(rule: Rule) -> str:
    return "\n".join([*(_text(c) for c in rule.conds), _text(rule.directive)])


def _map_options(route, edit_host: str) -> dict[str, object]:
    """The site options of a map route (only those set), as the structured site options the plan validates."""
    options: dict[str, object] = {}
    if route.manage_access != "public":
        options["manage_access"] = route.manage_access
    if route.blocked_methods:
        options["blocked_methods"] = list(route.blocked_methods)
    if route.passthrough_paths:
        options["passthrough_paths"] = list(route.passthrough_paths)
    if edit_host:
        options["edit_host"] = edit_host
    return options


class RoutingPart(RecogniserState):
    """The routing vhosts (HTTP and HTTPS), HostPanel's default HTTPS vhost, and the sites of routes.map."""

    def _routing(self, vhost: Section) -> bool:
        """Book a routing vhost's directives and remember its map; False for any other vhost."""
        inherited = self._inherits(vhost)
        rules, seen = rules_of(vhost if not inherited else replace(vhost, children=[*vhost.children, *inherited]))
        maps = [m for d in seen if d.key == "rewritemap" and (m := _MAP.fullmatch(_text(d)))]
        proxy = next((m for r in rules if (m := _PROXY.fullmatch(_rule_text(r)))), None)
        if not maps or proxy is None:
            return False
        booked = self._inherited_booked
        rules = [r for r in rules if id(r.directive) not in booked]  # the server-level ones once, not per vhost
        others = [d for d in seen if id(d) not in booked]
        booked.update(id(d) for d in inherited)
        https = proxy["scheme"] == "https"
        for child in vhost.children:
            if isinstance(child, Section):
                protocols = [_text(c) for c in child.children if isinstance(c, Directive)]
                if https and child.key == "ifmodule" and protocols == ["Protocols h2 http/1.1"]:
                    self.translated(child, "HTTP/2 where mod_http2 is loaded (HostPanel renders it)")
                else:
                    self.unrecognised(child, "not part of HostPanel's routing vhost")
        for d in others:
            if d.key not in ("servername", "serveralias"):
                table = [*_DIRECTIVES, *_TLS] if https else _DIRECTIVES
                self._book(d, table, "not part of HostPanel's routing (routing-*.conf)")
        for rule in rules:
            self._routing_rule(rule, proxy)
        written = maps[0]["map"]
        directive = next(d for d in seen if d.key == "rewritemap" and _MAP.fullmatch(_text(d)))
        recent = next((m["map"] for d in seen if d.key == "rewritemap" and (m := _RECENT.fullmatch(_text(d)))), "")
        self._routing_maps.setdefault(written, (directive, recent))
        if https:
            server_name, aliases = names_of(vhost)
            names = [a.lower() for d in ([server_name] if server_name else []) + aliases for a in d.args]
            self._https_vhosts.append((vhost, names))
        else:
            self.translated(vhost, f"HostPanel's HTTP vhost: every site is routed through {written}")
        return True

    def _inherits(self, vhost: Section) -> list[Directive]:
        """The server-level directives this vhost runs as its own (Apache appends inherited rules after the
        vhost's): those of HostPanel's HTTPS routing, for a vhost that turns the engine on and sets the mark
        the routing's first rule asks for, without a routing map of its own. [] for any other vhost."""
        if not self._inherited or not any(_text(d) == "RewriteOptions InheritDown" for d in self._inherited):
            return []
        texts = [_text(c) for c in vhost.children if isinstance(c, Directive)]
        own_map = any(c.key == "rewritemap" for c in vhost.children if isinstance(c, Directive))
        if own_map or "RewriteEngine On" not in texts or "RewriteRule ^ - [E=HP_HTTPS:1]" not in texts:
            return []
        return self._inherited

    def _inherited_leftovers(self) -> None:
        """Server-level rewrite and header directives no HostPanel vhost inherited: not understood."""
        for d in self._inherited:
            if id(d) not in self._inherited_booked:
                self.unrecognised(d, "server-level directive not modelled by HostPanel")

    def _book(self, d: Directive, table: list[tuple[re.Pattern[str], str]], why: str) -> None:
        text = _text(d)
        found = next((as_ for shape, as_ in table if shape.fullmatch(text)), None)
        if found is None:
            self.unrecognised(d, why)
        else:
            self.translated(d, found)

    def _routing_rule(self, rule: Rule, proxy: re.Match[str]) -> None:
        text = _rule_text(rule)
        page = _BALANCER_PAGE.fullmatch(text)
        if page:  # translated by _finish_balancers, as a site's ErrorDocument is
            self._site_error_documents[page["name"]].append((page["epath"].replace("\\.", "."), rule.directive))
            for cond in rule.conds:
                self.translated(cond, f"the 503 page of balancer {page['name']}")
            return
        if _PROXY.fullmatch(text):
            found = (
                f"the VirtualHostMonster proxy rule ({proxy['scheme']} port {proxy['port']}); each site's "
                "balancer and Plone path are imported from the map"
            )
        else:
            found = next((as_ for shape, as_ in _RULES if shape.fullmatch(text)), None)
        for node in [*rule.conds, rule.directive]:
            if found is None:
                self.unrecognised(node, "not part of HostPanel's routing (routing-*.conf)")
            else:
                self.translated(node, found)

    def _https_default(self, vhost: Section) -> bool:
        """HostPanel's first vhost on the HTTPS address: a 404 for a client naming no site."""
        children = [c for c in vhost.children if isinstance(c, Directive)]
        texts = sorted(
            _text(c)
            for c in children
            if c.key not in ("sslcertificatefile", "sslcertificatekeyfile") and not _RELEASE.fullmatch(_text(c))
        )
        keys = sorted(c.key for c in children)
        plain = sorted([f"ServerName {DEFAULT_NAME}", "SSLEngine on", "Redirect 404 /"])
        if len(children) != len(vhost.children) or texts not in (plain, sorted([*plain, "RewriteEngine On"])):
            return False
        if keys.count("sslcertificatefile") != 1 or keys.count("sslcertificatekeyfile") != 1:
            return False
        self.translated(vhost, "HostPanel's default HTTPS vhost (404 for a name no site claims): rendered by HostPanel")
        return True

    # --- the map's sites ----------------------------------------------------------------------------

    def _map_sites(self) -> None:
        for written, (directive, recent) in self._routing_maps.items():
            found = self.tree.maps.get(written)
            overlay = self.tree.maps.get(recent) if recent else None
            for path, read in ((written, found), (recent, overlay) if recent else (None, None)):
                if path is not None and (read is None or read.text is None):
                    why = read.error if read is not None else "not read"
                    self.problem(
                        "routes-map",
                        "error",
                        directive,
                        f"HostPanel's routing map {path} cannot be read ({why}): every site of this config is "
                        "listed in it, so none can be imported",
                    )
                    break
            else:
                assert found is not None and found.text is not None
                text, file = found.text, found.path or written
                if overlay is not None and overlay.text is not None:  # the whole map: base + overlay
                    text = merge_map(found.text, overlay.text)
                    if text is not found.text:  # line numbers are the merged map's
                        file = f"{file} with {overlay.path or recent}"
                self._map_groups(file, text, directive)

    def _map_groups(self, file: str, text: str, directive: Directive) -> None:
        parsed = parse_routes_map(text)
        for entry in parsed.stray:
            self.r.problems.append(
                Problem(
                    "map-stray",
                    "warning",
                    file,
                    entry.line,
                    f"{entry.name[:80]}: a route outside any `# site` group "
                    "of the map: no site claims it, not imported",
                )
            )
        for line, why in parsed.stray_errors:
            self.r.problems.append(Problem("map-line", "warning", file, line, f"not a route ({why}): not imported"))
        for group in parsed.groups:
            label = f"site {group.domain[:80]!r}"
            if group.errors:
                for line, why in group.errors:
                    self.r.problems.append(Problem("map-line", "error", file, line, f"{label}: {why}"))
                continue
            domain_line = next((e for e in group.lines if e.name == group.domain), None)
            if group.route is None or domain_line is None:
                names = " ".join(e.name[:80] for e in group.lines[:5]) or "no name at all"
                self.r.problems.append(
                    Problem("map-group", "error", file, group.line, f"{label}: no map line for its domain ({names})")
                )
                continue
            route = group.route
            site = SiteCandidate(
                domain=group.domain,
                balancer=route.balancer,
                plone_path=route.plone_path,
                file=file,
                line=group.line,
                domain_line=domain_line.line,
                rule_line=domain_line.line,
                aliases=[(e.name, e.line) for e in group.lines if e is not domain_line],
                via="map",
                suspended=route.state == SUSPENDED,
                https_redirect=True if route.state == REDIRECT else None,
                kind=route.kind,
                frontend_balancer=route.frontend_balancer,
                classic_ui_path=route.classic_ui_path,
            )
            self.r.sites.append(site)
            self._map_routes.append((site, route))
            site.options = _map_options(route, group.edit_host.name if group.edit_host else "")
            if route.mode == "s":
                self._site_cookies[route.balancer].append((route.cookie, route.ttl, directive))

    def _check_routes(self) -> None:
        """Each map route agrees with its balancer (mode, cookie, lifetime); each HTTPS vhost names a map site."""
        kept = {id(s) for s in self.r.sites}
        balancers = {b.name: b for b in self.r.balancers}
        for site, route in self._map_routes:
            balancer = balancers.get(route.balancer)
            if balancer is None or id(site) not in kept:
                continue  # an unknown balancer is the plan's error; a shadowed site is not imported
            mode = "n" if balancer.render_mode == NODE_VHOSTS else "s"
            differ = []
            if route.mode != mode:
                differ.append(f"mode {route.mode} (balancer {balancer.name} is {balancer.render_mode})")
            if route.cookie != balancer.sticky_cookie:
                differ.append(f"cookie {route.cookie} (the balancer reads {balancer.sticky_cookie})")
            if route.ttl != balancer.cookie_ttl:
                differ.append(f"cookie lifetime {route.ttl} s (imported: {balancer.cookie_ttl} s)")
            if differ:
                self.r.problems.append(
                    Problem(
                        "map-route",
                        "warning",
                        site.file,
                        site.domain_line,
                        f"site {site.domain}: its map route disagrees with balancer {balancer.name}: "
                        f"{'; '.join(differ)}; HostPanel renders the balancer's settings for every site",
                    )
                )
        sites = {s.domain.lower(): s for s in self.r.sites if s.via == "map"}
        for vhost, names in self._https_vhosts:
            domain = names[0] if names else "(no ServerName)"
            if domain in sites:
                self.translated(vhost, f"HTTPS vhost of site {domain} (routed through the map)")
                self.problem(
                    "certificate-not-imported",
                    "warning",
                    vhost,
                    f"site {domain}: its certificate is not imported: HostPanel serves it over plain HTTP (no "
                    "redirect, no HSTS) until it has one (ACME or an upload)",
                )
            else:
                self.problem(
                    "https-without-route",
                    "warning",
                    vhost,
                    f"HTTPS vhost {domain}: no site of the routing map has this domain (a 404 today): not imported",
                )
