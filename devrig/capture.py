"""Capture real balancer-manager XML and HTML from a standalone Apache into tests/fixtures/.

Run: .venv/bin/python -m devrig.capture
bronze: zope1 Ok, zope2 in error (its backend stopped, then requested once), backup hot standby.
silver: zope1 drain, zope2 disabled, backup stopped.
"""

from __future__ import annotations

import tempfile
import urllib.parse
from pathlib import Path

from devrig.apache import StandaloneApache
from devrig.backends import Backend
from devrig.net import free_port, http_get

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"  # read by tests/samples.py


def hand_written_balancer(name: str, members: list[tuple[str, Backend, str]], site_port: int) -> str:
    """A single-pass balancer like apache-facts.md §2 (members: route, backend, extra params)."""
    lines = [f"<Proxy balancer://{name}>"]
    for route, backend, extra in members:
        route_part = f" route={route}" if route else ""
        lines.append(f"    BalancerMember {backend.url} lbset=1 loadfactor=1 timeout=5 retry=60{route_part} {extra}")
    lines += [
        "    ProxySet lbmethod=byrequests stickysession=BALANCEID nofailover=Off maxattempts=2 timeout=20",
        "    Require all granted",
        "</Proxy>",
        f"<VirtualHost 127.0.0.1:{site_port}>",
        "    ServerName site.example",
        '    Header add Set-Cookie "BALANCEID=balancer.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED',
        "    RewriteEngine On",
        f"    RewriteRule ^/(.*) balancer://{name}/$1 [L,P]",
        "</VirtualHost>",
    ]
    return "\n".join(lines) + "\n"


SILVER = """<Proxy balancer://silver>
    BalancerMember {zope1}/silver route=zope1 status=+N
    BalancerMember {zope2}/silver route=zope2 status=+D
    BalancerMember {backup}/silver lbset=2 loadfactor=5 status=+S
    ProxySet lbmethod=bybusyness stickysession=SILVERID nofailover=On maxattempts=3 timeout=30
</Proxy>
"""


def fetch(url: str, referer: str | None) -> str:
    parts = urllib.parse.urlsplit(url)
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    return http_get(parts.port, path, headers={"Referer": referer} if referer else {}).body


def main() -> None:
    backends = {name: Backend(name).start() for name in ("zope1", "zope2", "backup")}
    with tempfile.TemporaryDirectory() as tmp:
        site_port = free_port()
        config_dir = Path(tmp) / "tree"
        config_dir.mkdir()
        body = hand_written_balancer(
            "bronze",
            [("zope1", backends["zope1"], ""), ("zope2", backends["zope2"], ""), ("", backends["backup"], "status=+H")],
            site_port,
        )
        body += SILVER.format(**{name: backend.url for name, backend in backends.items()})
        (config_dir / "hostpanel.conf").write_text(body)
        apache = StandaloneApache(Path(tmp) / "apache", config_dir, listen=[f"127.0.0.1:{site_port}"], manager=True)
        try:
            apache.start()
            for _ in range(4):
                http_get(site_port)
            backends["zope2"].stop()
            answer = http_get(site_port, cookie="BALANCEID=balancer.zope2")
            print("request to stopped zope2 ->", answer.status, answer.body)
            url = apache.manager_url
            FIXTURES.mkdir(exist_ok=True)
            (FIXTURES / "balancer-manager-2.4.71.xml").write_text(fetch(url + "?xml=1", url))
            (FIXTURES / "balancer-manager-2.4.71.html").write_text(fetch(url, url))
            (FIXTURES / "balancer-manager-2.4.71-no-referer.html").write_text(fetch(url + "?xml=1", None))
            print("captured into", FIXTURES)
        finally:
            apache.stop()
            for backend in backends.values():
                backend.stop()


if __name__ == "__main__":
    main()
