"""Site options on a real standalone Apache in front of a recording backend: the management interface
protected (staff networks / blocked), methods blocked, pass-through paths served by Apache, an edit host for
the staff networks only, and a site without options proxied exactly as before.

The client is always 127.0.0.1: the staff networks are rendered once without it (a public client) or with it
(a staff client)."""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import ssl

import pytest

from balancers import services as balancer_services
from devrig.apache import write_tree
from devrig.net import free_port, free_port_block, free_ports
from rendering.render import render_tree
from rendering.snapshot import load_snapshot
from sites import services as site_services
from tests.factories import give_certificate

pytestmark = pytest.mark.real

PUBLIC = ("10.0.0.0/8", "2001:db8::/32")  # 127.0.0.1 is not staff
STAFF = ("10.0.0.0/8", "127.0.0.0/8")  # 127.0.0.1 is staff


class Answer:
    def __init__(self, status: int, body: str, headers: dict[str, str]) -> None:
        self.status, self.body, self.headers = status, body, headers

    @property
    def backend_path(self) -> str | None:
        """The path the recording backend saw (None: Apache answered itself)."""
        return json.loads(self.body)["path"] if "X-Backend" in self.headers else None


def ask(port: int, host: str, path: str = "/", method: str = "GET", root_pem: str | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if root_pem is not None:  # over TLS, with SNI = Host, trusting the test root only
        context = ssl.create_default_context(cadata=root_pem)
        conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname=host)
    conn.request(method, path, headers={"Host": host})
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace")
    conn.close()
    return Answer(resp.status, body, dict(resp.getheaders()))


@pytest.fixture
def served(db, tmp_path, actor, backend_factory, apache_factory):
    """serve(staff_networks) -> (port, backend, apache): sites plain.example (no option), opts.example (ZMI
    staff only, PUT and PROPFIND blocked, /icons/ and /robots.txt passed through, edit host
    edit.opts.example) and locked.example (ZMI blocked), one Zope, a DocumentRoot with icons/a.txt and
    robots.txt."""

    def serve(staff_networks: tuple[str, ...]):
        backend = backend_factory("zope1")
        server = balancer_services.zope_server_create(actor=actor, name="zope1", host="127.0.0.1", port=backend.port)
        bronze = balancer_services.balancer_create(actor=actor, name="bronze")
        balancer_services.member_create(actor=actor, balancer=bronze, zope_server=server)
        site_services.site_create(
            actor=actor, domain="plain.example", aliases=["www.plain.example"], balancer=bronze, plone_path="/plone/p"
        )
        site_services.site_create(
            actor=actor,
            domain="opts.example",
            balancer=bronze,
            plone_path="/plone/opts",
            manage_access="staff",
            blocked_methods=["propfind", "PUT"],
            passthrough_paths=["/icons/", "/robots.txt"],
            edit_host="edit.opts.example",
        )
        site_services.site_create(
            actor=actor, domain="locked.example", balancer=bronze, plone_path="/plone/locked", manage_access="blocked"
        )
        port = free_port()
        config_dir = tmp_path / "hostpanel"
        frontend = balancer_services.frontend_create(
            actor=actor,
            name="opts",
            address="127.0.0.1",
            transport="local",
            config_dir=str(config_dir),
            http_listen=f"127.0.0.1:{port}",
            node_address="127.0.0.1",
            node_port_base=free_port_block(1),
        )
        snapshot = dataclasses.replace(load_snapshot(), staff_networks=staff_networks)
        write_tree(render_tree(snapshot, frontend), config_dir)
        docroot = tmp_path / "docroot"
        (docroot / "icons").mkdir(parents=True)
        (docroot / "icons" / "a.txt").write_text("an icon from the front-end\n")
        (docroot / "robots.txt").write_text("User-agent: *\n")
        apache = apache_factory(config_dir, listen=[f"127.0.0.1:{port}"])
        with apache.conf.open("a") as conf:  # the front-end's own files (Debian: /var/www/html)
            conf.write(f'DocumentRoot "{docroot}"\n<Directory "{docroot}">\n    Require all granted\n</Directory>\n')
        check = apache.configtest()
        assert check.ok, check.output
        apache.start()
        return port, backend, apache

    return serve


ZMI_PATHS = [
    "/manage_main",
    "/manage",
    "/manage_workspace",
    "/Plone/manage_workspace",
    "/folder/manage_propertiesForm",
    "/folder/manage_main/",
    "/Plone/acl_users/manage_addProduct/PluggableAuthService",
    "/Plone?manage_main:method=1",
    "/Plone?%6Danage_main%3Amethod=1",
    "/Plone?:action=manage_main",
]
NOT_ZMI = ["/front-page", "/managed-content", "/news/management", "/Plone/@@manage-portlets", "/?q=manage"]


def test_a_public_client_is_kept_from_the_zmi_the_edit_host_and_blocked_methods(served):
    port, backend, apache = served(PUBLIC)

    # a site without options: proxied exactly as before, even its ZMI and any method
    for path in ("/", "/manage_main", "/icons/a.txt"):
        answer = ask(port, "plain.example", path)
        assert answer.status == 200, apache.error_log()[-2000:]
        assert answer.backend_path == f"/VirtualHostBase/http/plain.example:80/plone/p/VirtualHostRoot{path}"
    assert ask(port, "www.plain.example", "/doc", "PUT").backend_path is not None

    backend.clear()
    for path in ZMI_PATHS:
        for host in ("opts.example", "locked.example"):
            answer = ask(port, host, path)
            assert (path, host, answer.status) == (path, host, 403)
    assert backend.requests == []  # Apache answered every one itself
    for path in NOT_ZMI:
        answer = ask(port, "opts.example", path)
        assert answer.status == 200, path
        assert answer.backend_path == f"/VirtualHostBase/http/opts.example:80/plone/opts/VirtualHostRoot{path}"

    # blocked methods: 405 from Apache, never at the backend; the others pass
    backend.clear()
    for method in ("PUT", "PROPFIND"):
        answer = ask(port, "opts.example", "/doc", method)
        assert (method, answer.status, answer.backend_path) == (method, 405, None)
    assert backend.requests == []
    for method in ("DELETE", "POST", "GET"):
        answer = ask(port, "opts.example", "/doc", method)
        assert (method, answer.status) == (method, 200)
    assert [r.method for r in backend.requests] == ["DELETE", "POST", "GET"]

    # the edit host: 403 for a client outside the staff networks, whatever the path
    backend.clear()
    for path in ("/", "/front-page", "/manage_main"):
        assert ask(port, "edit.opts.example", path).status == 403
    assert backend.requests == []


def test_pass_through_paths_are_served_by_apache_and_never_reach_zope(served):
    port, backend, apache = served(PUBLIC)
    icon = ask(port, "opts.example", "/icons/a.txt")
    assert (icon.status, icon.body, icon.backend_path) == (200, "an icon from the front-end\n", None)
    robots = ask(port, "opts.example", "/robots.txt")
    assert (robots.status, robots.body) == (200, "User-agent: *\n")
    missing = ask(port, "opts.example", "/icons/none.png")  # Apache's own 404, not Zope's
    assert (missing.status, missing.backend_path) == (404, None)
    assert backend.requests == []
    # an exact path is not a prefix, and a prefix is one only up to its '/'
    for path in ("/robots.txt.bak", "/robots.txt/x", "/iconsx/a.txt", "/icons", "/x/icons/a.txt"):
        answer = ask(port, "opts.example", path)
        assert answer.backend_path == f"/VirtualHostBase/http/opts.example:80/plone/opts/VirtualHostRoot{path}", path


def test_a_staff_client_reaches_the_zmi_and_the_edit_host_but_blocked_stays_blocked(served):
    port, backend, apache = served(STAFF)
    for path in ZMI_PATHS:
        answer = ask(port, "opts.example", path)
        assert answer.status == 200, (path, apache.error_log()[-2000:])
        assert answer.backend_path == f"/VirtualHostBase/http/opts.example:80/plone/opts/VirtualHostRoot{path}"
        assert ask(port, "locked.example", path).status == 403, path  # blocked is for everyone
    edit = ask(port, "edit.opts.example", "/manage_main")
    assert edit.status == 200
    # the same Plone site, under the edit host's own name (Plone writes its links with it)
    assert edit.backend_path == "/VirtualHostBase/http/edit.opts.example:80/plone/opts/VirtualHostRoot/manage_main"
    # the site's other options hold on its edit host too
    assert ask(port, "edit.opts.example", "/doc", "PUT").status == 405
    assert ask(port, "edit.opts.example", "/icons/a.txt").backend_path is None


@pytest.mark.parametrize("mode", ["single-pass", "node-vhosts"])
def test_the_options_hold_on_the_https_vhost_too(
    db, tmp_path, actor, backend_factory, apache_factory, test_pki, secrets_key, mode
):
    """The same rules in routing-https.conf: a site with a certificate (HTTP redirects to HTTPS) and options."""
    backend = backend_factory("zope1")
    server = balancer_services.zope_server_create(actor=actor, name="zope1", host="127.0.0.1", port=backend.port)
    bronze = balancer_services.balancer_create(actor=actor, name="bronze", render_mode=mode)
    balancer_services.member_create(actor=actor, balancer=bronze, zope_server=server)
    site = site_services.site_create(
        actor=actor,
        domain="tls.example",
        balancer=bronze,
        plone_path="/plone/tls",
        manage_access="staff",
        blocked_methods=["DELETE"],
    )
    give_certificate(site, test_pki)
    http_port, https_port = free_ports(2)
    config_dir = tmp_path / "hostpanel"
    frontend = balancer_services.frontend_create(
        actor=actor,
        name="tls",
        address="127.0.0.1",
        transport="local",
        config_dir=str(config_dir),
        http_listen=f"127.0.0.1:{http_port}",
        https_listen=f"127.0.0.1:{https_port}",
        node_port_base=free_port_block(1),
    )
    tree = render_tree(dataclasses.replace(load_snapshot(), staff_networks=PUBLIC), frontend)
    assert "tls.example redirect|bronze|/plone/tls|" in tree["routes.map"]
    write_tree(tree, config_dir)
    apache = apache_factory(config_dir, listen=[f"127.0.0.1:{http_port}", f"127.0.0.1:{https_port} https"])
    check = apache.configtest()
    assert check.ok, check.output
    apache.start()

    assert ask(http_port, "tls.example", "/manage_main").status == 301  # HTTP redirects first, as before
    root = test_pki.root_pem
    page = ask(https_port, "tls.example", "/front-page", root_pem=root)
    assert page.status == 200, apache.error_log()[-2000:]
    assert page.backend_path == "/VirtualHostBase/https/tls.example:443/plone/tls/VirtualHostRoot/front-page"
    backend.clear()
    assert ask(https_port, "tls.example", "/Plone/manage_main", root_pem=root).status == 403
    assert ask(https_port, "tls.example", "/doc", "DELETE", root_pem=root).status == 405
    assert backend.requests == []
