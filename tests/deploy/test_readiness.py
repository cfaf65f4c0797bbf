"""Parsing what a front-end's Apache says about itself (deploy.readiness): real `apache2ctl -S` / `-M` /
`-v` output captured from Apache 2.4.71 (Debian's stock /etc/apache2 with 000-default, and a standalone
config with a stock vhost included before HostPanel's), and a RHEL-style map written after httpd's format."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from balancers.capacity import ApacheFacts
from balancers.models import Deployment, FrontEnd
from balancers.services.readiness import frontend_facts_save
from deploy.readiness import (
    apache_command,
    effective_limits,
    facts_from_output,
    judge_vhosts,
    parse_limits,
    parse_modules,
    parse_version,
    parse_vhost_map,
    split_sections,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "readiness"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.mark.parametrize(
    ("configtest", "binary"),
    [
        ("apache2ctl configtest", "apache2ctl"),
        ("sudo -n apache2ctl configtest", "sudo -n apache2ctl"),
        ("/usr/sbin/apache2 -t -f /srv/fe/httpd.conf", "/usr/sbin/apache2 -f /srv/fe/httpd.conf"),
        ("httpd -t", "httpd"),
        ("/usr/local/bin/check-apache", None),
        ("true", None),
    ],
)
def test_it_derives_the_apache_binary_from_the_configtest_command(configtest, binary):
    # Debian's apache2ctl runs `apache2 -t` for `configtest` and drops every argument after it
    assert apache_command(configtest) == binary


def test_it_reads_debians_stock_apache_version_modules_mpm_and_limits():
    facts = facts_from_output(fixture("debian-stock-readiness.txt"), {"*:80": True}, command="apache2ctl")
    assert facts.version == "2.4.71"
    assert facts.mpm == "event"
    assert {"mpm_event", "status", "alias", "authz_core"} <= set(facts.modules)
    assert "proxy" not in facts.modules and "rewrite" not in facts.modules
    # mods-enabled/mpm_event.conf sets these; ServerLimit is left at event's compiled-in 16
    assert facts.limits["MaxRequestWorkers"] == 150
    assert facts.limits["ThreadsPerChild"] == 25
    assert facts.limits["StartServers"] == 2
    assert facts.limits["Timeout"] == 300  # apache2.conf
    assert facts.limits["ServerLimit"] == 16
    assert facts.defaults == ("ServerLimit",)
    assert facts.errors == ()


def test_debians_000_default_alone_on_star_80_is_named_with_the_debian_advice():
    facts = facts_from_output(fixture("debian-stock-readiness.txt"), {"*:80": True}, command="apache2ctl")
    (finding,) = facts.vhosts
    assert finding.address == "*:80"
    assert not finding.hostpanel_first
    assert finding.default_source == "/etc/apache2/sites-enabled/000-default.conf:1"
    assert "conf-enabled/" in finding.advice and "a2dissite 000-default" in finding.advice


def test_a_stock_vhost_included_before_hostpanels_is_the_default_on_its_address():
    facts = facts_from_output(
        fixture("stock-first-readiness.txt"), {"*:80": True, "127.0.0.1:8443": True}, command="apache2 -f x"
    )
    by_address = {f.address: f for f in facts.vhosts}
    assert by_address["*:80"].hostpanel_first is False
    assert by_address["*:80"].default_source == "/tmp/rdy/conf/000-default.conf:1"
    assert "000-default.conf:1" in by_address["*:80"].advice
    assert "not on this address at all" not in by_address["*:80"].advice  # HostPanel's is there, second
    assert by_address["127.0.0.1:8443"].hostpanel_first is True
    assert by_address["127.0.0.1:8443"].advice == ""
    # <IfModule mpm_event_module> counts, <IfModule mpm_prefork_module> does not
    assert facts.limits["MaxRequestWorkers"] == 32
    assert (facts.limits["ServerLimit"], facts.limits["ThreadsPerChild"]) == (2, 16)


def test_hostpanel_first_gives_no_advice():
    findings = judge_vhosts(parse_vhost_map(fixture("hostpanel-first-S.txt")), {"*:80": True})
    assert [(f.address, f.hostpanel_first, f.advice) for f in findings] == [("*:80", True, "")]


def test_the_https_listener_is_only_judged_when_the_front_end_serves_https_sites():
    addresses = parse_vhost_map(fixture("debian-stock-readiness.txt"))
    assert [f.address for f in judge_vhosts(addresses, {"*:80": True, "*:443": False})] == ["*:80"]
    (missing,) = judge_vhosts(addresses, {"*:443": True})
    assert not missing.hostpanel_first and "no vhost on this address" in missing.advice


def test_it_parses_name_based_and_single_addresses_of_a_rhel_map():
    addresses = {a.address: a for a in parse_vhost_map(fixture("rhel-S.txt"))}
    assert list(addresses) == ["*:80", "_default_:443", "10.0.0.5:80"]
    assert addresses["*:80"].default.name == "www.example.net"
    assert [v.name for v in addresses["*:80"].vhosts] == ["www.example.net", "hostpanel-default.invalid"]
    assert addresses["_default_:443"].host == "*"
    assert addresses["10.0.0.5:80"].default.source == "/etc/httpd/conf.d/intranet.conf:1"


def test_on_rhel_a_vhost_of_httpd_conf_first_gets_the_conf_d_advice_and_an_ip_vhost_is_an_overlap():
    findings = judge_vhosts(parse_vhost_map(fixture("rhel-S.txt")), {"*:80": True, "*:443": True})
    by_address = {f.address: f for f in findings}
    assert not by_address["*:80"].hostpanel_first
    assert "conf.d/00-hostpanel.conf" in by_address["*:80"].advice
    # a vhost on a specific IP takes that IP's requests before HostPanel's *:80 vhost
    assert not by_address["10.0.0.5:80"].hostpanel_first
    assert "a vhost on an IP wins over *" in by_address["10.0.0.5:80"].advice
    assert by_address["_default_:443"].hostpanel_first


def test_a_listener_on_one_ip_is_not_judged_by_the_star_vhosts_it_takes_precedence_over():
    text = (
        "VirtualHost configuration:\n"
        "127.0.0.1:80           hostpanel-default.invalid (/etc/hostpanel/http.conf:3)\n"
        "*:80                   127.0.0.1 (/etc/apache2/sites-enabled/000-default.conf:1)\n"
    )
    findings = judge_vhosts(parse_vhost_map(text), {"127.0.0.1:80": True})
    assert [(f.address, f.hostpanel_first) for f in findings] == [("127.0.0.1:80", True)]


def test_modules_version_and_sections():
    assert parse_version("Server version: Apache/2.4.62 (Red Hat Enterprise Linux)\n") == "2.4.62"
    assert parse_modules(" core_module (static)\n mpm_worker_module (shared)\n junk\n") == ("core", "mpm_worker")
    assert split_sections("@@hostpanel-readiness a\n1\n2\n@@hostpanel-readiness b\n") == {"a": "1\n2", "b": ""}


def test_limits_inside_a_vhost_or_an_unloaded_module_do_not_count_and_the_last_setting_wins():
    grep = (
        "/etc/httpd/conf/httpd.conf:10:KeepAliveTimeout 3\n"
        "/etc/httpd/conf/httpd.conf:20:<VirtualHost *:80>\n"
        "/etc/httpd/conf/httpd.conf:21:KeepAliveTimeout 30\n"
        "/etc/httpd/conf/httpd.conf:22:</VirtualHost>\n"
        "/etc/httpd/conf.modules.d/00-mpm.conf:1:<IfModule !mpm_prefork_module>\n"
        "/etc/httpd/conf.modules.d/00-mpm.conf:2:  MaxClients 64\n"
        "/etc/httpd/conf.modules.d/00-mpm.conf:3:</IfModule>\n"
        "/etc/httpd/conf.modules.d/00-mpm.conf:4:<IfModule prefork.c>\n"
        "/etc/httpd/conf.modules.d/00-mpm.conf:5:  ServerLimit 999\n"
        "/etc/httpd/conf.modules.d/00-mpm.conf:6:</IfModule>\n"
        "/etc/httpd/conf.d/tuning.conf:1:KeepAliveTimeout 2\n"
        "/etc/httpd/conf.d/tuning.conf:2:KeepAlive Off\n"
    )
    assert parse_limits(grep, ["mpm_event"]) == {"KeepAliveTimeout": 2, "MaxRequestWorkers": 64, "KeepAlive": 0}


def test_unset_limits_are_the_mpms_compiled_in_defaults_and_max_workers_is_capped():
    limits, defaults = effective_limits("event", {"ServerLimit": 2, "ThreadsPerChild": 16})
    assert limits["MaxRequestWorkers"] == 32  # 400 by default, capped at ServerLimit x ThreadsPerChild
    assert "MaxRequestWorkers" in defaults and "ServerLimit" not in defaults
    limits, _ = effective_limits("prefork", {})
    assert (limits["MaxRequestWorkers"], limits["ServerLimit"]) == (256, 256)


def test_facts_survive_the_json_round_trip():
    facts = facts_from_output(fixture("stock-first-readiness.txt"), {"*:80": True}, command="apache2")
    assert ApacheFacts.from_json(facts.as_json()) == facts


def test_a_command_that_is_not_apache_gives_errors_not_facts():
    facts = facts_from_output("@@hostpanel-readiness version\n@@hostpanel-readiness dump\nnope\n", {}, command="x")
    assert not facts.modules and not facts.version
    assert any("no module list" in e for e in facts.errors)


def test_the_front_end_page_shows_the_facts_read_with_the_vhost_advice(operator_client, db):
    facts = facts_from_output(fixture("debian-stock-readiness.txt"), {"*:80": True}, command="apache2ctl")
    frontend = FrontEnd.objects.create(name="fe-facts", address="127.0.0.1", transport="local")
    FrontEnd.objects.filter(pk=frontend.pk).update(apache_facts=facts.as_json())
    body = operator_client.get(reverse("balancers:frontend_detail", args=[frontend.pk])).content.decode()
    table = body.split('id="apache-vhosts"')[1].split("</table>")[0]
    assert "/etc/apache2/sites-enabled/000-default.conf:1" in table and "a2dissite 000-default" in table
    limits = body.split('id="apache-limits"')[1].split("</table>")[0]
    assert "<td>MaxRequestWorkers</td><td>150</td><td>the config</td>" in limits
    assert "<td>ServerLimit</td><td>16</td><td>Apache's default for event</td>" in limits
    modules = body.split('id="apache-modules"')[1].split("</table>")[0]
    assert "<td>proxy_balancer</td>" in modules and "status-failed" in modules  # not loaded on stock Debian


def test_the_front_end_page_says_when_nothing_was_read_yet(operator_client, db):
    frontend = FrontEnd.objects.create(name="fe-new", address="127.0.0.1", transport="local")
    body = operator_client.get(reverse("balancers:frontend_detail", args=[frontend.pk])).content.decode()
    assert "Not read yet" in body


def test_facts_that_change_the_rendered_config_queue_a_deployment_and_others_do_not(db, settings):
    settings.HOSTPANEL_AUTO_DEPLOY = True
    frontend = FrontEnd.objects.create(name="fe-hc", address="127.0.0.1", transport="local")
    plain = ApacheFacts(checked_at="2026-12-07T12:00:00+00:00", modules=("proxy", "proxy_balancer"))
    frontend_facts_save(frontend, facts=plain)
    assert Deployment.objects.count() == 0  # nothing the render reads changed
    frontend_facts_save(frontend, facts=plain)
    assert Deployment.objects.count() == 0
    frontend_facts_save(
        frontend, facts=ApacheFacts(checked_at="2026-12-07T12:05:00+00:00", modules=(*plain.modules, "proxy_hcheck"))
    )
    assert Deployment.objects.count() == 1  # members get their health checks without waiting for another change
    frontend.refresh_from_db()
    assert ApacheFacts.of(frontend).has("proxy_hcheck")
