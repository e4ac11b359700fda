"""Use cases screened as the worked cases of the EU AI Act need them."""

import pytest

from assessments.models import Assessment, AssessmentTemplate
from registry.models import UseCase
from tests.factories import UseCaseFactory, unique_reference


def screen(use_case: UseCase, tier: str, **answers) -> Assessment:
    """Sign off a screening with these answers and give the use case its tier, as the
    workflow's sign-off does (the workflow itself is tested in tests/assessments)."""
    use_case.risk_tier = tier
    use_case.save(update_fields=["risk_tier"])
    template = AssessmentTemplate.objects.filter(kind="screening", active=True).first()
    return Assessment.objects.create(
        reference=unique_reference("AS"),
        template=template,
        kind="screening",
        use_case=use_case,
        author=use_case.owner,
        status="signed_off",
        answers=answers,
        result_value=tier,
    )


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
