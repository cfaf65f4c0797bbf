"""The usage log in the rendered tree: on only for a front-end with a usage_log_dir, written through rotatelogs
with the configured interval, taking only the requests the routing rules marked; Apache accepts it; and the
front-end page shows the backlog."""

from __future__ import annotations

import dataclasses

import pytest
from django.urls import reverse

from balancers import services as balancer_services
from devrig.apache import check_rendered
from rendering.render import UnsafeValue, render_tree
from rendering.snapshot import FrontEndRecord, Snapshot
from tests.factories import ACTOR, make_local_frontend
from tests.realparts import require_binary

FRONTEND = FrontEndRecord(name="fe1", usage_log_dir="/var/log/hostpanel-usage/")
SNAPSHOT = Snapshot(frontends=(FRONTEND,), usage_rotate_seconds=300)


def test_a_front_end_with_a_usage_log_dir_logs_marked_requests_through_rotatelogs():
    tree = render_tree(SNAPSHOT, FRONTEND)
    conf = tree["hostpanel.conf"]
    assert (
        'CustomLog "||/usr/bin/rotatelogs -c -f -D /var/log/hostpanel-usage/usage.%Y%m%d%H%M%S.log 300" '
        "hostpanel_usage env=HP_USAGE"
    ) in conf
    assert 'LogFormat "%{sec}t %V %I %O %>s %<{HP_UNKNOWN}e" hostpanel_usage' in conf
    for scheme in ("http", "https"):
        routing = tree[f"routing-{scheme}.conf"]
        assert "RewriteRule ^ - [E=HP_USAGE:1]" in routing
        assert "RewriteRule ^ - [R=404,L,E=HP_UNKNOWN:1]" in routing
    assert "HP_USAGE" not in tree["nodes.conf"]  # a node vhost's second hop is never logged


def test_without_a_usage_log_dir_nothing_is_logged_and_a_planted_bad_dir_is_refused():
    off = dataclasses.replace(FRONTEND, usage_log_dir="")
    assert "CustomLog" not in render_tree(dataclasses.replace(SNAPSHOT, frontends=(off,)), off)["hostpanel.conf"]
    bad = dataclasses.replace(FRONTEND, usage_log_dir="/var/log/x 1|sh")
    with pytest.raises(UnsafeValue):
        render_tree(dataclasses.replace(SNAPSHOT, frontends=(bad,)), bad)


def test_apache_accepts_the_usage_log(tmp_path):
    require_binary("apache2")
    record = dataclasses.replace(FRONTEND, usage_log_dir=str(tmp_path / "usage"))
    result = check_rendered(
        lambda config_dir: render_tree(SNAPSHOT, dataclasses.replace(record, config_dir=config_dir)),
        listen=("127.0.0.1:18080",),
    )
    assert result.ok, result.output


def test_the_front_end_page_shows_its_usage_log_and_backlog(db, tmp_path, operator_client):
    frontend = make_local_frontend(tmp_path)
    page = operator_client.get(reverse("balancers:frontend_detail", args=[frontend.pk])).content.decode()
    assert "<dt>Usage log</dt><dd>off</dd>" in page
    balancer_services.frontend_update(frontend, actor=ACTOR, usage_log_dir="/var/log/hostpanel-usage")
    page = operator_client.get(reverse("balancers:frontend_detail", args=[frontend.pk])).content.decode()
    assert "/var/log/hostpanel-usage</code>: 0 closed files waiting, last collected never" in page
