"""member_set_flags: saved through member_update (validated, audited), the guard rail, and the live
apply reported per front-end (the real balancer-manager tests are in test_live_apache.py)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from balancers import services
from balancers.models import BalancerMember
from hostpanel.models import AuditEntry
from tests.factories import add_manager_frontend, manager_url


def member(balancer, route):
    return BalancerMember.objects.select_related("zope_server", "balancer").get(
        balancer=balancer, zope_server__name=route
    )


def test_it_saves_and_audits_the_flags(demo, actor):
    result = services.member_set_flags(member(demo, "zope2"), actor=actor, hot_standby=True, loadfactor=7)
    saved = member(demo, "zope2")
    assert saved.hot_standby and saved.loadfactor == 7
    assert result.changed == {"hot_standby": True, "loadfactor": 7}
    entry = AuditEntry.objects.filter(action="member.update").first()
    assert entry.after["hot_standby"] is True and entry.before["hot_standby"] is False
    assert result.frontends == []  # no front-end yet
    assert "no enabled front-end" in result.summary()


def test_it_rejects_an_invalid_load_factor_through_the_model_validators(demo, actor):
    with pytest.raises(ValidationError):
        services.member_set_flags(member(demo, "zope2"), actor=actor, loadfactor=101)
    assert member(demo, "zope2").loadfactor == 1


def test_it_refuses_a_change_without_any_flag(demo, actor):
    with pytest.raises(ValidationError, match="Nothing to change"):
        services.member_set_flags(member(demo, "zope2"), actor=actor)


def test_it_refuses_to_disable_the_last_usable_member_unless_forced(demo, actor):
    services.member_set_flags(member(demo, "zope1"), actor=actor, disabled=True)
    services.member_set_flags(member(demo, "backup"), actor=actor, drain=True)
    with pytest.raises(ValidationError) as err:
        services.member_set_flags(member(demo, "zope2"), actor=actor, disabled=True)
    assert err.value.code == "last_usable_member"
    assert "no usable member" in err.value.messages[0]
    assert not member(demo, "zope2").disabled
    result = services.member_set_flags(member(demo, "zope2"), actor=actor, disabled=True, force=True)
    assert result.forced and member(demo, "zope2").disabled


def test_draining_the_last_usable_member_is_refused_too(demo, actor):
    services.member_set_flags(member(demo, "zope1"), actor=actor, drain=True)
    services.member_set_flags(member(demo, "backup"), actor=actor, disabled=True)
    with pytest.raises(ValidationError):
        services.member_set_flags(member(demo, "zope2"), actor=actor, drain=True)


def test_hot_standby_members_count_as_usable(demo, actor):
    # zope1 and zope2 to hot standby: backup is hot standby already; Apache still serves new clients
    services.member_set_flags(member(demo, "zope1"), actor=actor, hot_standby=True)
    services.member_set_flags(member(demo, "zope2"), actor=actor, hot_standby=True)
    services.member_set_flags(member(demo, "zope1"), actor=actor, disabled=True)
    services.member_set_flags(member(demo, "backup"), actor=actor, disabled=True)
    assert member(demo, "zope2").hot_standby


def test_changes_that_do_not_reduce_usability_are_allowed_when_nothing_is_usable(demo, actor):
    for route in ("zope1", "zope2", "backup"):
        services.member_set_flags(member(demo, route), actor=actor, disabled=True, force=route == "backup")
    services.member_set_flags(member(demo, "zope1"), actor=actor, loadfactor=3)
    services.member_set_flags(member(demo, "zope1"), actor=actor, disabled=False)
    assert not member(demo, "zope1").disabled


def test_the_guard_is_per_balancer(demo, actor):
    silver_zope1 = BalancerMember.objects.get(balancer__name="silver", zope_server__name="zope1")
    services.member_set_flags(member(demo, "zope1"), actor=actor, disabled=True)
    services.member_set_flags(member(demo, "zope2"), actor=actor, disabled=True)
    result = services.member_set_flags(silver_zope1, actor=actor, disabled=True)  # silver keeps zope2 and backup
    assert not result.forced  # bronze's state does not count against silver: no force needed
    silver_zope1.refresh_from_db()
    assert silver_zope1.disabled
    assert member(demo, "zope1").disabled and member(demo, "zope2").disabled


def test_it_reports_each_unreachable_front_end_with_a_reason(demo, actor, closed_port, silent_port, settings):
    settings.HOSTPANEL_STATUS_TIMEOUT = 0.5
    add_manager_frontend(actor, "fe-closed", manager_url(closed_port))
    add_manager_frontend(actor, "fe-silent", manager_url(silent_port))
    result = services.member_set_flags(member(demo, "zope2"), actor=actor, drain=True)
    assert member(demo, "zope2").drain  # saved even though no front-end answered
    outcomes = {r.frontend_name: r for r in result.frontends}
    assert not outcomes["fe-closed"].applied and "refused" in outcomes["fe-closed"].reason
    assert not outcomes["fe-silent"].applied and "timeout" in outcomes["fe-silent"].reason
    assert not result.all_applied and "NOT applied on fe-closed" in result.summary()
