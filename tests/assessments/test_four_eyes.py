"""Four eyes without dead ends (issue 18): when only the author holds a role the routing asks
for, the page says so (not "nobody holds this role"); an admin can delegate that review to a
named person with a reason kept in the history; the author can withdraw to draft. Emails
name people by their full names and link to SITE_URL."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from assessments import services
from assessments.models import Assessment, Status
from portal.access import can
from portal.models import Role
from tests.assessments.builders import COMPLETE, draft, move
from tests.factories import UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lone_author(retail):
    """The only risk officer in Retail, who writes the DPIA themselves."""
    return UserFactory(
        username="rita.only",
        first_name="Rita",
        last_name="Only",
        roles=[Role.RISK_OFFICER],
        units=[retail],
    )


@pytest.fixture
def stuck(use_case, lone_author, dpo, leadership) -> Assessment:
    a = draft(use_case, lone_author, answers=COMPLETE)
    return move(a, lone_author, "submit")


@pytest.fixture
def colleague(retail):
    return UserFactory(
        username="carl.colleague", first_name="Carl", last_name="Colleague", units=[retail]
    )


def risk_review(assessment):
    return assessment.reviews.get(stage="review", role=Role.RISK_OFFICER)


def test_at_submit_a_role_only_the_author_holds_is_named_as_unfillable(stuck, lone_author):
    review = risk_review(stuck)
    why = " ".join(review.reasons)

    assert "Cannot be filled" in why and "Rita Only" in why
    assert "Nobody holds this role here yet" not in why
    assert services.unfillable_reviews(stuck) == [review]
    dpo_review = stuck.reviews.get(stage="review", role=Role.DPO)
    assert dpo_review not in services.unfillable_reviews(stuck)


def test_a_role_nobody_holds_still_says_so(use_case, product_owner, dpo):
    a = move(draft(use_case, product_owner, answers=COMPLETE), product_owner, "submit")
    assert "Nobody holds this role here yet" in " ".join(risk_review(a).reasons)


def test_the_detail_page_tells_the_author_how_to_get_unstuck(client, stuck, lone_author):
    client.force_login(lone_author)
    html = client.get(stuck.get_absolute_url()).content.decode()

    assert "Nobody who may review it can take this review" in html
    assert "withdraw the assessment to draft" in html
    assert reverse("assessments:transition", args=[stuck.pk, "withdraw"]) in html


def test_the_author_withdraws_a_submitted_assessment_to_draft(client, stuck, lone_author):
    client.force_login(lone_author)
    response = client.post(
        reverse("assessments:transition", args=[stuck.pk, "withdraw"]),
        {"reason": "Nobody else can review the risk side; fixing the routing first."},
    )

    assert response.status_code == 302
    stuck.refresh_from_db()
    assert stuck.status == Status.DRAFT
    assert stuck.submitted_at is None
    assert not stuck.reviews.exists()
    assert stuck.history.latest().history_change_reason.startswith("Withdrawn to draft")
    assert can(lone_author, "assessments.change_assessment", stuck)


@pytest.mark.parametrize("persona", ["admin", "risk_officer", "dpo", "leadership", "auditor"])
def test_only_the_author_may_withdraw(stuck, personas, persona):
    assert not can(personas[persona], "assessments.withdraw", stuck)
    with pytest.raises(PermissionDenied):
        move(stuck, personas[persona], "withdraw", reason="Not mine to take back.")
    stuck.refresh_from_db()
    assert stuck.status == Status.SUBMITTED


def test_withdrawing_needs_a_reason(stuck, lone_author):
    with pytest.raises(ValidationError):
        move(stuck, lone_author, "withdraw")


def test_an_admin_delegates_the_review_and_the_delegate_can_decide(
    client, stuck, admin_user, colleague, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    page = client.get(stuck.get_absolute_url()).content.decode()
    assert "Delegate this review" in page and "Carl Colleague" in page

    review = risk_review(stuck)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("assessments:review-delegate", args=[stuck.pk, review.pk]),
            {"person": colleague.pk, "reason": "Carl ran risk before Rita joined."},
        )

    assert response.status_code == 302
    review.refresh_from_db()
    assert review.assignee == colleague
    recorded = review.history.latest()
    assert recorded.history_user == admin_user
    assert "Carl ran risk before Rita joined." in recorded.history_change_reason
    assert "Delegated to Carl Colleague" in stuck.history.latest().history_change_reason
    assert services.unfillable_reviews(stuck) == []
    assert [m.to for m in mail.outbox] == [[colleague.email]]
    # The delegate reviews like any routed reviewer.
    stuck = Assessment.objects.get(pk=stuck.pk)
    assert can(colleague, "assessments.review", stuck)


def test_a_review_is_never_delegated_to_the_author(stuck, admin_user, lone_author):
    with pytest.raises(ValidationError, match="four eyes"):
        services.review_delegate(
            actor=admin_user, assignment=risk_review(stuck), person=lone_author, reason="Quick."
        )


@pytest.mark.parametrize("persona", ["risk_officer", "dpo", "leadership", "product_owner"])
def test_only_an_admin_may_delegate(stuck, personas, persona, colleague):
    with pytest.raises(PermissionDenied):
        services.review_delegate(
            actor=personas[persona],
            assignment=risk_review(stuck),
            person=colleague,
            reason="Helping out.",
        )
    assert risk_review(stuck).assignee is None


def test_delegating_needs_a_reason(stuck, admin_user, colleague):
    with pytest.raises(ValidationError):
        services.review_delegate(
            actor=admin_user, assignment=risk_review(stuck), person=colleague, reason=" "
        )


def test_emails_name_people_in_full_and_link_to_site_url(
    use_case, product_owner, risk_officer, dpo, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://steward.example.com"
    risk_officer.first_name, risk_officer.last_name = "Rita", "Risk"
    risk_officer.save()
    a = move(draft(use_case, product_owner, answers=COMPLETE), product_owner, "submit")
    a = move(a, risk_officer, "start_review")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        move(a, risk_officer, "request_changes", reason="Name an owner for the measures.")

    [sent] = [m for m in mail.outbox if m.to == [product_owner.email]]
    assert "Rita Risk (Risk officer) asked for changes" in sent.body
    assert risk_officer.username not in sent.body
    assert f"https://steward.example.com/assessments/{a.pk}/" in sent.body


def test_the_dashboard_lists_assessments_stuck_longer_than_the_setting(
    client, stuck, use_case, risk_officer, settings
):
    settings.ASSESSMENT_STUCK_DAYS = 10
    fresh = move(
        draft(UseCaseFactory(business_unit=use_case.business_unit), risk_officer, answers=COMPLETE),
        risk_officer,
        "submit",
    )
    Assessment.objects.filter(pk=stuck.pk).update(submitted_at=timezone.now() - timedelta(days=12))
    client.force_login(risk_officer)
    html = client.get(reverse("dashboard")).content.decode()

    assert "Assessments waiting more than 10 days" in html
    section = html.split('id="h-stuck"')[1].split("</section>")[0]
    assert stuck.reference in section
    assert fresh.reference not in section


def test_the_stuck_list_shows_only_what_the_person_may_see(client, stuck, outsider):
    Assessment.objects.filter(pk=stuck.pk).update(submitted_at=timezone.now() - timedelta(days=400))
    client.force_login(outsider)
    html = client.get(reverse("dashboard")).content.decode()
    assert stuck.reference not in html
