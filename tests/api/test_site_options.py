"""Site options through the API: read back on every site, set on create and PATCH, and a 400 naming the
field with the validator's own message for a bad value (the service validates; the serializer translates)."""

from __future__ import annotations

import pytest

from sites.models import Site


def new_site(**overrides) -> dict:
    return {"domain": "opts.example.com", "balancer": "bronze", "plone_path": "/plone/opts", **overrides}


def test_a_site_without_options_answers_their_defaults(demo, billing):
    body = billing.get("/api/v1/sites/linux.co.uk/").json()
    assert (body["manage_access"], body["blocked_methods"], body["passthrough_paths"], body["edit_host"]) == (
        "public",
        [],
        [],
        "",
    )


def test_options_are_set_on_create_normalised_and_replaced_by_patch(demo, billing):
    created = billing.post(
        "/api/v1/sites/",
        new_site(
            manage_access="staff",
            blocked_methods=["propfind", "PUT"],
            passthrough_paths=["/static/", "/icons/"],
            edit_host="edit.opts.example.com",
        ),
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["blocked_methods"] == ["PUT", "PROPFIND"]
    assert body["passthrough_paths"] == ["/icons/", "/static/"]
    assert (body["manage_access"], body["edit_host"]) == ("staff", "edit.opts.example.com")

    patched = billing.patch(
        "/api/v1/sites/opts.example.com/",
        {"blocked_methods": [], "edit_host": "", "manage_access": "blocked"},
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    site = Site.objects.get(domain="opts.example.com")
    assert (site.manage_access, site.blocked_methods, site.passthrough_paths, site.edit_host) == (
        "blocked",
        [],
        ["/icons/", "/static/"],
        "",
    )


BAD = [
    ("manage_access", "staff-only", "is not a valid choice"),
    ("blocked_methods", ["GET"], "GET cannot be blocked: choose among PUT, DELETE"),
    ("blocked_methods", "PUT", "Expected a list"),
    ("passthrough_paths", ["/"], "would pass everything"),
    ("passthrough_paths", ["/icons/(.*)"], "not a pattern"),
    ("passthrough_paths", ["/icons/ Require all granted"], "must not contain a space"),
    ("edit_host", "edit.example\nInclude /etc/passwd", "newline"),
    ("edit_host", "www.linux.co.uk", "already an alias of the site linux.co.uk"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD, ids=[f"{f}={v!r}" for f, v, _ in BAD])
def test_a_bad_option_is_a_400_naming_the_field_with_a_clear_message(demo, billing, field, value, message):
    response = billing.post("/api/v1/sites/", new_site(**{field: value}), format="json")
    assert response.status_code in (400, 409), response.json()
    errors = response.json()["errors"]
    assert field in errors, errors
    assert message in " ".join(map(str, errors[field])), errors
    assert not Site.objects.filter(domain="opts.example.com").exists()


def test_an_edit_host_taken_by_another_site_is_a_conflict(demo, billing):
    assert (
        billing.patch("/api/v1/sites/linux.co.uk/", {"edit_host": "edit.example.com"}, format="json").status_code == 200
    )
    response = billing.post("/api/v1/sites/", new_site(edit_host="edit.example.com"), format="json")
    assert response.status_code == 409, response.json()
    assert "already the edit host of the site linux.co.uk" in " ".join(response.json()["errors"]["edit_host"])
