import json

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from assessments import services
from assessments.models import (
    TRANSITIONS,
    Assessment,
    ReviewAssignment,
    RoutingRule,
    SignOff,
    Status,
    canonical_json,
    sha256_of,
)
from assessments.selectors import awaiting
from portal.access import can
from portal.models import Role
from registry.models import RiskTier
from registry.selectors import sees_every_use_case
from tests.assessments.builders import COMPLETE, draft, move, tiny_template, to_status
from tests.factories import PASSWORD, UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_dpia_is_routed_to_a_risk_officer_and_the_dpo_and_signed_by_leadership(use_case, people):
    a = move(draft(use_case, people["author"], answers=COMPLETE), people["author"], "submit")
    routed = {(r.stage, r.reviewer_label): r.reasons for r in a.reviews.all()}
    assert set(routed) == {
        ("review", "Risk officer"),
        ("review", "Data protection officer"),
        ("approve", "Leadership"),
    }
    assert any("Article 35" in reason for reason in routed[("review", "Data protection officer")])


def test_full_workflow_ends_signed_with_a_hash_of_exactly_what_was_signed(use_case, people):
    a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    record = SignOff.objects.get(assessment=a)
    assert record.signed_by == people["approver"]
    assert record.sha256 == sha256_of(record.content)
    assert record.content_intact
    signed = __import__("json").loads(record.content)
    assert signed["answers"]["aims"] == COMPLETE["aims"]
    assert signed["use_case"]["reference"] == use_case.reference
    assert a.valid_until is not None
    # The content is canonical: recomputing it from the stored record gives the same hash.
    assert sha256_of(canonical_json(signed)) == record.sha256


def test_one_reviewer_approving_waits_for_the_others(use_case, people):
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    a = move(a, people["reviewers"][0], "approve")
    assert a.status == Status.IN_REVIEW
    assert "waiting for Data protection officer" in a.history.latest().history_change_reason
    a = move(a, people["reviewers"][1], "approve")
    assert a.status == Status.APPROVED


def test_changes_requested_then_fixed_then_resubmitted_asks_everyone_again(use_case, people):
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    a = move(a, people["reviewers"][1], "approve")
    a = move(a, people["reviewers"][0], "request_changes", reason="Name who confirms blocks.")
    assert a.status == Status.CHANGES_REQUESTED
    a = services.assessment_save_answers(
        actor=people["author"],
        assessment=a,
        answers={"aims": "Spot fraud; analysts confirm every block."},
        base_revision=a.revision,
    )
    a = move(a, people["author"], "submit")
    assert {r.decision for r in a.reviews.all()} == {"pending"}


def test_sign_off_needs_the_approvers_own_password(use_case, people):
    a = to_status(Status.APPROVED, use_case=use_case, **people)
    with pytest.raises(ValidationError) as err:
        move(a, people["approver"], "sign_off", password="wrong")
    assert "password" in err.value.message_dict
    a.refresh_from_db()
    assert a.status == Status.APPROVED
    assert not SignOff.objects.filter(assessment=a).exists()


def test_submit_refuses_unanswered_required_questions_by_name(use_case, people):
    a = draft(use_case, people["author"], answers={"automated": "yes"})
    with pytest.raises(ValidationError) as err:
        move(a, people["author"], "submit")
    assert set(err.value.message_dict) >= {"aims", "why_automated"}
    a.refresh_from_db()
    assert a.status == Status.DRAFT


def test_a_signed_off_assessment_cannot_be_changed(use_case, people):
    a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    with pytest.raises(PermissionDenied):
        services.assessment_save_answers(
            actor=people["author"], assessment=a, answers={"aims": "x"}, base_revision=a.revision
        )


def test_the_database_refuses_to_change_a_sign_off(use_case, people):
    a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    if connection.vendor != "postgresql":
        pytest.skip("the guard is a PostgreSQL trigger")
    with pytest.raises(DatabaseError, match="never changed"), transaction.atomic():
        SignOff.objects.filter(assessment=a).update(content="{}")


def test_reassessment_starts_from_the_signed_version_and_supersedes_it_on_sign_off(
    use_case, people
):
    first = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    second = services.assessment_reassess(actor=people["author"], assessment=first)
    assert second.version == 2 and second.previous == first
    assert second.answers == first.answers
    assert second.status == Status.DRAFT
    second = move(second, people["author"], "submit")
    second = move(second, people["reviewers"][0], "start_review")
    for reviewer in people["reviewers"]:
        second = move(second, reviewer, "approve")
    move(second, people["approver"], "sign_off", password=PASSWORD)
    first.refresh_from_db()
    assert first.status == Status.SUPERSEDED


def test_only_one_open_assessment_of_a_kind_per_use_case(use_case, people):
    a = draft(use_case, people["author"])
    with pytest.raises(ValidationError, match=a.reference):
        draft(use_case, people["author"])


def test_reviewers_and_approvers_are_emailed(use_case, people, django_capture_on_commit_callbacks):
    a = draft(use_case, people["author"], answers=COMPLETE)
    with django_capture_on_commit_callbacks(execute=True):
        move(a, people["author"], "submit")
    recipients = {m.to[0] for m in mail.outbox}
    assert {p.email for p in people["reviewers"]} <= recipients
    assert people["author"].email not in recipients


# The matrix: who may take each action from the state where it applies ------------------------
ACTION_STATE = {
    "submit": Status.DRAFT,
    "start_review": Status.SUBMITTED,
    "request_changes": Status.IN_REVIEW,
    "approve": Status.IN_REVIEW,
    "reject": Status.IN_REVIEW,
    "sign_off": Status.APPROVED,
    "withdraw": Status.SUBMITTED,
}
ALLOWED = {
    "submit": {"product_owner", "risk_officer", "dpo", "admin"},
    "start_review": {"risk_officer", "dpo"},
    "request_changes": {"risk_officer", "dpo"},
    "approve": {"risk_officer", "dpo"},
    "reject": {"risk_officer", "dpo"},
    "sign_off": {"leadership"},
    "withdraw": {"product_owner"},  # the author, nobody else
}


def test_matrix_covers_every_transition():
    assert set(ACTION_STATE) == set(TRANSITIONS) == set(ALLOWED)


@pytest.mark.parametrize("action", sorted(ACTION_STATE))
def test_who_may_take_each_action(action, use_case, people, personas):
    a = to_status(ACTION_STATE[action], use_case=use_case, **people)
    a = Assessment.objects.get(pk=a.pk)
    for name, person in personas.items():
        expected = name in ALLOWED[action]
        assert can(person, TRANSITIONS[action].rule, a) is expected, (name, action)


def test_the_author_cannot_review_their_own_assessment(use_case, risk_officer, dpo, leadership):
    a = to_status(
        Status.SUBMITTED,
        use_case=use_case,
        author=risk_officer,
        reviewers=[dpo],
        approver=leadership,
    )
    assert not can(risk_officer, "assessments.review", a)
    with pytest.raises(PermissionDenied):
        move(a, risk_officer, "start_review")


def test_a_refused_action_changes_nothing(use_case, people, auditor):
    a = to_status(Status.APPROVED, use_case=use_case, **people)
    with pytest.raises(PermissionDenied):
        move(a, auditor, "sign_off", password=PASSWORD)
    with pytest.raises(PermissionDenied):
        move(a, people["author"], "submit")  # an approved assessment is no longer editable
    a.refresh_from_db()
    assert a.status == Status.APPROVED


def test_high_risk_use_case_goes_to_legal_too(use_case, people, legal_reviewer):
    use_case.risk_tier = RiskTier.HIGH
    use_case.save()
    a = to_status(Status.SUBMITTED, use_case=use_case, **people)
    legal = [r for r in a.reviews.all() if r.group_id]
    assert [r.reviewer_label for r in legal] == ["Legal"]
    assert can(legal_reviewer, "assessments.view_assessment", a)
    assert can(legal_reviewer, "assessments.review", a)
    tiny_template()  # unchanged import is a no-op


def test_a_reviewer_is_named_when_one_person_fits_and_only_they_may_act(use_case, people, retail):
    a = to_status(Status.SUBMITTED, use_case=use_case, **people)
    dpo_review = next(r for r in a.reviews.all() if r.role == "dpo")
    assert dpo_review.assignee == people["reviewers"][1]
    # A second DPO joins the unit after routing: the named one still decides.
    other_dpo = UserFactory(roles=["dpo"], units=[retail])
    a = Assessment.objects.get(pk=a.pk)
    assert not can(other_dpo, "assessments.review", a)
    assert can(people["reviewers"][1], "assessments.review", a)


def test_when_several_people_fit_anyone_of_them_may_act_and_is_recorded(use_case, people, retail):
    second = UserFactory(roles=["risk_officer"], units=[retail])
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    ro_review = next(r for r in a.reviews.all() if r.role == "risk_officer")
    assert ro_review.assignee is None
    a = move(Assessment.objects.get(pk=a.pk), second, "approve")
    ro_review.refresh_from_db()
    assert ro_review.decided_by == second and ro_review.decision == "approved"


def test_a_used_template_version_never_changes(use_case, people):
    template = tiny_template()
    a = draft(use_case, people["author"], template)
    changed = {**template.definition, "title": "Tiny DPIA, revised"}
    new, outcome = services.template_import(actor=None, definition=changed)
    template.refresh_from_db()
    assert (new.version, outcome) == (2, "version 1 is in use, so this became version 2")
    assert template.title == "Tiny DPIA" and not template.active
    a.refresh_from_db()
    assert a.template == template


# Separation of duties -----------------------------------------------------------------------------
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
    # It says why nobody is named, and who can unblock it.
    said = " ".join(ro_review.reasons)
    assert f"Cannot be filled: only {risk_officer.get_full_name()}" in said
    assert "An admin can delegate this review" in said
    assert not can(risk_officer, "assessments.review", Assessment.objects.get(pk=a.pk))
    assert can(dpo, "assessments.review", Assessment.objects.get(pk=a.pk))


def test_the_author_cannot_close_a_reviewers_comment(use_case, people):
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    comment = services.assessment_comment(
        actor=people["reviewers"][0], assessment=a, body="Why?", question_key="aims"
    )
    with pytest.raises(PermissionDenied):
        services.comment_resolve(actor=people["author"], comment=comment)
    services.comment_resolve(actor=people["reviewers"][0], comment=comment)


def test_queues_leave_out_what_the_person_wrote_or_already_decided(use_case, people):
    a = draft(use_case, people["author"], answers=COMPLETE)
    ro, dpo = people["reviewers"]
    move(a, people["author"], "submit")
    assert a in awaiting(ro, "review") and a in awaiting(dpo, "review")
    a = move(Assessment.objects.get(pk=a.pk), ro, "start_review")
    a = move(Assessment.objects.get(pk=a.pk), ro, "approve")
    assert a not in awaiting(ro, "review")  # decided this round
    assert a in awaiting(dpo, "review")


def test_a_review_for_a_role_waits_in_the_units_of_who_holds_it(
    retail, corporate, product_owner, outsider
):
    """Routed to a role, a review waits for those who hold it in the use case's unit. For a
    member of every unit that is every use case's: once the page knows it (sees_every_use_case),
    the unit is not asked, and the same reviews wait, in the same order."""
    here, there = (
        to_status(
            Status.SUBMITTED,
            use_case=UseCaseFactory(business_unit=unit, owner=author),
            author=author,
            reviewers=[],
            approver=None,
        )
        for unit, author in ((retail, product_owner), (corporate, outsider))
    )
    # Submitted before anyone held the role: routed to it, in each use case's unit.
    by_role = ReviewAssignment.objects.filter(
        stage="review", assignee=None, group=None, role=Role.RISK_OFFICER
    )
    assert set(by_role.values_list("assessment_id", flat=True)) == {here.pk, there.pk}
    officer = UserFactory(username="rory.risk", roles=[Role.RISK_OFFICER], units=[retail])
    assert list(awaiting(officer, "review")) == [here]
    corporate.members.add(officer)
    everywhere = type(officer).objects.get(pk=officer.pk)
    asked = list(awaiting(everywhere, "review"))
    assert sees_every_use_case(everywhere)
    assert list(awaiting(everywhere, "review")) == asked == [here, there]


# Sign-off and the signature -----------------------------------------------------------------------
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


def test_renaming_people_does_not_break_a_verified_signature(use_case, people):
    a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    for person in (people["author"], people["approver"], *people["reviewers"]):
        person.username = person.username + ".renamed"
        person.save()
    assert services.sign_off_verified(Assessment.objects.get(pk=a.pk))


# Re-assessment ------------------------------------------------------------------------------------
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
