"""The billing lifecycle through the API, each step reflected in the rendered Apache config."""

from __future__ import annotations

import pytest

from balancers import services as balancer_services
from hostpanel.audit import Actor


def rendered(frontend) -> str:
    render = pytest.importorskip("rendering.render")
    snapshot = pytest.importorskip("rendering.snapshot")
    tree = render.render_tree(snapshot.load_snapshot(), frontend)
    return "\n".join(f"# {path}\n{text}" for path, text in sorted(tree.items()))


def test_each_lifecycle_step_changes_the_rendered_config(demo, billing):
    pytest.importorskip("rendering.render")
    frontend = balancer_services.frontend_create(
        actor=Actor.command("tests"), name="fe1", address="127.0.0.1", transport="local"
    )
    before = rendered(frontend)
    assert "client-one.example.com" not in before

    site = {"domain": "client-one.example.com", "aliases": ["www.client-one.example.com"], "balancer": "bronze"}
    assert billing.post("/api/v1/sites/", {**site, "plone_path": "/plone/clientone"}, format="json").status_code == 201
    active = rendered(frontend)
    assert "client-one.example.com" in active
    assert "www.client-one.example.com" in active
    assert "/plone/clientone" in active

    assert (
        billing.post("/api/v1/sites/client-one.example.com/suspend/", {"reason": "unpaid"}, format="json").status_code
        == 200
    )
    suspended = rendered(frontend)
    assert suspended != active
    for name in ("client-one.example.com", "www.client-one.example.com"):  # its routes.map lines
        assert f"\n{name} live|bronze|/plone/clientone|" in active
        assert f"\n{name} suspended|bronze|/plone/clientone|" in suspended
        assert f"\n{name} live|" not in suspended and f"\n{name} suspended|" not in active

    assert billing.post("/api/v1/sites/client-one.example.com/unsuspend/").status_code == 200
    assert rendered(frontend) == active

    assert billing.delete("/api/v1/sites/client-one.example.com/").status_code == 200
    assert "client-one.example.com" not in rendered(frontend)
