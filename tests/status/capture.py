"""Capture real balancer-manager XML and HTML from a standalone Apache into tests/fixtures/.

Run: /work/main/.venv/bin/python -m tests.status.capture
bronze: zope1 Ok, zope2 in error (its backend stopped, then requested once), backup hot standby.
silver: zope1 drain, zope2 disabled, backup stopped.
"""

from __future__ import annotations

import tempfile
import urllib.request
from pathlib import Path

from tests.status.rig import Apache, Backend, hand_written_balancer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fetch(url: str, referer: str | None) -> str:
    headers = {"Referer": referer} if referer else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
        return resp.read().decode()


def main() -> None:
    backends = {name: Backend(name).start() for name in ("zope1", "zope2", "backup")}
    with tempfile.TemporaryDirectory() as tmp:
        apache = Apache(Path(tmp) / "apache")
        try:
            apache.site_port = __import__("tests.realparts", fromlist=["free_port"]).free_port()
            body = hand_written_balancer(
                "bronze",
                [
                    ("zope1", backends["zope1"], ""),
                    ("zope2", backends["zope2"], ""),
                    ("", backends["backup"], "status=+H"),
                ],
                apache.site_port,
            )
            body += "\n".join(
                [
                    "<Proxy balancer://silver>",
                    f"    BalancerMember {backends['zope1'].url}/silver route=zope1 status=+N",
                    f"    BalancerMember {backends['zope2'].url}/silver route=zope2 status=+D",
                    f"    BalancerMember {backends['backup'].url}/silver lbset=2 loadfactor=5 status=+S",
                    "    ProxySet lbmethod=bybusyness stickysession=SILVERID nofailover=On maxattempts=3 timeout=30",
                    "</Proxy>",
                    "",
                ]
            )
            apache.write_config(body)
            apache.start()
            for _ in range(4):
                apache.get("/")
            backends["zope2"].stop()
            status, text, _ = apache.get("/", cookie="BALANCEID=balancer.zope2")
            print("request to stopped zope2 ->", status, text)
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
