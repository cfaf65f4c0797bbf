"""The dashboard's summary band says what is wrong at a glance (balancers on hot standby only, members
down, front-ends unreachable, deployments failed, certificates, open alerts), each a count with links, and
"Nothing needs attention" otherwise; a member Apache marked in error is "down" with the reason beside its
"settings in sync". Read from the real balancer-manager capture (tests/fixtures), with the demo's ports."""

from __future__ import annotations

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert
from balancers.choices import DeploymentStatus
from balancers.models import Deployment
from status.poller import poll_once
from tests.factories import add_manager_frontend, manager_url
from tests.samples import MANAGER_XML

# the capture's workers, moved to the demo's Zope server ports (seed_demo.DEMO_SERVERS)
DEMO_PORTS = {
    b"127.0.0.1:52703": b"127.0.0.1:18101",
    b"127.0.0.1:54963": b"127.0.0.1:18102",
    b"127.0.0.1:54209": b"127.0.0.1:18103",
}


def capture(*, zope1: str = "Init Ok ", zope2: str = "Init Ok ") -> bytes:
    """The captured XML with bronze's zope1 and zope2 in the given states (its backup stays 'Init Stby Ok')."""
    xml = MANAGER_XML
    for old, new in DEMO_PORTS.items():
        xml = xml.replace(old, new)
    bronze, rest = xml.split(b"balancer://silver", 1)
    first, second = bronze.split(b"<httpd:status>Init Ok </httpd:status>", 1)
    bronze = first + f"<httpd:status>{zope1}</httpd:status>".encode() + second
    bronze = bronze.replace(b"<httpd:status>Init Err </httpd:status>", f"<httpd:status>{zope2}</httpd:status>".encode())
    return bronze + b"balancer://silver" + rest


def band(html: str) -> str:
    return html.split('id="summary"', 1)[1].split("</section>", 1)[0]


def test_nothing_wrong_says_so(demo, operator_client):
    html = operator_client.get("/").content.decode()
    assert "Nothing needs attention" in band(html) and "summary-item" not in band(html)


def test_a_balancer_on_its_hot_standby_alone_and_a_member_down_are_listed_and_explained(
    demo, actor, operator_client, canned_server
):
    url, _ = canned_server(body=capture(zope1="Init Dis ", zope2="Init Err "))
    add_manager_frontend(actor, "fe1", url)
    poll_once()
    html = operator_client.get("/").content.decode()
    summary = band(html)
    assert "What needs attention" in summary
    assert 'data-key="standby_only" data-count="1"' in summary and "bronze on fe1" in summary
    assert 'data-key="members_down"' in summary and "zope2 (bronze) on fe1" in summary
    assert 'href="/#balancer-bronze"' in summary
    zope2_row = html.split('id="balancer-bronze"', 1)[1].split('data-member="zope2"', 1)[1].split("</tr>", 1)[0]
    assert ">down<" in zope2_row and "Apache could not reach it" in zope2_row
    assert "settings in sync" in zope2_row and "but the member is down" in zope2_row  # never green alone


def test_regular_members_serving_is_not_standby_only(demo, actor, operator_client, canned_server):
    url, _ = canned_server(body=capture())
    add_manager_frontend(actor, "fe1", url)
    poll_once()
    summary = band(operator_client.get("/").content.decode())
    assert "standby_only" not in summary and "members_down" not in summary


def test_unreachable_front_ends_failed_deployments_and_open_alerts_are_counted_with_links(
    demo, actor, operator_client, closed_port
):
    fe = add_manager_frontend(actor, "fe-down", manager_url(closed_port))
    poll_once()
    failed = Deployment.objects.create(actor="t", status=DeploymentStatus.FAILED)
    Deployment.objects.create(actor="t", status=DeploymentStatus.SUCCEEDED)
    now = timezone.now()
    alert = Alert.objects.create(
        event="member_down",
        subject="fe1/bronze/zope2",
        summary="zope2 is down",
        state="open",
        first_seen_at=now,
        last_seen_at=now,
    )
    summary = band(operator_client.get("/").content.decode())
    assert 'data-key="frontends_unreachable" data-count="1"' in summary and f'href="/frontends/{fe.pk}/"' in summary
    assert 'data-key="deployments_failed" data-count="1"' in summary and f'href="/deployments/{failed.pk}/"' in summary
    assert 'data-key="alerts_open" data-count="1"' in summary and f'href="/alerts/{alert.pk}/"' in summary
    Deployment.objects.filter(pk=failed.pk).update(created_at=now - datetime.timedelta(days=2))
    assert "deployments_failed" not in band(operator_client.get("/").content.decode())  # only the last 24 h


def test_the_band_costs_the_same_queries_with_one_or_many_problems(
    demo, actor, operator_client, canned_server, django_assert_max_num_queries
):
    url, _ = canned_server(body=capture(zope1="Init Dis ", zope2="Init Err "))
    add_manager_frontend(actor, "fe1", url)
    Deployment.objects.create(actor="t", status=DeploymentStatus.FAILED)
    poll_once()
    operator_client.get("/")
    with CaptureQueriesContext(connection) as one:
        operator_client.get("/")
    for i in range(2, 8):
        add_manager_frontend(actor, f"fe{i}", url)
        Deployment.objects.create(actor="t", status=DeploymentStatus.FAILED)
    poll_once()
    with django_assert_max_num_queries(len(one.captured_queries)):
        html = operator_client.get("/").content.decode()
    summary = band(html)
    assert (
        'data-key="standby_only" data-count="7"' in summary
        and 'data-key="deployments_failed" data-count="7"' in summary
    )
