"""A billing integrator's view of the API: a Python client generated with openapi-python-client from the
OpenAPI document as the live server serves it drives the whole billing lifecycle, and its wait-until-live
loop ends when two real front-ends (sshd + Apache) answer the change; the example in docs/api.md runs as
written. Deployments run for real: the immediate task backend runs each on the commit of its change."""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from openapi_spec_validator import validate

from api.services import api_token_create
from hostpanel.audit import Actor
from sites.models import Site

pytestmark = pytest.mark.real

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
TESTED_MARKER = "<!-- tested: tests/api/test_generated_client.py -->"
PACKAGE = "hostpanel_client"


def documented_generate_command(schema_url: str) -> list[str]:
    """docs/api.md's openapi-python-client command, pointed at this server's schema."""
    line = next(
        line.strip() for line in DOCS.read_text().splitlines() if line.strip().startswith("openapi-python-client ")
    )
    command = shlex.split(line)
    command[0] = str(Path(sys.executable).with_name("openapi-python-client"))
    command[command.index("--url") + 1] = schema_url
    return command


def documented_example() -> str:
    """The Python block that follows the 'tested' marker in docs/api.md."""
    match = re.search(re.escape(TESTED_MARKER) + r"\s*```python\n(.*?)```", DOCS.read_text(), re.S)
    assert match, f"docs/api.md has no python block after {TESTED_MARKER}"
    return match.group(1)


@pytest.fixture
def world(farm, live_server, settings):
    """Two real front-ends behind the live server; every change deploys at once (immediate backend)."""
    settings.HOSTPANEL_AUTO_DEPLOY = True
    settings.HOSTPANEL_API_RATE = "100000/min"
    return farm


@pytest.fixture
def generated(live_server, tmp_path):
    """The directory holding `hostpanel_client`, generated from /api/v1/schema/ as served (importable while
    the test runs)."""
    out = tmp_path / "generated"
    out.mkdir()
    config = out / "openapi-python-client.yaml"
    config.write_text("post_hooks: []\n")  # no ruff formatting pass: the generated code as generated
    command = documented_generate_command(f"{live_server.url}/api/v1/schema/?format=json")
    result = subprocess.run(
        [*command, "--config", str(config), "--fail-on-warning"], cwd=out, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / PACKAGE / "api" / "sites" / "site_create.py").exists(), result.stdout
    sys.path.insert(0, str(out))
    try:
        yield out
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture
def connect(live_server, generated):
    """connect(key, **options) -> a generated AuthenticatedClient for the live server; each is closed when the
    test ends (an open keep-alive connection keeps a server thread, and its database connection, alive)."""
    with contextlib.ExitStack() as clients:

        def make(key: str, **options):
            client = importlib.import_module(PACKAGE).AuthenticatedClient(
                base_url=live_server.url, token=key, prefix="Token", **options
            )
            return clients.enter_context(client)

        yield make


def billing_key(name: str = "whmcs", scope: str = "billing") -> str:
    _token, key = api_token_create(actor=Actor.command("tests"), name=name, scope=scope)
    return key


def generated_module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def operation(tag: str, operation_id: str) -> ModuleType:
    return generated_module(f"api.{tag.replace('-', '_')}.{operation_id}")


def wait_until_live(client, domain: str, *, timeout: float = 60.0):
    """The integrator's loop: GET the site until `live` (bounded)."""
    site_retrieve, models = operation("sites", "site_retrieve"), generated_module("models")
    deadline = time.monotonic() + timeout
    while True:
        site = site_retrieve.sync(client=client, domain=domain)
        assert isinstance(site, models.Site), site
        if site.live:
            assert site.pending_deployment is None
            return site
        assert time.monotonic() < deadline, f"{domain} not live after {timeout:g} s: {site.to_dict()}"
        time.sleep(0.2)


def answers(host, domain: str, status: int, *, timeout: float = 5.0) -> bool:
    """Does this front-end's Apache answer `status` for `domain` (waiting, bounded, for a graceful reload)?"""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if host.get(domain)[0] == status:
                return True
        except OSError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def served_by_plone(farm, domain: str, plone_path: str) -> bool:
    expected = f"/VirtualHostBase/http/{domain}:80{plone_path}/VirtualHostRoot/"
    return all((host.backend_for(domain) or {}).get("path") == expected for host in farm.hosts)


def test_the_generated_client_drives_the_billing_lifecycle_on_real_front_ends(world, live_server, connect, settings):
    farm = world
    schema_url = f"{live_server.url}/api/v1/schema/?format=json"
    document = httpx.get(schema_url).json()
    validate(document)  # openapi-spec-validator: the document as served

    models = generated_module("models")
    site_create, site_retrieve = operation("sites", "site_create"), operation("sites", "site_retrieve")
    site_list, site_update = operation("sites", "site_list"), operation("sites", "site_update")
    site_suspend, site_unsuspend = operation("sites", "site_suspend"), operation("sites", "site_unsuspend")
    site_delete = operation("sites", "site_delete")
    client = connect(billing_key(), timeout=httpx.Timeout(60.0), raise_on_unexpected_status=True)
    errors: dict[int, httpx.Response] = {}  # one real error answer per status, for the parse check below

    def remember(answer) -> None:
        assert isinstance(answer.parsed, models.Error), (answer.status_code, answer.content)
        assert answer.parsed.code == httpx.Response(answer.status_code, content=answer.content).json()["code"]
        errors[int(answer.status_code)] = httpx.Response(
            answer.status_code, content=answer.content, headers=dict(answer.headers)
        )

    # create, with an Idempotency-Key, and its replay
    order = models.SiteRequest(
        domain="shop.example.com",
        aliases=["www.shop.example.com"],
        balancer="bronze",
        plone_path="/plone/shop",
        customer_ref="WHMCS-1001",
    )
    first = site_create.sync_detailed(client=client, body=order, idempotency_key="order-1001")
    assert first.status_code == 201, first.content
    site = first.parsed
    assert isinstance(site, models.Site)
    assert (site.domain, site.aliases, site.status) == ("shop.example.com", ["www.shop.example.com"], "active")
    assert site.deployment is not None
    replay = site_create.sync_detailed(client=client, body=order, idempotency_key="order-1001")
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.parsed.to_dict() == site.to_dict()
    reused = site_create.sync_detailed(
        client=client,
        body=models.SiteRequest(domain="other.example.com", balancer="bronze", plone_path="/plone/o"),
        idempotency_key="order-1001",
    )
    assert reused.status_code == 422
    remember(reused)

    # live: both real front-ends route the domain and its alias to the Plone site
    live = wait_until_live(client, "shop.example.com")
    assert live.updated_at == site.updated_at
    assert served_by_plone(farm, "shop.example.com", "/plone/shop")
    assert served_by_plone(farm, "www.shop.example.com", "/plone/shop")

    # get, and errors: 404, 409, 400
    assert site_retrieve.sync(client=client, domain="shop.example.com").to_dict() == live.to_dict()
    remember(site_retrieve.sync_detailed(client=client, domain="nope.example.com"))
    taken = site_create.sync_detailed(client=client, body=order)
    assert taken.status_code == 409
    remember(taken)
    bad = site_create.sync_detailed(
        client=client, body=models.SiteRequest(domain="bad.example.com", balancer="bronze", plone_path="/plone/../etc")
    )
    assert bad.status_code == 400
    assert "plone_path" in bad.parsed.errors.additional_properties
    remember(bad)

    # list: pagination and filters
    for i in range(3):
        more = models.SiteRequest(
            domain=f"client{i}.example.net", balancer="bronze", plone_path=f"/plone/client{i}", customer_ref="WHMCS-7"
        )
        assert isinstance(site_create.sync(client=client, body=more), models.Site)
    page1 = site_list.sync(client=client, page_size=2)
    assert (page1.count, len(page1.results), page1.previous) == (4, 2, None)
    assert "page=2" in page1.next_
    page2 = site_list.sync(client=client, page_size=2, page=2)
    assert (len(page2.results), page2.next_) == (2, None)
    assert sorted(s.domain for s in page1.results + page2.results) == sorted(
        ["shop.example.com", "client0.example.net", "client1.example.net", "client2.example.net"]
    )
    assert [s.domain for s in site_list.sync(client=client, search="www.shop").results] == ["shop.example.com"]
    assert site_list.sync(client=client, customer_ref="WHMCS-7").count == 3
    assert site_list.sync(client=client, balancer="bronze", status=models.SiteListStatus.ACTIVE).count == 4
    assert site_list.sync(client=client, status=models.SiteListStatus.SUSPENDED).count == 0
    past = site_list.sync_detailed(client=client, page=99)
    assert past.status_code == 404
    remember(past)

    # change the aliases: the new one is served, the old one falls to the catch-all 404
    changed = site_update.sync(
        client=client, domain="shop.example.com", body=models.PatchedSiteRequest(aliases=["shop.example.org"])
    )
    assert changed.aliases == ["shop.example.org"]
    assert changed.updated_at > live.updated_at
    wait_until_live(client, "shop.example.com")
    assert served_by_plone(farm, "shop.example.org", "/plone/shop")
    assert all(answers(host, "www.shop.example.com", 404) for host in farm.hosts)

    # suspend: Apache answers 503 itself; unsuspend: the Plone site again
    suspended = site_suspend.sync(client=client, domain="shop.example.com", body=models.SuspendRequest(reason="unpaid"))
    assert (suspended.status, suspended.suspended_reason) == (models.SiteStatusEnum.SUSPENDED, "unpaid")
    wait_until_live(client, "shop.example.com")
    assert all(answers(host, "shop.example.com", 503) for host in farm.hosts)
    assert [s.domain for s in site_list.sync(client=client, status=models.SiteListStatus.SUSPENDED).results] == [
        "shop.example.com"
    ]
    unsuspended = site_unsuspend.sync(client=client, domain="shop.example.com")
    assert (unsuspended.status, unsuspended.suspended_reason) == (models.SiteStatusEnum.ACTIVE, "")
    wait_until_live(client, "shop.example.com")
    assert served_by_plone(farm, "shop.example.com", "/plone/shop")

    # errors outside the happy path: 401, 403, 406, 405, 415, 429
    stranger = connect("hp_" + "x" * 48)
    remember(site_list.sync_detailed(client=stranger))
    remember(operation("deployments", "deployment_list").sync_detailed(client=client))  # billing: sites only
    # (a client of its own: with_headers() on a client that has sent requests changes that client too)
    xml_only = connect(billing_key("xml"), headers={"Accept": "application/xml"})
    remember(site_list.sync_detailed(client=xml_only))
    raw = client.get_httpx_client()
    errors[405] = raw.request("PUT", "/api/v1/sites/shop.example.com/", json={})
    errors[415] = raw.post("/api/v1/sites/", data={"domain": "form.example.com"})
    settings.HOSTPANEL_API_RATE = "2/min"
    busy = connect(billing_key("busy"))
    answers_429 = [site_list.sync_detailed(client=busy) for _ in range(3)]
    assert [int(a.status_code) for a in answers_429] == [200, 200, 429]
    assert int(answers_429[-1].headers["Retry-After"]) >= 1
    remember(answers_429[-1])
    settings.HOSTPANEL_API_RATE = "100000/min"
    assert {int(code) for code in errors} == {400, 401, 403, 404, 405, 406, 409, 415, 422, 429}

    # every documented error status of every operation parses into the generated Error model
    checked = 0
    for path, item in document["paths"].items():
        for method, op in item.items():
            module = operation(op["tags"][0], op["operationId"])
            for code in (c for c in op["responses"] if int(c) >= 400):
                parsed = module._parse_response(client=client, response=errors[int(code)])
                assert isinstance(parsed, models.Error), (method, path, code)
                assert parsed.code == errors[int(code)].json()["code"]
                checked += 1
    assert checked > 250

    # delete: gone from the API and from both front-ends
    deleted = site_delete.sync(client=client, domain="shop.example.com")
    assert deleted.deleted == "shop.example.com"
    assert deleted.deployment is not None
    assert site_retrieve.sync(client=client, domain="shop.example.com").code == "not_found"
    assert all(answers(host, "shop.example.com", 404) for host in farm.hosts)


def test_the_documented_example_runs_as_written_and_ends_when_the_site_is_live(world, live_server, generated):
    farm = world
    env = {
        **os.environ,
        "HOSTPANEL_URL": live_server.url,
        "HOSTPANEL_TOKEN": billing_key(),
        "PYTHONPATH": str(generated),
    }
    for _run in range(2):  # the second run is the billing system's retry: a replay, nothing provisioned twice
        result = subprocess.run(
            [sys.executable, "-c", documented_example()], env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == "shop.example.com is live on every front-end"
        assert served_by_plone(farm, "shop.example.com", "/plone/shop")
        assert served_by_plone(farm, "www.shop.example.com", "/plone/shop")
    assert Site.objects.filter(domain="shop.example.com").count() == 1
