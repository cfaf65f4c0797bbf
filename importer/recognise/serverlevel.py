"""Server-level directives: what every Apache has (ignored), what HostPanel renders itself (translated)."""

from __future__ import annotations

from importer.recognise.access import is_access_granted_part
from importer.recognise.state import RecogniserState
from importer.recognise.syntax import parse_url
from importer.tokenizer import Directive, Node, Section

# Server-level directives that every Apache has and that do not concern the sites being imported.
SERVER_LEVEL_IGNORED = frozenset(
    {
        "acceptfilter",
        "accessfilename",
        "adddefaultcharset",
        "addhandler",
        "addlanguage",
        "addoutputfilter",
        "addtype",
        "addcharset",
        "transferlog",
        "sslrandomseed",
        "sslpassphrasedialog",
        "sslstaplingcache",
        "alias",
        "browsermatch",
        "customlog",
        "defaultruntimedir",
        "defaulttype",
        "define",
        "directoryindex",
        "documentroot",
        "enablemmap",
        "enablesendfile",
        "errorlog",
        "extendedstatus",
        "fileetag",
        "forcelanguagepriority",
        "group",
        "hostnamelookups",
        "indexoptions",
        "keepalive",
        "keepalivetimeout",
        "languagepriority",
        "limitrequestbody",
        "listen",
        "loadfile",
        "loadmodule",
        "logformat",
        "lockfile",
        "loglevel",
        "maxclients",
        "maxconnectionsperchild",
        "maxkeepaliverequests",
        "maxrequestsperchild",
        "maxrequestworkers",
        "maxspareservers",
        "maxsparethreads",
        "mimemagicfile",
        "minspareservers",
        "minsparethreads",
        "mutex",
        "namevirtualhost",
        "options",
        "pidfile",
        "proxyrequests",
        "proxytimeout",
        "scoreboardfile",
        "serveradmin",
        "serverlimit",
        "servername",
        "serverroot",
        "serversignature",
        "servertokens",
        "setenvif",
        "startservers",
        "threadlimit",
        "threadsperchild",
        "timeout",
        "traceenable",
        "typesconfig",
        "usecanonicalname",
        "user",
    }
)
# Server-level TLS settings: HostPanel renders its own (hostpanel.conf, Mozilla's intermediate profile).
SERVER_LEVEL_TLS = frozenset(
    {"sslprotocol", "sslciphersuite", "sslhonorcipherorder", "sslsessiontickets", "sslsessioncache"}
)
# Server-level directives a vhost can inherit (mod_rewrite with RewriteOptions InheritDown, mod_headers): read
# with the vhosts that inherit HostPanel's HTTPS routing (routing.py), not understood otherwise.
SERVER_LEVEL_INHERITED = frozenset(
    {"rewriteoptions", "rewritemap", "rewritecond", "rewriterule", "header", "requestheader"}
)
STOCK = "server-level"  # one reason for every stock directive: the command and page group them on one line
SERVER_LEVEL_SECTIONS_IGNORED = frozenset({"directory", "directorymatch", "files", "filesmatch"})
TRANSPARENT_SECTIONS = frozenset({"ifmodule"})


class ServerLevelPart(RecogniserState):
    """Directives and sections outside any vhost: vhosts and balancers are collected for the other parts,
    the rest is ignored (normal server-level setup), translated, or listed as not understood."""

    def _server_level(self, nodes: list[Node]) -> None:
        for node in nodes:
            if isinstance(node, Section):
                if node.key in TRANSPARENT_SECTIONS:
                    self.translated(node, "its contents are read as if the condition holds")
                    self._server_level(node.children)
                elif node.key == "virtualhost":
                    self.vhosts.append(node)
                elif node.key == "proxy" and node.args and node.args[0].lower().startswith("balancer://"):
                    self.proxies.append(node)
                elif node.key == "proxy":
                    self._other_proxy(node)
                elif node.key in SERVER_LEVEL_SECTIONS_IGNORED:
                    self.ignored(node, "server-level")
                else:
                    self.unrecognised(node, f"<{node.name}> at server level is not modelled")
                continue
            key = node.key
            if key == "proxyrequests" and node.args and node.args[0].lower() == "on":
                self.problem(
                    "open-proxy",
                    "warning",
                    node,
                    "ProxyRequests On makes this Apache an open forward proxy; HostPanel's config does not turn it on",
                )
            elif key == "proxypreservehost":
                self.translated(node, "ProxyPreserveHost On, set once at server level by HostPanel")
            elif key in SERVER_LEVEL_INHERITED:
                self._inherited.append(node)
            elif key in SERVER_LEVEL_TLS:
                self.translated(node, "TLS settings: HostPanel renders its own for every HTTPS vhost")
            elif key in SERVER_LEVEL_IGNORED:
                if key in ("timeout", "proxytimeout") and node.args and node.args[0].isdigit():
                    self.server_timeout = int(node.args[0])
                self.ignored(node, STOCK)
            else:
                self.unrecognised(node, "server-level directive not modelled by HostPanel")

    def _other_proxy(self, section: Section) -> None:
        directives = [c for c in section.children if isinstance(c, Directive)]
        target = section.args[0] if section.args else ""
        if target == "*" and all(is_access_granted_part(d) for d in directives):
            self.translated(section, "access to proxied URLs: HostPanel grants it per balancer")
        elif (
            parse_url(target)
            and len(section.children) == 1
            and isinstance(section.children[0], Directive)
            and section.children[0].key == "proxyset"
            and [a.lower() for a in section.children[0].args] == ["keepalive=on"]
        ):
            self.translated(section, "keep-alive to a node's Zope server (HostPanel renders it in node-vhosts mode)")
        else:
            self.unrecognised(section, "a <Proxy> that is not a balancer is not modelled")
