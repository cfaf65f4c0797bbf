"""The one fake Zope/Plone backend (balancers.dev.backends): what it records, answers and sets, and the
demo's group of them on fixed ports."""

from __future__ import annotations

import json
import urllib.request


def test_a_backend_answers_with_its_name_path_and_host_and_restarts_on_its_port(backend_factory):
    backend = backend_factory("zope1")
    req = urllib.request.Request(backend.url + "/a/b?c=1", headers={"Host": "linux.co.uk"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        body = json.load(resp)
        assert resp.headers["X-Backend"] == "zope1"
    assert body == {"backend": "zope1", "method": "GET", "path": "/a/b?c=1", "host": "linux.co.uk"}
    assert [r.path for r in backend.requests] == ["/a/b?c=1"]
    port = backend.port
    backend.stop()
    backend.start()
    assert backend.port == port
    with urllib.request.urlopen(backend.url + "/again", timeout=5) as resp:
        assert json.load(resp)["path"] == "/again"
