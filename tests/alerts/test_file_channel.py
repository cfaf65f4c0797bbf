"""The file alert channel: one JSON line per message, appended to a file under the var directory's alerts/,
set up by staff (never through the API), its name checked so nothing is written anywhere else."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from alerts.choices import NotificationStatus
from alerts.services import alert_channel_create, alert_channel_test
from hostpanel.audit import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def test_a_file_channel_appends_one_json_line_per_message_under_the_var_dir(var_dir, actor):
    channel = alert_channel_create(
        actor=actor, name="local-file", kind="file", target="alerts.jsonl", events=["member_down"]
    )
    first = alert_channel_test(channel, actor=actor)
    second = alert_channel_test(channel, actor=actor)
    assert first.status == second.status == NotificationStatus.SENT
    path = var_dir / "alerts" / "alerts.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["test", "test"]
    assert lines[0]["subject"] == "local-file"
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


@pytest.mark.parametrize("target", ["../secret_key", "/etc/passwd", "a/b.jsonl", "..", ".hidden", "x" * 101, ""])
def test_a_file_channel_refuses_any_target_but_a_plain_file_name(var_dir, actor, target):
    with pytest.raises(ValidationError) as info:
        alert_channel_create(actor=actor, name="bad", kind="file", target=target, events=["member_down"])
    assert "target" in info.value.message_dict
    assert not (var_dir / "alerts").exists()


def test_an_api_token_may_not_set_up_a_file_channel(var_dir):
    with pytest.raises(ValidationError) as info:
        alert_channel_create(
            actor=Actor(name="token", source="api"), name="f", kind="file", target="a.jsonl", events=["member_down"]
        )
    assert "kind" in info.value.message_dict
