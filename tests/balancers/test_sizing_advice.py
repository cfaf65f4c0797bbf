"""balancers.capacity.sizing_advice: the MPM sizing rule with a front-end's own numbers (pure)."""

from __future__ import annotations

from balancers.capacity import ApacheFacts, peak_clients_seen, sizing_advice, threads_needed, workers_needed


def facts(max_workers: int = 32, server_limit: int = 2, threads: int = 16, mpm: str = "event") -> ApacheFacts:
    limits = {"MaxRequestWorkers": max_workers, "ServerLimit": server_limit, "ThreadsPerChild": threads}
    return ApacheFacts(checked_at="2026-12-07T17:00:00+00:00", mpm=mpm, limits=limits)


def test_each_process_holds_the_peak_and_there_are_at_least_two_twice_the_workers_with_node_vhosts():
    assert threads_needed(16, threads_per_child=16) == 32  # 16 x 1.25 = 20, in steps of 16
    assert workers_needed(16, threads_per_child=16) == 64  # two processes
    assert threads_needed(64, threads_per_child=16) == 80
    assert workers_needed(64, threads_per_child=16) == 160  # 2 x 80 (8 x 16 lost requests)
    assert threads_needed(64, node_vhosts=True, threads_per_child=16) == 160  # both hops
    assert workers_needed(64, node_vhosts=True, threads_per_child=16) == 320
    assert workers_needed(10) == 50  # ThreadsPerChild unknown: Apache's default 25, two processes
    assert threads_needed(52) == 80  # 65, in steps of 16
    assert threads_needed(1000) == 256 and workers_needed(1000) == 5 * 256  # capped: whole processes of 256


def test_a_front_end_too_small_for_its_peak_is_told_what_to_set():
    advice = sizing_advice(facts(), 64, peak_source="seen")
    assert advice.enough is False and advice.max_request_workers == 160 and advice.processes == 2
    assert advice.threads_per_child == 80
    assert advice.server_limit == 4  # room for a whole old generation during a graceful restart
    text = "\n".join(advice.lines)
    assert "mpm_event with MaxRequestWorkers 32" in text and "too small" in text and "failed requests" in text
    assert "mpm_worker" in text
    assert "ServerLimit 2 equals MaxRequestWorkers / ThreadsPerChild (2)" in text
    assert advice.config == (
        "<IfModule mpm_event_module>\n    ServerLimit 4\n    ThreadLimit 80\n    ThreadsPerChild 80\n"
        "    MaxRequestWorkers 160\n</IfModule>\n"
    )


def test_node_vhosts_need_a_worker_on_each_hop():
    advice = sizing_advice(facts(max_workers=96, server_limit=12, threads=16), 64, node_vhosts=True)
    assert advice.hops == 2 and advice.max_request_workers == 320 and advice.enough is False
    assert "two workers per request" in "\n".join(advice.lines)
    assert advice.server_limit_ok is True  # 12 slots for 6 active processes
    assert "ThreadLimit 160\n    ThreadsPerChild 160\n" in advice.config  # above Apache's default ThreadLimit 64


def test_a_large_enough_front_end_is_said_to_be_enough():
    advice = sizing_advice(facts(max_workers=256, server_limit=8, threads=128), 100)
    assert advice.enough is True and advice.server_limit_ok is True
    assert "MaxRequestWorkers 256 is enough." in advice.lines


def test_many_small_processes_are_not_enough_even_with_more_workers_than_clients():
    advice = sizing_advice(facts(max_workers=400, server_limit=32, threads=25), 100)
    assert advice.enough is False and advice.threads_per_child == 128 and advice.max_request_workers == 256


def test_without_facts_or_peak_it_says_what_is_missing():
    advice = sizing_advice(ApacheFacts())
    text = "\n".join(advice.lines)
    assert "run its connection test" in text and "Peak concurrent clients unknown" in text
    assert advice.enough is None and advice.config == "" and advice.max_request_workers == 0


def test_the_peak_seen_is_busy_plus_keepalive_halved_for_node_vhosts():
    assert peak_clients_seen([(10, 5), (30, 12), (2, 0)]) == 42
    assert peak_clients_seen([(30, 12)], node_vhosts=True) == 21
    assert peak_clients_seen([]) is None
