"""Never a 500 page, never HTML: unexpected failures and unknown URLs under /api/ answer JSON."""

from __future__ import annotations

from django.test import RequestFactory

from api.errors import handler404, handler500
from sites.models import Site


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(demo, billing, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database exploded: secret detail")

    monkeypatch.setattr("sites.services.site_create", broken)
    body = {"domain": "x.example.com", "balancer": "bronze", "plone_path": "/plone/x"}
    response = billing.post("/api/v1/sites/", body, format="json")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    assert "secret detail" not in response.content.decode()


def test_unknown_urls_under_api_are_json_404s(db, client):
    for path in ("/api/", "/api/v2/sites/", "/api/v1/sites/a/b/c/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json", path


def test_the_django_level_handlers_answer_json_under_api_only(db):
    request = RequestFactory().get("/api/v1/whatever/")
    assert handler500(request)["Content-Type"] == "application/json"
    assert handler404(request, None)["Content-Type"] == "application/json"
    page = RequestFactory().get("/somewhere/")
    assert handler404(page, None)["Content-Type"].startswith("text/html")


def test_a_method_outside_the_contract_is_a_json_405(demo, billing):
    response = billing.put("/api/v1/sites/linux.co.uk/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_only_json_bodies_are_accepted_and_any_other_media_type_is_a_json_415(demo, billing):
    url = "/api/v1/sites/linux.co.uk/suspend/"
    refused = [
        billing.post(url, {"reason": "unpaid"}, format="multipart"),
        billing.generic("POST", url, "reason=unpaid", content_type="application/x-www-form-urlencoded"),
        billing.generic("POST", url, "<xml/>", content_type="application/xml"),
    ]
    for response in refused:
        assert response.status_code == 415, response.request
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "unsupported_media_type"
    assert Site.objects.get(domain="linux.co.uk").status == "active"
    accepted = billing.post(url, {"reason": "unpaid"}, format="json")
    assert accepted.status_code == 200
    assert accepted.json()["suspended_reason"] == "unpaid"
