"""Builders of test data shared by several test modules (test modules import from here, never from
each other): the actor, local front-ends, a site's live certificate, render modes, generated sites, hand-made trees."""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command

from balancers import services as balancer_services
from balancers.models import Balancer, FrontEnd
from certificates import services as certificate_services
from deploy.plan import Target
from devrig.pki import TrustedPKI
from hostpanel.audit import Actor
from rendering.manifest import MANIFEST, manifest_text
from rendering.routes import DERIVED_FILES
from sites import services as site_services
from sites.models import Site, SiteAlias
from sites.services import site_hostnames_backfill

ACTOR = Actor(name="tester", source="command")


def make_local_frontend(tmp_path, name: str = "local1", **extra) -> FrontEnd:
    """A front-end on the local transport under tmp_path whose configtest and reload append a line
    to tmp_path/<name>.log (count the reloads with `reloads`)."""
    log = tmp_path / f"{name}.log"
    fields = {
        "name": name,
        "address": "127.0.0.1",
        "transport": "local",
        "config_dir": str(tmp_path / name / "hostpanel"),
        "configtest_command": f"echo configtest >> {log}",
        "reload_command": f"echo reload >> {log}",
        "http_listen": "127.0.0.1:8080",
    }
    fields.update(extra)
    return balancer_services.frontend_create(actor=ACTOR, **fields)


def add_manager_frontend(actor: Actor, name: str, url: str) -> FrontEnd:
    """A local front-end known only by its balancer-manager URL (for status and live-toggle tests)."""
    return balancer_services.frontend_create(
        actor=actor, name=name, address="127.0.0.1", transport="local", balancer_manager_url=url
    )


def manager_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/balancer-manager"


def reloads(tmp_path, name: str = "local1") -> int:
    """How many times the reload command of make_local_frontend(tmp_path, name) ran."""
    log = tmp_path / f"{name}.log"
    return log.read_text().split().count("reload") if log.exists() else 0


def set_render_mode(mode: str, actor: Actor) -> None:
    """Put every balancer in render mode `mode`, through the service like the web UI would."""
    for balancer in Balancer.objects.all():
        balancer_services.balancer_update(balancer, actor=actor, render_mode=mode)


def add_generated_sites(count: int, *, aliases_every: int = 3) -> None:
    """`count` valid client sites (seed_demo's generator) and an alias on every `aliases_every`-th one."""
    call_command("seed_demo", sites=count, no_user=True, verbosity=0)
    sites = Site.objects.filter(domain__startswith="client").order_by("domain")
    taken = set(SiteAlias.objects.values_list("name", flat=True))
    SiteAlias.objects.bulk_create(
        [
            SiteAlias(site=site, name=f"www.{site.domain}")
            for site in sites[::aliases_every]
            if f"www.{site.domain}" not in taken
        ],
        batch_size=500,
    )
    site_hostnames_backfill(sites.values_list("domain", flat=True))  # bulk_create skips SiteAlias.save()


def make_tree(files: dict[str, str]) -> dict[str, str]:
    """A small hand-made tree plus its MANIFEST, in the renderer's format (fast unit tests)."""
    return {**files, MANIFEST: manifest_text(files)}


def logging_host(tmp_path) -> dict:
    """A release target under tmp_path whose configtest and reload only append their name to a log."""
    config_dir = tmp_path / "etc" / "hostpanel"
    log = tmp_path / "commands.log"
    return {
        "dir": config_dir,
        "log": log,
        "target": Target(
            name="fe1",
            config_dir=str(config_dir),
            configtest_command=f"echo configtest >> {log}",
            reload_command=f"echo reload >> {log}",
        ),
    }


def logged_commands(host: dict) -> list[str]:
    """The commands a logging_host ran, in order."""
    return host["log"].read_text().split() if host["log"].exists() else []


def live_files(config_dir: Path) -> dict[str, str]:
    """{path: text} of the files a release directory serves (routes.dbm, built on the host, left out)."""
    return {
        str(p.relative_to(config_dir)): p.read_text()
        for p in sorted(config_dir.rglob("*"))
        if p.is_file() and p.name not in DERIVED_FILES
    }


def give_certificate(site, test_pki: TrustedPKI, **kw) -> dict[str, str]:
    """The site serves a (customer's) certificate for its domain and every alias; returns the upload."""
    names = [site.domain, *sorted(site.aliases.values_list("name", flat=True))]
    site_services.site_update(site, actor=ACTOR, tls="custom")
    upload = test_pki.issue(names, **kw)
    certificate_services.certificate_set_custom(site, actor=ACTOR, **upload)
    return upload


def add_frontend_pool(name: str = "volto-acme", *, servers: int = 2, first_port: int = 3001) -> Balancer:
    """A Node.js frontend balancer over node1..nodeN (kind node, 127.0.0.1 from first_port), through the services."""
    balancer = balancer_services.balancer_create(actor=ACTOR, name=name, kind="node")
    for index in range(1, servers + 1):
        server = balancer_services.zope_server_create(
            actor=ACTOR, name=f"node{index}", kind="node", host="127.0.0.1", port=first_port + index - 1
        )
        balancer_services.member_create(actor=ACTOR, balancer=balancer, zope_server=server)
    return balancer
