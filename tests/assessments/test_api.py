"""The assessments REST API: the persona x action matrix, the workflow, edit conflicts,
comparing versions, templates as files, query counts and the OpenAPI schema."""

import json
from copy import deepcopy

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assessments.models import (
    TRANSITIONS,
    Assessment,
    AssessmentTemplate,
    Comment,
    SignOff,
    Status,
)
from registry.models import RiskTier
from tests.assessments.builders import COMPLETE, TINY, draft, tiny_template, to_status
from tests.factories import PASSWORD, UseCaseFactory

pytestmark = pytest.mark.django_db

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]

# Who may take each action, from the state where it applies, on a Retail DPIA written by the
# product owner (reviewed by the risk officer and the DPO, signed off by leadership). The
# outsider (a product owner in Corporate) sees none of it, so every answer of theirs is 404.
ACTION_STATE = {
    "submit": Status.DRAFT,
    "start_review": Status.SUBMITTED,
    "request_changes": Status.IN_REVIEW,
    "approve": Status.IN_REVIEW,
    "reject": Status.IN_REVIEW,
    "sign_off": Status.APPROVED,
    "withdraw": Status.SUBMITTED,
}
HOLDERS = {
    "create": {"admin", "risk_officer", "product_owner", "dpo"},
    "answers": {"admin", "risk_officer", "product_owner", "dpo"},
    "submit": {"admin", "risk_officer", "product_owner", "dpo"},
    "start_review": {"risk_officer", "dpo"},
    "request_changes": {"risk_officer", "dpo"},
    "approve": {"risk_officer", "dpo"},
    "reject": {"risk_officer", "dpo"},
    "sign_off": {"leadership"},
    "withdraw": {"product_owner"},  # the author, nobody else
    "comment": {"admin", "risk_officer", "product_owner", "dpo", "leadership"},
    # Who raised the point, or a routed reviewer: not the author, not an admin as such.
    "resolve_comment": {"risk_officer", "dpo", "leadership"},
    "reassess": {"admin", "risk_officer", "product_owner", "dpo"},
    "override_tier": {"admin", "risk_officer"},
    "manage_templates": {"admin", "risk_officer"},
}


def expected_status(persona: str, holders: str, success: int = 200) -> int:
    if persona == "outsider":
        return 404
    return success if persona in HOLDERS[holders] else 403


# Fixtures and helpers ------------------------------------------------------------------------
def token_client(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def as_persona(personas):
    def make(name: str) -> APIClient:
        return token_client(personas[name])

    return make


@pytest.fixture
def template():
    return tiny_template()


@pytest.fixture
def at(use_case, people):
    """An assessment of the use case brought to a status by the routed people."""

    def make(status: str, **kwargs) -> Assessment:
        return to_status(status, use_case=kwargs.pop("use_case", use_case), **people, **kwargs)

    return make


def url(pk: int, name: str = "detail", **kwargs) -> str:
    return reverse(f"api-assessment-{name}", kwargs={"pk": pk, **kwargs})


def transition_url(pk: int, action: str) -> str:
    return url(pk, "transition", transition=action)


def template_url(name: str, pk: int | None = None) -> str:
    kwargs = {"pk": pk} if pk is not None else {}
    return reverse(f"api-assessment-template-{name}", kwargs=kwargs)


def listed_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def json_file(definition, name: str = "template.json") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, json.dumps(definition).encode(), "application/json")


# Authentication ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "name", "on_record"),
    [
        ("get", "api-assessment-list", False),
        ("post", "api-assessment-list", False),
        ("get", "api-assessment-detail", True),
        ("patch", "api-assessment-answers", True),
        ("get", "api-assessment-comments", True),
        ("post", "api-assessment-comments", True),
        ("get", "api-assessment-compare", True),
        ("get", "api-assessment-versions", True),
        ("post", "api-assessment-reassess", True),
        ("post", "api-assessment-override-tier", True),
        ("get", "api-assessment-template-list", False),
        ("post", "api-assessment-template-import", False),
    ],
)
def test_anonymous_caller_gets_401(at, method, name, on_record):
    record = at(Status.DRAFT)
    target = reverse(name, kwargs={"pk": record.pk}) if on_record else reverse(name)

    response = getattr(APIClient(), method)(target, {}, format="json")

    assert response.status_code == 401
    assert "results" not in response.json()


def test_anonymous_transition_gets_401(at):
    record = at(Status.DRAFT)

    response = APIClient().post(transition_url(record.pk, "submit"), {}, format="json")

    assert response.status_code == 401
    record.refresh_from_db()
    assert record.status == Status.DRAFT


# Reading -------------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_retrieve_answers_404_outside_ones_unit(as_persona, at, persona):
    record = at(Status.SUBMITTED)

    response = as_persona(persona).get(url(record.pk))

    if persona == "outsider":
        assert response.status_code == 404
    else:
        assert response.status_code == 200
        assert response.json()["reference"] == record.reference


def test_missing_and_forbidden_assessments_answer_alike(as_persona, at):
    record = at(Status.DRAFT)
    client = as_persona("outsider")

    forbidden = client.get(url(record.pk))
    missing = client.get(url(record.pk + 1000))

    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json() == missing.json()


def test_detail_of_a_signed_off_assessment(as_persona, at, use_case, people, template):
    record = at(Status.SIGNED_OFF)
    signed = SignOff.objects.get(assessment=record)

    body = as_persona("auditor").get(url(record.pk)).json()

    assert body["reference"] == record.reference
    assert (body["kind"], body["version"], body["status"]) == ("dpia", 1, Status.SIGNED_OFF)
    assert body["use_case"] == {
        "id": use_case.pk,
        "reference": use_case.reference,
        "title": "Card fraud scoring",
        "business_unit": use_case.business_unit_id,
        "business_unit_name": use_case.business_unit.name,
    }
    assert body["template"] == {
        "id": template.pk,
        "key": "tiny-dpia",
        "version": 1,
        "title": "Tiny DPIA",
    }
    assert body["author"]["username"] == people["author"].username
    assert body["answers"] == record.answers
    assert body["result"]["value"] == "low"
    assert body["result"]["label"] == "Low residual risk"
    assert body["result"]["scores"]["impact"]["value"] == 2
    assert body["revision"] == record.revision
    assert body["valid_until"] == record.valid_until.isoformat()
    reviews = {(r["stage"], r["reviewer"]): r for r in body["reviews"]}
    assert set(reviews) == {
        ("review", "Risk officer"),
        ("review", "Data protection officer"),
        ("approve", "Leadership"),
    }
    assert reviews[("approve", "Leadership")]["decision"] == "signed_off"
    assert reviews[("approve", "Leadership")]["decided_by"]["id"] == people["approver"].pk
    assert reviews[("review", "Risk officer")]["reasons"]
    assert body["sign_off"]["signed_by"]["id"] == people["approver"].pk
    assert body["sign_off"]["sha256"] == signed.sha256
    assert body["sign_off"]["content_intact"] is True
    assert body["sign_off"]["statement"] == signed.statement
    assert body["available_actions"] == []  # an auditor does nothing
    assert body["missing_required"] == []
    assert body["links"]["summary_pdf"].endswith(
        reverse("assessments:pdf-summary", args=[record.pk])
    )
    assert body["links"]["full_pdf"].endswith(reverse("assessments:pdf-full", args=[record.pk]))


def test_a_draft_shows_what_is_missing_and_its_progress(as_persona, use_case, product_owner):
    record = draft(use_case, product_owner, answers={"automated": "yes"})

    body = as_persona("product_owner").get(url(record.pk)).json()

    assert [m["key"] for m in body["missing_required"]] == ["aims", "why_automated"]
    assert body["progress"] == [
        {"section": "need", "title": "The need", "answered": 1, "total": 3},
        {"section": "risks", "title": "Risks", "answered": 0, "total": 2},
    ]
    assert body["sign_off"] is None
    assert [a["action"] for a in body["available_actions"]] == ["submit"]


def test_list_holds_only_what_the_persona_may_see(as_persona, at, corporate, outsider):
    retail_one = at(Status.DRAFT)
    corporate_one = draft(UseCaseFactory(business_unit=corporate, owner=outsider), outsider)

    assert listed_ids(as_persona("outsider").get(reverse("api-assessment-list"))) == [
        corporate_one.pk
    ]
    assert listed_ids(as_persona("product_owner").get(reverse("api-assessment-list"))) == [
        retail_one.pk
    ]
    auditor_sees = listed_ids(as_persona("auditor").get(reverse("api-assessment-list")))
    assert set(auditor_sees) == {retail_one.pk, corporate_one.pk}


def test_a_reviewer_group_sees_only_what_it_was_asked_to_review(
    as_persona, at, retail, product_owner, legal_reviewer
):
    ordinary = at(Status.SUBMITTED)
    high_risk = UseCaseFactory(business_unit=retail, owner=product_owner, risk_tier=RiskTier.HIGH)
    routed = at(Status.SUBMITTED, use_case=high_risk)
    client = token_client(legal_reviewer)

    assert listed_ids(client.get(reverse("api-assessment-list"))) == [routed.pk]
    waiting = client.get(reverse("api-assessment-list"), {"awaiting": "review"})
    assert listed_ids(waiting) == [routed.pk]
    assert client.get(url(ordinary.pk)).status_code == 404
    detail = client.get(url(routed.pk)).json()
    assert {a["action"] for a in detail["available_actions"]} == {"start_review"}


# Filters, paging and query counts ------------------------------------------------------------
@pytest.fixture
def portfolio(retail, corporate, product_owner, outsider, people):
    """Assessments in several states, kinds, use cases and units."""
    screening = tiny_template(key="tiny-screening", kind="screening", title="Tiny screening")
    fraud = UseCaseFactory(business_unit=retail, owner=product_owner, title="Fraud")
    chat = UseCaseFactory(business_unit=retail, owner=product_owner, title="Chat")
    bonds = UseCaseFactory(business_unit=corporate, owner=outsider, title="Bonds")
    return {
        "draft_dpia": draft(fraud, product_owner),
        "submitted_dpia": to_status(Status.SUBMITTED, use_case=chat, **people),
        "approved_screening": to_status(
            Status.APPROVED,
            use_case=fraud,
            author=product_owner,
            reviewers=people["reviewers"][:1],
            approver=people["approver"],
            template=screening,
        ),
        "corporate_dpia": draft(bonds, outsider),
    }


def filtered(client, **params) -> set[int]:
    return set(listed_ids(client.get(reverse("api-assessment-list"), params)))


def test_filters(as_persona, portfolio, retail, corporate, personas):
    client = as_persona("admin")
    ids = {name: a.pk for name, a in portfolio.items()}
    fraud = portfolio["draft_dpia"].use_case

    assert filtered(client, status=Status.SUBMITTED) == {ids["submitted_dpia"]}
    assert filtered(client, kind="screening") == {ids["approved_screening"]}
    assert filtered(client, use_case=fraud.pk) == {ids["draft_dpia"], ids["approved_screening"]}
    assert filtered(client, use_case=fraud.reference.lower()) == filtered(client, use_case=fraud.pk)
    assert filtered(client, unit=corporate.pk) == {ids["corporate_dpia"]}
    assert ids["corporate_dpia"] not in filtered(client, unit=retail.pk)
    assert filtered(as_persona("risk_officer"), awaiting="review") == {ids["submitted_dpia"]}
    assert filtered(as_persona("dpo"), awaiting="review") == {ids["submitted_dpia"]}
    assert filtered(as_persona("leadership"), awaiting="sign_off") == {ids["approved_screening"]}
    assert filtered(as_persona("product_owner"), awaiting="review") == set()


def test_filters_never_reveal_another_units_assessments(as_persona, portfolio, retail):
    fraud = portfolio["draft_dpia"].use_case
    client = as_persona("outsider")

    assert filtered(client, use_case=fraud.reference) == set()
    assert filtered(client, use_case=fraud.pk) == set()


@pytest.mark.parametrize(
    "params",
    [{"status": "done"}, {"kind": "poem"}, {"awaiting": "lunch"}, {"ordering": "x"}],
)
def test_bad_filter_values_are_a_400(as_persona, portfolio, params):
    response = as_persona("admin").get(reverse("api-assessment-list"), params)

    assert response.status_code == 400
    assert set(params) & set(response.json())


def test_list_is_paginated(as_persona, retail, product_owner, template):
    page_size = settings.REST_FRAMEWORK["PAGE_SIZE"]
    created = [
        draft(UseCaseFactory(business_unit=retail, owner=product_owner), product_owner, template)
        for _ in range(page_size + 2)
    ]
    client = as_persona("product_owner")

    first = client.get(reverse("api-assessment-list")).json()
    second = client.get(first["next"]).json()

    assert first["count"] == len(created)
    assert len(first["results"]) == page_size
    seen = [row["id"] for row in first["results"] + second["results"]]
    assert sorted(seen) == sorted(a.pk for a in created)


def test_list_query_count_does_not_grow_with_rows(as_persona, retail, product_owner, template):
    client = as_persona("risk_officer")

    def queries_for(n_rows: int) -> int:
        for _ in range(n_rows - Assessment.objects.count()):
            use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
            draft(use_case, product_owner, template, answers=COMPLETE)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("api-assessment-list"))
        assert response.status_code == 200
        assert response.json()["count"] == n_rows
        return len(ctx.captured_queries)

    # The first request of a process (or after a test emptied the database) also reads the
    # content type the per-record grants name, once, into Django's cache: not a query per row.
    client.get(reverse("api-assessment-list"))
    assert queries_for(10) == queries_for(40)


# Starting ------------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_create_matrix(as_persona, persona, use_case, template):
    response = as_persona(persona).post(
        reverse("api-assessment-list"),
        {"use_case": use_case.pk, "template": template.pk},
        format="json",
    )

    if persona == "outsider":
        # They may not even see the use case, so it is not one they can choose.
        assert response.status_code == 400
        assert "use_case" in response.json()
    else:
        assert response.status_code == expected_status(persona, "create", 201), response.content
    if response.status_code == 201:
        created = Assessment.objects.get(pk=response.json()["id"])
        assert created.use_case == use_case
        assert created.status == Status.DRAFT
        assert response["Location"].endswith(url(created.pk))
    else:
        assert not Assessment.objects.exists()


def test_create_by_template_key_takes_its_offered_version(as_persona, use_case, template):
    newer = tiny_template(version=2, title="Tiny DPIA, revised")

    response = as_persona("product_owner").post(
        reverse("api-assessment-list"),
        {"use_case": use_case.pk, "template": "tiny-dpia"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["template"]["id"] == newer.pk
    assert response.json()["template"]["version"] == 2


@pytest.mark.parametrize("value", ["no-such-template", 999999, True, ""])
def test_create_with_an_unknown_template_is_a_field_error(as_persona, use_case, value):
    response = as_persona("product_owner").post(
        reverse("api-assessment-list"), {"use_case": use_case.pk, "template": value}, format="json"
    )

    assert response.status_code == 400
    assert "template" in response.json()


def test_a_second_open_assessment_of_a_kind_is_refused(as_persona, at, use_case, template):
    open_one = at(Status.SUBMITTED)

    response = as_persona("product_owner").post(
        reverse("api-assessment-list"),
        {"use_case": use_case.pk, "template": template.pk},
        format="json",
    )

    assert response.status_code == 400
    assert open_one.reference in response.json()["template"][0]


# Answers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_answers_matrix(as_persona, at, persona):
    record = at(Status.DRAFT)

    response = as_persona(persona).patch(
        url(record.pk, "answers"),
        {"answers": {"aims": "Stop fraud."}, "revision": record.revision},
        format="json",
    )

    assert response.status_code == expected_status(persona, "answers"), response.content
    record.refresh_from_db()
    if response.status_code == 200:
        assert record.answers["aims"] == response.json()["answers"]["aims"] == "Stop fraud."
        assert response.json()["revision"] == record.revision
    else:
        assert record.answers["aims"] == COMPLETE["aims"]


def test_answers_cannot_change_once_submitted(as_persona, at):
    record = at(Status.SUBMITTED)

    response = as_persona("product_owner").patch(
        url(record.pk, "answers"),
        {"answers": {"aims": "Later thoughts."}, "revision": record.revision},
        format="json",
    )

    assert response.status_code == 403
    record.refresh_from_db()
    assert record.answers["aims"] == COMPLETE["aims"]


def test_bad_answers_are_errors_keyed_by_question(as_persona, at):
    record = at(Status.DRAFT)

    response = as_persona("product_owner").patch(
        url(record.pk, "answers"),
        {
            "answers": {"scale": "galactic", "automated": "perhaps", "nonsense": 1, "aims": "ok"},
            "revision": record.revision,
        },
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"scale", "automated", "nonsense"}
    record.refresh_from_db()
    assert record.answers["aims"] == COMPLETE["aims"]


@pytest.mark.parametrize(
    "body",
    [{"answers": {"aims": "x"}}, {"answers": {"aims": "x"}, "revision": "one"}, {"revision": 2}],
)
def test_answers_need_a_revision_and_answers(as_persona, at, body):
    record = at(Status.DRAFT)

    response = as_persona("product_owner").patch(url(record.pk, "answers"), body, format="json")

    assert response.status_code == 400
    missing = {"answers", "revision"} - set(body) or {"revision"}
    assert missing <= set(response.json())


def test_the_later_of_two_concurrent_saves_is_refused_with_what_changed(
    as_persona, at, product_owner
):
    record = at(Status.DRAFT)
    first, second = as_persona("product_owner"), as_persona("risk_officer")
    loaded = [c.get(url(record.pk)).json()["revision"] for c in (first, second)]
    assert loaded[0] == loaded[1] == record.revision

    saved = first.patch(
        url(record.pk, "answers"),
        {"answers": {"aims": "Owner's wording."}, "revision": loaded[0]},
        format="json",
    )
    refused = second.patch(
        url(record.pk, "answers"),
        {"answers": {"aims": "Risk officer's wording.", "scale": "few"}, "revision": loaded[1]},
        format="json",
    )

    assert saved.status_code == 200
    assert refused.status_code == 409, refused.content
    body = refused.json()
    assert body["current_revision"] == saved.json()["revision"] == record.revision + 1
    assert body["detail"]
    assert [(c["question"], c["by"]) for c in body["changes"]] == [("aims", product_owner.username)]
    assert body["changes"][0]["before"] == COMPLETE["aims"]
    assert body["changes"][0]["now"] == "Owner's wording."
    record.refresh_from_db()
    assert record.answers["aims"] == "Owner's wording."
    assert record.answers["scale"] == COMPLETE["scale"]
    assert record.revision == loaded[0] + 1


# Moves through review: the matrix ------------------------------------------------------------
def test_matrix_covers_every_transition():
    assert set(ACTION_STATE) == set(TRANSITIONS)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", sorted(ACTION_STATE))
def test_transition_matrix(as_persona, at, personas, persona, action):
    record = at(ACTION_STATE[action])
    client = as_persona(persona)
    expected = expected_status(persona, action)

    detail = client.get(url(record.pk))
    response = client.post(
        transition_url(record.pk, action),
        {"reason": "Checked in the quarterly review.", "password": PASSWORD},
        format="json",
    )

    assert response.status_code == expected, response.content
    if persona != "outsider":
        offered = {a["action"] for a in detail.json()["available_actions"]}
        assert (action in offered) == (expected == 200)
    record.refresh_from_db()
    if expected == 200:
        assert response.json()["status"] == record.status
        assert record.history.latest().history_user == personas[persona]
        if action == "approve":
            # One of two reviewers approving records their decision and waits for the other.
            mine = [r for r in response.json()["reviews"] if r["decided_by"]]
            assert [r["decision"] for r in mine] == ["approved"]
            assert mine[0]["decided_by"]["id"] == personas[persona].pk
        else:
            assert record.status == TRANSITIONS[action].target
    else:
        assert record.status == ACTION_STATE[action]


def test_a_move_from_the_wrong_state_is_refused(as_persona, at):
    submitted = at(Status.SUBMITTED)
    approved = at(
        Status.APPROVED, use_case=UseCaseFactory(business_unit=submitted.use_case.business_unit)
    )

    # A reviewer may act on a submitted assessment, but approving waits for the review.
    early = as_persona("risk_officer").post(transition_url(submitted.pk, "approve"), {})
    # Submitting is editing, and an approved assessment is no longer editable.
    late = as_persona("product_owner").post(transition_url(approved.pk, "submit"), {})

    assert early.status_code == 400
    assert "action" in early.json()
    assert late.status_code == 403
    submitted.refresh_from_db()
    approved.refresh_from_db()
    assert (submitted.status, approved.status) == (Status.SUBMITTED, Status.APPROVED)


def test_an_unknown_move_is_404(as_persona, at):
    record = at(Status.DRAFT)

    response = as_persona("admin").post(transition_url(record.pk, "launch_rocket"), {})

    assert response.status_code == 404


def test_requesting_changes_needs_a_reason(as_persona, at):
    record = at(Status.IN_REVIEW)

    response = as_persona("risk_officer").post(
        transition_url(record.pk, "request_changes"), {"reason": "  "}, format="json"
    )

    assert response.status_code == 400
    assert "reason" in response.json()
    record.refresh_from_db()
    assert record.status == Status.IN_REVIEW


def test_submitting_with_questions_unanswered_names_them(as_persona, use_case, product_owner):
    record = draft(use_case, product_owner, answers={"automated": "yes"})

    response = as_persona("product_owner").post(transition_url(record.pk, "submit"), {})

    assert response.status_code == 400
    assert {"aims", "why_automated", "non_field_errors"} <= set(response.json())


# The whole workflow, through the API only ----------------------------------------------------
def test_full_workflow_through_the_api(as_persona, use_case, template, personas):
    owner, risk, dpo, lead = (
        as_persona(p) for p in ("product_owner", "risk_officer", "dpo", "leadership")
    )

    def ok(response, code: int = 200) -> dict:
        assert response.status_code == code, response.content
        return response.json()

    def do(client, pk, action, **body) -> dict:
        return ok(client.post(transition_url(pk, action), body, format="json"))

    created = ok(
        owner.post(
            reverse("api-assessment-list"),
            {"use_case": use_case.pk, "template": "tiny-dpia"},
            format="json",
        ),
        201,
    )
    pk = created["id"]
    assert created["status"] == Status.DRAFT
    saved = ok(
        owner.patch(
            url(pk, "answers"),
            {"answers": COMPLETE, "revision": created["revision"]},
            format="json",
        )
    )
    assert saved["missing_required"] == []
    assert do(owner, pk, "submit")["status"] == Status.SUBMITTED
    assert do(risk, pk, "start_review")["status"] == Status.IN_REVIEW
    comment = ok(
        risk.post(
            url(pk, "comments"),
            {"question_key": "aims", "body": "Who confirms a block?"},
            format="json",
        ),
        201,
    )
    sent_back = do(risk, pk, "request_changes", reason="Say who confirms blocks.")
    assert sent_back["status"] == Status.CHANGES_REQUESTED

    fixed = ok(
        owner.patch(
            url(pk, "answers"),
            {
                "answers": {"aims": "Spot fraud; an analyst confirms every block."},
                "revision": sent_back["revision"],
            },
            format="json",
        )
    )
    ok(
        owner.post(url(pk, "comments"), {"body": "Added.", "parent": comment["id"]}, format="json"),
        201,
    )
    # The author answers; only who raised it (or another named reviewer) closes it.
    refused = owner.post(url(pk, "resolve-comment", comment_pk=comment["id"]))
    assert refused.status_code == 403
    ok(risk.post(url(pk, "resolve-comment", comment_pk=comment["id"])))
    assert do(owner, pk, "submit")["status"] == Status.SUBMITTED
    assert fixed["revision"] == sent_back["revision"] + 1
    do(dpo, pk, "start_review")
    waiting = do(risk, pk, "approve")
    assert waiting["status"] == Status.IN_REVIEW
    assert do(dpo, pk, "approve")["status"] == Status.APPROVED

    wrong = lead.post(transition_url(pk, "sign_off"), {"password": "guess"}, format="json")
    assert wrong.status_code == 400
    assert "password" in wrong.json()
    assert Assessment.objects.get(pk=pk).status == Status.APPROVED

    signed = do(lead, pk, "sign_off", password=PASSWORD, reason="Fine to go live.")
    assert signed["status"] == Status.SIGNED_OFF
    assert signed["sign_off"]["signed_by"]["id"] == personas["leadership"].pk
    assert signed["sign_off"]["content_intact"] is True
    assert signed["valid_until"]
    assert signed["answers"]["aims"] == "Spot fraud; an analyst confirms every block."
    decisions = {(r["stage"], r["reviewer"]): r["decision"] for r in signed["reviews"]}
    assert decisions == {
        ("review", "Risk officer"): "approved",
        ("review", "Data protection officer"): "approved",
        ("approve", "Leadership"): "signed_off",
    }
    thread = ok(risk.get(url(pk, "comments")))
    assert [(c["body"], c["resolved"]) for c in thread] == [
        ("Who confirms a block?", True),
        ("Added.", False),
    ]
    assert thread[1]["parent"] == comment["id"]
    assert thread[1]["question_key"] == "aims"


# Comments ------------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_comment_matrix(as_persona, at, persona):
    record = at(Status.SUBMITTED)
    client = as_persona(persona)

    read = client.get(url(record.pk, "comments"))
    written = client.post(
        url(record.pk, "comments"), {"question_key": "aims", "body": "Why?"}, format="json"
    )

    assert read.status_code == (404 if persona == "outsider" else 200)
    assert written.status_code == expected_status(persona, "comment", 201), written.content
    assert Comment.objects.filter(assessment=record).exists() == (written.status_code == 201)


@pytest.mark.parametrize("persona", PERSONAS)
def test_resolve_comment_matrix(as_persona, at, personas, persona):
    record = at(Status.SUBMITTED)
    comment = Comment.objects.create(
        assessment=record, author=personas["risk_officer"], body="Why?", question_key="aims"
    )

    response = as_persona(persona).post(url(record.pk, "resolve-comment", comment_pk=comment.pk))

    assert response.status_code == expected_status(persona, "resolve_comment")
    comment.refresh_from_db()
    assert comment.resolved == (response.status_code == 200)


def test_comments_are_checked(as_persona, at, use_case, personas):
    record = at(Status.SUBMITTED)
    elsewhere = draft(
        UseCaseFactory(business_unit=use_case.business_unit), personas["product_owner"]
    )
    foreign = Comment.objects.create(assessment=elsewhere, author=personas["admin"], body="Hi")
    client = as_persona("risk_officer")
    comments = url(record.pk, "comments")

    blank = client.post(comments, {"body": ""}, format="json")
    unknown_question = client.post(comments, {"body": "?", "question_key": "x"}, format="json")
    foreign_parent = client.post(comments, {"body": "?", "parent": foreign.pk}, format="json")
    foreign_resolve = client.post(url(record.pk, "resolve-comment", comment_pk=foreign.pk))

    assert blank.status_code == 400 and "body" in blank.json()
    assert unknown_question.status_code == 400 and "question_key" in unknown_question.json()
    assert foreign_parent.status_code == 400 and "parent" in foreign_parent.json()
    assert foreign_resolve.status_code == 404
    assert not Comment.objects.filter(assessment=record).exists()


# Versions, re-assessment, comparison, tier override ------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_reassess_matrix(as_persona, at, persona):
    record = at(Status.SIGNED_OFF)

    response = as_persona(persona).post(url(record.pk, "reassess"))

    assert response.status_code == expected_status(persona, "reassess", 201), response.content
    if response.status_code == 201:
        body = response.json()
        assert (body["version"], body["status"], body["previous"]) == (2, "draft", record.pk)
        assert response["Location"].endswith(url(body["id"]))
    else:
        assert Assessment.objects.count() == 1


def test_only_a_signed_off_assessment_is_reassessed(as_persona, at):
    record = at(Status.APPROVED)

    response = as_persona("product_owner").post(url(record.pk, "reassess"))

    assert response.status_code == 403
    assert Assessment.objects.count() == 1


@pytest.fixture
def signed_v1_and_draft_v2(as_persona, at):
    v1 = at(Status.SIGNED_OFF)
    client = as_persona("product_owner")
    v2 = client.post(url(v1.pk, "reassess")).json()
    saved = client.patch(
        url(v2["id"], "answers"),
        {"answers": {"aims": "Spot fraud and mule accounts."}, "revision": v2["revision"]},
        format="json",
    )
    assert saved.status_code == 200, saved.content
    return v1, Assessment.objects.get(pk=v2["id"])


def test_compare_shows_what_changed_between_versions(as_persona, signed_v1_and_draft_v2):
    v1, v2 = signed_v1_and_draft_v2

    response = as_persona("auditor").get(url(v2.pk, "compare"), {"with": v1.pk})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["left"]["id"], body["right"]["id"]) == (v1.pk, v2.pk)
    assert body["changed"] == 1
    rows = {row["question"]: row for row in body["rows"]}
    assert set(rows) == {"aims", "automated", "why_automated", "risks", "scale"}
    assert rows["aims"] == {
        "section": "The need",
        "question": "aims",
        "label": "What is it for?",
        "left": COMPLETE["aims"],
        "right": "Spot fraud and mule accounts.",
        "changed": True,
    }
    assert rows["scale"]["changed"] is False
    assert rows["scale"]["left"] == rows["scale"]["right"] == "1,000 or more"
    assert [r["question"] for r in body["result_rows"]] == ["result", "score:impact"]
    # Either way round, the older version is on the left.
    reverse_order = as_persona("auditor").get(url(v1.pk, "compare"), {"with": v2.pk}).json()
    assert reverse_order["rows"] == body["rows"]


def test_compare_refuses_what_is_not_another_version(
    as_persona, signed_v1_and_draft_v2, corporate, outsider, retail, product_owner
):
    v1, v2 = signed_v1_and_draft_v2
    other_use_case = draft(UseCaseFactory(business_unit=retail), product_owner)
    hidden = draft(UseCaseFactory(business_unit=corporate, owner=outsider), outsider)
    client = as_persona("risk_officer")

    for value in (other_use_case.pk, hidden.pk, v2.pk, "", "abc", hidden.pk + 1000):
        response = client.get(url(v2.pk, "compare"), {"with": value})
        assert response.status_code == 400, value
        assert "with" in response.json()
    assert as_persona("outsider").get(url(v2.pk, "compare"), {"with": v1.pk}).status_code == 404


def test_versions_lists_every_version_oldest_first(as_persona, signed_v1_and_draft_v2):
    v1, v2 = signed_v1_and_draft_v2

    response = as_persona("leadership").get(url(v2.pk, "versions"))

    assert response.status_code == 200
    assert [(v["id"], v["version"], v["status"]) for v in response.json()] == [
        (v1.pk, 1, Status.SIGNED_OFF),
        (v2.pk, 2, Status.DRAFT),
    ]
    assert as_persona("outsider").get(url(v2.pk, "versions")).status_code == 404


@pytest.fixture
def signed_screening(use_case, people):
    screening = tiny_template(key="tiny-screening", kind="screening", title="Tiny screening")
    return to_status(
        Status.SIGNED_OFF,
        use_case=use_case,
        author=people["author"],
        reviewers=people["reviewers"][:1],
        approver=people["approver"],
        template=screening,
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_override_tier_matrix(as_persona, signed_screening, persona):
    response = as_persona(persona).post(
        url(signed_screening.pk, "override-tier"),
        {"tier": RiskTier.HIGH, "justification": "Credit decisions are Annex III point 5(b)."},
        format="json",
    )

    assert response.status_code == expected_status(persona, "override_tier"), response.content
    signed_screening.refresh_from_db()
    signed_screening.use_case.refresh_from_db()
    if response.status_code == 200:
        assert signed_screening.tier_override == response.json()["tier_override"] == "high"
        assert signed_screening.use_case.risk_tier == RiskTier.HIGH
    else:
        assert signed_screening.tier_override == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tier": "unscreened", "justification": "Because"}, "tier"),
        ({"tier": "scary", "justification": "Because"}, "tier"),
        ({"tier": "high", "justification": " "}, "justification"),
        ({"tier": "high"}, "justification"),
    ],
)
def test_override_tier_input_is_checked(as_persona, signed_screening, body, field):
    response = as_persona("risk_officer").post(
        url(signed_screening.pk, "override-tier"), body, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()


def test_only_a_screening_tier_is_overridden(as_persona, at):
    record = at(Status.SIGNED_OFF)

    response = as_persona("admin").post(
        url(record.pk, "override-tier"), {"tier": "high", "justification": "x"}, format="json"
    )

    assert response.status_code == 403


# Templates -----------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_everyone_signed_in_reads_templates(as_persona, template, persona):
    client = as_persona(persona)

    listed = client.get(template_url("list"))
    one = client.get(template_url("detail", template.pk))

    assert template.pk in listed_ids(listed)
    assert one.status_code == 200
    assert one.json()["definition"] == template.definition
    assert one.json()["in_use"] is False


@pytest.mark.parametrize("persona", PERSONAS)
def test_import_matrix(as_persona, persona):
    definition = {**TINY, "key": "imported-dpia"}

    response = as_persona(persona).post(
        template_url("import"), {"file": json_file(definition)}, format="multipart"
    )

    assert response.status_code == (201 if persona in HOLDERS["manage_templates"] else 403)
    assert AssessmentTemplate.objects.filter(key="imported-dpia").exists() == (
        response.status_code == 201
    )


def test_export_then_import_round_trip(as_persona, template):
    client = as_persona("risk_officer")

    exported = client.get(template_url("export", template.pk))

    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("application/json")
    assert exported["Content-Disposition"] == 'attachment; filename="tiny-dpia-v1.json"'
    assert json.loads(exported.content) == template.definition

    same = client.post(
        template_url("import"),
        {"file": SimpleUploadedFile("tiny-dpia-v1.json", exported.content)},
        format="multipart",
    )
    assert same.status_code == 200, same.content
    assert same.json()["outcome"] == "unchanged"
    assert same.json()["template"]["id"] == template.pk

    renamed = json.loads(exported.content)
    renamed["key"] = "tiny-dpia-copy"
    copied = client.post(template_url("import"), {"definition": renamed}, format="json")
    assert copied.status_code == 201, copied.content
    assert copied.json()["outcome"] == "created"
    assert copied.json()["template"]["definition"] == renamed


def test_a_changed_definition_for_a_used_version_becomes_a_new_version(
    as_persona, template, use_case, product_owner
):
    used = draft(use_case, product_owner, template)
    before = AssessmentTemplate.objects.get(pk=template.pk)
    changed = deepcopy(TINY)
    changed["sections"][0]["questions"][0]["label"] = "What is it for, in one sentence?"

    response = as_persona("admin").post(
        template_url("import"), {"file": json_file(changed)}, format="multipart"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["outcome"] == "version 1 is in use, so this became version 2"
    assert body["template"]["version"] == 2
    assert body["template"]["active"] is True
    after = AssessmentTemplate.objects.get(pk=template.pk)
    assert (after.definition, after.sha256, after.title) == (
        before.definition,
        before.sha256,
        before.title,
    )
    assert after.active is False
    used.refresh_from_db()
    assert used.template_id == template.pk
    listed = as_persona("auditor").get(template_url("detail", template.pk)).json()
    assert listed["in_use"] is True


def test_an_unused_version_is_replaced_in_place(as_persona, template):
    changed = {**TINY, "title": "Tiny DPIA (renamed)"}

    response = as_persona("admin").post(
        template_url("import"), {"definition": changed}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "replaced"
    template.refresh_from_db()
    assert template.title == "Tiny DPIA (renamed)"


def test_a_bad_template_file_names_each_fault(as_persona):
    bad = deepcopy(TINY)
    bad["sections"][1]["questions"][1]["type"] = "dropdown"
    del bad["title"]
    client = as_persona("risk_officer")

    response = client.post(template_url("import"), {"file": json_file(bad)}, format="multipart")

    assert response.status_code == 400
    messages = response.json()["file"]
    assert any(m.startswith("sections[1].questions[1].type:") for m in messages), messages
    assert any(m.startswith("title:") for m in messages), messages
    assert not AssessmentTemplate.objects.filter(key=TINY["key"]).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"file": SimpleUploadedFile("t.json", b"{not json")}, "file"),
        ({"file": SimpleUploadedFile("t.json", b"\xff\xfe")}, "file"),
        ({}, "file"),
    ],
)
def test_an_unreadable_upload_is_a_field_error(as_persona, body, field):
    response = as_persona("admin").post(template_url("import"), body, format="multipart")

    assert response.status_code == 400
    assert field in response.json()


def test_a_bad_definition_in_a_json_body_is_named_definition(as_persona):
    response = as_persona("admin").post(
        template_url("import"), {"definition": {**TINY, "kind": "poem"}}, format="json"
    )

    assert response.status_code == 400
    assert any(m.startswith("kind:") for m in response.json()["definition"])


def test_an_oversized_upload_is_refused(as_persona, settings):
    settings.IMPORT_MAX_BYTES = 100

    response = as_persona("admin").post(
        template_url("import"), {"file": json_file(TINY)}, format="multipart"
    )

    assert response.status_code == 400
    assert "file" in response.json()
    assert not AssessmentTemplate.objects.filter(key=TINY["key"]).exists()


# OpenAPI -------------------------------------------------------------------------------------
def test_schema_lists_the_assessment_paths(as_persona):
    response = as_persona("auditor").get(reverse("api-schema"), {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/v1/assessments/",
        "/api/v1/assessments/{id}/",
        "/api/v1/assessments/{id}/answers/",
        "/api/v1/assessments/{id}/transitions/{transition}/",
        "/api/v1/assessments/{id}/comments/",
        "/api/v1/assessments/{id}/comments/{comment_pk}/resolve/",
        "/api/v1/assessments/{id}/compare/",
        "/api/v1/assessments/{id}/versions/",
        "/api/v1/assessments/{id}/reassess/",
        "/api/v1/assessments/{id}/override-tier/",
        "/api/v1/assessment-templates/",
        "/api/v1/assessment-templates/{id}/",
        "/api/v1/assessment-templates/{id}/export/",
        "/api/v1/assessment-templates/import/",
    ]:
        assert path in paths, path
    assert set(paths["/api/v1/assessments/{id}/"]) == {"get"}
    assert "409" in paths["/api/v1/assessments/{id}/answers/"]["patch"]["responses"]


def test_schema_generates_without_warnings_for_assessments(db):
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        SchemaGenerator().get_schema(request=None, public=True)

    ours = ("assessments/", "Assessment", "Template", "Comment", "Compare", "EditConflict")
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    assert [m for m in messages if any(name in m for name in ours)] == []
