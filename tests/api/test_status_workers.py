"""GET /api/v1/status/ carries each front-end's Apache workers (mod_status samples): the dashboard's data,
described in the OpenAPI schema."""

from __future__ import annotations

from django.utils import timezone

from balancers.models import WorkerSample
from tests.factories import add_manager_frontend


def test_each_front_end_has_a_workers_block(db, actor, reader):
    frontend = add_manager_frontend(actor, "fe1", "http://127.0.0.1:1/balancer-manager")
    WorkerSample.objects.create(
        frontend=frontend, taken_at=timezone.now(), busy=12, idle=20, slots=32, max_workers=32, keepalive=4,
        closing=1, connections=17, total_accesses=500, requests_per_second=41.5,
    )  # fmt: skip
    (fe,) = reader.get("/api/v1/status/").json()["frontends"]
    workers = fe["workers"]
    assert workers["limit"] == 32 and workers["percent"] == 37.5 and workers["saturated"] is False
    assert workers["latest"]["busy"] == 12 and workers["latest"]["requests_per_second"] == 41.5
    assert workers["busy"][-1] == 12


def test_the_schema_describes_the_workers_block(db, client):
    schema = client.get("/api/v1/schema/?format=json").json()
    components = schema["components"]["schemas"]
    assert components["StatusFrontEnd"]["properties"]["workers"]
    assert {"limit", "latest", "busy", "saturated"} <= set(components["StatusWorkers"]["properties"])
    assert components["StatusWorkers"]["properties"]["latest"]["nullable"] is True
