"""Idempotency-Key on POST: a retry replays the first response without a second write; the same
key with another body is a 422; errors are not remembered."""

from __future__ import annotations

import datetime

from django.utils import timezone

from api.models import ApiToken, IdempotencyRecord
from hostpanel.models import AuditEntry
from sites.models import Site

SITE = {
    "domain": "idem.example.com",
    "balancer": "bronze",
    "plone_path": "/plone/idem",
    "aliases": ["www.idem.example.com"],
}


def test_a_retried_create_returns_the_first_response_and_creates_once(demo, billing):
    first = billing.post("/api/v1/sites/", SITE, format="json", HTTP_IDEMPOTENCY_KEY="order-1001")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    retry = billing.post("/api/v1/sites/", SITE, format="json", HTTP_IDEMPOTENCY_KEY="order-1001")
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Site.objects.filter(domain="idem.example.com").count() == 1
    assert AuditEntry.objects.filter(action="site.create", object_key="idem.example.com").count() == 1


def test_without_the_key_a_retry_is_a_conflict_not_a_replay(demo, billing):
    assert billing.post("/api/v1/sites/", SITE, format="json").status_code == 201
    assert billing.post("/api/v1/sites/", SITE, format="json").status_code == 409


def test_the_same_key_with_another_body_is_a_422(demo, billing):
    assert billing.post("/api/v1/sites/", SITE, format="json", HTTP_IDEMPOTENCY_KEY="k-1").status_code == 201
    other = dict(SITE, domain="other.example.com")
    response = billing.post("/api/v1/sites/", other, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert not Site.objects.filter(domain="other.example.com").exists()


def test_the_same_key_on_another_path_is_a_422(demo, billing):
    assert billing.post("/api/v1/sites/", SITE, format="json", HTTP_IDEMPOTENCY_KEY="k-2").status_code == 201
    response = billing.post("/api/v1/sites/idem.example.com/suspend/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 422
    assert Site.objects.get(domain="idem.example.com").status == "active"


def test_keys_belong_to_one_token(demo, client_for):
    one, two = client_for("billing", name="one"), client_for("billing", name="two")
    assert one.post("/api/v1/sites/", SITE, format="json", HTTP_IDEMPOTENCY_KEY="shared").status_code == 201
    other = dict(SITE, domain="two.example.com", aliases=[])
    assert two.post("/api/v1/sites/", other, format="json", HTTP_IDEMPOTENCY_KEY="shared").status_code == 201


def test_a_failed_request_is_not_remembered_so_a_corrected_retry_runs(demo, billing):
    bad = dict(SITE, plone_path="/plone/../x")
    assert billing.post("/api/v1/sites/", bad, format="json", HTTP_IDEMPOTENCY_KEY="fix-me").status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert billing.post("/api/v1/sites/", SITE, format="json", HTTP_IDEMPOTENCY_KEY="fix-me").status_code == 201


def test_a_replayed_suspend_does_not_suspend_again(demo, billing):
    url = "/api/v1/sites/linux.co.uk/suspend/"
    assert billing.post(url, {"reason": "unpaid"}, format="json", HTTP_IDEMPOTENCY_KEY="s-1").status_code == 200
    billing.post("/api/v1/sites/linux.co.uk/unsuspend/")
    replay = billing.post(url, {"reason": "unpaid"}, format="json", HTTP_IDEMPOTENCY_KEY="s-1")
    assert replay.status_code == 200
    assert replay.json()["status"] == "suspended"  # the remembered answer ...
    assert Site.objects.get(domain="linux.co.uk").status == "active"  # ... and no second write


def test_a_key_still_in_progress_is_a_409(demo, billing):
    first = billing.post("/api/v1/sites/linux.co.uk/unsuspend/", HTTP_IDEMPOTENCY_KEY="busy")
    assert first.status_code == 200
    record = IdempotencyRecord.objects.get(key="busy")
    record.response_status = 0  # as if the first request were still running
    record.save()
    response = billing.post("/api/v1/sites/linux.co.uk/unsuspend/", HTTP_IDEMPOTENCY_KEY="busy")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_progress"
    assert ApiToken.objects.count() == 1


def test_an_unusable_key_is_a_400(demo, billing):
    response = billing.post("/api/v1/sites/", SITE, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]


def test_old_records_are_pruned(demo, billing):
    billing.post("/api/v1/sites/", SITE, format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - datetime.timedelta(hours=25))
    other = dict(SITE, domain="later.example.com", aliases=[])
    billing.post("/api/v1/sites/", other, format="json", HTTP_IDEMPOTENCY_KEY="new")
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
