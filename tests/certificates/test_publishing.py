"""Challenges on every enabled front-end (deploy.challenges), registered at start-up, and the
batching of a scan's certificates into one deployment (one reload per front-end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from balancers.models import Balancer, Deployment, FrontEnd
from balancers.services import frontend_update
from certificates.choices import AttemptOutcome
from certificates.models import Certificate
from certificates.publishing import frontends_publisher
from certificates.services import certificates_run_due
from deploy.challenges import ChallengePublishError, FrontendsChallengePublisher
from rendering.manifest import challenge_dir
from sites import services as site_services
from tests.factories import ACTOR, make_local_frontend, reloads


@pytest.fixture
def frontends(db, tmp_path):
    return [make_local_frontend(tmp_path, name) for name in ("local1", "local2")]


def token_file(frontend: FrontEnd, token: str) -> Path:
    return Path(challenge_dir(frontend.config_dir)) / token


def test_the_app_registers_a_publisher_for_every_enabled_front_end(frontends):
    frontend_update(frontends[1], actor=ACTOR, enabled=False)
    publisher = frontends_publisher()
    assert isinstance(publisher, FrontendsChallengePublisher)
    assert [f.name for f in publisher.frontends] == ["local1"]
    assert publisher.frontend_addresses == frozenset({"127.0.0.1"})
    assert publisher.http_port == 80


def test_a_token_lands_on_every_front_end_without_a_reload_and_goes_away(frontends, tmp_path):
    publisher = FrontendsChallengePublisher(frontends)
    publisher.publish("tok_en-1", "key-authorization")
    for frontend in frontends:
        path = token_file(frontend, "tok_en-1")
        assert path.read_text() == "key-authorization" and path.stat().st_mode & 0o777 == 0o644
        assert not path.parent.is_relative_to(frontend.config_dir)  # outside every release
    assert reloads(tmp_path, "local1") == reloads(tmp_path, "local2") == 0
    publisher.unpublish("tok_en-1")
    assert not any(token_file(f, "tok_en-1").exists() for f in frontends)


def test_one_front_end_failing_names_it_and_leaves_the_token_nowhere(frontends, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the challenge directory's parent should be")
    frontend_update(frontends[1], actor=ACTOR, config_dir=str(blocked / "hostpanel"))
    publisher = FrontendsChallengePublisher(FrontEnd.objects.order_by("name"))
    with pytest.raises(ChallengePublishError, match=r"every front-end \(local2: cannot create"):
        publisher.publish("tok", "ka")
    assert not token_file(frontends[0], "tok").exists()


def test_a_token_that_is_not_base64url_is_refused():
    with pytest.raises(ValueError, match="not an ACME token"):
        FrontendsChallengePublisher([]).publish("../../etc/passwd", "x")


@pytest.mark.real
def test_a_scan_of_ten_certificates_is_one_deployment_and_one_reload_per_front_end(
    transactional_db, frontends, tmp_path, settings, pebble_ca, challenge_server, secrets_key
):
    settings.HOSTPANEL_ACME_DIRECTORY = pebble_ca.directory_url
    settings.HOSTPANEL_ACME_CA_BUNDLE = pebble_ca.ca_bundle
    settings.HOSTPANEL_DNS_RESOLVER = pebble_ca.dns_resolver
    settings.HOSTPANEL_ACME_ORDER_TIMEOUT = 30
    publisher, _server = challenge_server  # pebble validates on the stand-in; the local front-ends count reloads
    settings.HOSTPANEL_AUTO_DEPLOY = True
    settings.TASKS_BACKEND, settings.HOSTPANEL_WAKE_DIR = "db", tmp_path / "wake"  # no ACME worker listens: the scan
    Balancer.objects.create(name="bronze")
    for i in range(10):
        site_services.site_create(actor=ACTOR, domain=f"s{i}.example", balancer="bronze", plone_path="/plone/s")
    deployments = Deployment.objects.count()
    before = [reloads(tmp_path, f.name) for f in frontends]

    attempts = certificates_run_due(frontends_publisher=publisher, limit=50)
    assert [a.outcome for a in attempts] == [AttemptOutcome.ISSUED] * 10
    assert Certificate.objects.exclude(serial="").count() == 10
    assert Deployment.objects.count() == deployments + 1
    assert [reloads(tmp_path, f.name) for f in frontends] == [n + 1 for n in before]
