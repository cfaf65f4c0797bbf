"""The pre-flight check: names must resolve to our front-ends and serve our random check file."""

from __future__ import annotations

import pytest

from certificates import preflight
from certificates.publishing import DirectoryPublisher
from devrig.net import free_port
from devrig.pebble import ChallengeFileServer
from devrig.slow_http import within


@pytest.fixture
def frontend(tmp_path):
    port = free_port()
    server = ChallengeFileServer(tmp_path / "served", port).start()
    yield server
    server.stop()


def publisher_for(directory, port) -> DirectoryPublisher:
    return DirectoryPublisher(directory, frontend_addresses=frozenset({"127.0.0.1"}), http_port=port)


def dns(monkeypatch, answers: dict[str, set[str]]) -> None:
    monkeypatch.setattr(preflight, "resolve_addresses", lambda name, **kw: answers.get(name, set()))


def run(names, publisher):
    return preflight.preflight_check(
        names,
        frontend_addresses=publisher.frontend_addresses,
        publish=publisher.publish,
        unpublish=publisher.unpublish,
        http_port=publisher.http_port,
        timeout=2,
    )


def test_names_that_resolve_to_us_and_serve_the_file_pass(monkeypatch, frontend):
    dns(monkeypatch, {"example.com": {"127.0.0.1"}, "www.example.com": {"127.0.0.1"}})
    publisher = publisher_for(frontend.directory, frontend.port)
    result = run(["example.com", "www.example.com"], publisher)
    assert result.ok and result.reachable == ["example.com", "www.example.com"]
    assert {host for host, _ in frontend.requests} == {"example.com", "www.example.com"}
    assert list(frontend.directory.iterdir()) == []  # the check file is removed again


def test_a_name_pointing_elsewhere_is_reported(monkeypatch, frontend):
    dns(monkeypatch, {"example.com": {"127.0.0.1"}, "www.example.com": {"127.0.0.1", "203.0.113.9"}})
    result = run(["example.com", "www.example.com"], publisher_for(frontend.directory, frontend.port))
    assert result.reachable == ["example.com"]
    assert result.failures == {
        "www.example.com": "www.example.com does not point at our front-ends (it resolves to 203.0.113.9)."
    }


def test_a_name_resolving_nowhere_is_reported_without_publishing(monkeypatch, tmp_path):
    dns(monkeypatch, {})
    published = []
    result = preflight.preflight_check(
        ["gone.example.com"],
        frontend_addresses={"127.0.0.1"},
        publish=lambda token, content: published.append(token),
        unpublish=lambda token: None,
    )
    assert result.report() == "gone.example.com does not point at our front-ends (it does not resolve)."
    assert published == []


def test_a_front_end_that_does_not_serve_the_file_fails_the_name(monkeypatch, frontend, tmp_path):
    dns(monkeypatch, {"example.com": {"127.0.0.1"}})
    publisher = publisher_for(tmp_path / "not-served", frontend.port)  # published where nobody serves it
    result = run(["example.com"], publisher)
    assert "example.com does not reach our front-ends: 127.0.0.1 answered HTTP 404" in result.failures["example.com"]


def test_a_front_end_that_is_down_fails_the_name(monkeypatch, tmp_path):
    dns(monkeypatch, {"example.com": {"127.0.0.1"}})
    result = run(["example.com"], publisher_for(tmp_path, free_port()))
    assert "does not reach our front-ends: 127.0.0.1 port" in result.failures["example.com"]


def test_the_check_file_is_removed_even_when_fetching_fails(monkeypatch, tmp_path):
    dns(monkeypatch, {"example.com": {"127.0.0.1"}})
    publisher = publisher_for(tmp_path / "pub", free_port())
    run(["example.com"], publisher)
    assert list((tmp_path / "pub").iterdir()) == []


def test_a_front_end_that_drips_its_answer_fails_the_name_after_the_timeout(monkeypatch, tmp_path, dripping_server):
    dns(monkeypatch, {"example.com": {"127.0.0.1"}})
    slow = dripping_server(interval=0.5)
    result, elapsed = within(6, lambda: run(["example.com"], publisher_for(tmp_path, slow.port)))
    assert "does not reach our front-ends: 127.0.0.1 port" in result.failures["example.com"]
    assert "no answer within 2 s" in result.failures["example.com"] and elapsed < 2.6, elapsed
