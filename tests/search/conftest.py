"""A world with one record of every searchable kind in Retail and one in Corporate, each
carrying the word "zephyr", so what a person finds can be held to what they may see."""

import pytest

from assessments.models import Assessment, AssessmentTemplate
from tests.factories import (
    AIModelFactory,
    DataSourceFactory,
    UseCaseFactory,
    unique_reference,
)
from tests.incidents.incident_helpers import open_incident

WORD = "zephyr"


def _world_in(unit, label: str) -> dict:
    use_case = UseCaseFactory(
        business_unit=unit,
        title=f"Zephyr {label} loan scoring",
        purpose=f"Scores {label} loan applications with gradient boosting.",
    )
    template = AssessmentTemplate.objects.filter(kind="screening", active=True).first()
    assessment = Assessment.objects.create(
        reference=unique_reference("AS"),
        template=template,
        kind="screening",
        use_case=use_case,
        author=use_case.owner,
    )
    return {
        "use_case": use_case,
        "assessment": assessment,
        "ai_model": AIModelFactory(business_unit=unit, name=f"Zephyr {label} model"),
        "incident": open_incident(
            use_case, None, title=f"Zephyr {label} outage", description="Timeouts at 9am."
        ),
        "data_source": DataSourceFactory(
            business_unit=unit, name=f"Zephyr {label} ledger", description="Loan book."
        ),
    }


@pytest.fixture
def world(retail, corporate):
    """{unit code: {kind: record}}."""
    return {"RETAIL": _world_in(retail, "retail"), "CORP": _world_in(corporate, "corporate")}
