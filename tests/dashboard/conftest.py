"""What the dashboard's tests share: a register with something waiting for everyone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments.models import Status
from compliance.models import Control, Evidence
from incidents.services.incidents import incident_open
from monitoring.services.flags import raise_cause_flag
from registry.services import releases
from tests.assessments.builders import to_status
from tests.factories import ModelVersionFactory, UseCaseFactory
from tests.registry.test_releases import evaluate, release_setup


@pytest.fixture
def world(retail, product_owner, risk_officer, dpo, leadership, personas):
    """Something for every source of My work, for someone."""
    today = timezone.localdate()
    people = {"author": product_owner, "reviewers": [risk_officer, dpo], "approver": leadership}
    for status in (Status.DRAFT, Status.IN_REVIEW, Status.CHANGES_REQUESTED, Status.APPROVED):
        use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
        to_status(status, use_case=use_case, **people)
    signed = to_status(
        Status.SIGNED_OFF,
        use_case=UseCaseFactory(business_unit=retail, owner=product_owner),
        **people,
    )
    type(signed).objects.filter(pk=signed.pk).update(valid_until=today + timedelta(days=3))
    flagged = UseCaseFactory(
        business_unit=retail, owner=product_owner, next_review_date=today + timedelta(days=5)
    )
    version = ModelVersionFactory(model__owner=dpo, model__business_unit=retail)
    raise_cause_flag(
        use_case=flagged,
        model_version=version,
        cause="material_change:model",
        severity="high",
        reason="The model changed",
        evidence={},
    )
    incident_open(
        actor=risk_officer,
        use_case=flagged,
        title="Wrong blocks",
        severity="sev2",
        detected_by="user_report",
        owner=product_owner,
        personal_data_breach=True,
    )
    control = Control.objects.create(
        reference="CTL-9001", title="Access review", kind="process", owner=dpo
    )
    evidence = Evidence.objects.create(
        reference="EV-9001",
        title="Q3 access review",
        effective_on=today - timedelta(days=300),
        expires_on=today + timedelta(days=5),
        attested_by=risk_officer,
        uploaded_by=risk_officer,
    )
    evidence.controls.add(control)
    _, released = release_setup(retail, product_owner, tier="high", stage="canary")
    evaluate(product_owner, released)
    releases.promotion_request(
        actor=risk_officer, version=released, to_stage="partial", reason="Canary is clean."
    )
    return personas
