"""A small Node.js frontend stand-in (a Volto SSR server, for fast tests and the bench): a threaded HTTP
server on 127.0.0.1 with devrig.backends.Backend's API (start/stop on the same port, requests, clear, status,
delay). The real Volto production build is plone-real's (devrig builds it once per machine).

    node = NodeFrontend("volto1").start()
    node = NodeFrontend("volto1", api_proxy=zope.url + "/plone/site")   # Volto's own /++api++ proxy, on

What it answers, every answer with ``X-Frontend: <name>``:

- ``GET /ok`` -> ``ok`` (text/plain, no-cache): Volto's health check (its ok middleware);
- ``/static/...`` -> a small script with ``Cache-Control: public, max-age=60`` (the front-end overrides it);
- ``/++api++...``: 404 (``{"error": "no api proxy"}``), as in tests where Volto's proxy is turned off, so a
  front-end that forgets the API rule fails loudly; with ``api_proxy`` set, it forwards the request to that Zope
  URL the way Volto's proxy does, keeping the FIRST Host it ever saw (the misroute the issue describes: a second
  site's API answers then carry the first site's URLs);
- anything else: JSON ``{"frontend", "method", "path", "host", "proto", "forwarded_for"}``, naming itself and
  the Host, X-Forwarded-Proto and X-Forwarded-For it got (Volto's seamless mode makes its URLs from them).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse

from devrig.backends import Backend, SeenRequest, _Handler

API_PREFIX = "/++api++"


class _NodeHandler(_Handler):
    server_version = "HostPanelFakeVolto/1.0"

    def _answer(self) -> None:
        node = self.server.backend
        assert isinstance(node, NodeFrontend)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        seen = SeenRequest(self.command, self.path, self.headers.get("Host", ""), dict(self.headers.items()), body)
        with node._lock:
            node.requests.append(seen)
        if node.delay:
            time.sleep(node.delay)
        status, content_type, headers = node.status, "application/json", {}
        if path == "/ok":
            status = 200 if node.status < 400 else node.status
            content_type, data, headers = "text/plain", b"ok", {"Cache-Control": "private, no-cache"}
        elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            if node.api_proxy is None:
                status, data = 404, json.dumps({"frontend": node.name, "error": "no api proxy"}).encode()
            else:
                status, content_type, data = node.proxy_api(self.command, self.path, body)
        elif path.startswith("/static/"):
            content_type, data = "application/javascript", b"/* a Volto bundle */\n"
            headers = {"Cache-Control": "public, max-age=60"}
        else:
            answer = {
                "frontend": node.name,
                "method": self.command,
                "path": self.path,
                "host": seen.host,
                "proto": self.headers.get("X-Forwarded-Proto", ""),
                "forwarded_for": self.headers.get("X-Forwarded-For", ""),
            }
            data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Frontend", node.name)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _answer


class NodeFrontend(Backend):
    """One Node.js frontend server stand-in (module docstring); `api_proxy`: a Zope URL with the Plone site's
    path (http://127.0.0.1:PORT/plone/site) to reproduce Volto's own /++api++ proxy, None: off."""

    handler = _NodeHandler

    def __init__(self, name: str, port: int | None = None, *, api_proxy: str | None = None, status: int = 200) -> None:
        super().__init__(name, port, status=status)
        self.api_proxy = api_proxy
        self._proxy_host: str | None = None  # Volto's proxy keeps the first Host it saw

    def proxy_api(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        assert self.api_proxy is not None
        with self._lock:
            if self._proxy_host is None:
                self._proxy_host = self.requests[-1].host if self.requests else "localhost"
            host = self._proxy_host
        target = urllib.parse.urlsplit(self.api_proxy)
        rest = path[len(API_PREFIX) :] or "/"
        vhm = f"/VirtualHostBase/http/{host}{target.path}/++api++/VirtualHostRoot{rest}"
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=30)
        try:
            conn.request(method, vhm, body=body or None, headers={"Host": host})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", "application/json"), resp.read()
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"<NodeFrontend {self.name} {self.url} {'up' if self.running else 'down'}>"
