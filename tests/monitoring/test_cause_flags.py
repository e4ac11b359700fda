"""Flags for causes that are not a metric: one open per cause and subject, the use case marked,
the owner and the unit's risk officers told, and the same pages, API and report as a rule's."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from monitoring.models import Flag, FlagStatus, Severity
from monitoring.services.flags import raise_cause_flag, resolve_cause_flag
from portal.models import Role
from registry.models import UseCase
from tests.factories import DeploymentFactory, UseCaseFactory, UserFactory, signed_off

pytestmark = pytest.mark.django_db

CAUSE = "material_change:decision_impact"
REASON = "Decision impact: Assists a person who decides → Decides automatically (by Pat Owner)"


@pytest.fixture
def use_case(retail, product_owner):
    return UseCaseFactory(business_unit=retail, owner=product_owner)


def _raise(use_case, **kwargs):
    fields = {
        "use_case": use_case,
        "cause": CAUSE,
        "severity": Severity.HIGH,
        "reason": REASON,
        "evidence": {"field": "decision_impact", "old": "assists", "new": "automatic"},
        **kwargs,
    }
    return raise_cause_flag(**fields)


def test_a_cause_flag_marks_the_use_case_with_its_reason(use_case, product_owner):
    flag = _raise(use_case, actor=product_owner)
    assert flag.rule is None and flag.cause == CAUSE and flag.is_open
    assert flag.title == REASON and flag.cause_label == "Material change"
    use_case.refresh_from_db()
    assert use_case.needs_reassessment
    assert f"{flag.reference}: {REASON}" in use_case.reassessment_reasons
    version = flag.history.latest()
    assert version.history_user == product_owner
    assert version.history_change_reason == f"Raised: {REASON}"


def test_a_second_raise_returns_the_open_flag(use_case):
    first = _raise(use_case)
    again = _raise(use_case, reason="Another wording")
    assert again.pk == first.pk
    assert Flag.objects.filter(cause=CAUSE).count() == 1


def test_another_cause_or_subject_is_another_flag(use_case, retail, product_owner):
    first = _raise(use_case)
    other_cause = _raise(use_case, cause="material_change:purpose")
    other_subject = _raise(UseCaseFactory(business_unit=retail, owner=product_owner))
    assert len({first.pk, other_cause.pk, other_subject.pk}) == 3


def test_the_database_holds_one_open_flag_per_cause_and_subject(use_case):
    flag = _raise(use_case)
    with pytest.raises(IntegrityError), transaction.atomic():
        Flag.objects.create(
            reference="FL-9999",
            cause=CAUSE,
            reason="x",
            subject=flag.subject,
            subject_key=flag.subject_key,
            use_case=use_case,
            severity="low",
        )


def test_a_flag_has_a_rule_or_a_cause(use_case):
    with pytest.raises(IntegrityError), transaction.atomic():
        Flag.objects.create(
            reference="FL-9998",
            subject="use_case",
            subject_key=f"use_case:{use_case.pk}",
            use_case=use_case,
            severity="low",
        )


def test_after_resolving_the_cause_raises_a_new_flag(use_case, risk_officer):
    first = _raise(use_case)
    resolved = resolve_cause_flag(
        use_case=use_case, cause=CAUSE, actor=risk_officer, resolution="Re-assessed."
    )
    assert resolved.pk == first.pk and resolved.status == FlagStatus.RESOLVED
    assert resolved.resolved_by == risk_officer
    assert _raise(use_case).pk != first.pk


def test_the_system_resolves_without_a_person(use_case):
    _raise(use_case)
    flag = resolve_cause_flag(use_case=use_case, cause=CAUSE, actor=None, resolution="Passes.")
    assert flag.status == FlagStatus.RESOLVED and flag.resolved_by is None
    assert resolve_cause_flag(use_case=use_case, cause=CAUSE, actor=None, resolution="x") is None


def test_a_person_resolving_needs_the_flag_rule(use_case, product_owner):
    _raise(use_case)
    with pytest.raises(PermissionDenied):
        resolve_cause_flag(use_case=use_case, cause=CAUSE, actor=product_owner, resolution="Fine.")
    assert Flag.objects.get(cause=CAUSE).is_open


def test_owner_and_the_units_risk_officers_are_emailed(
    use_case, risk_officer, corporate, mailoutbox, django_capture_on_commit_callbacks
):
    UserFactory(username="far.risk", roles=[Role.RISK_OFFICER], units=[corporate])
    with django_capture_on_commit_callbacks(execute=True):
        flag = _raise(use_case)
    assert sorted(m.to[0] for m in mailoutbox) == sorted([use_case.owner.email, risk_officer.email])
    assert flag.reference in mailoutbox[0].subject
    assert REASON in mailoutbox[0].body


def test_notify_false_sends_nothing(use_case, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _raise(use_case, notify=False)
    assert mailoutbox == []


def test_start_draft_starts_a_reassessment_from_the_signed_off_one(use_case):
    signed = signed_off(use_case, "impact")
    flag = _raise(use_case, start_draft=True)
    flag.refresh_from_db()
    assert flag.reassessment is not None
    assert signed.reference in flag.evidence["reassessment"]


def test_start_draft_without_anything_signed_off_says_so(use_case):
    flag = _raise(use_case, start_draft=True)
    flag.refresh_from_db()
    assert flag.reassessment is None
    assert "No signed-off assessment" in flag.evidence["reassessment"]


def test_a_model_version_subject_marks_the_version(use_case):
    deployment = DeploymentFactory(use_case=use_case)
    flag = _raise(use_case, cause="gate:model_approval", model_version=deployment.model_version)
    assert flag.subject_key == f"model_version:{deployment.model_version_id}"
    deployment.model_version.refresh_from_db()
    assert deployment.model_version.needs_reassessment
    assert UseCase.objects.get(pk=use_case.pk).needs_reassessment


@pytest.mark.parametrize("bad", ["", "Material Change", "x" * 81])
def test_a_cause_is_a_key(use_case, bad):
    with pytest.raises(ValidationError):
        _raise(use_case, cause=bad)


def test_the_flag_page_api_and_report_show_the_reason(client, risk_officer, use_case):
    flag = _raise(use_case)
    client.force_login(risk_officer)
    page = client.get(f"/monitoring/flags/{flag.reference}/")
    assert page.status_code == 200
    assert REASON in page.content.decode()
    assert "Material change" in page.content.decode()
    listing = client.get("/monitoring/flags/")
    assert REASON in listing.content.decode()
    data = client.get(f"/api/v1/flags/{flag.reference}/").json()
    assert data["cause"] == CAUSE and data["reason"] == REASON and data["rule"] is None
    assert data["title"] == REASON
