import hashlib
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from assessments import services
from assessments.models import Assessment, AssessmentTemplate, Status
from tests.assessments.builders import (
    COMPLETE,
    NOTHING_APPLIES,
    TINY,
    draft,
    move,
    tiny_template,
    to_status,
)
from tests.factories import PASSWORD, UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def section_url(a, key="need"):
    return reverse("assessments:section", args=[a.pk, key])


def test_owner_starts_an_assessment_from_the_use_case_page(client, use_case, product_owner):
    template = tiny_template()
    client.force_login(product_owner)
    page = client.get(use_case.get_absolute_url())
    assert reverse("assessments:start", args=[use_case.pk]) in page.content.decode()
    response = client.post(
        reverse("assessments:start", args=[use_case.pk]), {"template": template.pk}
    )
    a = Assessment.objects.get(use_case=use_case)
    assert response.status_code == 302 and response.url == section_url(a)
    assert a.author == product_owner and a.status == Status.DRAFT


def test_the_built_in_templates_are_offered(client, use_case, product_owner):
    client.force_login(product_owner)
    page = client.get(reverse("assessments:start", args=[use_case.pk])).content.decode()
    for key in ("eu-ai-act-screening", "ico-dpia", "ai-impact-assessment"):
        template = AssessmentTemplate.objects.get(key=key, active=True)
        assert template.title in page


def test_saving_a_section_stores_the_answers_and_moves_on(client, use_case, product_owner):
    a = draft(use_case, product_owner)
    client.force_login(product_owner)
    response = client.post(
        section_url(a),
        {
            "revision": a.revision,
            "q-aims": "Spot fraud early.",
            "q-automated": "yes",
            "q-why_automated": "Payments settle in seconds.",
            "next": "1",
        },
    )
    assert response.status_code == 302 and response.url == section_url(a, "risks")
    a.refresh_from_db()
    assert a.answers == {
        "aims": "Spot fraud early.",
        "automated": "yes",
        "why_automated": "Payments settle in seconds.",
    }
    assert a.result["scores"]["impact"]["value"] == 3


def test_a_bad_answer_keeps_everything_typed_and_says_what_is_wrong(
    client, use_case, product_owner
):
    a = draft(use_case, product_owner)
    client.force_login(product_owner)
    response = client.post(
        section_url(a, "risks"),
        {
            "revision": a.revision,
            "q-risks-0-risk": "Customers wrongly blocked",
            "q-risks-0-likelihood": "probable",
            "q-risks-0-severity": "",
            "q-risks-0-measures": "Analyst review within the hour",
            "q-scale": "many",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "rate its severity" in page
    assert "Customers wrongly blocked" in page and "Analyst review within the hour" in page
    assert 'value="many" checked' in page
    a.refresh_from_db()
    assert a.answers == {}  # nothing half-saved


def test_risk_rows_are_rated_by_the_matrix(client, use_case, product_owner):
    a = draft(use_case, product_owner)
    client.force_login(product_owner)
    client.post(
        section_url(a, "risks"),
        {
            "revision": a.revision,
            "q-risks-0-risk": "Wrong block",
            "q-risks-0-likelihood": "probable",
            "q-risks-0-severity": "significant",
            "q-risks-0-residual": "medium",
            "q-risks-1-risk": "Data leak",
            "q-risks-1-likelihood": "remote",
            "q-risks-1-severity": "severe",
            "q-risks-2-risk": "",
        },
    )
    a.refresh_from_db()
    assert [(r["risk"], r["inherent"]) for r in a.answers["risks"]] == [
        ("Wrong block", "high"),
        ("Data leak", "medium"),
    ]
    assert a.result["value"] == "medium"  # residual medium, and medium (no residual) for the leak


def test_autosave_answers_json_and_bumps_the_revision(client, use_case, product_owner):
    a = draft(use_case, product_owner)
    client.force_login(product_owner)
    response = client.post(
        section_url(a), {"revision": a.revision, "q-aims": "Draft aim"}, HTTP_X_AUTOSAVE="1"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["saved"] is True and body["revision"] == a.revision + 1
    a.refresh_from_db()
    assert a.answers["aims"] == "Draft aim"
    assert a.history.latest().history_change_reason.startswith("Autosaved")


def test_a_save_from_an_older_revision_is_refused_with_what_changed(
    client, use_case, product_owner, risk_officer
):
    a = draft(use_case, product_owner)
    opened_at = a.revision
    # The risk officer saves first.
    services.assessment_save_answers(
        actor=risk_officer,
        assessment=a,
        answers={"aims": "Stop card fraud."},
        base_revision=opened_at,
    )
    client.force_login(product_owner)
    autosave = client.post(
        section_url(a), {"revision": opened_at, "q-aims": "Mine"}, HTTP_X_AUTOSAVE="1"
    )
    assert autosave.status_code == 409
    assert autosave.json()["conflict"][0]["question"] == "aims"
    assert "rita.risk" in autosave.json()["conflict"][0]["by"]

    page = client.post(section_url(a), {"revision": opened_at, "q-aims": "Mine"})
    assert page.status_code == 409
    html = page.content.decode()
    assert "Someone else saved this assessment" in html
    assert "Stop card fraud." in html  # what they changed
    assert ">Mine</textarea>" in html  # what I typed is still there
    a.refresh_from_db()
    assert a.answers["aims"] == "Stop card fraud."
    # Saving again from the page (which now carries the current revision) keeps mine.
    again = client.post(section_url(a), {"revision": a.revision, "q-aims": "Mine"})
    assert again.status_code == 302
    a.refresh_from_db()
    assert a.answers["aims"] == "Mine"


def test_whole_review_through_the_pages(client, use_case, people, password):
    a = draft(use_case, people["author"], answers=COMPLETE)
    author, (ro, dpo), leader = people["author"], people["reviewers"], people["approver"]

    def post(user, action, **data):
        client.force_login(user)
        return client.post(reverse("assessments:transition", args=[a.pk, action]), data)

    assert post(author, "submit").status_code == 302
    client.force_login(ro)
    page = client.get(a.get_absolute_url()).content.decode()
    assert "Article 35(2)" in page  # why the DPO was asked
    assert "Start review" in page
    post(ro, "start_review")
    post(ro, "request_changes", reason="Who confirms a block?")
    a.refresh_from_db()
    assert a.status == Status.CHANGES_REQUESTED
    post(author, "submit")
    post(ro, "start_review")
    post(ro, "approve")
    post(dpo, "approve")
    a.refresh_from_db()
    assert a.status == Status.APPROVED

    client.force_login(leader)
    queue = client.get(reverse("assessments:queue")).content.decode()
    assert a.reference in queue
    wrong = client.post(reverse("assessments:sign-off", args=[a.pk]), {"password": "nope"})
    assert wrong.status_code == 200 and "Enter your own password" in wrong.content.decode()
    right = client.post(reverse("assessments:sign-off", args=[a.pk]), {"password": password})
    assert right.status_code == 302
    a.refresh_from_db()
    assert a.status == Status.SIGNED_OFF
    detail = client.get(a.get_absolute_url()).content.decode()
    assert a.sign_off_record.sha256 in detail


@pytest.mark.parametrize(
    "persona, detail, edit, sign",
    [
        ("product_owner", 200, 302, 403),
        ("risk_officer", 200, 302, 403),
        ("dpo", 200, 302, 403),
        ("leadership", 200, 403, 403),
        ("auditor", 200, 403, 403),
        ("outsider", 404, 404, 404),
    ],
)
def test_page_permissions(client, use_case, people, personas, persona, detail, edit, sign):
    a = draft(use_case, people["author"])
    client.force_login(personas[persona])
    assert client.get(a.get_absolute_url()).status_code == detail
    assert client.get(section_url(a)).status_code == detail
    assert client.get(reverse("assessments:compare", args=[a.pk])).status_code == detail
    response = client.post(section_url(a), {"revision": a.revision, "q-aims": "x"})
    assert response.status_code == edit
    assert client.get(reverse("assessments:sign-off", args=[a.pk])).status_code == sign


def test_only_the_routed_approver_reaches_the_sign_off_page(client, use_case, people, personas):
    a = to_status(Status.APPROVED, use_case=use_case, **people)
    for name, person in personas.items():
        client.force_login(person)
        status = client.get(reverse("assessments:sign-off", args=[a.pk])).status_code
        assert status == (200 if name == "leadership" else 404 if name == "outsider" else 403)


def test_a_reviewer_comments_on_a_question_and_the_author_replies(client, use_case, people):
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    client.force_login(people["reviewers"][0])
    client.post(
        reverse("assessments:comment", args=[a.pk]),
        {"question_key": "aims", "body": "Say who reviews a block.", "section": "need"},
    )
    comment = a.comments.get()
    assert comment.question_key == "aims"
    client.force_login(people["author"])
    page = client.get(section_url(a)).content.decode()
    assert "Say who reviews a block." in page
    client.post(
        reverse("assessments:comment", args=[a.pk]),
        {"parent": comment.pk, "body": "The fraud analyst on shift."},
    )
    assert comment.replies.get().body == "The fraud analyst on shift."


def test_compare_shows_what_changed_between_versions(client, use_case, people):
    first = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    second = services.assessment_reassess(actor=people["author"], assessment=first)
    services.assessment_save_answers(
        actor=people["author"],
        assessment=second,
        answers={"aims": "Spot fraud and mule accounts."},
        base_revision=second.revision,
    )
    client.force_login(people["author"])
    response = client.get(reverse("assessments:compare", args=[second.pk]), {"changes": "1"})
    page = response.content.decode()
    assert "1 answer changed" in page
    assert COMPLETE["aims"] in page and "Spot fraud and mule accounts." in page
    assert "How many people?" not in page  # unchanged rows hidden when asked


def test_screening_result_is_written_to_the_use_case_and_can_be_overridden(
    client, use_case, product_owner, risk_officer, leadership, password, legal_reviewer
):
    screening = AssessmentTemplate.objects.get(key="eu-ai-act-screening", active=True)
    a = services.assessment_start(actor=product_owner, use_case=use_case, template=screening)
    cv_sifting = {
        **NOTHING_APPLIES,
        "annex_iii_areas": ["4a"],
        "exceptions": ["none"],
        "profiling": "no",
    }
    a = services.assessment_save_answers(
        actor=product_owner, assessment=a, answers=cv_sifting, base_revision=a.revision
    )
    assert a.result_value == "high"
    a = move(a, product_owner, "submit")
    assert {r.reviewer_label for r in a.reviews.all()} >= {"Risk officer", "Legal", "Leadership"}
    a = move(a, risk_officer, "start_review")
    for reviewer in (risk_officer, legal_reviewer):
        a = move(a, reviewer, "approve")
    a = move(a, leadership, "sign_off", password=password)
    use_case.refresh_from_db()
    assert use_case.risk_tier == "high"
    assert "Annex III point 4(a)" in use_case.risk_tier_basis
    client.force_login(risk_officer)
    client.post(
        reverse("assessments:override-tier", args=[a.pk]),
        {"tier": "limited", "justification": "Narrow procedural task confirmed by legal."},
    )
    use_case.refresh_from_db()
    assert use_case.risk_tier == "limited"
    assert "Narrow procedural task" in use_case.risk_tier_basis


def test_overdue_assessments_flag_the_use_case_show_on_the_dashboard_and_email_the_owner(
    client, use_case, people, django_capture_on_commit_callbacks
):
    a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    Assessment.objects.filter(pk=a.pk).update(valid_until=timezone.localdate() - timedelta(days=1))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.flag_overdue_assessments() == 1
        assert services.flag_overdue_assessments() == 0  # once only
    use_case.refresh_from_db()
    assert use_case.needs_reassessment
    assert a.reference in use_case.reassessment_reasons
    assert [m.to for m in mail.outbox] == [[people["author"].email]]
    client.force_login(people["author"])
    page = client.get(reverse("dashboard")).content.decode()
    assert "Assessments past their valid-until date" in page and a.reference in page


def test_valid_until_is_sooner_for_high_risk(use_case, people, legal_reviewer):
    use_case.risk_tier = "minimal"
    use_case.save()
    minimal = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    high_case = UseCaseFactory(
        business_unit=use_case.business_unit, owner=people["author"], risk_tier="high"
    )
    # A high-risk use case is also reviewed by legal.
    high = to_status(
        Status.SIGNED_OFF,
        use_case=high_case,
        author=people["author"],
        reviewers=[*people["reviewers"], legal_reviewer],
        approver=people["approver"],
    )
    today = timezone.localdate()
    # High risk: 12 months (settings); minimal: the template's 24 (shorter than the tier's 36).
    assert high.valid_until == today.replace(year=today.year + 1)
    assert minimal.valid_until == today.replace(year=today.year + 2)


def test_template_import_page_refuses_a_bad_file_and_imports_a_good_one(client, risk_officer):
    client.force_login(risk_officer)
    bad = {**TINY, "key": "bad-one", "sections": [{"key": "s", "title": "S", "questions": []}]}
    response = client.post(
        reverse("assessments:template-import"),
        {"file": SimpleUploadedFile("bad.json", json.dumps(bad).encode())},
    )
    assert response.status_code == 200
    assert "sections[0].questions" in response.content.decode()
    good = {**TINY, "key": "firm-dpia"}
    response = client.post(
        reverse("assessments:template-import"),
        {"file": SimpleUploadedFile("good.json", json.dumps(good).encode())},
    )
    template = AssessmentTemplate.objects.get(key="firm-dpia")
    assert response.status_code == 302 and response.url == template.get_absolute_url()
    exported = client.get(reverse("assessments:template-export", args=[template.pk]))
    assert json.loads(exported.content) == good


def test_product_owners_cannot_import_templates(client, product_owner):
    client.force_login(product_owner)
    assert client.get(reverse("assessments:template-import")).status_code == 403


def test_pages_do_not_add_queries_per_row(client, use_case, people, django_assert_max_num_queries):
    for _ in range(3):
        to_status(
            Status.SIGNED_OFF,
            use_case=UseCaseFactory(business_unit=use_case.business_unit, owner=people["author"]),
            **people,
        )
    client.force_login(people["author"])
    with django_assert_max_num_queries(14):
        assert client.get(reverse("assessments:list")).status_code == 200
    for _ in range(12):
        draft(
            UseCaseFactory(business_unit=use_case.business_unit, owner=people["author"]),
            people["author"],
        )
    with django_assert_max_num_queries(14):
        assert client.get(reverse("assessments:list")).status_code == 200


def test_detail_page_query_count(client, use_case, people, django_assert_max_num_queries):
    a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    client.force_login(people["author"])
    with django_assert_max_num_queries(30):
        assert client.get(a.get_absolute_url()).status_code == 200


def test_sign_off_needs_a_password_whoever_calls_the_service(use_case, people):
    a = to_status(Status.APPROVED, use_case=use_case, **people)
    with pytest.raises(ValidationError):
        move(a, people["approver"], "sign_off", password="")
    assert move(a, people["approver"], "sign_off", password=PASSWORD).status == Status.SIGNED_OFF


def test_anyone_who_may_read_it_can_check_the_signature_hash_themselves(
    client, use_case, people, auditor, outsider
):
    a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    client.force_login(auditor)
    response = client.get(reverse("assessments:signed-content", args=[a.pk]))
    assert hashlib.sha256(response.content).hexdigest() == a.sign_off_record.sha256
    assert json.loads(response.content)["signed_by"] == people["approver"].username
    client.force_login(outsider)
    assert client.get(reverse("assessments:signed-content", args=[a.pk])).status_code == 404


def test_saving_after_a_conflict_keeps_both_peoples_changes(
    client, use_case, product_owner, risk_officer
):
    a = draft(use_case, product_owner, answers={"aims": "Old aim", "automated": "no"})
    opened_at = a.revision
    # The colleague changes one question...
    services.assessment_save_answers(
        actor=risk_officer,
        assessment=a,
        answers={"aims": "Colleague's aim"},
        base_revision=opened_at,
    )
    # ...while I change another; my form still holds the old aim.
    client.force_login(product_owner)
    url = reverse("assessments:section", args=[a.pk, "need"])
    page = client.post(
        url,
        {
            "revision": opened_at,
            "q-aims": "Old aim",
            "q-automated": "yes",
            "q-why_automated": "Speed",
        },
    )
    assert page.status_code == 409
    html = page.content.decode()
    assert ">Colleague&#x27;s aim</textarea>" in html  # theirs where I changed nothing
    assert 'value="yes" checked' in html and 'value="Speed"' in html  # mine where I did
    a.refresh_from_db()
    again = client.post(
        url,
        {
            "revision": a.revision,
            "q-aims": "Colleague's aim",
            "q-automated": "yes",
            "q-why_automated": "Speed",
        },
    )
    assert again.status_code == 302
    a.refresh_from_db()
    assert a.answers["aims"] == "Colleague's aim" and a.answers["automated"] == "yes"


def test_a_reviewer_group_member_not_named_sees_nothing(
    client, use_case, people, legal_reviewer, corporate
):
    use_case.risk_tier = "high"
    use_case.save()
    other_lawyer = UserFactory(roles=["legal"], units=[corporate])  # two lawyers: none named
    a = to_status(Status.SUBMITTED, use_case=use_case, **people)
    legal = next(r for r in a.reviews.all() if r.group_id)
    assert legal.assignee is None
    client.force_login(other_lawyer)
    assert client.get(a.get_absolute_url()).status_code == 200
    # Once one lawyer is named, the other neither lists nor opens it.
    legal.assignee = legal_reviewer
    legal.save()
    assert client.get(a.get_absolute_url()).status_code == 404
    listing = client.get(reverse("assessments:list")).content.decode()
    assert a.reference not in listing
