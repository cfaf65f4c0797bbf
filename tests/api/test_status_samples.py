"""GET /api/v1/status/ reads the poller's latest samples (no request to any front-end, whatever the
number of callers); `?live=1` asks every front-end now, once, and keeps the answers."""

from __future__ import annotations

from balancers.status.poller import poll_once
from tests.factories import add_manager_frontend
from tests.samples import MANAGER_XML


def test_the_status_reads_the_samples_and_live_1_asks_the_front_ends(demo, actor, reader, canned_server, client):
    url, server = canned_server(body=MANAGER_XML)
    add_manager_frontend(actor, "fe1", url)
    poll_once()
    for _ in range(10):
        body = reader.get("/api/v1/status/").json()
        assert body["live"] is False and body["frontends"][0]["state"] == "ok"
        assert body["frontends"][0]["age"] is not None and body["frontends"][0]["stale"] is False
    assert len(server.requests) == 1  # the poller's, only
    live = reader.get("/api/v1/status/?live=1").json()
    assert live["live"] is True and len(server.requests) == 2
    assert live["balancers"] == body["balancers"]


def test_the_schema_documents_the_live_parameter(db, client):
    schema = client.get("/api/v1/schema/?format=json").json()
    parameters = schema["paths"]["/api/v1/status/"]["get"]["parameters"]
    assert [p["name"] for p in parameters] == ["live"] and "now" in parameters[0]["description"]
