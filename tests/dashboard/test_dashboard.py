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


def signed(use_case, valid_days: int) -> Assessment:
    """A signed-off assessment of ``use_case`` valid until ``valid_days`` from today."""
    assessment = waiting(use_case, "signed_off", 400)
    assessment.valid_until = timezone.localdate() + timedelta(days=valid_days)
    assessment.save(update_fields=["valid_until"])
    return assessment


def test_each_assessment_panel_lists_its_own_first_ten_in_its_own_order(
    client, product_owner, retail, corporate
):
    """Past their date, due within 30 days, waiting too long: each panel gets its own first
    ten in its own order, however many rows the others have, and only what the person sees."""
    days = settings.ASSESSMENT_STUCK_DAYS
    mine, theirs = UseCaseFactory(business_unit=retail), UseCaseFactory(business_unit=corporate)
    overdue = [signed(mine, -1 - n) for n in range(12)]  # 1 to 12 days past
    due_soon = [signed(mine, n) for n in range(0, 36, 3)]  # today to 33 days ahead
    stuck = [waiting(mine, "approved" if n % 2 else "submitted", days + 1 + n) for n in range(12)]
    signed(mine, 200)  # valid for long yet: in no panel
    waiting(mine, "in_review", days - 1)  # not waiting long enough
    signed(theirs, -400), signed(theirs, 1), waiting(theirs, "submitted", days + 90)  # unseen

    client.force_login(product_owner)
    page = client.get(reverse("dashboard"))
    context = page.context

    assert [a.pk for a in context["overdue"]] == [a.pk for a in overdue[::-1][:10]]
    in_window = [a for a in due_soon if a.valid_until <= timezone.localdate() + timedelta(30)]
    assert [a.pk for a in context["due_soon"]] == [a.pk for a in in_window[:10]]
    oldest_first = sorted(stuck, key=lambda a: a.approved_at or a.submitted_at)
    assert [a.pk for a in context["stuck"]] == [a.pk for a in oldest_first[:10]]
    assert context["stuck"][0].waiting_since == oldest_first[0].approved_at
    body = page.content.decode()
    assert "Due in the next 30 days" in body
    assert f"{overdue[-1].reference} " in body and f"{due_soon[0].reference} " in body
    assert f"{overdue[0].reference} " not in body  # the 11th longest past: not shown
