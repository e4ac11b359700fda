"""Writing rules: who may, what a rule may hold, and what a shipped rule allows."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from monitoring.models import Rule
from monitoring.services.metric_rules import rule_create, rule_delete, rule_update
from portal.models import Role
from tests.factories import ProductionUseCaseFactory, RuleFactory, UserFactory

pytestmark = pytest.mark.django_db

FIELDS = {
    "name": "Latency p95 above 2 s",
    "metric": "latency_ms",
    "aggregation": "p95",
    "window_minutes": 30,
    "comparison": "gt",
    "threshold": 2000,
    "min_samples": 10,
    "severity": "medium",
    "action": "flag",
    "subject": "use_case",
}


@pytest.fixture
def use_case(retail, product_owner):
    return ProductionUseCaseFactory(business_unit=retail, owner=product_owner)


@pytest.fixture
def corporate_risk_officer(corporate):
    return UserFactory(username="cora.risk", roles=[Role.RISK_OFFICER], units=[corporate])


# Who may ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("admin", True),
        ("risk_officer", True),
        ("dpo", False),
        ("product_owner", False),
        ("leadership", False),
        ("auditor", False),
        ("outsider", False),
    ],
)
def test_who_may_create_a_firm_wide_rule(persona, allowed, personas):
    if allowed:
        rule = rule_create(actor=personas[persona], **FIELDS)
        assert rule.pk and rule.use_case is None and rule.created_by == personas[persona]
    else:
        with pytest.raises(PermissionDenied):
            rule_create(actor=personas[persona], **FIELDS)
        assert not Rule.objects.filter(name=FIELDS["name"]).exists()


def test_a_risk_officer_writes_rules_for_use_cases_of_their_unit_only(
    risk_officer, corporate_risk_officer, use_case
):
    rule = rule_create(actor=risk_officer, use_case=use_case, **FIELDS)
    assert rule.use_case == use_case
    with pytest.raises(PermissionDenied):
        rule_create(actor=corporate_risk_officer, use_case=use_case, **FIELDS)
    with pytest.raises(PermissionDenied):
        rule_update(actor=corporate_risk_officer, rule=rule, threshold=3000)


def test_a_rule_is_not_moved_into_a_unit_the_person_is_not_in(risk_officer, use_case, corporate):
    rule = rule_create(actor=risk_officer, use_case=use_case, **FIELDS)
    theirs = ProductionUseCaseFactory(business_unit=corporate)
    with pytest.raises(PermissionDenied):
        rule_update(actor=risk_officer, rule=rule, use_case=theirs)
    rule.refresh_from_db()
    assert rule.use_case == use_case


def test_an_admin_changes_any_rule(admin_user, use_case):
    rule = RuleFactory(use_case=use_case)
    assert rule_update(actor=admin_user, rule=rule, threshold=0.2).threshold == 0.2


def test_a_risk_officer_changes_a_firm_wide_rule(risk_officer):
    rule = rule_create(actor=risk_officer, **FIELDS)
    assert rule_update(actor=risk_officer, rule=rule, threshold=2500).threshold == 2500


# What a rule may hold --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("metric", "Latency MS"),
        ("metric", "9lives"),
        ("window_minutes", 0),
        ("min_samples", 0),
        ("aggregation", "median"),
        ("comparison", "=="),
        ("severity", "apocalyptic"),
        ("action", "panic"),
        ("subject", "planet"),
    ],
)
def test_a_bad_field_is_named_in_the_error(field, value, admin_user):
    with pytest.raises(ValidationError) as caught:
        rule_create(actor=admin_user, **{**FIELDS, field: value})
    assert field in caught.value.message_dict
    assert not Rule.objects.filter(name=FIELDS["name"]).exists()


def test_a_bad_update_writes_nothing(admin_user):
    rule = rule_create(actor=admin_user, **FIELDS)
    with pytest.raises(ValidationError) as caught:
        rule_update(actor=admin_user, rule=rule, window_minutes=0, threshold=5)
    assert "window_minutes" in caught.value.message_dict
    rule.refresh_from_db()
    assert rule.window_minutes == 30 and rule.threshold == 2000


def test_a_field_a_person_does_not_set_is_refused(admin_user):
    with pytest.raises(TypeError, match="builtin"):
        rule_create(actor=admin_user, builtin="sneaky", **FIELDS)


def test_history_says_who_changed_what(admin_user):
    rule = rule_create(actor=admin_user, **FIELDS)
    rule_update(actor=admin_user, rule=rule, threshold=2500, enabled=False)
    first, latest = rule.history.earliest(), rule.history.latest()
    assert first.history_change_reason == "Rule created" and first.history_user == admin_user
    assert latest.history_change_reason == "Rule changed: threshold, enabled"
    assert latest.history_user == admin_user and latest.threshold == 2500


def test_an_unchanged_update_adds_no_version(admin_user):
    rule = rule_create(actor=admin_user, **FIELDS)
    rule_update(actor=admin_user, rule=rule, threshold=2000)
    assert rule.history.count() == 1


# The shipped rules -----------------------------------------------------------------------------
def test_a_shipped_rule_changes_its_threshold_and_on_off(admin_user):
    psi = Rule.objects.get(builtin="drift-psi")
    psi = rule_update(actor=admin_user, rule=psi, threshold=0.2, enabled=False)
    assert (psi.threshold, psi.enabled) == (0.2, False)


def test_a_shipped_rule_keeps_its_meaning(admin_user):
    psi = Rule.objects.get(builtin="drift-psi")
    with pytest.raises(ValidationError) as caught:
        rule_update(actor=admin_user, rule=psi, metric="drift.js", threshold=0.2)
    assert set(caught.value.message_dict) == {"metric"}
    psi.refresh_from_db()
    assert (psi.metric, psi.threshold) == ("drift.psi", 0.25)


def test_a_shipped_rule_is_not_deleted(admin_user):
    psi = Rule.objects.get(builtin="drift-psi")
    with pytest.raises(ValidationError, match="switch it off"):
        rule_delete(actor=admin_user, rule=psi)
    assert Rule.objects.filter(builtin="drift-psi").exists()


def test_a_rule_of_ones_own_is_deleted_until_it_raised_a_flag(admin_user):
    rule = rule_create(actor=admin_user, **FIELDS)
    rule_delete(actor=admin_user, rule=rule)
    assert not Rule.objects.filter(pk=rule.pk).exists()
    assert rule.history.latest().history_change_reason == "Rule deleted"
