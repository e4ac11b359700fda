"""Use cases screened as the worked cases of the EU AI Act need them."""

import pytest
from django.utils import timezone

from assessments.models import Assessment, AssessmentTemplate, SignOff, canonical_json, sha256_of
from registry.models import UseCase
from tests.factories import UseCaseFactory, unique_reference


def screen(use_case: UseCase, tier: str, **answers) -> Assessment:
    """Sign off a screening with these answers and give the use case its tier, as the
    workflow's sign-off does (the workflow itself is tested in tests/assessments)."""
    use_case.risk_tier = tier
    use_case.save(update_fields=["risk_tier"])
    template = AssessmentTemplate.objects.filter(kind="screening", active=True).first()
    assessment = Assessment.objects.create(
        reference=unique_reference("AS"),
        template=template,
        kind="screening",
        use_case=use_case,
        author=use_case.owner,
        status="signed_off",
        answers=answers,
        result_value=tier,
    )
    content = canonical_json({"assessment": assessment.reference, "answers": answers})
    SignOff.objects.create(
        assessment=assessment,
        signed_by=use_case.owner,
        signed_at=timezone.now(),
        statement="Signed in a test.",
        content=content,
        sha256=sha256_of(content),
    )
    return assessment


@pytest.fixture
def screened(retail, product_owner):
    def make(tier: str, lifecycle: str = "production", people=("customers",), **answers):
        use_case = UseCaseFactory(
            business_unit=retail,
            owner=product_owner,
            lifecycle=lifecycle,
            people_affected=list(people),
        )
        screen(use_case, tier, **answers)
        return use_case

    return make
