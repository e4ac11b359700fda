"""Flags: one open per rule and subject, resolved by the right people with a reason, and the
re-assessment draft a 'reassess' rule starts."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from assessments.models import Assessment, AssessmentTemplate, Status
from assessments.services.workflow import assessment_start
from monitoring.models import Budget, Flag, FlagStatus, Rule
from monitoring.services.evaluation import rules_evaluate
from monitoring.services.flags import flag_resolve
from tests.concurrency import run_together
from tests.factories import (
    DeploymentFactory,
    ModelVersionFactory,
    RuleFactory,
    signed_off,
    unique_reference,
)
from tests.monitoring.evaluation_helpers import (
    MINUTE,
    NOW,
    raise_flag,
    record,
    switch_off_shipped_rules,
)

pytestmark = pytest.mark.django_db

HALF_MINUTE = timedelta(seconds=30)


@pytest.fixture(autouse=True)
def _only_the_tests_rules(db):
    switch_off_shipped_rules()


@pytest.fixture
def deployment(retail, product_owner):
    return DeploymentFactory(use_case__business_unit=retail, use_case__owner=product_owner)


# Resolving -------------------------------------------------------------------------------------
ALLOWED_TO_RESOLVE = {"risk_officer", "dpo", "admin"}


@pytest.mark.parametrize(
    "persona",
    ["admin", "risk_officer", "dpo", "product_owner", "leadership", "auditor", "outsider"],
)
def test_who_may_resolve_a_flag(persona, personas, deployment):
    flag = raise_flag(deployment)
    person = personas[persona]
    if persona in ALLOWED_TO_RESOLVE:
        flag = flag_resolve(actor=person, flag=flag, reason="Retrained on last month's data.")
        assert flag.status == FlagStatus.RESOLVED and flag.resolved_by == person
    else:
        with pytest.raises(PermissionDenied):
            flag_resolve(actor=person, flag=flag, reason="Looks fine to me.")
        flag.refresh_from_db()
        assert flag.is_open


def test_resolving_needs_a_reason(risk_officer, deployment):
    flag = raise_flag(deployment)
    with pytest.raises(ValidationError) as caught:
        flag_resolve(actor=risk_officer, flag=flag, reason="  ")
    assert "reason" in caught.value.message_dict


def test_resolving_records_who_when_and_why(risk_officer, deployment):
    flag = raise_flag(deployment)
    before = timezone.now()
    flag_resolve(actor=risk_officer, flag=flag, reason="Upstream feed fixed.")
    flag.refresh_from_db()
    assert flag.resolved_by == risk_officer and flag.resolved_at >= before
    assert flag.resolution == "Upstream feed fixed."
    latest = flag.history.latest()
    assert latest.history_change_reason == "Resolved: Upstream feed fixed."
    assert latest.history_user == risk_officer


def test_a_resolved_flag_is_not_resolved_again(risk_officer, deployment):
    flag = raise_flag(deployment)
    flag_resolve(actor=risk_officer, flag=flag, reason="Fixed.")
    with pytest.raises(ValidationError, match="already resolved"):
        flag_resolve(actor=risk_officer, flag=flag, reason="Fixed twice.")


def resolve_at(flag, actor, at):
    """Resolve, then set resolved_at on the tests' clock (the service stamps the real time)."""
    flag_resolve(actor=actor, flag=flag, reason="Dealt with.")
    Flag.objects.filter(pk=flag.pk).update(resolved_at=at)


def test_a_resolved_flag_is_not_raised_again_from_the_same_samples(risk_officer, deployment):
    record(deployment, "error_rate", [0.9] * 3)
    RuleFactory(window_minutes=60)
    rules_evaluate(now=NOW)
    resolve_at(Flag.objects.get(), risk_officer, NOW + HALF_MINUTE)
    for minutes in (1, 2, 30):  # the old samples are still in the window
        summary = rules_evaluate(now=NOW + minutes * MINUTE)
        assert (summary.breaches, summary.flags_raised) == (0, 0)
    # A new sample that is fine does not bring the old ones back either.
    record(deployment, "error_rate", [0.01], end=NOW + 31 * MINUTE)
    assert rules_evaluate(now=NOW + 31 * MINUTE).breaches == 0
    assert Flag.objects.count() == 1


def test_after_resolving_a_new_breach_raises_a_new_flag(risk_officer, deployment):
    record(deployment, "error_rate", [0.9])
    RuleFactory()
    rules_evaluate(now=NOW)
    first = Flag.objects.get()
    resolve_at(first, risk_officer, NOW + HALF_MINUTE)
    record(deployment, "error_rate", [0.7], end=NOW + MINUTE)
    assert rules_evaluate(now=NOW + MINUTE).flags_raised == 1
    second = Flag.objects.get(status=FlagStatus.OPEN)
    assert second.pk != first.pk and second.reference != first.reference
    # Only the evidence after the resolution counts: the mean is 0.7, not (0.9 + 0.7) / 2.
    assert second.evidence["value"] == pytest.approx(0.7) and second.evidence["samples"] == 1
    assert [value for _, value in second.evidence["values"]] == [0.7]
    assert second.evidence["window_start"] == (NOW + HALF_MINUTE).isoformat()


def test_a_resolved_version_flag_ignores_the_old_samples_of_every_deployment_of_it(
    risk_officer, retail
):
    version = ModelVersionFactory()
    a = DeploymentFactory(model_version=version, use_case__business_unit=retail)
    b = DeploymentFactory(model_version=version, use_case__business_unit=retail)
    elsewhere = DeploymentFactory()
    for deployment in (a, b):
        record(deployment, "error_rate", [0.9])
    rule = RuleFactory(subject="model_version")
    rules_evaluate(now=NOW)
    resolve_at(Flag.objects.get(rule=rule), risk_officer, NOW + HALF_MINUTE)
    record(elsewhere, "error_rate", [0.9], end=NOW + MINUTE)  # another version: not re-armed
    summary = rules_evaluate(now=NOW + MINUTE)
    assert (summary.breaches, summary.flags_raised) == (1, 1)
    assert Flag.objects.get(status=FlagStatus.OPEN).model_version == elsewhere.model_version


def test_a_resolved_budget_flag_is_raised_again_only_next_month(risk_officer, deployment):
    Rule.objects.filter(builtin="budget").update(enabled=True)
    Budget.objects.create(use_case=deployment.use_case, monthly_amount=Decimal("100.00"))
    record(deployment, "cost", [60, 60], end=NOW - 60 * MINUTE)
    rules_evaluate(now=NOW)
    resolve_at(Flag.objects.get(rule__builtin="budget"), risk_officer, NOW + MINUTE)
    record(deployment, "cost", [10], end=NOW + 2 * MINUTE)  # still spending, still this month
    for later in (NOW + 3 * MINUTE, NOW + timedelta(days=8)):
        assert rules_evaluate(now=later).flags_raised == 0
    next_month = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    assert rules_evaluate(now=next_month).flags_raised == 0  # nothing spent in December yet
    record(deployment, "cost", [101], end=next_month - MINUTE)
    assert rules_evaluate(now=next_month).flags_raised == 1
    assert Flag.objects.filter(rule__builtin="budget", status=FlagStatus.OPEN).count() == 1


def test_resolving_leaves_the_use_case_marked_for_reassessment(risk_officer, deployment):
    flag = raise_flag(deployment)
    flag_resolve(actor=risk_officer, flag=flag, reason="Rolled back.")
    deployment.use_case.refresh_from_db()
    # A signed-off re-assessment (or clearing it on the use case) lifts that, not the flag.
    assert deployment.use_case.needs_reassessment


def test_resolving_the_last_open_flag_on_a_version_clears_the_version(risk_officer, deployment):
    version = deployment.model_version
    first = raise_flag(deployment, RuleFactory(subject="model_version"))
    second = raise_flag(deployment, RuleFactory(subject="model_version", metric="latency_ms"))
    flag_resolve(actor=risk_officer, flag=first, reason="One of two dealt with.")
    version.refresh_from_db()
    assert version.needs_reassessment
    flag_resolve(actor=risk_officer, flag=second, reason="Both dealt with.")
    version.refresh_from_db()
    assert not version.needs_reassessment and version.reassessment_reasons == ""
    assert version.history.latest().history_change_reason.startswith("Re-assessment flag cleared")


# Raising ----------------------------------------------------------------------------------------
def test_raising_an_open_flag_again_is_a_no_op(deployment):
    rule = RuleFactory()
    first = raise_flag(deployment, rule)
    assert raise_flag(deployment, rule) is None
    assert Flag.objects.get() == first
    assert first.reference.startswith("FL-")
    assert first.history.earliest().history_change_reason == f"Raised by rule {rule.name!r}"


def test_a_version_flag_is_one_per_version_whichever_use_case_breached():
    version = ModelVersionFactory()
    a = DeploymentFactory(model_version=version)
    b = DeploymentFactory(model_version=version)
    rule = RuleFactory(subject="model_version")
    assert raise_flag(a, rule) is not None
    assert raise_flag(b, rule) is None


# Starting a re-assessment ------------------------------------------------------------------------
def signed_with_answers(use_case, kind: str, answers: dict) -> Assessment:
    """tests.factories.signed_off, with the answers that were signed (a signed-off row is
    never updated afterwards: the database refuses it, so the answers go in at insert)."""
    return Assessment.objects.create(
        reference=unique_reference("AS"),
        template=AssessmentTemplate.objects.filter(kind=kind, active=True).first(),
        kind=kind,
        use_case=use_case,
        author=use_case.owner,
        status=Status.SIGNED_OFF,
        answers=answers,
        valid_until=timezone.localdate() + timedelta(days=365),
    )


IMPACT_ANSWERS = {
    "decision_description": "Ranks incoming complaints so urgent ones are read first.",
    "decision_role": "recommends",
}


def test_a_reassess_rule_starts_a_draft_from_the_last_signed_off_assessment(deployment):
    use_case = deployment.use_case
    signed_off(use_case, "screening", result_value="minimal")
    impact = signed_with_answers(use_case, "impact", IMPACT_ANSWERS)
    flag = raise_flag(deployment, RuleFactory(action="reassess"))
    draft = flag.reassessment
    assert draft is not None and draft.status == Status.DRAFT
    assert draft.kind == "impact" and draft.previous == impact
    assert draft.answers == IMPACT_ANSWERS
    assert draft.author == use_case.owner
    assert flag.evidence["reassessment"] == f"{draft.reference} started from {impact.reference}"
    assert Flag.objects.get().reassessment == draft


def test_without_an_impact_assessment_the_draft_starts_from_the_dpia(deployment):
    use_case = deployment.use_case
    signed_off(use_case, "screening", result_value="minimal")
    dpia = signed_off(use_case, "dpia")
    flag = raise_flag(deployment, RuleFactory(action="reassess"))
    assert flag.reassessment.kind == "dpia" and flag.reassessment.previous == dpia


def test_a_refused_reassessment_is_recorded_and_the_flag_still_raised(deployment):
    use_case = deployment.use_case
    impact = signed_with_answers(use_case, "impact", IMPACT_ANSWERS)
    already = assessment_start(actor=use_case.owner, use_case=use_case, template=impact.template)
    flag = raise_flag(deployment, RuleFactory(action="reassess"))
    assert flag.pk and flag.reassessment is None
    assert flag.evidence["reassessment"].startswith(f"Not started from {impact.reference}")
    assert already.reference in flag.evidence["reassessment"]
    use_case.refresh_from_db()
    assert use_case.needs_reassessment
    assert Assessment.objects.filter(use_case=use_case, status=Status.DRAFT).count() == 1


def test_with_nothing_signed_off_the_flag_says_so(deployment):
    flag = raise_flag(deployment, RuleFactory(action="reassess"))
    assert flag.reassessment is None
    assert flag.evidence["reassessment"].startswith("No signed-off assessment")


# Concurrency ------------------------------------------------------------------------------------
# Real commits on two connections; serialized_rollback restores what the migrations made
# (roles, templates, the shipped rules) for the tests after these.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_simultaneous_raises_make_one_flag(deployment):
    if connection.vendor != "postgresql":
        pytest.skip("two writers at once need PostgreSQL")
    switch_off_shipped_rules()
    rule = RuleFactory()
    results = run_together(lambda: raise_flag(deployment, Rule.objects.get(pk=rule.pk)))
    assert sorted(r is None for r in results) == [False, True]
    assert Flag.objects.filter(rule=rule).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_simultaneous_evaluations_make_one_flag(deployment):
    if connection.vendor != "postgresql":
        pytest.skip("two writers at once need PostgreSQL")
    switch_off_shipped_rules()
    record(deployment, "error_rate", [0.9])
    rule = RuleFactory()
    summaries = run_together(lambda: rules_evaluate(now=NOW))
    assert Flag.objects.filter(rule=rule).count() == 1
    assert sum(s.flags_raised for s in summaries) == 1
    assert sum(s.flags_still_open for s in summaries) == 1
    assert all(s.errors == 0 for s in summaries)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_simultaneous_resolves_of_a_versions_last_flags_clear_the_version(risk_officer, retail):
    if connection.vendor != "postgresql":
        pytest.skip("two writers at once need PostgreSQL")
    switch_off_shipped_rules()
    rules = [RuleFactory(subject="model_version"), RuleFactory(subject="model_version")]
    for _ in range(3):  # each round is a fresh version with two open flags
        deployment = DeploymentFactory(use_case__business_unit=retail)
        flags = [raise_flag(deployment, rule) for rule in rules]
        run_together(
            lambda flags=flags: flag_resolve(actor=risk_officer, flag=flags.pop(), reason="Done.")
        )
        version = deployment.model_version
        version.refresh_from_db()
        # Whichever committed last saw the other resolved: nothing is left open on it.
        assert not version.needs_reassessment
