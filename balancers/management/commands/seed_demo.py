"""Create the seed how-to's setup (idempotent), N generated client sites, and a demo staff user; with
--volto also a Plone 6 Volto site: a Node.js frontend balancer over two Node servers (stand-ins in the
local demo) and volto.example, whose API goes to bronze and whose Classic UI stays at /ClassicUI."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from alerts.choices import AlertEvent, ChannelKind
from alerts.models import AlertChannel
from alerts.services import alert_channel_create
from balancers import services as balancer_services
from balancers.choices import ServerKind
from balancers.models import Balancer, BalancerMember, ZopeServer
from certificates.choices import CertificateStatus
from certificates.models import Certificate
from devrig import demo
from hostpanel import audit
from hostpanel.audit import Actor
from operations.services import zope_server_ops_update
from sites import services as site_services
from sites.choices import SiteKind
from sites.models import Site

# The demo's Zope servers listen on loopback so the demo front-end can reach real backends.
DEMO_SERVERS = [
    ("zope1", "127.0.0.1", 18101, "Zope application server 1"),
    ("zope2", "127.0.0.1", 18102, "Zope application server 2"),
    ("backup", "127.0.0.1", 18103, "Hot-standby Zope server"),
]
DEMO_ALERT_CHANNEL = "demo-file"
# --volto: the Node.js frontend servers next to the Zope ones (devrig.demo runs stand-ins answering /ok)
DEMO_NODE_SERVERS = [
    ("volto1", "127.0.0.1", 18104, "Node.js frontend (Volto) server 1"),
    ("volto2", "127.0.0.1", 18105, "Node.js frontend (Volto) server 2"),
]
DEMO_NODE_BALANCER = ("volto-demo", "The demo customer's Volto build (Node.js frontend pool)")
DEMO_VOLTO_SITE = {"domain": "volto.example", "plone_path": "/Plone", "classic_ui_path": "/ClassicUI"}
DEMO_BALANCERS = [
    # name, description, members: (server, lbset, hot_standby)
    ("bronze", "The seed how-to's balancer", [("zope1", 1, False), ("zope2", 1, False), ("backup", 2, True)]),
    ("silver", "Second demo balancer", [("zope2", 1, False), ("zope1", 1, False), ("backup", 2, True)]),
]


class Command(BaseCommand):
    help = "Load the demo data (the seed how-to's balancer, Zope servers and sites). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--sites", type=int, default=20, help="Generated client sites (default 20).")
        parser.add_argument("--no-user", action="store_true", help="Do not create or reset the demo user.")
        parser.add_argument(
            "--volto",
            action="store_true",
            help="Also a Volto site: volto.example over a Node.js frontend balancer (volto1, volto2).",
        )
        parser.add_argument(
            "--https-site",
            action="store_true",
            help=f"Add {demo.HTTPS_SITE}, HTTPS with a certificate from a local demo CA (its root in "
            "var/demo-pki/roots.pem).",
        )
        parser.add_argument(
            "--restart-commands",
            action="store_true",
            help="Give the demo Zope servers a restart command run on this host (needs HOSTPANEL_LOCAL_TRANSPORT): "
            "it restarts the stand-ins of `manage.py demo_frontend backends`, so a rolling restart can be tried.",
        )

    def handle(
        self,
        *args,
        sites: int,
        no_user: bool,
        volto: bool = False,
        restart_commands: bool = False,
        https_site: bool = False,
        **options,
    ):
        if sites < 0 or sites > 100_000:
            raise CommandError("--sites must be between 0 and 100000")
        actor = Actor.command("seed_demo")
        with transaction.atomic():
            servers = {}
            for name, host, port, description in DEMO_SERVERS:
                server = ZopeServer.objects.filter(name=name).first()
                if server is None:
                    server = balancer_services.zope_server_create(
                        actor=actor, name=name, host=host, port=port, description=description
                    )
                servers[name] = server
            balancers = []
            for name, description, members in DEMO_BALANCERS:
                balancer = Balancer.objects.filter(name=name).first()
                if balancer is None:
                    balancer = balancer_services.balancer_create(actor=actor, name=name, description=description)
                balancers.append(balancer)
                for server_name, lbset, hot_standby in members:
                    if not BalancerMember.objects.filter(balancer=balancer, zope_server=servers[server_name]).exists():
                        balancer_services.member_create(
                            actor=actor,
                            balancer=balancer,
                            zope_server=servers[server_name],
                            lbset=lbset,
                            hot_standby=hot_standby,
                            loadfactor=1,
                            timeout=10,
                            retry=60,
                        )
            if not Site.objects.filter(domain="linux.co.uk").exists():
                site_services.site_create(
                    actor=actor,
                    domain="linux.co.uk",
                    aliases=["www.linux.co.uk"],
                    balancer=balancers[0],
                    plone_path="/plone/linux",
                    customer_ref="DEMO-0001",
                )
            created = self._generated_sites(sites, balancers, actor)
            self._alert_file_channel(actor)
            if volto:
                servers.update(self._volto(balancers[0], actor))
            if https_site:
                self._https_site(balancers[0], actor)
            if restart_commands:  # Zope and Node.js servers alike; a Node.js server is checked on its own path
                for name, server in servers.items():
                    health = {} if server.kind == ServerKind.NODE else {"health_path": "/"}
                    zope_server_ops_update(
                        server, actor=actor, allow_commands=True, transport="local",
                        restart_command=demo.restart_command(name), **health,
                    )  # fmt: skip
        self.stdout.write(
            f"Demo data: {len(servers)} application servers, {len(balancers) + volto} balancers, "
            f"{Site.objects.count()} sites ({created} new)."
        )
        if not no_user:
            self._demo_user()

    def _volto(self, zope_balancer: Balancer, actor: Actor) -> dict[str, ZopeServer]:
        """The Node.js frontend balancer, its two members and the Volto site (idempotent)."""
        servers = {}
        for name, host, port, description in DEMO_NODE_SERVERS:
            server = ZopeServer.objects.filter(name=name).first()
            if server is None:
                server = balancer_services.zope_server_create(
                    actor=actor, name=name, kind=ServerKind.NODE, host=host, port=port, description=description
                )
            servers[name] = server
        name, description = DEMO_NODE_BALANCER
        balancer = Balancer.objects.filter(name=name).first()
        if balancer is None:
            balancer = balancer_services.balancer_create(
                actor=actor, name=name, kind=ServerKind.NODE, description=description, lbmethod="bybusyness"
            )
        for server in servers.values():
            if not BalancerMember.objects.filter(balancer=balancer, zope_server=server).exists():
                balancer_services.member_create(
                    actor=actor, balancer=balancer, zope_server=server, lbset=1, loadfactor=1, timeout=10, retry=60
                )
        if not Site.objects.filter(domain=DEMO_VOLTO_SITE["domain"]).exists():
            site_services.site_create(
                actor=actor,
                balancer=zope_balancer,
                kind=SiteKind.VOLTO,
                frontend_balancer=balancer,
                customer_ref="DEMO-VOLTO",
                **DEMO_VOLTO_SITE,
            )
        return servers

    def _generated_sites(self, count: int, balancers: list[Balancer], actor: Actor) -> int:
        """Client sites client0001.example … spread over the balancers, validated like any other site."""
        wanted = {f"client{i:04d}.example": i for i in range(1, count + 1)}
        existing = set(Site.objects.filter(domain__in=wanted).values_list("domain", flat=True))
        new_sites = []
        for domain, i in wanted.items():
            if domain in existing:
                continue
            site = Site(
                domain=domain,
                balancer=balancers[i % len(balancers)],
                plone_path=f"/plone/client{i:04d}",
                customer_ref=f"CUST-{i:05d}",
            )
            site.full_clean(validate_unique=False, validate_constraints=False)
            new_sites.append(site)
        if new_sites:
            Site.objects.bulk_create(new_sites, batch_size=500)
            site_services.site_hostnames_backfill(s.domain for s in new_sites)  # bulk_create skips Site.save()
            first = new_sites[0]
            audit.record(
                actor,
                "site.bulk_create",
                first,
                key=f"{len(new_sites)} demo sites",
                before=None,
                after={"domains": [s.domain for s in new_sites[:50]], "count": len(new_sites)},
            )
            balancer_services.config_changed(actor=actor, cause=("site.bulk_create", f"{len(new_sites)} demo sites"))
        return len(new_sites)

    def _https_site(self, balancer: Balancer, actor: Actor) -> None:
        """The demo's HTTPS site, its certificate from a fresh local CA (issued once: kept while it is valid)."""
        site = Site.objects.filter(domain=demo.HTTPS_SITE).first()
        if site is None:
            site = site_services.site_create(
                actor=actor, domain=demo.HTTPS_SITE, balancer=balancer, plone_path="/plone/secure",
                customer_ref="DEMO-0002", tls="none", https_redirect=True,
            )  # fmt: skip
        if Certificate.objects.filter(site=site, status=CertificateStatus.VALID).exists():
            return
        upload = demo.demo_certificate([site.domain])
        # the upload is checked like any other, against the demo CA's root (bin/run then trusts it for the panel)
        trusted = settings.HOSTPANEL_CUSTOM_CA_BUNDLE
        settings.HOSTPANEL_CUSTOM_CA_BUNDLE = str(demo.demo_pki_dir() / "roots.pem")
        try:
            site_services.site_certificate_upload(site, actor=actor, **upload)
        finally:
            settings.HOSTPANEL_CUSTOM_CA_BUNDLE = trusted

    def _alert_file_channel(self, actor: Actor) -> None:
        """An alert channel writing to a local file (var/alerts/demo-alerts.jsonl): every event, nothing leaves."""
        if not AlertChannel.objects.filter(name=DEMO_ALERT_CHANNEL).exists():
            alert_channel_create(
                actor=actor, name=DEMO_ALERT_CHANNEL, kind=ChannelKind.FILE, target="demo-alerts.jsonl",
                events=list(AlertEvent.values),
            )  # fmt: skip

    def _demo_user(self) -> None:
        User = get_user_model()
        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(username="demo", defaults={"email": "demo@example.invalid"})
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"Demo login: user 'demo', password '{password}'"))
