"""Create the seed how-to's setup (idempotent), N generated client sites, and a demo staff user; with
--volto also a Plone 6 Volto site: a Node.js frontend balancer over two Node servers (stand-ins in the
local demo) and volto.example, whose API goes to bronze and whose Classic UI stays at /ClassicUI."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from balancers import services as balancer_services
from balancers.choices import ServerKind
from balancers.models import Balancer, BalancerMember, ZopeServer
from hostpanel import audit
from hostpanel.audit import Actor
from sites import services as site_services
from sites.choices import SiteKind
from sites.models import Site

# The demo's Zope servers listen on loopback so the demo front-end can reach real backends.
DEMO_SERVERS = [
    ("zope1", "127.0.0.1", 18101, "Zope application server 1"),
    ("zope2", "127.0.0.1", 18102, "Zope application server 2"),
    ("backup", "127.0.0.1", 18103, "Hot-standby Zope server"),
]
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

    def handle(self, *args, sites: int, no_user: bool, volto: bool = False, **options):
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
            if volto:
                servers.update(self._volto(balancers[0], actor))
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

    def _demo_user(self) -> None:
        User = get_user_model()
        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(username="demo", defaults={"email": "demo@example.invalid"})
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"Demo login: user 'demo', password '{password}'"))
