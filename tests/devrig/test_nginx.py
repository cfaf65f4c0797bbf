"""The one nginx launcher (devrig.nginx), started for real: the TLS edge a front-end runs in front of Apache."""

from __future__ import annotations

import ssl
import subprocess

import pytest

from devrig import pki
from devrig.daemon import alive
from devrig.fleet import build_fleet
from devrig.net import free_port, https_get, tcp_reachable
from devrig.nginx import StandaloneNginx, standalone_config

pytestmark = pytest.mark.real


def _edge_conf(config_dir, port: int) -> str:
    """A hand-written stand-in for HostPanel's edge/nginx.conf: the certificate named by SNI, read per handshake."""
    return (
        "server {\n"
        f"    listen 127.0.0.1:{port} ssl http2;\n"
        f"    ssl_certificate {config_dir}/tls/$ssl_server_name.crt;\n"
        f"    ssl_certificate_key {config_dir}/tls/$ssl_server_name.key;\n"
        "    location / { return 200 'edge ok'; }\n"
        "}\n"
    )


def _write_certificate(config_dir, issuer, name: str) -> int:
    cert, key = pki.leaf(issuer, [name])
    (config_dir / "tls" / f"{name}.crt").write_text(pki.pem(cert) + pki.pem(issuer.cert))
    key_path = config_dir / "tls" / f"{name}.key"
    key_path.write_text(pki.key_pem(key))
    key_path.chmod(0o640)
    return cert.serial_number


def test_an_nginx_starts_before_any_edge_config_and_serves_certificates_read_per_handshake_without_reload(
    tmp_path, nginx_factory, test_pki
):
    trusted = test_pki
    config_dir = tmp_path / "etc"
    (config_dir / "tls").mkdir(parents=True)
    port = free_port()
    nginx: StandaloneNginx = nginx_factory(config_dir, listen=f"127.0.0.1:{port}")
    assert nginx.configtest().ok  # the include glob matches nothing: still a valid config
    nginx.start()
    assert nginx.running and nginx.rss_mb() > 0
    assert not tcp_reachable("127.0.0.1", port)  # nothing deployed: nothing listened on
    (config_dir / "edge").mkdir()
    (config_dir / "edge" / "nginx.conf").write_text(_edge_conf(config_dir, port))
    assert subprocess.run(nginx.configtest_command, shell=True, capture_output=True).returncode == 0  # noqa: S602
    pid = nginx.pid()
    assert subprocess.run(nginx.reload_command, shell=True, capture_output=True).returncode == 0  # noqa: S602
    nginx.wait_until_settled()
    assert (nginx.pid(), nginx.reloads(), nginx.generations()) == (pid, 1, 2)

    serial = _write_certificate(config_dir, trusted.intermediate, "a.example")
    answer = https_get(port, "a.example", root_pem=trusted.root_pem, timeout=5)
    assert (answer.status, answer.body, answer.serial) == (200, "edge ok", serial)
    with pytest.raises(ssl.SSLError):  # no certificate for that name: the handshake fails
        https_get(port, "b.example", root_pem=None, timeout=5)
    serial = _write_certificate(config_dir, trusted.intermediate, "b.example")
    assert https_get(port, "b.example", root_pem=trusted.root_pem, timeout=5).serial == serial
    assert nginx.reloads() == 1  # the new certificate needed none

    nginx.reload()
    assert nginx.reloads() == 2 and nginx.generations() == 3
    processes = nginx.processes()
    assert len(processes) >= 2  # the master, the new worker (and the old one while it finishes)
    assert nginx.stop()
    assert not nginx.running and not any(alive(p) for p in processes)
    assert not nginx.stop()  # stopping twice is harmless


def test_a_broken_edge_config_fails_the_configtest_command_and_the_running_nginx_keeps_serving(
    tmp_path, nginx_factory, test_pki
):
    trusted = test_pki
    config_dir = tmp_path / "etc"
    (config_dir / "tls").mkdir(parents=True)
    (config_dir / "edge").mkdir()
    port = free_port()
    (config_dir / "edge" / "nginx.conf").write_text(_edge_conf(config_dir, port))
    _write_certificate(config_dir, trusted.intermediate, "a.example")
    nginx = nginx_factory(config_dir, listen=f"127.0.0.1:{port}").start()
    (config_dir / "edge" / "nginx.conf").write_text("server { listen nonsense }\n")
    check = nginx.configtest()
    assert not check.ok and "nginx.conf" in check.output
    assert https_get(port, "a.example", root_pem=trusted.root_pem, timeout=5).status == 200


def test_the_workers_run_as_the_current_user_only_when_started_as_root(tmp_path, monkeypatch):
    monkeypatch.setattr("devrig.nginx.os.geteuid", lambda: 0)
    text = standalone_config(workdir=tmp_path / "w", config_dir=tmp_path / "etc")
    assert "user root;" in text  # whoever uid 0 is called, whatever $USER says
    assert f"include {tmp_path}/etc/edge/*.conf;" in text
    assert f"pid {tmp_path}/w/nginx.pid;" in text and f"proxy_temp_path {tmp_path}/w/temp/proxy;" in text
    monkeypatch.setattr("devrig.nginx.os.geteuid", lambda: 1000)
    assert "user " not in standalone_config(workdir=tmp_path / "w", config_dir=tmp_path / "etc")


def test_an_edge_host_runs_nginx_on_its_https_port_and_apache_on_http_only_and_the_fleet_stops_both(
    db, tmp_path, apache_factory, backend_factory
):
    fleet = build_fleet(tmp_path, apache_factory, backend_factory, frontends=1, edge=True)
    try:
        host = fleet.fe1
        frontend = host.frontend
        assert host.nginx is not None and host.nginx.running
        assert frontend.tls_edge == "nginx"
        assert frontend.https_listen == f"127.0.0.1:{host.https_port}" == host.nginx.listen
        assert frontend.edge_configtest_command == host.nginx.configtest_command
        assert frontend.edge_reload_command == host.nginx.reload_command
        backend_port = int(frontend.edge_backend_listen.rpartition(":")[2])
        ports = {host.http_port, host.https_port, backend_port, host.apache.manager_port}
        assert len(ports) == 4 and frontend.edge_backend_listen.startswith("127.0.0.1:")
        assert host.apache.listen == [f"127.0.0.1:{host.http_port}"]  # the HTTPS port is nginx's
        assert not tcp_reachable("127.0.0.1", host.https_port)  # nothing deployed yet
        assert host.edge_reloads() == 0
        processes = host.nginx.processes()
    finally:
        fleet.stop()
    assert not host.nginx.running and not any(alive(p) for p in processes)
