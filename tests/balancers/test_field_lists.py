"""A balancer's and a member's settings are listed once (balancers.models); the snapshot's records and
the importer's candidates are typed copies that must carry the same names, the records with the
models' defaults."""

from dataclasses import fields

import pytest
from django.db.models import NOT_PROVIDED

from balancers.models import BALANCER_SETTINGS, MEMBER_SETTINGS, Balancer, BalancerMember
from importer.recognise import BalancerCandidate, MemberCandidate
from rendering.snapshot import BalancerRecord, MemberRecord


@pytest.mark.parametrize(
    ("record", "model", "names"),
    [(BalancerRecord, Balancer, BALANCER_SETTINGS), (MemberRecord, BalancerMember, MEMBER_SETTINGS)],
)
def test_a_snapshot_record_carries_every_setting_in_order_with_the_models_default(record, model, names):
    # load_snapshot builds the records positionally from values_list(..., *names): the order matters
    assert tuple(f.name for f in fields(record))[1 : 1 + len(names)] == names
    defaults = {f.name: f.default for f in fields(record)}
    for name in names:
        model_default = model._meta.get_field(name).default
        assert defaults[name] == (None if model_default is NOT_PROVIDED else model_default), name


@pytest.mark.parametrize(
    ("candidate", "names"), [(BalancerCandidate, BALANCER_SETTINGS), (MemberCandidate, MEMBER_SETTINGS)]
)
def test_an_import_candidate_carries_every_setting(candidate, names):
    assert set(names) <= {f.name for f in fields(candidate)}
