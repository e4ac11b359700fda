"""Material changes: the firm's rules over what the registry announces, and writing those rules.

The registry describes each change it saves that may matter (registry/changes.py) and sends
``material_change``; ``on_material_change`` (connected in monitoring/hooks.py) matches every
enabled ``MaterialChangeRule`` of the change's kind and raises a flag per rule and use case
through ``raise_cause_flag``: the cause is ``material_change:<rule key>``, the reason the
change (field, old value, new value, who). A proposed use case with no signed-off assessment
is left alone: there is nothing to re-assess yet, and its first assessments see the change.
A change seen again while that flag is open adds to the flag's evidence and the use case's
re-assessment reasons, not a second flag.

Who writes the rules: admins and risk officers (``monitoring.change_material_rule``); a rule
Steward ships keeps what it watches and changes only its severity, draft and on/off.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from assessments.models import Assessment, Status
from monitoring.models import MaterialChangeRule
from monitoring.services.flags import open_cause_flag, raise_cause_flag
from portal.access import require
from portal.limits import keep_last
from portal.records import delete_with_history, save_with_history
from registry.changes import Change, stage_change
from registry.models import Lifecycle, ModelVersion, UseCase
from registry.services import use_case_flag_for_reassessment

EDITABLE_FIELDS = (
    "name",
    "description",
    "change",
    "condition",
    "value",
    "severity",
    "start_draft",
    "enabled",
)
BUILTIN_EDITABLE_FIELDS = frozenset({"severity", "start_draft", "enabled", "description"})


def describe(change: Change, actor) -> str:
    who = "the system" if actor is None else (actor.get_full_name() or actor.get_username())
    return f"{change.label}: {change.old_display} → {change.new_display} (by {who})"


@transaction.atomic
def on_material_change(*, actor, changes: list[Change], **_) -> list[dict]:
    """Flag the use cases a matching change touches; return what was raised (for the API)."""
    rules = list(MaterialChangeRule.objects.filter(enabled=True).order_by("pk"))
    signed_off = Assessment.objects.filter(use_case=OuterRef("pk"), status=Status.SIGNED_OFF)
    raised: list[dict] = []
    for change in changes:
        matching = [rule for rule in rules if rule.matches(change)]
        if not matching:
            continue
        use_cases = list(
            UseCase.objects.filter(pk__in=change.use_case_ids)
            .annotate(assessed=Exists(signed_off))
            # A proposed use case with nothing signed off has nothing to re-assess yet: its
            # first assessments will see the change.
            .filter(Q(assessed=True) | ~Q(lifecycle=Lifecycle.PROPOSED))
            .select_related("owner", "business_unit")
            .order_by("pk")
        )
        for rule in matching:
            for use_case in use_cases:
                raised.append(_flag(rule, change, use_case, actor))
    return raised


def _flag(rule: MaterialChangeRule, change: Change, use_case: UseCase, actor) -> dict:
    reason = f"{rule.name}: {describe(change, actor)}"
    evidence = {"rule": rule.name, **change.as_evidence(actor)}
    existing = open_cause_flag(use_case=use_case, cause=rule.cause)
    if existing is not None:
        # Still open: the later change is kept with it rather than raising another.
        later = [*existing.evidence.get("later_changes", []), evidence]
        existing.evidence = {**existing.evidence, "later_changes": later[-20:]}
        save_with_history(existing, actor=actor, reason=f"Seen again: {reason}")
        use_case_flag_for_reassessment(
            actor=None, use_case=use_case, reason=keep_last(f"{existing.reference}: {reason}")
        )
        flag = existing
    else:
        flag = raise_cause_flag(
            use_case=use_case,
            cause=rule.cause,
            severity=rule.severity,
            reason=reason,
            evidence=evidence,
            actor=actor,
            start_draft=rule.start_draft,
        )
    return {
        "use_case": use_case.pk,
        "reference": flag.reference,
        "cause": flag.cause,
        "reason": flag.reason,
        "severity": flag.severity,
        "url": reverse("monitoring:flag-detail", args=[flag.reference]),
        "reassessment": flag.reassessment.reference if flag.reassessment else None,
    }


def on_stage_changed(
    *, model_version: ModelVersion, old_stage: str, new_stage: str, actor=None, **_
) -> list[dict]:
    """``registry.signals.model_version_stage_changed``: a version moved between stages."""
    return on_material_change(
        actor=actor, changes=stage_change(model_version, old_stage, new_stage)
    )


# Writing the rules ---------------------------------------------------------------------------
def _check_fields(fields: dict) -> None:
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise TypeError(f"Not fields a person sets on a material-change rule: {unknown}")


def _strip(fields: dict) -> dict:
    return {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}


@transaction.atomic
def material_rule_create(*, actor, **fields) -> MaterialChangeRule:
    _check_fields(fields)
    require(actor, "monitoring.change_material_rule")
    rule = MaterialChangeRule(created_by=actor, **_strip(fields))
    rule.full_clean(exclude=["created_by"])
    save_with_history(rule, actor=actor, reason="Material-change rule created")
    return rule


@transaction.atomic
def material_rule_update(*, actor, rule: MaterialChangeRule, **fields) -> MaterialChangeRule:
    """Change a rule. A shipped rule changes only its severity, draft, description and on/off."""
    _check_fields(fields)
    require(actor, "monitoring.change_material_rule", rule)
    rule = MaterialChangeRule.objects.select_for_update().get(pk=rule.pk)
    fields = _strip(fields)
    changed = [name for name, value in fields.items() if getattr(rule, name) != value]
    if rule.builtin:
        fixed = [name for name in changed if name not in BUILTIN_EDITABLE_FIELDS]
        if fixed:
            raise ValidationError(
                {
                    name: "A rule Steward ships keeps what it watches: change its severity, "
                    "whether it starts a draft, or switch it off; add a rule of your own."
                    for name in fixed
                }
            )
    if not changed:
        return rule
    for name in changed:
        setattr(rule, name, fields[name])
    rule.full_clean(exclude=["created_by"])
    save_with_history(
        rule, actor=actor, reason=f"Material-change rule changed: {', '.join(changed)}"
    )
    return rule


@transaction.atomic
def material_rule_delete(*, actor, rule: MaterialChangeRule) -> None:
    """Delete a firm's own rule (its flags keep their cause and reason). Shipped rules are
    switched off instead."""
    require(actor, "monitoring.change_material_rule", rule)
    rule = MaterialChangeRule.objects.select_for_update().get(pk=rule.pk)
    if rule.builtin:
        raise ValidationError("A rule Steward ships is not deleted: switch it off instead.")
    delete_with_history(rule, actor=actor, reason="Material-change rule deleted")
