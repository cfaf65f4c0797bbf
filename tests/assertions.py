"""Assertion helpers shared by the tests of several apps."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from balancers.models import Deployment
from deploy.stored import stored_files_many
from rendering.manifest import tree_diff
from rendering.routes import ROUTE_FILES, whole_map


def message_of(validator, value) -> str:
    """The message the shared validator gives for value (what every form must show)."""
    with pytest.raises(ValidationError) as info:
        validator(value)
    return info.value.messages[0]


def shows(response, message: str) -> bool:
    """True when the page shows message (HTML-escaped or as it is)."""
    return html.escape(message) in response.content.decode() or message in response.content.decode()


def whole_map_at(directory) -> str:
    """The whole routing map of a deployed tree on disk: its base (routes.map) merged with its overlay."""
    files = {name: (Path(directory) / name).read_text() for name in ROUTE_FILES if (Path(directory) / name).exists()}
    return whole_map(files)


def deployment_diff(a: Deployment, b: Deployment) -> str:
    """Unified diff between the trees two deployments pushed, per front-end."""
    hosts_a = [h for h in a.hosts.select_related("tree") if h.tree_id]
    hosts_b = [h for h in b.hosts.select_related("tree") if h.tree_id]
    files = stored_files_many([h.tree for h in hosts_a + hosts_b])
    trees_a = {h.frontend_name: files[h.tree_id] for h in hosts_a}
    trees_b = {h.frontend_name: files[h.tree_id] for h in hosts_b}
    out = []
    for name in sorted(set(trees_a) | set(trees_b)):
        diff = tree_diff(
            trees_a.get(name, {}), trees_b.get(name, {}), old_label=f"#{a.pk}/{name}", new_label=f"#{b.pk}/{name}"
        )
        if diff:
            out.append(diff)
    return "".join(out)


def key_body(upload: dict[str, str]) -> list[str]:
    """The base64 lines of an upload's private key that are not also in its certificate (a PKCS#8 key
    carries the public key too, whose base64 can line up with the certificate's): what must never appear
    in an answer, a page, a log line or the audit. Never empty."""
    public = upload["certificate_pem"] + upload.get("chain_pem", "")
    lines = [
        line
        for line in upload["private_key_pem"].strip().splitlines()
        if not line.startswith("-----") and line not in public
    ]
    assert lines
    return lines


def assert_public_page(page, public_url: str) -> None:
    """A page Volto's server rendered (from Zope's content) for the public URL: its window.env names
    public_url as the API and public URL (seamless mode: from Host and X-Forwarded-Proto), and every link and
    asset it points a browser at is relative or public. (Volto also serializes RAZZLE_INTERNAL_API_PATH and the
    state it fetched from Zope into the page, and its search form posts to the internal address: see below.)"""
    assert page.status == 200, page.body[:500]
    body = page.body.replace("\\u002F", "/")
    assert "window.env = " in body, "not a page Volto rendered"
    assert "Volto (HostPanel test site)" in body, "the site's title, fetched from Zope by Node, is missing"
    assert f'"apiPath":"{public_url}"' in body
    assert f'"publicURL":"{public_url}"' in body
    links = re.findall(r'(?:href|src)="([^"]*)"', page.body)
    assert links, "the page links nothing"
    internal = [link for link in links if "127.0.0.1" in link or "localhost" in link]
    assert internal == [], internal
    # Volto 18.33.0 renders its search form's action (the no-JavaScript fallback) with the internal API address
    # (RAZZLE_INTERNAL_API_PATH + /search): the one internal URL a page carries outside its serialized state.
    actions = re.findall(r'<form action="([^"]*)"', page.body)
    assert all(action.endswith("/search") for action in actions if "127.0.0.1" in action), actions
