"""A risk officer's tier override recomputes the re-assessment date from the new tier
(issue 14, item 4): a high-risk override must not keep a minimal screening's 36 months."""

import calendar
from datetime import date

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assessments import services
from assessments.models import Status
from tests.assessments.builders import tiny_template, to_status


def _months_after(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@pytest.fixture
def minimal_screening(use_case, people):
    """A signed-off screening whose result is minimal (36 months by the tier's setting)."""
    template = tiny_template(
        key="minimal-screening",
        kind="screening",
        title="Minimal screening",
        scoring={
            "scores": [{"key": "impact", "label": "Impact"}],
            "result": {"outcomes": [{"value": "minimal", "label": "Minimal risk"}]},
        },
        validity_months={},
    )
    screening = to_status(
        Status.SIGNED_OFF,
        use_case=use_case,
        author=people["author"],
        reviewers=people["reviewers"][:1],
        approver=people["approver"],
        template=template,
    )
    signed_on = timezone.localdate(screening.sign_off_record.signed_at)
    assert screening.valid_until == _months_after(signed_on, 36)
    return screening


@pytest.mark.parametrize(("tier", "months"), [("high", 12), ("prohibited", 3), ("limited", 24)])
def test_a_tier_override_recomputes_the_valid_until_date(
    minimal_screening, risk_officer, tier, months
):
    overridden = services.assessment_override_tier(
        actor=risk_officer,
        assessment=minimal_screening,
        tier=tier,
        justification="Credit decisions: Annex III point 5(b).",
    )
    overridden.refresh_from_db()
    signed_on = timezone.localdate(overridden.sign_off_record.signed_at)
    assert overridden.valid_until == _months_after(signed_on, months)
    assert overridden.use_case.risk_tier == tier


def test_the_api_override_answers_with_the_new_valid_until(minimal_screening, risk_officer):
    token, _ = Token.objects.get_or_create(user=risk_officer)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api.post(
        f"/api/v1/assessments/{minimal_screening.pk}/override-tier/",
        {"tier": "high", "justification": "Credit decisions: Annex III point 5(b)."},
        format="json",
    )
    assert response.status_code == 200, response.content
    signed_on = timezone.localdate(minimal_screening.sign_off_record.signed_at)
    assert response.json()["valid_until"] == _months_after(signed_on, 12).isoformat()
