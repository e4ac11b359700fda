"""The dashboard's panels that are not My work's (tests/dashboard/test_my_work.py)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from assessments.models import Assessment, AssessmentTemplate
from tests.factories import UseCaseFactory, unique_reference

pytestmark = pytest.mark.django_db


def waiting(use_case, status: str, days: int) -> Assessment:
    """An assessment of ``use_case`` in ``status`` since ``days`` ago (submitted, or approved
    for sign-off)."""
    since = timezone.now() - timedelta(days=days)
    template = AssessmentTemplate.objects.filter(kind="dpia", active=True).first()
    return Assessment.objects.create(
        reference=unique_reference("AS"),
        template=template,
        kind="dpia",
        use_case=use_case,
        author=use_case.owner,
        status=status,
        submitted_at=since - timedelta(days=1) if status == "approved" else since,
        approved_at=since if status == "approved" else None,
    )


def test_stuck_lists_the_oldest_waits_in_review_and_for_sign_off_that_the_person_sees(
    client, product_owner, auditor, retail, corporate
):
    days = settings.ASSESSMENT_STUCK_DAYS
    mine, theirs = UseCaseFactory(business_unit=retail), UseCaseFactory(business_unit=corporate)
    in_review = waiting(mine, "in_review", days + 5)
    submitted = waiting(mine, "submitted", days + 1)
    to_sign = waiting(mine, "approved", days + 9)
    waiting(mine, "in_review", days - 1)  # not long enough
    waiting(mine, "signed_off", days + 30)  # done: not waiting
    hidden = waiting(theirs, "submitted", days + 20)  # Corporate's: not the owner's to see

    client.force_login(product_owner)
    stuck = client.get(reverse("dashboard")).context["stuck"]
    assert [a.pk for a in stuck] == [to_sign.pk, in_review.pk, submitted.pk]
    assert stuck[0].waiting_since == to_sign.approved_at
    assert stuck[1].waiting_since == in_review.submitted_at

    client.force_login(auditor)
    page = client.get(reverse("dashboard"))
    shown = [a.pk for a in page.context["stuck"]]
    assert shown == [hidden.pk, to_sign.pk, in_review.pk, submitted.pk]
    assert f"{hidden.reference} " in page.content.decode()


def test_stuck_shows_the_ten_oldest(client, auditor, retail):
    days = settings.ASSESSMENT_STUCK_DAYS
    use_case = UseCaseFactory(business_unit=retail)
    made = [
        waiting(use_case, "approved" if n % 2 else "in_review", days + 1 + n) for n in range(14)
    ]
    client.force_login(auditor)
    stuck = client.get(reverse("dashboard")).context["stuck"]
    oldest_first = sorted(made, key=lambda a: a.approved_at or a.submitted_at)
    assert [a.pk for a in stuck] == [a.pk for a in oldest_first[:10]]
