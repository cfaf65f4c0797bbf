"""A generator of hand-written, seed-style Apache 2.4 configs with N client sites (for tests and bench/importer.py).

    files = handwritten_tree(300)          # {relative path: bytes}, main file apache2.conf
    text = volto_two_balancer_config(listen=..., zope=[...], node=[...], sites={domain: plone_path})  # Volto
    write_tree(files, tmp_path)            # the same on disk

Written the way an ISP's admin would: node vhosts with E=MYHOST/MYPORT and the CO cookie, one balancer
per tier in conf-enabled/, one sites-enabled/<domain>.conf per site, an alias on every third site.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

ZOPES = [("zope1", "10.0.0.11"), ("zope2", "10.0.0.12"), ("zope3", "10.0.0.13"), ("backup", "10.0.0.19")]
BALANCERS = ["bronze", "silver", "gold"]

MAIN = """\
DefaultRuntimeDir ${APACHE_RUN_DIR}
PidFile ${APACHE_PID_FILE}
Timeout 300
User ${APACHE_RUN_USER}
Group ${APACHE_RUN_GROUP}
ErrorLog ${APACHE_LOG_DIR}/error.log
IncludeOptional mods-enabled/*.load
Listen 80
IncludeOptional conf-enabled/*.conf
IncludeOptional sites-enabled/*.conf
"""


def _node(index: int, name: str, host: str) -> str:
    port = 18081 + index
    return f"""\
Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    ServerName node-{name}
    BalancerInherit Off
    RewriteEngine On
    RewriteRule . - [E=MYHOST:{name}]
    RewriteRule . - [CO=BALANCEID:balancer.%{{ENV:MYHOST}}:.%{{HTTP:X-Forwarded-Server}}:20]
    RewriteRule ^/(.*)$ http://{host}:8080/$1 [L,P]
</VirtualHost>
"""


def _balancer(name: str, tier: int) -> str:
    lines = [f'<Proxy "balancer://{name}">']
    for index, (zope, _) in enumerate(ZOPES):
        if zope == "backup":
            lines.append(
                f"    BalancerMember http://127.0.0.1:{18081 + index} lbset=2 loadfactor=1 timeout=10 retry=60 "
                "status=+H"
            )
        elif (index + tier) % 3 != 2:  # each tier uses two of the three main servers
            lines.append(
                f"    BalancerMember http://127.0.0.1:{18081 + index} lbset=1 loadfactor={1 + tier} timeout=10 "
                f"retry=60 route={zope}"
            )
    lines += [
        "    ProxySet lbmethod=byrequests stickysession=BALANCEID nofailover=Off maxattempts=2 timeout=20",
        "    ErrorDocument 503 /ERROR_503.html",
        "    Require all granted",
        "</Proxy>",
    ]
    return "\n".join(lines) + "\n"


def site_domain(index: int) -> str:
    return f"client{index:04d}.example.com"


def _site(index: int) -> str:
    balancer = BALANCERS[index % len(BALANCERS)]
    vhm = f"balancer://{balancer}/VirtualHostBase/http/%{{SERVER_NAME}}:80/plone/client{index:04d}/VirtualHostRoot/$1"
    vhm = f"balancer://{balancer}/VirtualHostBase/http/%{{SERVER_NAME}}:80/plone/client{index:04d}/VirtualHostRoot/$1"
    alias = f"    ServerAlias www.{site_domain(index)}\n" if index % 3 == 0 else ""
    return f"""\
<VirtualHost *:80>
    ServerName {site_domain(index)}
{alias}    RewriteEngine On
    RewriteCond %{{REQUEST_URI}} !=/ERROR_503.html
    RewriteRule ^/(.*) {vhm} [L,P]
</VirtualHost>
"""


def handwritten_tree(sites: int) -> dict[str, bytes]:
    files = {"apache2.conf": MAIN}
    files["conf-enabled/nodes.conf"] = "\n".join(_node(i, name, host) for i, (name, host) in enumerate(ZOPES))
    files["conf-enabled/balancers.conf"] = "\n".join(_balancer(name, tier) for tier, name in enumerate(BALANCERS))
    for index in range(1, sites + 1):
        files[f"sites-enabled/{site_domain(index)}.conf"] = _site(index)
    return {path: text.encode() for path, text in files.items()}


def write_tree(files: dict[str, bytes], root: Path) -> Path:
    for path, data in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def volto_two_balancer_config(
    *,
    listen: str,
    zope: Sequence[str],
    node: Sequence[str],
    sites: Mapping[str, str],
    scheme: str = "http",
    public_port: int | None = None,
    certificate: tuple[str, str] | None = None,
) -> str:
    """A hand-written Apache config for Volto sites in seamless mode, as Volto's deployment docs write it: two
    balancers (Zope members for the REST API, Node members for the pages) and one vhost per site, `/++api++` to
    Zope with the VirtualHostMonster rewrite, everything else to Node with the Host preserved and
    X-Forwarded-Proto set; a first vhost answers 404 to names it does not know. The API path is sticky (a
    ROUTEID cookie naming the Zope member): instances with separate ZODBs do not accept each other's tokens.

    sites: {domain: Plone path}; zope / node: "host:port" of each member; listen: the vhosts' address
    ("127.0.0.1:PORT"), whose Listen line the main config owns; certificate: (certificate file, key file) for
    HTTPS vhosts (scheme "https"). The text is meant to be Include'd by a main config (devrig.apache's
    hostpanel.conf): the baseline HostPanel's rendered Volto config is compared with."""
    port = public_port or (443 if scheme == "https" else 80)
    zope_members = "\n".join(
        f"    BalancerMember http://{address} route=z{index} retry=5 timeout=60"
        for index, address in enumerate(zope, start=1)
    )
    node_members = "\n".join(f"    BalancerMember http://{address} retry=5 timeout=60" for address in node)
    tls = ""
    if certificate:
        cert, key = certificate
        tls = f'    SSLEngine on\n    SSLCertificateFile "{cert}"\n    SSLCertificateKeyFile "{key}"\n'
    text = f"""\
<Proxy "balancer://volto-zope">
{zope_members}
    ProxySet lbmethod=bybusyness stickysession=ROUTEID
</Proxy>
<Proxy "balancer://volto-node">
{node_members}
    ProxySet lbmethod=bybusyness
</Proxy>
<VirtualHost {listen}>
    ServerName default.invalid
{tls}    Redirect 404 /
</VirtualHost>
"""
    for domain, plone_path in sites.items():
        vhm = f"/VirtualHostBase/{scheme}/{domain}:{port}{plone_path}/++api++/VirtualHostRoot$1"
        text += f"""\
<VirtualHost {listen}>
    ServerName {domain}
{tls}    ProxyPreserveHost On
    RequestHeader set X-Forwarded-Proto "{scheme}"
    Header add Set-Cookie "ROUTEID=.%{{BALANCER_WORKER_ROUTE}}e; path=/; HttpOnly" env=BALANCER_ROUTE_CHANGED
    RewriteEngine On
    RewriteRule ^/\\+\\+api\\+\\+($|/.*) "balancer://volto-zope{vhm}" [P,L]
    RewriteRule ^/(.*)$ "balancer://volto-node/$1" [P,L]
    ProxyPassReverse / balancer://volto-node/
</VirtualHost>
"""
    return text
