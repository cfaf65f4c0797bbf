"""mod_status's ?auto page: parsed from a real 2.4.71 answer, older and odd pages handled, everything that is
not a ?auto page refused with a state and a reason; requests/s from two samples."""

from __future__ import annotations

import datetime

import pytest

from status.modstatus import parse_server_status, requests_per_second, status_url_for, with_auto
from status.parse import HostState, StatusError
from tests.samples import FIXTURES

AUTO = (FIXTURES / "server-status-2.4.71-auto.txt").read_bytes()


def test_it_reads_workers_connections_and_the_access_counter_of_a_real_answer():
    figures = parse_server_status(AUTO)
    assert (figures.busy, figures.idle, figures.graceful, figures.slots) == (1, 31, 0, 32)
    assert (figures.connections, figures.keepalive, figures.closing) == (0, 0, 0)
    assert figures.total_accesses == 1 and figures.mpm == "event"


def test_without_graceful_workers_line_it_counts_g_in_the_scoreboard_and_without_extendedstatus_no_total():
    page = b"BusyWorkers: 5\nIdleWorkers: 2\nConnsTotal: 9\nConnsAsyncKeepAlive: 3\nConnsAsyncClosing: 1\n"
    page += b"Scoreboard: WWWWWGG__...\n"
    figures = parse_server_status(page)
    assert (figures.busy, figures.idle, figures.graceful, figures.slots) == (5, 2, 2, 12)
    assert (figures.connections, figures.keepalive, figures.closing) == (9, 3, 1)
    assert figures.total_accesses is None


@pytest.mark.parametrize(
    ("body", "state", "words"),
    [
        (b"<!DOCTYPE html><html><body>Apache Status</body></html>", HostState.HTML, "HTML"),
        (b"hello, I am not mod_status", HostState.JUNK, "BusyWorkers"),
        (b"BusyWorkers: many\nIdleWorkers: 1\n", HostState.JUNK, "not a number"),
        ("BusyWorkers: 1\nIdleWorkers: \u00e9\n".encode(), HostState.JUNK, "ASCII"),
        (b"BusyWorkers: 1\nIdleWorkers: 1\n" + b"Scoreboard: " + b"_" * 300_000, HostState.JUNK, "larger"),
    ],
)
def test_anything_but_a_status_page_is_refused_with_a_reason(body, state, words):
    with pytest.raises(StatusError) as caught:
        parse_server_status(body)
    assert caught.value.state == state and words in caught.value.reason


def test_requests_per_second_needs_two_samples_and_a_counter_that_did_not_go_back():
    t0 = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    t1 = t0 + datetime.timedelta(seconds=30)
    assert requests_per_second(1000, t0, 4000, t1) == 100.0
    assert requests_per_second(None, None, 4000, t1) is None  # first sample
    assert requests_per_second(1000, t0, None, t1) is None  # ExtendedStatus turned off
    assert requests_per_second(5000, t0, 40, t1) is None  # Apache restarted in between
    assert requests_per_second(1000, t1, 2000, t1) is None


def test_the_status_url_defaults_to_the_managers_origin_and_always_asks_for_auto():
    assert status_url_for("https://fe1.example:8443/balancer-manager") == "https://fe1.example:8443/server-status?auto"
    assert status_url_for("http://x/balancer-manager", "http://10.0.0.5/status") == "http://10.0.0.5/status"
    assert status_url_for("") == ""
    assert with_auto("http://10.0.0.5/status") == "http://10.0.0.5/status?auto"
    assert with_auto("http://10.0.0.5/server-status?auto") == "http://10.0.0.5/server-status?auto"
    assert with_auto("http://10.0.0.5/s?x=1") == "http://10.0.0.5/s?x=1&auto"
