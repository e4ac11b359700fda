"""Every write to an assessment: start, save answers, move through review, sign off."""

import hashlib
import json
import textwrap
from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from assessments import engine
from assessments.models import (
    OPEN,
    TRANSITIONS,
    Assessment,
    AssessmentTemplate,
    Comment,
    EvidenceFile,
    Kind,
    ReviewAssignment,
    SignOff,
    Status,
    canonical_json,
    sha256_of,
)
from assessments.rules import pending_assignments
from assessments.services.routing import route
from portal import notify, throttle, workflow
from portal.access import can, require
from portal.records import next_reference, save_with_history
from portal.workflow import Transition
from registry import services as registry_services
from registry.models import RiskTier, UseCase

Decision = ReviewAssignment.Decision


class EditConflict(Exception):
    """Someone saved the assessment since the person loaded it; nothing was written."""

    def __init__(self, assessment: Assessment, changes: list[dict]):
        super().__init__("Someone else saved this assessment after you opened it.")
        self.assessment = assessment
        self.changes = changes

    @property
    def current_revision(self) -> int:
        return self.assessment.revision


def _lock(assessment: Assessment) -> Assessment:
    return (
        Assessment.objects.select_for_update(of=("self",))
        .select_related("template", "use_case__business_unit", "use_case__owner", "author")
        .get(pk=assessment.pk)
    )


def _rescore(assessment: Assessment) -> None:
    result = engine.score(assessment.definition, assessment.answers)
    assessment.result = result.as_dict()
    assessment.result_value = result.value or ""


# Starting ------------------------------------------------------------------------------------
@transaction.atomic
def assessment_start(*, actor, use_case: UseCase, template: AssessmentTemplate) -> Assessment:
    """A new draft. When a signed-off one of the same kind exists, it starts from its answers."""
    use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
    require(actor, "assessments.add_assessment", use_case)
    if use_case.lifecycle == "retired":
        raise ValidationError("A retired use case is not assessed again.")
    if not template.active:
        raise ValidationError({"template": "That template version is no longer offered."})
    # One open assessment per template (any version of its key): a firm's own questionnaire
    # may run beside a built-in one of the same kind.
    existing = Assessment.objects.filter(
        use_case=use_case, template__key=template.key, status__in=OPEN
    )
    if existing.exists():
        current = existing.first()
        assert current is not None  # exists() just said so, and the use case is locked
        raise ValidationError(
            {
                "template": f"{use_case.reference} already has “{template.title}” "
                f"in progress ({current.reference}): continue that one."
            }
        )
    previous = (
        Assessment.objects.filter(
            use_case=use_case, template__key=template.key, status=Status.SIGNED_OFF
        )
        .order_by("-version")
        .first()
    )
    latest = Assessment.objects.filter(use_case=use_case, kind=template.kind).aggregate(
        v=Max("version")
    )["v"]
    assessment = Assessment(
        template=template,
        kind=template.kind,
        use_case=use_case,
        author=actor,
        version=(latest or 0) + 1,
        previous=previous,
        contributor_ids=[actor.pk],
    )
    if previous is not None:
        # Keep the answers the new template still asks and accepts; a question it dropped,
        # or a choice it no longer offers, is left for the person to answer again.
        known = engine.question_map(template.definition)
        assessment.answers = {}
        for key, value in previous.answers.items():
            if key not in known:
                continue
            try:
                kept = engine.clean_answer(known[key], value)
            except ValueError:
                continue
            if kept is not None:
                assessment.answers[key] = kept
        assessment.answers = _without_hidden(template.definition, assessment.answers)
    _rescore(assessment)
    assessment.reference = next_reference("AS")
    reason = (
        f"Re-assessment started from {previous.reference} v{previous.version}"
        if previous
        else "Started"
    )
    save_with_history(assessment, actor=actor, reason=reason)
    return assessment


def assessment_reassess(*, actor, assessment: Assessment) -> Assessment:
    require(actor, "assessments.reassess", assessment)
    template = (
        AssessmentTemplate.objects.filter(key=assessment.template.key, active=True)
        .order_by("-version")
        .first()
        or assessment.template
    )
    if not template.active:
        raise ValidationError("No version of this template is offered any more.")
    return assessment_start(actor=actor, use_case=assessment.use_case, template=template)


# Answers -------------------------------------------------------------------------------------
def answers_at(assessment: Assessment, revision: int) -> dict:
    """The answers as they stood at a revision (from the history every save writes)."""
    base = assessment.history.filter(revision=revision).order_by("-history_id").first()
    return base.answers if base is not None else {}


def changes_since(assessment: Assessment, base_revision: int) -> list[dict]:
    """What changed in the answers since a revision, question by question, and who saved."""
    before = answers_at(assessment, base_revision)
    later = assessment.history.filter(revision__gt=base_revision).select_related("history_user")
    savers = sorted({str(h.history_user) for h in later if h.history_user is not None})
    qmap = engine.question_map(assessment.definition)
    changes = []
    for key in sorted(set(before) | set(assessment.answers)):
        if before.get(key) == assessment.answers.get(key):
            continue
        q = qmap.get(key)
        changes.append(
            {
                "question": key,
                "label": q.label if q else key,
                "before": engine.display_answer(q, before.get(key)) if q else before.get(key),
                "now": engine.display_answer(q, assessment.answers.get(key))
                if q
                else assessment.answers.get(key),
                "by": ", ".join(savers),
            }
        )
    return changes


def clean_answers(definition: dict, answers: dict) -> dict:
    """Each answer in its stored form, or ValidationError keyed by question."""
    qmap = engine.question_map(definition)
    cleaned, errors = {}, {}
    for key, raw in answers.items():
        question = qmap.get(key)
        if question is None:
            errors[key] = "This template has no such question."
            continue
        try:
            cleaned[key] = engine.clean_answer(question, raw)
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def assessment_save_answers(
    *, actor, assessment: Assessment, answers: dict, base_revision: int, autosave: bool = False
) -> Assessment:
    """Save some answers. Refused, with what changed, if someone saved since base_revision."""
    assessment = _lock(assessment)
    require(actor, "assessments.change_assessment", assessment)
    if base_revision != assessment.revision:
        raise EditConflict(assessment, changes_since(assessment, base_revision))
    cleaned = clean_answers(assessment.definition, answers)
    _check_evidence_files(assessment, cleaned)
    merged = dict(assessment.answers)
    for key, value in cleaned.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    merged = _without_hidden(assessment.definition, merged)
    changed = sorted(
        k
        for k in set(cleaned) | set(assessment.answers)
        if merged.get(k) != assessment.answers.get(k)
    )
    if not changed:
        return assessment
    assessment.answers = merged
    _rescore(assessment)
    assessment.revision += 1
    # Only what answering changes is written: a save (an autosave every few seconds while
    # someone types) then outdates no kept My work or dashboard (dashboard/work_store.py's
    # UNREAD_COLUMNS), unless it makes the person a contributor, which My work reads.
    fields = ["answers", "result", "result_value", "revision", "updated_at"]
    if actor.pk not in assessment.contributor_ids:
        assessment.contributor_ids = [*assessment.contributor_ids, actor.pk]
        fields.append("contributor_ids")
    qmap = engine.question_map(assessment.definition)
    names = ", ".join(
        textwrap.shorten(qmap[k].label if k in qmap else k, 60, placeholder="…")
        for k in changed[:3]
    ) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    save_with_history(
        assessment,
        actor=actor,
        reason=f"{'Autosaved' if autosave else 'Saved'}: {names}",
        update_fields=fields,
    )
    return assessment


def _without_hidden(definition: dict, answers: dict) -> dict:
    """The answers a template keeps: answers to hidden questions are dropped, unless the
    template scores them (``"hidden_answers": "scored"``)."""
    if engine.hidden_answers_score(definition):
        return answers
    shown = engine.visible_keys(definition, answers)
    return {k: v for k, v in answers.items() if k in shown}


def evidence_chain_ids(assessment: Assessment) -> list[int]:
    """This assessment and the versions it started from: their files are its evidence too."""
    ids: list[int] = []
    current: Assessment | None = assessment
    while current is not None and current.pk not in ids:
        ids.append(current.pk)
        current = current.previous
    return ids


def _check_evidence_files(assessment: Assessment, cleaned: dict) -> None:
    """An evidence answer may only point at files uploaded to this assessment (or the
    version it started from); their names and hashes come from the stored file, never from
    what the client sent, because they end up in what is signed."""
    qmap = engine.question_map(assessment.definition)
    wanted = {
        item["file"]
        for key, value in cleaned.items()
        if qmap[key].type == "evidence" and value
        for item in value
        if item.get("file")
    }
    if not wanted:
        return
    files = {
        f.pk: f
        for f in EvidenceFile.objects.filter(
            pk__in=wanted, assessment_id__in=evidence_chain_ids(assessment)
        )
    }
    errors = {}
    for key, value in cleaned.items():
        if qmap[key].type != "evidence" or not value:
            continue
        for n, item in enumerate(value, start=1):
            if not item.get("file"):
                continue
            stored = files.get(item["file"])
            if stored is None:
                errors[key] = f"Evidence {n}: that file was not uploaded to this assessment."
                break
            item["filename"], item["sha256"] = stored.filename, stored.sha256
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def evidence_upload(*, actor, assessment: Assessment, upload) -> EvidenceFile:
    assessment = _lock(assessment)
    require(actor, "assessments.change_assessment", assessment)
    if upload.size > settings.EVIDENCE_MAX_BYTES:
        limit = settings.EVIDENCE_MAX_BYTES // (1024 * 1024)
        raise ValidationError({"file": f"Files up to {limit} MB can be attached."})
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    evidence = EvidenceFile(
        assessment=assessment,
        filename=upload.name[:255],
        content_type=getattr(upload, "content_type", "") or "",
        size=upload.size,
        sha256=digest.hexdigest(),
        uploaded_by=actor,
    )
    evidence.file.save(upload.name, upload, save=False)
    evidence.save()
    return evidence


# Moving through review -----------------------------------------------------------------------
def available_transitions(assessment: Assessment, user) -> list[tuple[str, Transition]]:
    return workflow.available_transitions(TRANSITIONS, assessment, user)


def open_question_ids(assessment: Assessment) -> list[int]:
    """The reviewers' open questions: unresolved comments that start a thread."""
    return list(
        Comment.objects.filter(assessment=assessment, parent__isnull=True, resolved=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _check_acknowledged(assessment: Assessment, acknowledged) -> str:
    """A signer signs with open reviewer questions only once they have read each of them.

    ``acknowledged`` is the ids of the open questions the signer saw and acknowledged; one
    raised since (or never seen) refuses the signature. Returns what goes into the history.
    """
    open_ids = open_question_ids(assessment)
    if not open_ids:
        return ""
    seen = {int(i) for i in acknowledged or ()}
    unseen = [i for i in open_ids if i not in seen]
    if unseen:
        n = len(open_ids)
        raise ValidationError(
            {
                "acknowledged_questions": (
                    f"{n} reviewer question{'s are' if n != 1 else ' is'} still open: read "
                    f"{'them' if n != 1 else 'it'} and acknowledge "
                    f"{'them' if n != 1 else 'it'} before you sign"
                    + (
                        f" (not acknowledged: comment {', '.join(map(str, unseen))})."
                        if len(unseen) < n or acknowledged
                        else "."
                    )
                )
            }
        )
    return f"; signed with {len(open_ids)} open reviewer question(s) acknowledged " + (
        f"(comment {', '.join(map(str, open_ids))})"
    )


def assessment_transition(
    *,
    actor,
    assessment: Assessment,
    action: str,
    reason: str = "",
    password: str = "",
    acknowledged_questions=None,
) -> Assessment:
    """Move an assessment. Signing needs the signer's password and, when reviewers' questions
    are still open, the ids of those questions in ``acknowledged_questions``."""
    if action == "sign_off":
        # Checked before the move's transaction: a wrong password must still count towards
        # the limit on guessing, and the move's rollback would undo the count.
        throttle.check_signer(actor, password)
    return _transition(
        actor=actor,
        assessment=assessment,
        action=action,
        reason=reason,
        acknowledged=acknowledged_questions,
    )


@transaction.atomic
def _transition(
    *, actor, assessment: Assessment, action: str, reason: str, acknowledged=None
) -> Assessment:
    workflow.get_transition(TRANSITIONS, action)
    assessment = _lock(assessment)
    transition = workflow.check_transition(
        TRANSITIONS,
        action,
        assessment,
        actor,
        display=assessment.get_status_display().lower(),
        preposition="while",
    )
    reason = reason.strip()
    if transition.reason_required and not reason:
        raise ValidationError({"reason": f"Say why ({transition.label.lower()})."})
    # Checked under the lock: a question raised a moment ago is one the signer has not read.
    acknowledgement = _check_acknowledged(assessment, acknowledged) if action == "sign_off" else ""
    handler = _HANDLERS[action]
    summary = handler(actor, assessment, reason) + acknowledgement
    save_with_history(assessment, actor=actor, reason=summary)
    return assessment


def _submit(actor, assessment: Assessment, reason: str) -> str:
    missing = engine.missing_required(assessment.definition, assessment.answers)
    if missing:
        raise ValidationError(
            {q.key: "Answer this before you submit." for q in missing}
            | {"__all__": [f"{len(missing)} required question(s) are not answered yet."]}
        )
    _rescore(assessment)
    # Resubmitting after changes asks everyone again: what they approved has changed.
    assessment.reviews.all().delete()
    for r in route(assessment):
        assignment = ReviewAssignment(
            assessment=assessment, stage=r.stage, role=r.role, group=r.group, reasons=r.reasons
        )
        people = _candidates(assignment, assessment)
        if len(people) == 1:
            assignment.assignee = people[0]
        elif not people:
            # Still routed, but say why nobody can take it and what unblocks it.
            assignment.reasons = [*assignment.reasons, _why_nobody(assignment, assessment)]
        assignment.save()
    assessment.status = Status.SUBMITTED
    assessment.submitted_at = timezone.now()
    _notify_reviewers(assessment, "review", f"{assessment.reference} is waiting for your review")
    return "Submitted for review" + (f": {reason}" if reason else "")


def _why_nobody(assignment: ReviewAssignment, assessment: Assessment) -> str:
    """Why an assignment has no possible reviewer: nobody holds the role, or only people who
    wrote the assessment do (four eyes keeps them out)."""
    writers = _candidates(assignment, assessment, limit=None, writers_too=True)
    if not writers:
        return "Nobody holds this role here yet: an admin can give it to someone."
    names = ", ".join(notify.name(p) for p in writers[:3])
    return (
        f"{UNFILLABLE}: only {names}, who wrote this assessment, "
        f"hold{'s' if len(writers) == 1 else ''} this role here. An admin can delegate this "
        "review to a named person, or the author can withdraw it."
    )


UNFILLABLE = "Cannot be filled"


def unfillable_reviews(assessment: Assessment) -> list[ReviewAssignment]:
    """The pending reviews nobody but the assessment's own writers could take."""
    return [
        a
        for a in assessment.reviews.all()
        if a.decision == Decision.PENDING
        and a.assignee_id is None
        and not _candidates(a, assessment, limit=1)
    ]


def _withdraw(actor, assessment: Assessment, reason: str) -> str:
    # The round's reviews go (their history stays): a resubmission routes it afresh.
    assessment.reviews.all().delete()
    assessment.status = Status.DRAFT
    assessment.submitted_at = None
    return f"Withdrawn to draft by the author: {reason}"


@transaction.atomic
def review_delegate(
    *, actor, assignment: ReviewAssignment, person, reason: str
) -> ReviewAssignment:
    """Name the person who takes a review, with the reason; recorded on the assignment's and
    the assessment's history. Four eyes still holds: never a writer of the assessment."""
    assessment = _lock(assignment.assessment)
    require(actor, "assessments.delegate_review", assessment)
    assignment = ReviewAssignment.objects.select_for_update().get(
        pk=assignment.pk, assessment=assessment
    )
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why this review is delegated."})
    if assignment.decision != Decision.PENDING:
        raise ValidationError({"__all__": ["This review has already been decided."]})
    if person is None or not person.is_active:
        raise ValidationError({"person": "Choose an active person."})
    if person.pk == assessment.author_id or person.pk in (assessment.contributor_ids or []):
        raise ValidationError(
            {"person": "They wrote this assessment: four eyes needs someone else."}
        )
    if any(a.decided_by_id == person.pk for a in assessment.reviews.all()):
        raise ValidationError({"person": "They have already decided in this round."})
    if not can(person, "registry.view_usecase", assessment.use_case):
        raise ValidationError({"person": "They cannot see this use case."})
    note = (
        f"Delegated to {notify.name(person)} by {notify.name(actor)} "
        f"({assignment.reviewer_label}): {reason}"
    )
    assignment.assignee = person
    assignment.reasons = [
        r for r in assignment.reasons if not str(r).startswith((UNFILLABLE, "Nobody holds"))
    ] + [note]
    save_with_history(assignment, actor=actor, reason=note)
    save_with_history(assessment, actor=actor, reason=note)
    notify.email(
        [person],
        f"{assessment.reference} is waiting for your review",
        f"{notify.name(actor)} asked you to review {assessment} of {assessment.use_case} "
        f"as {assignment.reviewer_label}:\n\n{reason}\n\n{_link(assessment)}",
        url=_link(assessment),
    )
    return assignment


def _decide(actor, assessment: Assessment, stage: str, decision: str, note: str) -> list[str]:
    # One decision per person per round, even if they fit two assignments (see rules): the
    # one naming them, else the one fewest others could take, so nobody else is left
    # holding an assignment only this person could have closed.
    pending = sorted(
        pending_assignments(actor, assessment, stage),
        key=lambda a: (a.assignee_id != actor.pk, len(_candidates(a, assessment, limit=None))),
    )
    decided = pending[:1]
    for assignment in decided:
        assignment.decision = decision
        assignment.decided_by = actor
        assignment.decided_at = timezone.now()
        assignment.note = note
        assignment.save()
    return [a.reviewer_label for a in decided]


def _start_review(actor, assessment: Assessment, reason: str) -> str:
    assessment.status = Status.IN_REVIEW
    return "Review started"


def _request_changes(actor, assessment: Assessment, reason: str) -> str:
    as_whom = _decide(actor, assessment, "review", Decision.CHANGES_REQUESTED, reason)
    assessment.status = Status.CHANGES_REQUESTED
    notify.email(
        [assessment.author],
        f"Changes requested on {assessment.reference}",
        f"{notify.name(actor)} ({', '.join(as_whom)}) asked for changes to {assessment}:"
        f"\n\n{reason}\n\n{_link(assessment)}",
        url=_link(assessment),
    )
    return f"Changes requested ({', '.join(as_whom)}): {reason}"


def _approve(actor, assessment: Assessment, reason: str) -> str:
    if assessment.status == Status.SUBMITTED:
        assessment.status = Status.IN_REVIEW
    as_whom = _decide(actor, assessment, "review", Decision.APPROVED, reason)
    waiting = [
        a.reviewer_label
        for a in assessment.reviews.all()
        if a.stage == "review" and a.decision == Decision.PENDING
    ]
    summary = f"Approved by {', '.join(as_whom)}"
    if waiting:
        return f"{summary}; waiting for {', '.join(waiting)}"
    assessment.status = Status.APPROVED
    assessment.approved_at = timezone.now()
    _notify_reviewers(assessment, "approve", f"{assessment.reference} is ready for your sign-off")
    return f"{summary}; every reviewer has approved"


def _reject(actor, assessment: Assessment, reason: str) -> str:
    stage = "approve" if assessment.status == Status.APPROVED else "review"
    as_whom = _decide(actor, assessment, stage, Decision.REJECTED, reason)
    assessment.status = Status.REJECTED
    notify.email(
        [assessment.author, assessment.use_case.owner],
        f"{assessment.reference} was rejected",
        f"{notify.name(actor)} ({', '.join(as_whom)}) rejected {assessment}:\n\n{reason}\n\n"
        f"{_link(assessment)}",
        url=_link(assessment),
    )
    return f"Rejected ({', '.join(as_whom)}): {reason}"


def _sign_off(actor, assessment: Assessment, reason: str) -> str:
    # The signer's password was checked by assessment_transition, under the limit on guessing.
    now = timezone.now()
    as_whom = _decide(actor, assessment, "approve", Decision.SIGNED_OFF, reason)
    waiting = [
        a.reviewer_name
        for a in assessment.reviews.select_related("group", "assignee")
        if a.stage == "approve" and a.decision == Decision.PENDING
    ]
    who = actor.get_full_name() or actor.username
    if waiting:
        # Routing asked for more than one signature: the last one completes the sign-off.
        return f"Signed by {who} ({', '.join(as_whom)}); waiting for {', '.join(waiting)}"
    assessment.status = Status.SIGNED_OFF
    assessment.valid_until = valid_until_for(assessment, now.date())
    statement = (
        f"I, {actor.get_full_name() or actor.username}, sign off {assessment.reference} "
        f"({assessment.get_kind_display()}, version {assessment.version}) of "
        f"{assessment.use_case.reference} as {', '.join(as_whom)}."
    )
    content = canonical_json(content_to_sign(assessment, signer=actor, at=now, note=reason))
    SignOff.objects.create(
        assessment=assessment,
        signed_by=actor,
        signed_at=now,
        statement=statement,
        content=content,
        sha256=sha256_of(content),
    )
    for older in (
        Assessment.objects.select_for_update()
        .filter(
            use_case=assessment.use_case,
            template__key=assessment.template.key,
            status=Status.SIGNED_OFF,
        )
        .exclude(pk=assessment.pk)
    ):
        older.status = Status.SUPERSEDED
        save_with_history(
            older, actor=actor, reason=f"Superseded by {assessment.reference} v{assessment.version}"
        )
    _apply_to_use_case(actor, assessment)
    notify.email(
        [assessment.author, assessment.use_case.owner],
        f"{assessment.reference} was signed off",
        f"{statement}\nValid until {assessment.valid_until:%d %b %Y}.\n\n{_link(assessment)}",
        url=_link(assessment),
    )
    return f"Signed off by {who} ({', '.join(as_whom)}); valid until {assessment.valid_until}"


_HANDLERS = {
    "submit": _submit,
    "start_review": _start_review,
    "request_changes": _request_changes,
    "approve": _approve,
    "reject": _reject,
    "sign_off": _sign_off,
    "withdraw": _withdraw,
}


def content_to_sign(assessment: Assessment, *, signer, at, note: str = "") -> dict:
    """Exactly what a signature covers; its canonical JSON is what is hashed."""
    shown = engine.visible_keys(assessment.definition, assessment.answers)
    use_case = assessment.use_case
    return {
        "assessment": {
            "reference": assessment.reference,
            "kind": assessment.kind,
            "version": assessment.version,
            "previous": assessment.previous.reference if assessment.previous is not None else None,
            "author": assessment.author.username,
            "author_id": assessment.author_id,
        },
        "template": {
            "key": assessment.template.key,
            "version": assessment.template.version,
            "sha256": assessment.template.sha256,
        },
        "use_case": {
            "reference": use_case.reference,
            "title": use_case.title,
            "business_unit": use_case.business_unit.code,
            "owner": use_case.owner.username,
            "risk_tier": use_case.risk_tier,
        },
        "answers": {k: v for k, v in sorted(assessment.answers.items()) if k in shown},
        "result": assessment.result,
        "reviews": [
            {
                "stage": a.stage,
                "reviewer": a.reviewer_label,
                "assignee": a.assignee.username if a.assignee is not None else None,
                "decision": a.decision,
                "by": a.decided_by.username if a.decided_by is not None else None,
                "by_id": a.decided_by_id,
                "assignee_id": a.assignee_id,
                "at": a.decided_at.isoformat() if a.decided_at else None,
                "note": a.note,
                "reasons": a.reasons,
            }
            for a in assessment.reviews.select_related("group", "decided_by", "assignee").order_by(
                "pk"
            )
        ],
        "signed_by": signer.username,
        "signed_at": at.isoformat(),
        "valid_until": assessment.valid_until.isoformat() if assessment.valid_until else None,
        "note": note,
    }


def sign_off_verified(assessment: Assessment) -> bool:
    """Whether the sign-off still hashes right AND still describes the assessment as it is.

    The hash alone proves the stored content is unchanged; comparing it with the content
    rebuilt from the live record proves the answers, result and reviews shown today are
    the ones that were signed.
    """
    record = getattr(assessment, "sign_off_record", None)
    if record is None or sha256_of(record.content) != record.sha256:
        return False
    stored = json.loads(record.content)
    live = json.loads(
        canonical_json(
            content_to_sign(
                assessment,
                signer=record.signed_by,
                at=record.signed_at,
                note=stored.get("note", ""),
            )
        )
    )
    return all(
        _stable(k, stored.get(k)) == _stable(k, live.get(k))
        for k in ("assessment", "template", "answers", "result", "reviews")
    )


# Names people and groups may change after signing; what they refer to may not.
_RENAMEABLE = {"author", "by", "assignee", "reviewer"}


def _stable(key: str, value):
    if key == "assessment" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in _RENAMEABLE}
    if key == "reviews" and isinstance(value, list):
        return [{k: v for k, v in r.items() if k not in _RENAMEABLE} for r in value]
    return value


def valid_until_for(assessment: Assessment, today: date) -> date:
    """The shorter of the template's time for its result and the use case tier's time."""
    validity = assessment.definition.get("validity_months", {})
    screening = assessment.kind == Kind.SCREENING
    # A risk officer's override replaces the screening's tier, so it sets the time too.
    result = assessment.tier_override if screening and assessment.tier_override else None
    result = result or assessment.result_value
    tier = result if screening and result in RiskTier.values else assessment.use_case.risk_tier
    months = [settings.ASSESSMENT_VALID_MONTHS_BY_TIER.get(tier, 12)]
    if result in validity:
        months.append(validity[result])
    elif "default" in validity:
        months.append(validity["default"])
    return _add_months(today, min(months))


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _apply_to_use_case(actor, assessment: Assessment) -> None:
    use_case = assessment.use_case
    if assessment.kind == Kind.SCREENING and assessment.result_value in RiskTier.values:
        # Every ground the result rests on, the findings beside the outcome included (an
        # Article 6(3) exception, Article 50 duties on top of a tier), so the basis names them.
        basis = f"{assessment.result_label}. " + "; ".join(engine.cited(assessment.result))
        registry_services.use_case_apply_screening(
            actor=actor,
            use_case=use_case,
            tier=assessment.result_value,
            basis=basis.strip(),
            source=f"screening {assessment.reference}",
        )
    use_case.refresh_from_db()
    if use_case.needs_reassessment:
        use_case.needs_reassessment = False
        use_case.reassessment_reasons = ""
        save_with_history(
            use_case, actor=actor, reason=f"Re-assessed: {assessment.reference} signed off"
        )


def _link(assessment: Assessment) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{assessment.get_absolute_url()}"


def _candidates(
    assignment: ReviewAssignment,
    assessment: Assessment,
    limit: int | None = 2,
    *,
    writers_too: bool = False,
) -> list:
    """The active people who could take an assignment, never the author (unless asked for
    everyone holding the role, writers included)."""

    people = get_user_model().objects.filter(is_active=True)
    if not writers_too:
        people = people.exclude(pk__in=[assessment.author_id, *assessment.contributor_ids])
    if assignment.group_id:
        people = people.filter(groups=assignment.group)
    else:
        people = people.filter(
            groups__name=assignment.role, business_units=assessment.use_case.business_unit
        )
    people = people.distinct().order_by("pk")
    return list(people[:limit] if limit else people)


def _notify_reviewers(assessment: Assessment, stage: str, subject: str) -> None:
    User = get_user_model()
    people = set()
    for a in assessment.reviews.filter(stage=stage, decision=Decision.PENDING):
        if a.assignee_id:
            people.add(a.assignee)
        elif a.group_id:
            people.update(User.objects.filter(groups=a.group, is_active=True))
        else:
            people.update(
                User.objects.filter(
                    groups__name=a.role,
                    business_units=assessment.use_case.business_unit,
                    is_active=True,
                )
            )
    people.discard(assessment.author)
    notify.email(
        people,
        subject,
        f"{assessment} of {assessment.use_case} needs you ({stage}).\n\n{_link(assessment)}",
        url=_link(assessment),
    )


# Comments ------------------------------------------------------------------------------------
@transaction.atomic
def assessment_comment(
    *,
    actor,
    assessment: Assessment,
    body: str,
    question_key: str = "",
    parent: Comment | None = None,
) -> Comment:
    require(actor, "assessments.comment", assessment)
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write the comment."})
    if question_key and question_key not in engine.question_map(assessment.definition):
        raise ValidationError({"question_key": "This template has no such question."})
    if parent is not None:
        if parent.assessment_id != assessment.pk:
            raise ValidationError({"parent": "That comment is on another assessment."})
        question_key = parent.question_key
        parent = parent.parent or parent  # threads are one level deep
    comment = Comment(
        assessment=assessment, question_key=question_key, parent=parent, author=actor, body=body
    )
    save_with_history(comment, actor=actor, reason="Reply" if parent else "Comment")
    recipients = [assessment.author] if actor != assessment.author else []
    if parent is not None and parent.author != actor:
        recipients.append(parent.author)
    notify.email(
        recipients,
        f"New comment on {assessment.reference}",
        f"{notify.name(actor)} wrote:\n\n{body}\n\n{_link(assessment)}",
        url=_link(assessment),
    )
    return comment


@transaction.atomic
def comment_resolve(*, actor, comment: Comment) -> Comment:
    require(actor, "assessments.resolve_comment", comment)
    if not comment.resolved:
        comment.resolved = True
        save_with_history(comment, actor=actor, reason="Resolved")
    return comment


# Tier override and re-assessment dates -------------------------------------------------------
@transaction.atomic
def assessment_override_tier(*, actor, assessment: Assessment, tier: str, justification: str):
    assessment = _lock(assessment)
    require(actor, "assessments.override_tier", assessment)
    justification = justification.strip()
    if not justification:
        raise ValidationError({"justification": "Record why the screening's tier is overridden."})
    if tier not in RiskTier.values or tier == RiskTier.UNSCREENED:
        raise ValidationError(
            {"tier": "Choose prohibited, high, limited, minimal or outside the AI Act."}
        )
    assessment.tier_override = tier
    assessment.tier_override_reason = justification
    # The re-assessment date follows the new tier, counted from the sign-off.
    signed = getattr(assessment, "sign_off_record", None)
    if signed is not None:
        assessment.valid_until = valid_until_for(assessment, timezone.localdate(signed.signed_at))
    save_with_history(
        assessment,
        actor=actor,
        reason=f"Tier overridden to {tier}: {justification}; valid until {assessment.valid_until}",
    )
    registry_services.use_case_record_risk_tier(
        actor=actor,
        use_case=assessment.use_case,
        tier=tier,
        justification=f"Override of screening {assessment.reference} "
        f"(it gave {assessment.result_value}): {justification}",
    )
    return assessment


def flag_overdue_assessments(*, today: date | None = None) -> int:
    """Flag the use case of each signed-off assessment past its valid-until date, once."""
    today = today or timezone.localdate()
    due = Assessment.objects.filter(
        status=Status.SIGNED_OFF, valid_until__lt=today, overdue_flagged_on__isnull=True
    ).select_related("use_case__owner")
    flagged = 0
    for assessment in due.iterator():
        with transaction.atomic():
            locked = _lock(assessment)
            if locked.overdue_flagged_on is not None:
                continue
            assert locked.valid_until is not None  # due: valid_until is before today
            if locked.use_case.lifecycle != "retired":
                registry_services.use_case_flag_for_reassessment(
                    actor=None,
                    use_case=locked.use_case,
                    reason=f"{locked.reference} ({locked.get_kind_display()}) was valid until "
                    f"{locked.valid_until.isoformat()}",
                )
                notify.email(
                    [locked.use_case.owner],
                    f"{locked.use_case.reference}: {locked.get_kind_display()} is overdue",
                    f"{locked} of {locked.use_case} was valid until {locked.valid_until:%d %b %Y}. "
                    f"Start a re-assessment:\n\n{_link(locked)}",
                    url=_link(locked),
                )
            locked.overdue_flagged_on = today
            save_with_history(
                locked, actor=None, reason="Past its valid-until date: use case flagged"
            )
            flagged += 1
    return flagged
