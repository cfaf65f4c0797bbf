"""The one fleet builder: real front-ends (standalone Apaches with a balancer-manager, reached over a real sshd
or the local transport) in front of fake Zope backends (devrig.backends), with balancer bronze and sites,
through the panel's own services. The tests' `farm` (SSH) and `fleet` (local) fixtures, bench/deploy.py and
bench/https.py all build theirs here.

    fleet = build_fleet(base, apache_factory, backend_factory, frontends=2, client_key=key)   # SSH; None: local
    fleet.fe1.sshd, fleet.fe1.apache, fleet.fe1.live_files(), fleet.fe1.backend_for("linux.co.uk")
    fleet.deploy()                                   # the real runner: render, push, configtest, graceful
    fleet.get("fe1", "linux.co.uk", cookie="BALANCEID=balancer.zope1")  # -> (status, backend, headers, body)
    fleet.enable_restarts(sshd)                      # ZopeServerOps with a restart command for every server
    fleet.restarts["zope1"]                          # how many times the Zope host restarted zope1
    build_fleet(..., edge=True)                      # every front-end behind an nginx TLS edge (host.nginx)
    build_fleet(..., volto_sites=["volto.example"], node_factory=make)  # + the Node.js pool `volto` (node1,
                                                     #   node2) and those Volto sites; fleet.frontend_balancer
    fleet.stop()                                     # restart watchers, every sshd and nginx, the SSH pool

Each host's Apache includes its config_dir/hostpanel.conf and listens on an HTTP and an HTTPS port (mod_ssl
loaded, FrontEnd.https_listen); its configtest/reload commands are the test Apache's own `apache2 -t -f <conf>`
and `apache2 -k graceful -f <conf>` (run through SSH on loopback when the host has an sshd). An SSH fleet needs
the panel's key (`make_client_key`) in settings.HOSTPANEL_SSH_KEY.

With edge=True (FrontEnd.tls_edge = "nginx") a host's Apache listens on the HTTP port only (the tree's edge.conf
adds its loopback listener, FrontEnd.edge_backend_listen) and a standalone nginx (devrig.nginx, `host.nginx`)
terminates TLS on the HTTPS port once the first deployment wrote edge/nginx.conf; the edge commands are that
nginx's own `-t` and `-s reload`. `host.edge_reloads()` counts its reloads; Fleet.stop stops it.

The restart command (a small script) touches `<dir>/<route>.requested` and waits for `<dir>/<route>.done`; a
watcher thread sees the request, stops the backend, waits `down_seconds`, starts it again and writes the done
file, so the command returns once the server is back (as `bin/instance restart` or systemctl restart does).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from balancers import services as balancer_services
from balancers.choices import DeploymentStatus
from balancers.models import Balancer, FrontEnd
from balancers.services import deployment_start
from certificates.choices import CertificateSource, CertificateStatus
from certificates.crypto import encrypt_secret
from certificates.models import Certificate
from deploy.runner import deployment_execute
from deploy.transport.pool import POOL
from devrig import pki
from devrig.apache import StandaloneApache
from devrig.backends import Backend
from devrig.net import free_port_block, free_ports, http_get
from devrig.nginx import StandaloneNginx
from devrig.sshd import SshServer, generate_key
from hostpanel.audit import Actor
from operations.services import zope_server_ops_update
from rendering import cache
from rendering.routes import DERIVED_FILES
from sites import services as site_services
from sites.models import Site, SiteAlias

ACTOR = Actor(name="rig", source="command")  # who the rig (and a benchmark) is in the audit log


@dataclass
class Host:
    name: str
    apache: StandaloneApache
    config_dir: Path
    http_port: int
    https_port: int
    sshd: SshServer | None = None
    nginx: StandaloneNginx | None = None  # the TLS edge on https_port (edge=True)

    @property
    def frontend(self) -> FrontEnd:
        return FrontEnd.objects.get(name=self.name)

    def live_target(self) -> str:
        return os.readlink(self.config_dir)

    def live_files(self) -> dict[str, str]:
        root = self.config_dir.resolve()
        return {
            str(p.relative_to(root)): p.read_text()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in DERIVED_FILES
        }

    def reloads(self) -> int:
        """How many times Apache started a new generation (start + every graceful)."""
        return self.apache.generations()

    def edge_reloads(self) -> int:
        """How many reloads the nginx edge took (0 without an edge)."""
        return self.nginx.reloads() if self.nginx else 0

    def stop_edge(self) -> None:
        if self.nginx:
            self.nginx.stop()

    def get(self, domain: str, path: str = "/") -> tuple[int, dict, str]:
        answer = http_get(self.http_port, path, host=domain)
        return answer.status, answer.headers, answer.body

    def backend_for(self, domain: str, *, timeout: float = 5.0) -> dict | None:
        """The backend's JSON answer for a request to domain through this Apache, waiting (bounded)
        for a graceful reload to take effect; None if the site never reaches a backend."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, headers, body = self.get(domain)
            except OSError:  # a restarting Apache may refuse or reset for a moment
                status, headers, body = 0, {}, ""
            if status == 200 and "X-Backend" in headers:
                return json.loads(body)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


def make_client_key(base: Path) -> Path:
    """The panel's SSH key (made once under base): what every host's sshd accepts."""
    base.mkdir(parents=True, exist_ok=True)
    key = base / "panel_key"
    if not key.exists():
        generate_key(key, "hostpanel-panel")
    return key


def make_host(base: Path, name: str, apache_factory, *, client_key: Path | None = None, edge: bool = False) -> Host:
    """Front-end `name` under base: its Apache started and its FrontEnd row created; reached over its own
    sshd (accepting client_key) when client_key is given, over the local transport otherwise. edge: HTTPS
    terminated by an nginx (devrig.nginx, started here under base/nginx; stop it with host.stop_edge())."""
    sshd = SshServer(base / "sshd", client_key=client_key) if client_key else None
    config_dir = base / "etc" / "hostpanel"
    nginx = None
    edge_fields: dict[str, str] = {}
    if edge:
        # the ports of both daemons chosen at once (free_ports holds each until all are picked): Apache's
        # manager port too, so that it cannot be the edge's or its backend's port
        http_port, https_port, backend_port, manager_port = free_ports(4)
        apache = apache_factory(config_dir, listen=[f"127.0.0.1:{http_port}"], manager_port=manager_port)
        nginx = StandaloneNginx(base / "nginx", config_dir, f"127.0.0.1:{https_port}").write_config()
        edge_fields = {
            "tls_edge": "nginx",
            "edge_backend_listen": f"127.0.0.1:{backend_port}",
            "edge_configtest_command": nginx.configtest_command,
            "edge_reload_command": nginx.reload_command,
        }
    else:
        http_port, https_port = free_ports(2)
        apache = apache_factory(
            config_dir, listen=[f"127.0.0.1:{http_port}", f"127.0.0.1:{https_port} https"], manager=True
        )
    # the admin's one-time setup (README "Roles and power"): a release of their own that Apache can start
    # with, config_dir a symlink to it (a plain directory of files HostPanel did not write is refused)
    initial = Path(f"{config_dir}.releases") / "initial"
    initial.mkdir(parents=True)
    (initial / "hostpanel.conf").write_text("# nothing deployed yet\n")
    config_dir.symlink_to(initial)
    try:
        if sshd:
            sshd.start()
        apache.start()
        if nginx:
            nginx.start()
        if sshd:
            login = {
                "transport": "ssh",
                "ssh_port": sshd.port,
                "ssh_user": sshd.user,
                "ssh_host_key": sshd.host_key,
            }
        else:
            login = {"transport": "local"}
        balancer_services.frontend_create(
            actor=ACTOR,
            name=name,
            address="127.0.0.1",
            **login,
            config_dir=str(config_dir),
            configtest_command=f"{apache.binary} -t -f {apache.conf}",
            reload_command=f"{apache.binary} -k graceful -f {apache.conf}",
            balancer_manager_url=apache.manager_url,
            http_listen=f"127.0.0.1:{http_port}",
            https_listen=f"127.0.0.1:{https_port}",
            # node vhosts listen on node_port_base + index of each Zope server: a block that is free NOW (this
            # Apache holds its own ports already), not one port whose neighbours may be this host's https port
            node_port_base=free_port_block(8),
            **edge_fields,
        )
    except BaseException:  # the Apache is its factory's to stop; what was started here goes now
        if nginx:
            nginx.stop()
        if sshd:
            sshd.stop()
        raise
    return Host(name, apache, config_dir, http_port, https_port, sshd, nginx)


def make_balancer(backends: Iterable[Backend], *, retry: int = 0, name: str = "bronze") -> Balancer:
    """A Zope server per backend (on its port; the backend's `zope_server`) and a balancer over them all."""
    backends = list(backends)
    balancer = balancer_services.balancer_create(actor=ACTOR, name=name)
    for backend in backends:
        server = balancer_services.zope_server_create(
            actor=ACTOR, name=backend.name, host="127.0.0.1", port=backend.port
        )
        balancer_services.member_create(actor=ACTOR, balancer=balancer, zope_server=server, retry=retry)
        backend.zope_server = server
    return balancer


def make_frontend_pool(nodes: Iterable[Backend], *, name: str = "front", retry: int = 0, **server) -> Balancer:
    """A Node.js frontend server per node stand-in (devrig.node; on its port, health check /ok by default) and a
    Node.js balancer over them; `server`: more ZopeServer fields (health_interval, health_fails...)."""
    balancer = balancer_services.balancer_create(actor=ACTOR, name=name, kind="node")
    for node in nodes:
        created = balancer_services.zope_server_create(
            actor=ACTOR, name=node.name, kind="node", host="127.0.0.1", port=node.port, **server
        )
        balancer_services.member_create(actor=ACTOR, balancer=balancer, zope_server=created, retry=retry)
        node.zope_server = created
    return balancer


def add_volto_site(domain: str, balancer: Balancer, frontend: Balancer, plone_path: str | None = None, **fields):
    """A Volto site: /++api++ to `balancer` (Zope), every other path to `frontend` (Node.js)."""
    return site_services.site_create(
        actor=ACTOR,
        domain=domain,
        balancer=balancer,
        plone_path=plone_path or f"/plone/{domain.split('.')[0]}",
        kind=fields.pop("kind", "volto"),
        frontend_balancer=frontend,
        **fields,
    )


def add_site(domain: str, balancer: Balancer, plone_path: str | None = None):
    return site_services.site_create(
        actor=ACTOR, domain=domain, balancer=balancer, plone_path=plone_path or f"/plone/{domain.split('.')[0]}"
    )


@dataclass
class Fleet:
    base: Path
    balancer: Balancer
    backends: dict[str, Backend]  # and the Node.js stand-ins of volto_sites (devrig.node)
    hosts: list[Host]
    frontend_balancer: Balancer | None = None  # the Node.js frontend pool `volto` (volto_sites)
    down_seconds: float = 0.5
    restarts: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _watchers: list[threading.Thread] = field(default_factory=list)

    def host(self, name: str) -> Host:
        return next(host for host in self.hosts if host.name == name)

    @property
    def fe1(self) -> Host:
        return self.host("fe1")

    @property
    def fe2(self) -> Host:
        return self.host("fe2")

    def deploy(self):
        """One deployment through the real runner, waited for; every Apache (and nginx edge) answering after it."""
        deployment = deployment_start(actor=ACTOR, enqueue=False)
        deployment = deployment_execute(deployment.pk)
        assert deployment.status in {DeploymentStatus.SUCCEEDED, DeploymentStatus.REVERTED}, [
            (h.frontend_name, h.stage, h.error) for h in deployment.hosts.all()
        ]
        for host in self.hosts:
            host.apache.wait_until_answering()
            if host.nginx:  # `nginx -s reload` returns before the master has read the new edge config
                host.nginx.wait_until_settled()
        return deployment

    def get(self, frontend: str, domain: str, path: str = "/", *, cookie: str | None = None):
        """(status, backend name, headers, JSON answer or {}) of one request through a front-end."""
        answer = http_get(self.host(frontend).http_port, path, host=domain, cookie=cookie, timeout=10)
        try:
            data = json.loads(answer.body) if answer.headers.get("X-Backend") else {}
        except ValueError:
            data = {}
        return answer.status, answer.headers.get("X-Backend", ""), answer.headers, data

    def enable_restarts(self, sshd: SshServer, *, health_path: str = "/@@ok") -> None:
        """A restart command on every Zope server, run on `sshd` (the Zope host), and the watchers."""
        signals = self.base / "restart-signals"
        signals.mkdir(exist_ok=True)
        for route, backend in self.backends.items():
            self.restarts[route] = 0
            requested, done = signals / f"{route}.requested", signals / f"{route}.done"
            script = signals / f"restart-{route}.sh"  # what `bin/instance restart` would be on a Zope host
            script.write_text(
                f"rm -f {done}; touch {requested}; i=0\n"
                f"while [ ! -e {done} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n"
                f"test -e {done} && echo restarted {route}\n"
            )
            zope_server_ops_update(
                backend.zope_server,
                actor=ACTOR,
                allow_commands=True,
                restart_command=f"sh {script}",
                ssh_address="127.0.0.1",
                ssh_port=sshd.port,
                ssh_user=sshd.user,
                ssh_host_key=sshd.host_key,
                health_path=health_path,
            )
            watcher = threading.Thread(target=self._watch, args=(route, requested, done), daemon=True)
            watcher.start()
            self._watchers.append(watcher)

    def _watch(self, route: str, requested: Path, done: Path) -> None:
        while not self._stop.is_set():
            if requested.exists():
                requested.unlink()
                backend = self.backends[route]
                backend.stop()
                time.sleep(self.down_seconds)
                backend.start()
                self.restarts[route] += 1
                done.touch()
            time.sleep(0.02)

    def stop(self) -> None:
        """The restart watchers, every host's sshd and the SSH pool (the Apaches and backends belong to
        the factories that made them)."""
        self._stop.set()
        for watcher in self._watchers:
            watcher.join(2)
        POOL.close_all()
        for host in self.hosts:
            host.stop_edge()
            if host.sshd:
                host.sshd.stop()


def build_fleet(
    base: Path,
    apache_factory,
    backend_factory,
    *,
    frontends: int = 2,
    client_key: Path | None = None,
    sites: Iterable[str] = (),
    member_retry: int = 0,
    volto_sites: Iterable[str] = (),
    node_factory=None,
    edge: bool = False,
) -> Fleet:
    """fe1..feN (over SSH with client_key, else local) in front of zope1 and zope2 (balancer bronze, every
    member with `member_retry`) and the given sites; with volto_sites, also node1 and node2 (Node.js frontend
    stand-ins made by `node_factory`) in the frontend pool `volto` and those Volto sites (API on bronze, site
    path /Plone); with edge, every front-end behind an nginx TLS edge. Call stop() when done (also done here on a
    failure)."""
    backends: dict[str, Backend] = {name: backend_factory(name) for name in ("zope1", "zope2")}
    balancer = make_balancer(backends.values(), retry=member_retry)
    for domain in sites:
        add_site(domain, balancer)
    frontend_balancer = None
    if volto_sites := list(volto_sites):
        nodes = {name: node_factory(name) for name in ("node1", "node2")}
        frontend_balancer = make_frontend_pool(nodes.values(), name="volto", retry=member_retry)
        backends.update(nodes)
        for domain in volto_sites:
            add_volto_site(domain, balancer, frontend_balancer, "/Plone")
    fleet = Fleet(base, balancer, backends, hosts=[], frontend_balancer=frontend_balancer)
    try:
        for index in range(1, frontends + 1):
            fleet.hosts.append(
                make_host(base / f"fe{index}", f"fe{index}", apache_factory, client_key=client_key, edge=edge)
            )
    except BaseException:
        fleet.stop()
        raise
    return fleet


def add_https_sites(
    count: int, balancer: Balancer, issuer, *, prefix: str = "tls", start: int = 0, batch: int = 1000
) -> list[str]:
    """`count` sites, each with its own ECDSA P-256 certificate from `issuer` (devrig.pki) for its domain and
    its www alias, written in bulk (the scale benches and tests: through the services, 10,000 certificates would
    take minutes of checks); the renderer reads them like any uploaded custom certificate. Returns the domains."""

    chain = pki.pem(issuer.cert)
    domains = [f"{prefix}{i:05d}.example" for i in range(start, start + count)]
    for first in range(0, count, batch):
        chunk = domains[first : first + batch]
        sites = Site.objects.bulk_create(
            [Site(domain=d, balancer=balancer, plone_path=f"/plone/{d.split('.')[0]}", tls="custom") for d in chunk]
        )
        SiteAlias.objects.bulk_create([SiteAlias(site=s, name=f"www.{s.domain}") for s in sites])
        site_services.site_hostnames_backfill(chunk)  # bulk_create skips SiteAlias.save()
        certificates = []
        for site in sites:
            names = [site.domain, f"www.{site.domain}"]
            cert, key = pki.leaf(issuer, names)
            certificates.append(
                Certificate(
                    site=site,
                    source=CertificateSource.CUSTOM,
                    status=CertificateStatus.VALID,
                    names=names,
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                    issuer=issuer.cert.subject.rfc4514_string()[:500],
                    serial=f"{cert.serial_number:x}",
                    certificate_pem=pki.pem(cert),
                    chain_pem=chain,
                    private_key_encrypted=encrypt_secret(pki.key_pem(key).encode("ascii")),
                )
            )
        Certificate.objects.bulk_create(certificates)
    cache.clear()  # bulk writes bypass the change journal: the next snapshot reads every site
    return domains
