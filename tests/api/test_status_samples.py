"""GET /api/v1/status/ reads the poller's latest samples (no request to any front-end, whatever the
number of callers); `?live=1` asks every front-end now, once, and keeps the answers — for operator tokens and
operators only: a read token or a viewer gets 403 and makes no request, writes no sample."""

from __future__ import annotations

from balancers.models import FrontEndSnapshot
from status.poller import poll_once
from tests.factories import add_manager_frontend
from tests.samples import MANAGER_XML


def test_the_status_reads_the_samples_and_live_1_asks_the_front_ends(
    demo, actor, reader, operator, canned_server, client
):
    url, server = canned_server(body=MANAGER_XML)
    add_manager_frontend(actor, "fe1", url)
    poll_once()
    for _ in range(10):
        body = reader.get("/api/v1/status/").json()
        assert body["live"] is False and body["frontends"][0]["state"] == "ok"
        assert body["frontends"][0]["age"] is not None and body["frontends"][0]["stale"] is False
    assert len(server.requests) == 2  # the poller's only: the balancer-manager and mod_status
    live = operator.get("/api/v1/status/?live=1").json()
    assert live["live"] is True and len(server.requests) == 3  # ?live=1 asks the balancer-manager
    assert live["balancers"] == body["balancers"]


def test_the_schema_documents_the_live_parameter(db, client):
    schema = client.get("/api/v1/schema/?format=json").json()
    parameters = schema["paths"]["/api/v1/status/"]["get"]["parameters"]
    assert [p["name"] for p in parameters] == ["live"] and "now" in parameters[0]["description"]


def test_live_1_is_refused_to_a_read_token_and_a_viewer_and_asks_no_front_end(
    demo, actor, reader, operator, canned_server, viewer_client
):
    url, server = canned_server(body=MANAGER_XML)
    add_manager_frontend(actor, "fe1", url)
    poll_once()
    sampled = FrontEndSnapshot.objects.get().fetched_at
    refused = reader.get("/api/v1/status/?live=1")
    assert refused.status_code == 403 and "operator" in refused.json()["detail"]
    assert viewer_client.get("/api/v1/status/?live=1").status_code == 403
    assert reader.get("/api/v1/status/").json()["live"] is False  # the stored samples stay readable
    assert len(server.requests) == 2 and FrontEndSnapshot.objects.get().fetched_at == sampled  # the poller's only
    assert operator.get("/api/v1/status/?live=1").json()["live"] is True and len(server.requests) == 3
