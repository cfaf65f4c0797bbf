"""A front-end whose main config has another vhost first on HostPanel's address (Debian's 000-default before
the Include): the connection test names it with advice, a deployment's verify fails on it (no site live); with
the Include first the same front-end deploys. Real sshd + standalone Apache (devrig), real fake Zopes."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from api.services import api_token_create
from balancers import services as balancer_services
from balancers.capacity import ApacheFacts
from balancers.choices import ChangeKind, DeploymentStatus, HostStatus
from balancers.models import Deployment, FrontEnd
from balancers.services import deployment_start
from deploy.stored import stored_files
from devrig.fleet import add_site, make_balancer, make_client_key, make_host
from hostpanel.audit import Actor
from rendering.routes import RELEASE_FILE
from sites.models import Site
from sites.selectors import site_liveness
from tests.factories import ACTOR, give_certificate
from tests.realparts import require_binary

pytestmark = pytest.mark.real


def stock_vhost(listen: str, www: Path) -> str:
    """What Debian's sites-enabled/000-default.conf is: a vhost on the same address, serving a page of its own."""
    www.mkdir(parents=True, exist_ok=True)
    (www / "index.html").write_text("<h1>It works!</h1>\n")
    return (
        f"<VirtualHost {listen}>\n"
        "    ServerAdmin webmaster@localhost\n"
        f'    DocumentRoot "{www}"\n'
        f'    <Directory "{www}">\n'
        "        Require all granted\n"
        "    </Directory>\n"
        "</VirtualHost>\n"
    )


@pytest.fixture
def front_end(transactional_db, tmp_path, settings, apache_factory, backend_factory):
    """make(stock="before" | "after" | "", **apache options) -> (Host, balancer): one front-end over SSH with
    the release proof on, its main config holding a stock vhost before or after HostPanel's Include."""
    require_binary("sshd")
    key = make_client_key(tmp_path / "panel")
    settings.HOSTPANEL_SSH_KEY = str(key)
    settings.HOSTPANEL_SSH_TIMEOUT = 5
    settings.HOSTPANEL_VERIFY_RELEASE = True
    settings.HOSTPANEL_VERIFY_RELEASE_SECONDS = 5
    made = []

    def make(stock: str = "before", https_stock: str = "", **options):
        def factory(config_dir, *, listen, **kw):
            text = stock_vhost(listen[0], tmp_path / "www") if stock else ""
            if https_stock:  # a TLS vhost of its own on the HTTPS address (RHEL's conf.d/ssl.conf _default_:443)
                text += https_stock.replace("ADDRESS", listen[1].split()[0])
            where = "after_include" if stock == "after" else "before_include"
            return apache_factory(config_dir, listen=listen, **kw, **({where: text} if text else {}), **options)

        backends = [backend_factory(name) for name in ("zope1", "zope2")]
        balancer = make_balancer(backends)
        host = make_host(tmp_path / "fe1", "fe1", factory, client_key=key)
        made.append(host)
        return host, balancer

    yield make
    for host in made:
        if host.sshd:
            host.sshd.stop()


def deploy() -> Deployment:
    deployment = deployment_start(actor=ACTOR)
    deployment.refresh_from_db()
    return deployment


def api_get(path: str) -> dict:
    _token, key = api_token_create(actor=Actor.command("tests"), name=f"reader-{secrets.token_hex(4)}", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(path).json()


def api_live(domain: str) -> bool:
    return api_get(f"/api/v1/sites/{domain}/")["live"]


def restart_with(host, *, stock: str, www: Path) -> None:
    """The admin moves the Include: the stock vhost now comes before or after it."""
    apache = host.apache
    apache.stop()
    text = stock_vhost(f"127.0.0.1:{host.http_port}", www)
    apache.before_include, apache.after_include = (text, "") if stock == "before" else ("", text)
    apache.write_config()
    apache.start()


def test_the_connection_test_names_the_vhost_that_comes_first_with_advice_and_stores_the_facts(front_end):
    host, balancer = front_end("before")
    add_site("linux.co.uk", balancer)
    frontend = FrontEnd.objects.get(name="fe1")
    assert deploy().status != DeploymentStatus.SUCCEEDED  # HostPanel's vhost is loaded, second on its address
    steps = {s.name: s for s in balancer_services.frontend_connection_test(frontend)}
    vhosts = steps["vhosts"]
    assert vhosts.ok is False
    assert f"127.0.0.1:{host.http_port}: the default vhost is {host.apache.conf}:" in vhosts.detail
    assert "Put the Include of hostpanel.conf before that vhost" in vhosts.detail
    assert steps["modules"].ok, steps["modules"].detail
    assert "Apache 2.4." in steps["apache"].detail and "MPM event" in steps["apache"].detail
    assert "MaxRequestWorkers" in steps["apache"].detail
    facts = ApacheFacts.of(FrontEnd.objects.get(name="fe1"))
    assert facts.known and facts.mpm == "event" and facts.version.startswith("2.4.")
    assert facts.has("proxy_balancer") and facts.max_workers > 0
    (finding,) = [v for v in facts.vhosts if v.address == f"127.0.0.1:{host.http_port}"]
    assert not finding.hostpanel_first and finding.default_source.startswith(str(host.apache.conf))


def test_a_deploy_behind_another_vhost_fails_its_verify_names_that_vhost_and_no_site_is_live(front_end):
    host, balancer = front_end("before")
    add_site("linux.co.uk", balancer)
    deployment = deploy()
    row = deployment.hosts.get()
    assert deployment.status == DeploymentStatus.FAILED
    assert row.status in (HostStatus.ROLLED_BACK, HostStatus.FAILED)
    assert "HostPanel's vhost is not the one answering" in row.error
    assert f"the default vhost is {host.apache.conf}:" in row.error  # the vhost answering instead, named
    assert "/.well-known/hostpanel-release" in row.error
    # the stock vhost answers the site, not its Plone
    assert host.backend_for("linux.co.uk", timeout=0.5) is None
    site = Site.objects.get(domain="linux.co.uk")
    assert site_liveness(site)["live"] is False
    assert api_live("linux.co.uk") is False
    facts = ApacheFacts.of(FrontEnd.objects.get(name="fe1"))
    assert "HostPanel's vhost is not the one answering" in facts.release_proof
    shown = api_get("/api/v1/frontends/fe1/")["apache_facts"]
    assert shown["release_proof"] == facts.release_proof
    assert any(not v["hostpanel_first"] for v in shown["vhosts"])


def test_with_the_include_first_the_same_front_end_deploys_and_its_sites_are_live(front_end, tmp_path):
    host, balancer = front_end("before")
    add_site("linux.co.uk", balancer)
    assert deploy().status == DeploymentStatus.FAILED
    restart_with(host, stock="after", www=tmp_path / "www")
    deployment = deploy()
    row = deployment.hosts.get()
    assert deployment.status == DeploymentStatus.SUCCEEDED, row.error
    assert row.status == HostStatus.SUCCEEDED
    assert host.backend_for("linux.co.uk") is not None
    assert site_liveness(Site.objects.get(domain="linux.co.uk"))["live"] is True
    assert api_live("linux.co.uk") is True
    facts = ApacheFacts.of(FrontEnd.objects.get(name="fe1"))
    assert facts.release_proof == "" and facts.proven_at
    # the connection test now finds HostPanel's catch-all first
    steps = {s.name: s for s in balancer_services.frontend_connection_test(FrontEnd.objects.get(name="fe1"))}
    assert steps["vhosts"].ok, steps["vhosts"].detail


def test_a_map_only_release_proves_its_own_release_file_and_fails_when_the_stock_vhost_comes_back(front_end, tmp_path):
    host, balancer = front_end("after")
    add_site("linux.co.uk", balancer)
    assert deploy().status == DeploymentStatus.SUCCEEDED
    add_site("new.example", balancer)
    deployment = deploy()
    row = deployment.hosts.get()
    assert (deployment.status, row.change_kind) == (DeploymentStatus.SUCCEEDED, ChangeKind.MAP), row.error
    served = (host.config_dir / RELEASE_FILE).read_text()
    assert served == stored_files(row.tree)[RELEASE_FILE]  # the switch alone changed the file the proof asked for
    # the admin puts a stock vhost in front again (a2ensite 000-default); the next map-only release fails
    restart_with(host, stock="before", www=tmp_path / "www")
    add_site("third.example", balancer)
    deployment = deploy()
    row = deployment.hosts.get()
    assert row.change_kind == ChangeKind.MAP
    assert row.status == HostStatus.FAILED
    assert "HostPanel's vhost is not the one answering" in row.error
    assert (host.config_dir / RELEASE_FILE).read_text() == served  # the previous release was put back
    assert site_liveness(Site.objects.get(domain="linux.co.uk"))["live"] is False


def test_missing_modules_are_named_with_the_optional_ones_and_what_they_give(front_end):
    front_end("", without_modules=("proxy_http", "status"))
    steps = {s.name: s for s in balancer_services.frontend_connection_test(FrontEnd.objects.get(name="fe1"))}
    modules = steps["modules"]
    assert modules.ok is False
    assert "missing: proxy_http:" in modules.detail and "a2enmod proxy_http" in modules.detail
    assert "status (worker usage on the dashboard" in modules.detail  # optional: named, not failing


def test_a_stock_tls_vhost_first_on_the_https_address_fails_the_proof_over_sni_of_an_unclaimed_name(
    front_end, test_pki, secrets_key, tmp_path
):
    stock = test_pki.issue(["stock.example"])
    (tmp_path / "stock.crt").write_text(stock["certificate_pem"] + stock.get("chain_pem", ""))
    (tmp_path / "stock.key").write_text(stock["private_key_pem"])
    https_stock = (
        "<VirtualHost ADDRESS>\n"
        "    ServerName stock.example\n"
        "    SSLEngine on\n"
        f'    SSLCertificateFile "{tmp_path / "stock.crt"}"\n'
        f'    SSLCertificateKeyFile "{tmp_path / "stock.key"}"\n'
        "</VirtualHost>\n"
    )
    host, balancer = front_end("", https_stock=https_stock)
    site = add_site("linux.co.uk", balancer)
    give_certificate(site, test_pki)
    deployment = deploy()
    row = deployment.hosts.get()
    assert row.status in (HostStatus.ROLLED_BACK, HostStatus.FAILED), row.error
    # HTTP is HostPanel's; on HTTPS the stock vhost takes the names no site claims (the site's own SNI vhost is fine)
    assert f"https://127.0.0.1:{host.https_port} with 'hostpanel-probe.invalid': " in row.error
    assert f"http://127.0.0.1:{host.http_port} with" not in row.error
    assert f"127.0.0.1:{host.https_port}: the default vhost is {host.apache.conf}:" in row.error
    assert site_liveness(Site.objects.get(domain="linux.co.uk"))["live"] is False
