"""A front-end whose imported config the equivalence check found different is held back: manual deploys
(manage.py deploy, Deploy now) refuse it unless the differences are accepted (audited), automatic
deploys leave it out and say so."""

from importlib import import_module

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from balancers.choices import DeploymentTrigger
from balancers.models import DeployHold, Deployment, FrontEnd
from deploy.holds import ACCEPTED_ACTION, EQUIVALENCE_ACTION, hold_record, import_holds
from deploy.runner import deployment_execute
from hostpanel import audit
from hostpanel.models import AuditEntry
from importer.service import import_check_equivalence, import_preview
from tests.factories import ACTOR, make_local_frontend
from tests.realparts import require_binary
from tests.samples import FIXTURES

SEED22 = FIXTURES / "importer" / "seed-2.2"

pytestmark = pytest.mark.django_db


def record_check(frontend: str, differences: int) -> None:
    """What import_check_equivalence records on a front-end (see the real test below)."""
    row = FrontEnd.objects.get(name=frontend)
    summary = {"equivalent": not differences, "differences": differences, "error": ""}
    entry = audit.record(ACTOR, EQUIVALENCE_ACTION, row, key=frontend, before=None, after=summary)
    hold_record(row, differences=differences, error="", checked_at=entry.timestamp, entry_id=entry.pk)


@pytest.mark.real
def test_the_seeds_check_is_recorded_and_deploy_refuses_until_the_differences_are_accepted(demo, tmp_path):
    require_binary("apache2")
    frontend = make_local_frontend(tmp_path)
    report = import_check_equivalence(import_preview(SEED22), actor=ACTOR, frontend=frontend)
    assert not report.equivalent
    assert import_holds()["local1"].differences == report.difference_count
    with pytest.raises(CommandError, match=r"local1: imported config checked .*difference\(s\).*--accept-differences"):
        call_command("deploy", frontend=["local1"])
    assert not Deployment.objects.exists()
    call_command("deploy", frontend=["local1"], accept_differences=True)
    assert Deployment.objects.get().status == "succeeded"
    accepted = AuditEntry.objects.get(action=ACCEPTED_ACTION)
    assert (accepted.object_key, accepted.before["differences"]) == ("local1", report.difference_count)
    assert import_holds() == {}


def test_an_equivalent_check_holds_nothing_and_a_later_one_replaces_an_earlier_one(demo, tmp_path):
    make_local_frontend(tmp_path)
    record_check("local1", 3)
    assert list(import_holds()) == ["local1"]
    record_check("local1", 0)
    assert import_holds() == {}


def test_deploy_now_refuses_a_held_front_end_without_the_tick_and_deploys_with_it(demo, tmp_path, operator_client):
    make_local_frontend(tmp_path)
    record_check("local1", 2)
    page = operator_client.get(reverse("balancers:deploy_now"))
    assert b"local1: imported config checked" in page.content
    refused = operator_client.post(reverse("balancers:deploy_now"), follow=True)
    assert b"behaves differently" in refused.content and not Deployment.objects.exists()
    operator_client.post(reverse("balancers:deploy_now"), {"accept_differences": "on"})
    assert Deployment.objects.filter(trigger=DeploymentTrigger.MANUAL).count() == 1
    assert AuditEntry.objects.filter(action=ACCEPTED_ACTION, object_key="local1").count() == 1


def test_an_automatic_deploy_leaves_a_held_front_end_out_and_says_so(demo, tmp_path):
    make_local_frontend(tmp_path)
    make_local_frontend(tmp_path, name="local2", config_dir=str(tmp_path / "local2" / "hostpanel"))
    record_check("local1", 1)
    deployment = Deployment.objects.create(status="queued", trigger=DeploymentTrigger.AUTOMATIC, actor="tester")
    done = deployment_execute(deployment.pk)
    assert [h.frontend_name for h in done.hosts.all()] == ["local2"]
    assert done.message == "Held back (imported config with unaccepted differences): local1"


def test_a_renamed_front_end_keeps_its_hold(demo, tmp_path):
    frontend = make_local_frontend(tmp_path)
    record_check("local1", 2)
    frontend.name = "edge-renamed"
    frontend.save()
    assert list(import_holds()) == ["edge-renamed"]
    with pytest.raises(CommandError, match="edge-renamed: imported config checked"):
        call_command("deploy", frontend=["edge-renamed"])


def test_the_hold_is_a_row_and_not_read_back_from_the_audit_log(demo, tmp_path):
    make_local_frontend(tmp_path)
    record_check("local1", 2)
    AuditEntry.objects.filter(action=EQUIVALENCE_ACTION).delete()  # history pruned or edited: the hold stays
    assert import_holds()["local1"].differences == 2
    assert DeployHold.objects.get().frontend.name == "local1"


def test_the_migration_turns_each_front_ends_latest_audited_check_into_its_hold(demo, tmp_path):
    holds_from_audit = import_module("balancers.migrations.0010_deploy_hold").holds_from_audit
    make_local_frontend(tmp_path)
    make_local_frontend(tmp_path, name="local2", config_dir=str(tmp_path / "local2" / "hostpanel"))
    make_local_frontend(tmp_path, name="local3", config_dir=str(tmp_path / "local3" / "hostpanel"))
    for key, action, after in [
        ("local1", EQUIVALENCE_ACTION, {"differences": 3, "error": ""}),
        ("local2", EQUIVALENCE_ACTION, {"differences": 0, "error": "apache2 refused it"}),
        ("local3", EQUIVALENCE_ACTION, {"differences": 4, "error": ""}),
        ("local3", ACCEPTED_ACTION, {"accepted": True}),
        ("gone", EQUIVALENCE_ACTION, {"differences": 1, "error": ""}),
    ]:
        AuditEntry.objects.create(actor="t", action=action, object_type="frontend", object_key=key, after=after)
    holds_from_audit(apps, None)
    assert {h.frontend: (h.differences, h.error) for h in import_holds().values()} == {
        "local1": (3, ""),
        "local2": (0, "apache2 refused it"),
    }
