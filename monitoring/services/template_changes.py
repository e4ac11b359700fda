"""Regulatory change: a template's new version calls back what was signed off on older ones.

When the law or the firm's policy changes, a template gets a new version (an updated EU AI Act
screening, a firm's revised impact assessment). Assessments signed off on an older version
still stand until someone says otherwise; ``superseded_sign_offs`` lists them, and
``flag_superseded`` lets a risk officer flag their use cases for re-assessment in one action,
with the template change as the reason (cause ``template_change:<key>-v<version>``: one flag
per use case and new version, so asking twice flags nothing twice).

A use case counts once, by its latest sign-off of the template's key, and not at all when it
already has one signed off on this version or a newer one; retired use cases are left out.
Who may flag: whoever may flag that use case for re-assessment (``registry.flag_usecase``:
risk officers and DPOs of its unit, admins).
"""

from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from assessments.models import Assessment, AssessmentTemplate, Status
from assessments.selectors import assessments_visible_to
from monitoring.models import Flag, Severity
from monitoring.services.flags import raise_cause_flag
from portal.access import can
from registry.models import Lifecycle


def cause_of(template: AssessmentTemplate) -> str:
    return f"template_change:{template.key}-v{template.version}"


def superseded_sign_offs(user, template: AssessmentTemplate) -> list[Any]:
    """The latest sign-off per visible use case on an older version of ``template``'s key."""
    newer = Assessment.objects.filter(
        use_case=OuterRef("use_case"),
        template__key=template.key,
        template__version__gte=template.version,
        status=Status.SIGNED_OFF,
    )
    older: QuerySet[Assessment] = (
        assessments_visible_to(user)
        .filter(
            template__key=template.key,
            template__version__lt=template.version,
            status=Status.SIGNED_OFF,
        )
        .exclude(use_case__lifecycle=Lifecycle.RETIRED)
        .exclude(Exists(newer))
        .select_related(None)
        .select_related("template", "use_case__business_unit", "use_case__owner")
        .prefetch_related(None)
        .order_by("use_case__reference", "-template__version", "-valid_until", "-pk")
    )
    latest: dict[int, Assessment] = {}
    for assessment in older:
        latest.setdefault(assessment.use_case_id, assessment)
    flagged = set(
        Flag.objects.filter(
            cause=cause_of(template), use_case_id__in=latest, rule__isnull=True
        ).values_list("use_case_id", flat=True)
    )
    for assessment in latest.values():
        assessment.already_flagged = assessment.use_case_id in flagged  # type: ignore[attr-defined]
        assessment.can_flag = can(  # type: ignore[attr-defined]
            user, "registry.flag_usecase", assessment.use_case
        )
    return list(latest.values())


@transaction.atomic
def flag_superseded(*, actor, template: AssessmentTemplate, note: str = "") -> list[Flag]:
    """Flag every use case the person may flag whose sign-off is on an older version."""
    flags = []
    for assessment in superseded_sign_offs(actor, template):
        if not assessment.can_flag or assessment.already_flagged:
            continue
        old = assessment.template
        reason = (
            f"Template {template.title} is now v{template.version}: {assessment.reference} "
            f"was signed off on v{old.version}"
        )
        if note.strip():
            reason += f" ({note.strip()})"
        flags.append(
            raise_cause_flag(
                use_case=assessment.use_case,
                cause=cause_of(template),
                severity=Severity.MEDIUM,
                reason=reason,
                evidence={
                    "template": f"{template.key} v{template.version}",
                    "signed_off_on": f"{old.key} v{old.version}",
                    "assessment": assessment.reference,
                    "note": note.strip(),
                },
                actor=actor,
            )
        )
    return flags


def templates_with_superseded(user) -> list[AssessmentTemplate]:
    """Active templates with sign-offs on an older version still standing (for the index)."""
    result = []
    for template in AssessmentTemplate.objects.filter(active=True, version__gt=1).order_by(
        "kind", "key"
    ):
        template.superseded = superseded_sign_offs(user, template)  # type: ignore[attr-defined]
        if template.superseded:  # type: ignore[attr-defined]
            result.append(template)
    return result
