"""One wall-clock deadline around every request of the one HTTP client: a peer on 127.0.0.1 that drips its
headers one byte every 0.5 s (each read gets its byte in time) is cut when the deadline passes and the
connection is closed; the poller samples the other front-ends in time and leaves no thread behind."""

from __future__ import annotations

import threading
import time

import pytest

from balancers import services
from balancers.models import BalancerMember, FrontEndSnapshot, StatusSample
from devrig.slow_http import within
from hostpanel.http import http_exchange, url_answers
from status.manager import ManagerEndpoint, fetch_all, fetch_manager
from status.parse import HostState
from status.poller import poll_once
from tests.factories import add_manager_frontend
from tests.samples import MANAGER_XML as XML


def endpoint(url: str, name: str = "fe") -> ManagerEndpoint:
    return ManagerEndpoint(frontend_id=None, frontend_name=name, url=url)


def panel_threads() -> int:
    """Threads of the process, not counting the slow server's own (it keeps one per open connection)."""
    return sum(not t.name.startswith("dripping") for t in threading.enumerate())


def test_a_manager_that_drips_its_headers_is_a_timeout_at_the_deadline_and_the_connection_is_closed(
    dripping_server,
):
    slow = dripping_server(interval=0.5)
    host, elapsed = within(6, lambda: fetch_manager(endpoint(slow.url), timeout=1.5))
    assert host.state == HostState.TIMEOUT and "within 1.5 s" in host.reason
    assert 1.4 < elapsed < 2.2, elapsed
    time.sleep(1.2)  # the server notices the close at its next byte
    assert slow.closed_after[0] is not None and slow.closed_after[0] < 3.0, slow.closed_after


def test_a_webhook_health_or_probe_target_that_drips_is_given_up_at_the_deadline(dripping_server):
    slow = dripping_server(interval=0.5)
    answer, elapsed = within(6, lambda: http_exchange("POST", slow.url, body=b"{}", timeout=1.0))
    assert answer.status == 0 and answer.error == "no answer within 1 s"
    assert 0.9 < elapsed < 1.6, elapsed
    (ok, detail), elapsed = within(6, lambda: url_answers(slow.url, timeout=1.0))
    assert not ok and detail == "no answer within 1 s" and elapsed < 1.6, elapsed


def test_a_member_toggle_does_not_hang_on_a_dripping_front_end(demo, actor, settings, dripping_server):
    settings.HOSTPANEL_STATUS_TIMEOUT = 1.0
    add_manager_frontend(actor, "fe-slow", dripping_server(interval=0.5).url)
    zope2 = BalancerMember.objects.select_related("zope_server", "balancer").get(
        balancer=demo, zope_server__name="zope2"
    )
    result, elapsed = within(8, lambda: services.member_set_flags(zope2, actor=actor, drain=True))
    [frontend] = result.frontends
    assert not frontend.ok and "timeout" in frontend.reason
    assert elapsed < 2.5, elapsed


@pytest.mark.django_db
def test_the_poller_samples_the_other_front_ends_in_time_while_one_manager_drips(
    actor, settings, canned_server, dripping_server
):
    settings.HOSTPANEL_STATUS_TIMEOUT = 1.0
    ok_url, _ = canned_server(body=XML)
    add_manager_frontend(actor, "fe-ok", ok_url)
    add_manager_frontend(actor, "fe-slow", dripping_server(interval=0.5).url)
    result, elapsed = within(8, poll_once)
    assert elapsed < 2.0, elapsed
    assert (result.hosts, result.hosts_ok) == (2, 1)
    assert StatusSample.objects.filter(frontend__name="fe-ok").exists()
    states = dict(FrontEndSnapshot.objects.values_list("frontend__name", "state"))
    assert states == {"fe-ok": HostState.OK, "fe-slow": HostState.TIMEOUT}


def test_polling_rounds_leave_no_thread_behind(canned_server, dripping_server):
    ok_url, _ = canned_server(body=XML)
    slow = dripping_server(interval=0.5)
    endpoints = [endpoint(ok_url, "a"), endpoint(slow.url, "b"), endpoint(slow.url, "c")]
    fetch_all(endpoints[:1], timeout=0.5)  # the canned server's own threads are up
    before = panel_threads()
    for _round in range(5):
        hosts, _elapsed = within(5, lambda: fetch_all(endpoints, timeout=0.6))
        assert [h.state for h in hosts] == [HostState.OK, HostState.TIMEOUT, HostState.TIMEOUT]
    time.sleep(0.2)
    assert panel_threads() <= before + 1, [t.name for t in threading.enumerate()]
