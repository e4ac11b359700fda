"""Every write to assessments and their templates. Pages, API, tasks and commands call these."""

from assessments.services.evidence import evidence_prune_unattached
from assessments.services.routing import route
from assessments.services.templates import (
    parse_template_file,
    sync_builtin_templates,
    template_export,
    template_import,
)
from assessments.services.workflow import (
    EditConflict,
    answers_at,
    assessment_comment,
    assessment_override_tier,
    assessment_reassess,
    assessment_save_answers,
    assessment_start,
    assessment_transition,
    available_transitions,
    changes_since,
    comment_resolve,
    content_to_sign,
    evidence_chain_ids,
    evidence_upload,
    flag_overdue_assessments,
    open_question_ids,
    sign_off_verified,
    valid_until_for,
)

__all__ = [
    "EditConflict",
    "evidence_prune_unattached",
    "answers_at",
    "assessment_comment",
    "assessment_override_tier",
    "assessment_reassess",
    "assessment_save_answers",
    "assessment_start",
    "assessment_transition",
    "available_transitions",
    "changes_since",
    "comment_resolve",
    "content_to_sign",
    "evidence_chain_ids",
    "evidence_upload",
    "flag_overdue_assessments",
    "open_question_ids",
    "parse_template_file",
    "route",
    "sign_off_verified",
    "sync_builtin_templates",
    "template_export",
    "template_import",
    "valid_until_for",
]
