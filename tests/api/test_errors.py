"""Never a 500 page, never HTML: unexpected failures and unknown URLs under /api/ answer JSON."""

from __future__ import annotations

from django.test import RequestFactory

from api.errors import handler404, handler500


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


def test_a_form_encoded_body_is_accepted_and_an_unknown_media_type_is_a_json_415(demo, billing):
    response = billing.post("/api/v1/sites/linux.co.uk/suspend/", {"reason": "unpaid"})  # multipart
    assert response.status_code == 200
    response = billing.generic("POST", "/api/v1/sites/", "<xml/>", content_type="application/xml")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
