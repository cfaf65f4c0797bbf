"""The verify step's proof that HostPanel's vhost answers (deploy.vhost_proof), with a stand-in listener: a
tiny HTTP server that serves the live release file as HostPanel's vhost would, or a stock page instead."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from balancers.choices import HostStatus
from deploy.release import push_tree
from deploy.transport.protocol import LocalTransport
from deploy.vhost_proof import UNCLAIMED_HOST, listeners, plan_asks, prove_release, reachable
from rendering.manifest import seal_tree
from rendering.routes import RELEASE_FILE, RELEASE_URL_PATH
from tests.factories import live_files, logged_commands, logging_host

MAP = "".join(f"site{n}.example live|bronze|/plone/s{n}|s|BALANCEID|1200\n" for n in range(10))


def sealed(files: dict[str, str]) -> dict[str, str]:
    tree = dict(files)
    seal_tree(tree)
    return tree


class Listener:
    """An HTTP listener: `hostpanel_first` serves config_dir's release file at the reserved path (as
    HostPanel's catch-all does), else a stock vhost's 404 page answers everything."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir, self.hostpanel_first, self.hosts = config_dir, True, []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                listener.hosts.append(self.headers.get("Host"))
                path = listener.config_dir / RELEASE_FILE
                if listener.hostpanel_first and self.path == RELEASE_URL_PATH and path.exists():
                    status, body = 200, path.read_bytes()
                else:
                    status, body = 404, b"<h1>Not Found</h1> (the stock vhost)"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def proving(tmp_path) -> Iterator[tuple[dict, Listener]]:
    host = logging_host(tmp_path)
    listener = Listener(host["dir"])
    host["target"] = replace(
        host["target"], prove_release=True, http_listen=f"127.0.0.1:{listener.port}", address="127.0.0.1"
    )
    yield host, listener
    listener.server.shutdown()
    listener.server.server_close()


def test_a_release_whose_file_answers_on_the_listener_succeeds(proving):
    host, listener = proving
    tree = sealed({"hostpanel.conf": "# one\n", "routes.map": MAP})
    outcome = push_tree(LocalTransport(), host["target"], tree)
    assert outcome.status == HostStatus.SUCCEEDED, outcome.error
    assert outcome.proof == ""
    # the unclaimed name and a sample of the map's names were asked
    assert UNCLAIMED_HOST in listener.hosts
    assert len({h for h in listener.hosts if h.startswith("site")}) == 3


def test_a_stock_vhost_answering_instead_rolls_the_release_back_with_the_reason(proving, settings):
    settings.HOSTPANEL_VERIFY_RELEASE_SECONDS = 0.5
    host, listener = proving
    old = sealed({"hostpanel.conf": "# one\n", "routes.map": MAP})
    assert push_tree(LocalTransport(), host["target"], old).status == HostStatus.SUCCEEDED
    listener.hostpanel_first = False
    outcome = push_tree(LocalTransport(), host["target"], sealed({"hostpanel.conf": "# two\n", "routes.map": MAP}))
    assert outcome.status == HostStatus.ROLLED_BACK
    assert "HostPanel's vhost is not the one answering" in outcome.error
    assert f"with {UNCLAIMED_HOST!r}: HTTP 404" in outcome.error
    assert outcome.proof and outcome.apache_facts is not None  # the facts read to name the vhost answering
    assert live_files(host["dir"]) == old
    assert logged_commands(host) == ["configtest", "reload", "configtest", "reload", "configtest", "reload"]


def test_a_map_only_release_must_serve_its_own_file_after_the_switch(proving, settings):
    settings.HOSTPANEL_VERIFY_RELEASE_SECONDS = 0.5
    host, listener = proving
    first = sealed({"hostpanel.conf": "# one\n", "routes.map": MAP})
    assert push_tree(LocalTransport(), host["target"], first).status == HostStatus.SUCCEEDED
    second = sealed({"hostpanel.conf": "# one\n", "routes.map": MAP + "new.example live|bronze|/p|s|B|1\n"})
    outcome = push_tree(LocalTransport(), host["target"], second)
    assert (outcome.status, outcome.change) == (HostStatus.SUCCEEDED, "map"), outcome.error
    assert (host["dir"] / RELEASE_FILE).read_text() == second[RELEASE_FILE]
    listener.hostpanel_first = False
    third = sealed({"hostpanel.conf": "# one\n", "routes.map": MAP + "third.example live|bronze|/p|s|B|1\n"})
    outcome = push_tree(LocalTransport(), host["target"], third)
    assert (outcome.status, outcome.change) == (HostStatus.FAILED, "map")
    assert "not the one answering" in outcome.error
    assert live_files(host["dir"]) == second  # the previous map put back by the symlink alone
    assert logged_commands(host) == ["configtest", "reload"]  # no reload for map-only releases


def test_https_is_asked_only_when_the_tree_has_https_vhosts_with_sni_of_a_sample_of_them():
    plain = sealed({"routes.map": MAP})
    assert [x.scheme for x in listeners(http_listen="*:80", https_listen="*:443", address="fe", tree=plain)] == ["http"]
    tls = sealed({"routes.map": MAP, **{f"sites/site{n}.example.conf": "" for n in range(5)}})
    found = listeners(http_listen="*:80", https_listen="127.0.0.2:8443", address="fe", tree=tls)
    assert [(x.scheme, x.host, x.port) for x in found] == [("http", "fe", 80), ("https", "127.0.0.2", 8443)]
    asks = plan_asks(found, tls, sample=2)
    https = [a.name for a in asks if a.listener.scheme == "https"]
    assert https[0] == UNCLAIMED_HOST and len(https) == 3
    assert all(name.startswith("site") for name in https[1:])
    assert plan_asks(found, tls, sample=2) == asks  # the same tree asks the same names


def test_listen_addresses_are_reached_where_the_panel_can():
    assert reachable("*:80", "192.0.2.1") == ("192.0.2.1", 80)
    assert reachable("[::]:443", "fe.example") == ("fe.example", 443)
    assert reachable("127.0.0.1:8443 https", "x") == ("127.0.0.1", 8443)


def test_a_tree_without_a_release_file_has_nothing_to_prove():
    # a rollback to a tree stored before release files existed
    assert prove_release({"MANIFEST": ""}, http_listen="127.0.0.1:9", https_listen="", address="") == ""
