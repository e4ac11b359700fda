"""Separation of duties, signature integrity, evidence and lost-input cases a review found."""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from assessments import services
from assessments.models import Assessment, AssessmentTemplate, RoutingRule, Status
from portal.access import can
from tests.assessments.builders import COMPLETE, draft, move, tiny_template, to_status
from tests.factories import UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def use_case(retail, product_owner):
    return UseCaseFactory(business_unit=retail, owner=product_owner, title="Card fraud scoring")


@pytest.fixture
def people(product_owner, risk_officer, dpo, leadership):
    return {"author": product_owner, "reviewers": [risk_officer, dpo], "approver": leadership}


# Separation of duties ------------------------------------------------------------------------
def test_a_person_with_two_roles_clears_only_one_review(use_case, product_owner, retail):
    both = UserFactory(roles=["risk_officer", "dpo"], units=[retail])
    a = draft(use_case, product_owner, answers=COMPLETE)
    a = move(a, product_owner, "submit")
    a = move(Assessment.objects.get(pk=a.pk), both, "start_review")
    a = move(Assessment.objects.get(pk=a.pk), both, "approve")
    decided = [r for r in a.reviews.all() if r.decided_by_id == both.pk]
    assert len(decided) == 1
    assert a.status == Status.IN_REVIEW
    assert not can(both, "assessments.review", Assessment.objects.get(pk=a.pk))
    with pytest.raises(PermissionDenied):
        move(Assessment.objects.get(pk=a.pk), both, "approve")


def test_a_reviewer_who_also_leads_cannot_sign_what_they_reviewed(
    use_case, product_owner, retail, dpo
):
    both = UserFactory(roles=["risk_officer", "leadership"], units=[retail])
    a = draft(use_case, product_owner, answers=COMPLETE)
    a = move(move(a, product_owner, "submit"), both, "start_review")
    a = move(Assessment.objects.get(pk=a.pk), both, "approve")
    a = move(Assessment.objects.get(pk=a.pk), dpo, "approve")
    assert a.status == Status.APPROVED
    assert not can(both, "assessments.sign_off", Assessment.objects.get(pk=a.pk))


def test_whoever_wrote_answers_cannot_review_them(use_case, product_owner, risk_officer, dpo):
    a = draft(use_case, product_owner)
    # The risk officer helps write it...
    a = services.assessment_save_answers(
        actor=risk_officer, assessment=a, answers=COMPLETE, base_revision=a.revision
    )
    a = move(a, product_owner, "submit")
    # ...so the routing does not name them, and the rules refuse them.
    ro_review = next(r for r in a.reviews.all() if r.role == "risk_officer")
    assert ro_review.assignee is None
    assert "Nobody holds this role here yet." in ro_review.reasons
    assert not can(risk_officer, "assessments.review", Assessment.objects.get(pk=a.pk))
    assert can(dpo, "assessments.review", Assessment.objects.get(pk=a.pk))


def test_every_routed_approver_signs_before_it_is_signed_off(use_case, people, password):
    RoutingRule.objects.create(
        name="DPO co-signs DPIAs",
        stage="approve",
        kinds=["dpia"],
        role="dpo",
        reason="The DPO co-signs every DPIA.",
    )
    # The DPO reviews and would co-sign: two different DPOs are needed for four eyes.
    second_dpo = UserFactory(roles=["dpo"], units=[use_case.business_unit])
    a = to_status(Status.APPROVED, use_case=use_case, **people)
    a = move(a, people["approver"], "sign_off", password=password)
    assert a.status == Status.APPROVED
    assert "waiting for" in a.history.latest().history_change_reason
    assert not hasattr(Assessment.objects.get(pk=a.pk), "sign_off_record")
    a = move(Assessment.objects.get(pk=a.pk), second_dpo, "sign_off", password=password)
    assert a.status == Status.SIGNED_OFF
    signed = json.loads(a.sign_off_record.content)
    assert sorted(r["by"] for r in signed["reviews"] if r["stage"] == "approve") == sorted(
        [people["approver"].username, second_dpo.username]
    )


# Integrity -----------------------------------------------------------------------------------
def test_the_database_refuses_to_change_signed_answers(use_case, people):
    if connection.vendor != "postgresql":
        pytest.skip("the guard is a PostgreSQL trigger")
    a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    with pytest.raises(DatabaseError, match="never changed"), transaction.atomic():
        Assessment.objects.filter(pk=a.pk).update(answers={"aims": "Something else"})
    # Superseding and flags still work.
    Assessment.objects.filter(pk=a.pk).update(status=Status.SUPERSEDED)


def test_the_signature_is_verified_against_what_is_shown_not_only_its_own_hash(
    client, use_case, people
):
    a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    assert services.sign_off_verified(a)
    # A review note rewritten behind the portal's back (the trigger guards answers and
    # result; reviews are checked by comparing with what was signed).
    a.reviews.filter(stage="review").update(note="Rewritten later")
    a = Assessment.objects.get(pk=a.pk)
    assert a.sign_off_record.content_intact  # the stored content still hashes right...
    assert not services.sign_off_verified(a)  # ...but no longer describes the assessment
    client.force_login(people["author"])
    assert "does not match what is shown" in client.get(a.get_absolute_url()).content.decode()


# Evidence ------------------------------------------------------------------------------------
EVIDENCE_TEMPLATE = {
    "format": 1,
    "key": "tiny-evidence",
    "version": 1,
    "kind": "other",
    "title": "Evidence check",
    "sections": [
        {
            "key": "proof",
            "title": "Proof",
            "questions": [
                {"key": "note", "type": "long_text", "label": "Note"},
                {"key": "evidence", "type": "evidence", "label": "Test report"},
            ],
        }
    ],
}


@pytest.fixture
def evidence_case(use_case, product_owner):
    template, _ = services.template_import(actor=None, definition=EVIDENCE_TEMPLATE)
    return services.assessment_start(actor=product_owner, use_case=use_case, template=template)


def test_a_forged_file_reference_is_refused_and_names_come_from_the_stored_file(
    evidence_case, product_owner, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    a = evidence_case
    with pytest.raises(ValidationError) as err:
        services.assessment_save_answers(
            actor=product_owner,
            assessment=a,
            answers={"evidence": [{"file": 999999, "filename": "pentest.pdf", "sha256": "ab"}]},
            base_revision=a.revision,
        )
    assert "not uploaded to this assessment" in err.value.message_dict["evidence"][0]
    stored = services.evidence_upload(
        actor=product_owner,
        assessment=a,
        upload=SimpleUploadedFile("report.pdf", b"%PDF-1.4 real"),
    )
    a = services.assessment_save_answers(
        actor=product_owner,
        assessment=a,
        answers={"evidence": [{"file": stored.pk, "filename": "forged.pdf", "sha256": "00"}]},
        base_revision=a.revision,
    )
    item = a.answers["evidence"][0]
    assert (item["filename"], item["sha256"]) == ("report.pdf", stored.sha256)


def test_a_file_uploaded_on_the_page_downloads_from_the_re_assessment_too(
    client, evidence_case, product_owner, risk_officer, leadership, settings, tmp_path, password
):
    settings.MEDIA_ROOT = str(tmp_path)
    a = evidence_case
    client.force_login(product_owner)
    url = reverse("assessments:section", args=[a.pk, "proof"])
    response = client.post(
        url,
        {
            "revision": a.revision,
            "q-note": "See the report.",
            "q-evidence-0-title": "Pen test",
            "q-evidence-0-expires": "2030-01-01",
            "q-evidence-0-upload": SimpleUploadedFile("pentest.pdf", b"%PDF-1.4 pentest"),
        },
    )
    assert response.status_code == 302
    a.refresh_from_db()
    file_pk = a.answers["evidence"][0]["file"]
    download = client.get(reverse("assessments:evidence-download", args=[a.pk, file_pk]))
    assert b"".join(download.streaming_content) == b"%PDF-1.4 pentest"
    # Sign it off (the default routing: a risk officer reviews, leadership signs).
    a = move(a, product_owner, "submit")
    a = move(a, risk_officer, "start_review")
    a = move(a, risk_officer, "approve")
    a = move(a, leadership, "sign_off", password=password)
    again = services.assessment_reassess(actor=product_owner, assessment=a)
    assert again.answers["evidence"][0]["file"] == file_pk
    download = client.get(reverse("assessments:evidence-download", args=[again.pk, file_pk]))
    assert download.status_code == 200


def test_a_failed_upload_keeps_what_was_typed_and_says_which_question(
    client, evidence_case, product_owner, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.EVIDENCE_MAX_BYTES = 10
    a = evidence_case
    client.force_login(product_owner)
    response = client.post(
        reverse("assessments:section", args=[a.pk, "proof"]),
        {
            "revision": a.revision,
            "q-note": "A note I typed",
            "q-evidence-0-title": "Pen test",
            "q-evidence-0-upload": SimpleUploadedFile("big.pdf", b"x" * 100),
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "A note I typed" in page and 'value="Pen test"' in page
    assert "Files up to" in page
    a.refresh_from_db()
    assert a.answers == {} and not a.evidence_files.exists()


def test_autosave_skips_a_half_made_evidence_row(client, evidence_case, product_owner):
    a = evidence_case
    client.force_login(product_owner)
    response = client.post(
        reverse("assessments:section", args=[a.pk, "proof"]),
        {"revision": a.revision, "q-note": "Typed", "q-evidence-0-title": "Report to come"},
        HTTP_X_AUTOSAVE="1",
    )
    assert response.status_code == 200
    a.refresh_from_db()
    assert a.answers == {"note": "Typed"}


# Never lose input ----------------------------------------------------------------------------
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


def test_a_re_assessment_drops_answers_the_new_template_no_longer_accepts(use_case, people):
    first = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    definition = dict(first.template.definition)
    sections = json.loads(json.dumps(definition["sections"]))
    sections[1]["questions"][1]["choices"] = [{"value": "few", "label": "Under 1,000"}]
    services.template_import(actor=None, definition={**definition, "sections": sections})
    second = services.assessment_reassess(actor=people["author"], assessment=first)
    assert second.template.version == 2
    assert "scale" not in second.answers  # "many" is no longer a choice
    assert second.answers["aims"] == COMPLETE["aims"]


# Comments, visibility, templates -------------------------------------------------------------
def test_the_author_cannot_close_a_reviewers_comment(use_case, people):
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    comment = services.assessment_comment(
        actor=people["reviewers"][0], assessment=a, body="Why?", question_key="aims"
    )
    with pytest.raises(PermissionDenied):
        services.comment_resolve(actor=people["author"], comment=comment)
    services.comment_resolve(actor=people["reviewers"][0], comment=comment)


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


def test_shipping_a_built_in_again_keeps_a_firms_own_version():
    template = AssessmentTemplate.objects.get(key="ico-dpia", version=1)
    mine = {**template.definition, "title": "Our DPIA"}
    services.template_import(actor=None, definition=mine)  # the firm's, in place (unused)
    for _ in range(2):
        services.sync_builtin_templates()
    versions = AssessmentTemplate.objects.filter(key="ico-dpia")
    assert list(versions.values_list("version", "title")) == [(1, "Our DPIA")]
    tiny_template()


# Second review ---------------------------------------------------------------------------------
def test_a_person_with_two_roles_closes_the_review_only_they_could(
    use_case, product_owner, retail, leadership
):
    x = UserFactory(roles=["risk_officer", "dpo"], units=[retail])
    y = UserFactory(roles=["dpo"], units=[retail])
    a = move(draft(use_case, product_owner, answers=COMPLETE), product_owner, "submit")
    ro = next(r for r in a.reviews.all() if r.role == "risk_officer")
    assert ro.assignee == x  # the only risk officer
    a = move(Assessment.objects.get(pk=a.pk), x, "start_review")
    a = move(Assessment.objects.get(pk=a.pk), x, "approve")
    ro.refresh_from_db()
    assert ro.decided_by == x  # not the DPO review, which Y can still take
    a = move(Assessment.objects.get(pk=a.pk), y, "approve")
    assert a.status == Status.APPROVED


def test_a_built_in_shipped_with_new_content_twice_makes_two_new_versions(
    use_case, product_owner, tmp_path, monkeypatch
):
    from assessments.services import templates as template_services

    v1 = AssessmentTemplate.objects.get(key="ico-dpia", version=1)
    services.assessment_start(actor=product_owner, use_case=use_case, template=v1)  # in use
    monkeypatch.setattr(template_services, "BUILTIN_DIR", tmp_path)
    for title in ("ICO DPIA (2027 wording)", "ICO DPIA (2028 wording)"):
        # A release ships the file with new wording, still numbered 1.
        (tmp_path / "ico-dpia.json").write_text(json.dumps({**v1.definition, "title": title}))
        services.sync_builtin_templates()
        services.sync_builtin_templates()  # and migrate runs again: nothing more
    titles = list(
        AssessmentTemplate.objects.filter(key="ico-dpia")
        .order_by("version")
        .values_list("version", "title")
    )
    assert titles == [
        (1, v1.title),
        (2, "ICO DPIA (2027 wording)"),
        (3, "ICO DPIA (2028 wording)"),
    ]


def test_renaming_people_does_not_break_a_verified_signature(use_case, people):
    a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    for person in (people["author"], people["approver"], *people["reviewers"]):
        person.username = person.username + ".renamed"
        person.save()
    assert services.sign_off_verified(Assessment.objects.get(pk=a.pk))


def test_queues_leave_out_what_the_person_wrote_or_already_decided(use_case, people):
    from assessments.selectors import awaiting

    a = draft(use_case, people["author"], answers=COMPLETE)
    ro, dpo = people["reviewers"]
    move(a, people["author"], "submit")
    assert a in awaiting(ro, "review") and a in awaiting(dpo, "review")
    a = move(Assessment.objects.get(pk=a.pk), ro, "start_review")
    a = move(Assessment.objects.get(pk=a.pk), ro, "approve")
    assert a not in awaiting(ro, "review")  # decided this round
    assert a in awaiting(dpo, "review")
