"""The one Apache launcher (devrig.apache), started for real."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from devrig.apache import StandaloneApache, standalone_config
from devrig.daemon import alive
from devrig.net import free_port

pytestmark = pytest.mark.real


def _redirecting_config(tmp_path):
    """A config dir whose hostpanel.conf is one vhost on a free port answering 302 to http://y.example/."""
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    port = free_port()
    (config_dir / "hostpanel.conf").write_text(
        f"<VirtualHost 127.0.0.1:{port}>\n  ServerName x.example\n  Redirect 302 / http://y.example/\n</VirtualHost>\n"
    )
    return config_dir, port


def test_a_standalone_apache_starts_serves_a_manager_reloads_and_stops(tmp_path, apache_factory):
    config_dir, port = _redirecting_config(tmp_path)
    apache: StandaloneApache = apache_factory(config_dir, listen=[f"127.0.0.1:{port}"], manager=True)
    assert apache.configtest().ok
    apache.start()
    pid = apache.pid()
    opener = urllib.request.build_opener(_NoRedirect)
    resp = opener.open(f"http://127.0.0.1:{port}/", timeout=5)
    assert resp.status == 302 and resp.headers["Location"] == "http://y.example/"
    with urllib.request.urlopen(apache.manager_url, timeout=5) as resp:
        assert b"Load Balancer Manager" in resp.read()
    apache.graceful()
    assert apache.pid() == pid
    apache.stop()
    assert not _answers(port)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

    def http_error_302(self, req, fp, code, msg, headers):
        return fp


def _answers(port):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def test_a_standalone_apache_stops_even_after_its_config_was_broken(tmp_path, apache_factory):
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    port = free_port()
    (config_dir / "hostpanel.conf").write_text(
        f"<VirtualHost 127.0.0.1:{port}>\n  ServerName x.example\n</VirtualHost>\n"
    )
    apache = apache_factory(config_dir, listen=[f"127.0.0.1:{port}"])
    apache.start()
    pid = apache.pid()
    (config_dir / "hostpanel.conf").write_text("<VirtualHost\n")
    assert not apache.configtest().ok
    apache.stop()
    assert not alive(pid)
    assert not _answers(port)


def test_a_standalone_apache_runs_the_worker_mpm_when_asked_and_refuses_an_unknown_one(tmp_path, apache_factory):
    config_dir, port = _redirecting_config(tmp_path)
    apache = apache_factory(config_dir, listen=[f"127.0.0.1:{port}"], workers=(2, 4), mpm="worker")
    apache.start()
    assert "[mpm_worker:notice]" in apache.error_log()
    resp = urllib.request.build_opener(_NoRedirect).open(f"http://127.0.0.1:{port}/", timeout=5)
    assert resp.status == 302
    apache.stop()
    with pytest.raises(ValueError, match="mpm"):
        standalone_config(workdir=tmp_path / "x", include=None, mpm="prefork")
