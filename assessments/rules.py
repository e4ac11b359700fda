"""Who may do what with assessments, written once (see registry/rules.py for the grants).

Reading follows the use case: whoever may see the use case sees its assessments, and a
reviewer group asked to review one (legal, say) sees that one. Editing is for the author and
the use case's editors while the assessment is a draft or sent back. Reviewing and signing
off are for the reviewers the routing named, never the author.
"""

import rules

from assessments.models import EDITABLE, WAITING_FOR_DECISION, ReviewAssignment, Status
from portal.access import access_for, can
from registry.rules import is_admin, is_auditor, is_dpo, is_risk_officer


def _unit_ids(user) -> frozenset[int]:
    return access_for(user).unit_ids


@rules.predicate
def is_author(user, assessment) -> bool:
    return assessment is not None and assessment.author_id == user.pk


@rules.predicate
def in_unit(user, assessment) -> bool:
    return assessment is not None and assessment.use_case.business_unit_id in _unit_ids(user)


@rules.predicate
def sees_use_case(user, assessment) -> bool:
    return assessment is not None and can(user, "registry.view_usecase", assessment.use_case)


@rules.predicate
def changes_use_case(user, assessment) -> bool:
    return assessment is not None and can(user, "registry.change_usecase", assessment.use_case)


@rules.predicate
def is_editable(user, assessment) -> bool:
    return assessment is not None and assessment.status in EDITABLE


def matches(user, assignment: ReviewAssignment, use_case) -> bool:
    """Whether the person is one of the reviewers an assignment names.

    A named reviewer is the only one; otherwise a role reviews in its own business units and
    a reviewer group wherever it is asked. Admins are not reviewers by virtue of being
    admins: review is a separate duty.
    """
    if assignment.assignee_id:
        return assignment.assignee_id == user.pk
    return fits(user, assignment, use_case)


def fits(user, assignment: ReviewAssignment, use_case) -> bool:
    """Whether the person holds the role (in the use case's unit) or the group asked."""
    access = access_for(user)
    if assignment.group is not None:
        return assignment.group.name in access.roles
    return access.has_role(assignment.role) and use_case.business_unit_id in access.unit_ids


def pending_assignments(user, assessment, stage: str) -> list[ReviewAssignment]:
    return [
        a
        for a in assessment.reviews.all()
        if a.stage == stage
        and a.decision == ReviewAssignment.Decision.PENDING
        and matches(user, a, assessment.use_case)
    ]


@rules.predicate
def is_pending_reviewer(user, assessment) -> bool:
    return assessment is not None and bool(pending_assignments(user, assessment, "review"))


@rules.predicate
def is_named_reviewer(user, assessment) -> bool:
    """Named for any stage, decided or not (they keep reading what they reviewed)."""
    return assessment is not None and any(
        matches(user, a, assessment.use_case) for a in assessment.reviews.all()
    )


@rules.predicate
def is_pending_approver(user, assessment) -> bool:
    return assessment is not None and bool(pending_assignments(user, assessment, "approve"))


@rules.predicate
def is_contributor(user, assessment) -> bool:
    """Wrote answers in it: the author and anyone who saved answers since."""
    return assessment is not None and (
        assessment.author_id == user.pk or user.pk in (assessment.contributor_ids or [])
    )


@rules.predicate
def has_decided(user, assessment) -> bool:
    """Already approved, asked for changes, rejected or signed in this round of review.

    One person is one pair of eyes: holding two roles (risk officer and DPO, say) does not
    let them clear two reviews, or review and then sign.
    """
    return assessment is not None and any(
        a.decided_by_id == user.pk for a in assessment.reviews.all()
    )


# Whoever wrote it, or has already decided in this round, does not check it.
independent = ~is_auditor & ~is_contributor & ~has_decided


def in_status(*states: str):
    @rules.predicate(name=f"in_status({','.join(states)})")
    def check(user, assessment) -> bool:
        return assessment is not None and assessment.status in states

    return check


can_view = is_author | sees_use_case | is_named_reviewer
can_edit = (
    ~is_auditor
    & is_editable
    & (is_author | changes_use_case | ((is_risk_officer | is_dpo) & in_unit) | is_admin)
)

rules.add_perm("assessments.view_assessment", can_view)
# Starting an assessment is asked of the use case, not of an assessment.
rules.add_perm(
    "assessments.add_assessment",
    ~is_auditor
    & (
        rules.predicate(lambda user, use_case: can(user, "registry.change_usecase", use_case))
        | (
            (is_risk_officer | is_dpo)
            & rules.predicate(
                lambda user, use_case: (
                    use_case is not None and use_case.business_unit_id in _unit_ids(user)
                )
            )
        )
    ),
)
rules.add_perm("assessments.change_assessment", can_edit)
rules.add_perm("assessments.submit_assessment", can_edit)
rules.add_perm(
    "assessments.review",
    independent & is_pending_reviewer & in_status(Status.SUBMITTED, Status.IN_REVIEW),
)
rules.add_perm(
    "assessments.reject",
    independent
    & (
        (is_pending_reviewer & in_status(Status.IN_REVIEW))
        | (is_pending_approver & in_status(Status.APPROVED))
    ),
)
rules.add_perm(
    "assessments.sign_off",
    independent & is_pending_approver & in_status(Status.APPROVED),
)
rules.add_perm("assessments.withdraw", is_author & in_status(Status.SUBMITTED, Status.IN_REVIEW))
# Naming someone to take a review the routing could not fill (the author holds the only role).
rules.add_perm(
    "assessments.delegate_review",
    is_admin & in_status(*WAITING_FOR_DECISION),
)
# Comments: reviewers ask, the author and the editors answer; nobody comments once closed.
rules.add_perm(
    "assessments.comment",
    ~is_auditor
    & in_status(Status.SUBMITTED, Status.IN_REVIEW, Status.CHANGES_REQUESTED, Status.APPROVED)
    & (is_named_reviewer | is_author | changes_use_case),
)


@rules.predicate
def may_close_thread(user, comment) -> bool:
    """Who raised the point, or a reviewer named on the assessment: not the author alone,
    whose unresolved comments are the open issues leadership reads on the summary."""
    if comment is None:
        return False
    assessment = comment.assessment
    return can(user, "assessments.comment", assessment) and (
        comment.author_id == user.pk or is_named_reviewer(user, assessment)
    )


rules.add_perm("assessments.resolve_comment", ~is_auditor & may_close_thread)
rules.add_perm(
    "assessments.reassess",
    ~is_auditor
    & in_status(Status.SIGNED_OFF)
    & (changes_use_case | ((is_risk_officer | is_dpo) & in_unit) | is_admin),
)
rules.add_perm(
    "assessments.override_tier",
    ~is_auditor
    & in_status(Status.SIGNED_OFF)
    & rules.predicate(
        lambda user, assessment: (
            assessment is not None
            and assessment.kind == "screening"
            and can(user, "registry.set_tier_usecase", assessment.use_case)
        )
    ),
)
rules.add_perm("assessments.view_template", rules.is_authenticated)
rules.add_perm("assessments.manage_templates", is_admin | is_risk_officer)
rules.add_perm("assessments.view_signoff_queue", rules.is_authenticated)
