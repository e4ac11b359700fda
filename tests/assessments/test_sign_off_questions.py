"""Signing with reviewers' questions still open (issue 17, item 6): the sign-off page shows
them and asks the signer to acknowledge each before signing; the page and the API refuse a
signature that leaves one out, with a message that says why."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assessments import services
from assessments.models import Status
from tests.assessments.builders import to_status
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(use_case, people):
    return to_status(Status.APPROVED, use_case=use_case, **people)


def ask(assessment, who, body, key="aims"):
    return services.assessment_comment(
        actor=who, assessment=assessment, question_key=key, body=body
    )


def page(assessment) -> str:
    return reverse("assessments:sign-off", args=[assessment.pk])


def api_client(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def api_sign(user, assessment, **body):
    return api_client(user).post(
        f"/api/v1/assessments/{assessment.pk}/transitions/sign_off/",
        {"password": PASSWORD, **body},
        format="json",
    )


def test_the_sign_off_page_shows_open_questions_and_asks_to_acknowledge_each(
    approved, people, client
):
    q = ask(approved, people["reviewers"][1], "Who confirms each block, and how fast?")
    resolved = ask(approved, people["reviewers"][0], "Already answered elsewhere.")
    services.comment_resolve(actor=people["reviewers"][0], comment=resolved)
    client.force_login(people["approver"])
    body = client.get(page(approved)).content.decode()
    assert "Open reviewer questions" in body
    assert "Who confirms each block, and how fast?" in body
    assert "Already answered elsewhere." not in body  # resolved: not open
    assert f'name="acknowledged_questions" value="{q.pk}"' in body


def test_the_page_refuses_to_sign_without_the_acknowledgement_and_keeps_the_note(
    approved, people, client
):
    ask(approved, people["reviewers"][1], "Who confirms each block?")
    client.force_login(people["approver"])
    response = client.post(page(approved), {"password": PASSWORD, "note": "Review monthly."})
    assert response.status_code == 200
    body = response.content.decode()
    assert "1 reviewer question is still open: read it and acknowledge it before you sign." in body
    assert "Review monthly." in body  # what was typed stays
    approved.refresh_from_db()
    assert approved.status == Status.APPROVED


def test_the_page_signs_once_every_open_question_is_acknowledged(approved, people, client):
    q1 = ask(approved, people["reviewers"][1], "Who confirms each block?")
    q2 = ask(approved, people["reviewers"][0], "How fast is a block undone?", key="")
    client.force_login(people["approver"])
    response = client.post(
        page(approved),
        {"password": PASSWORD, "note": "", "acknowledged_questions": [q1.pk, q2.pk]},
    )
    assert response.status_code == 302
    approved.refresh_from_db()
    assert approved.status == Status.SIGNED_OFF
    reason = approved.history.first().history_change_reason
    assert "2 open reviewer question(s) acknowledged" in reason


def test_a_question_raised_after_the_page_was_read_refuses_the_signature(approved, people, client):
    q1 = ask(approved, people["reviewers"][1], "Who confirms each block?")
    ask(approved, people["reviewers"][0], "A new question, raised a moment ago.")
    client.force_login(people["approver"])
    response = client.post(
        page(approved), {"password": PASSWORD, "acknowledged_questions": [q1.pk]}
    )
    assert response.status_code == 200
    assert "2 reviewer questions are still open" in response.content.decode()
    approved.refresh_from_db()
    assert approved.status == Status.APPROVED


def test_with_no_open_question_nothing_is_asked(approved, people, client):
    client.force_login(people["approver"])
    assert "acknowledged_questions" not in client.get(page(approved)).content.decode()
    response = client.post(page(approved), {"password": PASSWORD})
    assert response.status_code == 302
    approved.refresh_from_db()
    assert approved.status == Status.SIGNED_OFF


def test_the_api_refuses_without_the_acknowledgement_with_a_field_error(approved, people):
    q = ask(approved, people["reviewers"][1], "Who confirms each block?")
    response = api_sign(people["approver"], approved)
    assert response.status_code == 400
    assert "acknowledged_questions" in response.json()
    approved.refresh_from_db()
    assert approved.status == Status.APPROVED
    response = api_sign(people["approver"], approved, acknowledged_questions=[q.pk])
    assert response.status_code == 200, response.content
    approved.refresh_from_db()
    assert approved.status == Status.SIGNED_OFF


def test_the_api_refuses_a_malformed_acknowledgement(approved, people):
    response = api_sign(people["approver"], approved, acknowledged_questions=["x"])
    assert response.status_code == 400
    assert "acknowledged_questions" in response.json()
