"""Every write to the register. Pages, API, imports, tasks and commands call these."""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal import workflow
from portal.access import require
from portal.limits import keep_last
from portal.records import assign_fields, next_reference, save_with_history
from portal.workflow import Transition
from registry import changes as material
from registry.gate import check_go_live
from registry.models import (
    LIFECYCLE_TRANSITIONS,
    BusinessUnit,
    DataSource,
    GateCheck,
    Lifecycle,
    RiskTier,
    UseCase,
)
from registry.selectors import units_user_can_register_in
from registry.services.gate_log import gate_log, go_live_record
from registry.signals import ai_switched

USE_CASE_FIELDS = (
    "title",
    "purpose",
    "business_unit",
    "owner",
    "people_affected",
    "decision_impact",
    "human_oversight",
    "next_review_date",
)
DATA_SOURCE_FIELDS = (
    "name",
    "description",
    "business_unit",
    "owner",
    "classification",
    "personal_data",
    "allowed_destination",
    "retention_days",
    "retention_notes",
)


def check_unit(actor, unit: BusinessUnit) -> None:
    if not units_user_can_register_in(actor).filter(pk=unit.pk).exists():
        raise ValidationError({"business_unit": f"You cannot register records in {unit}."})


def _check_review_date(use_case: UseCase, changed: bool) -> None:
    if changed and use_case.next_review_date and use_case.next_review_date < timezone.localdate():
        raise ValidationError({"next_review_date": "The next review date cannot be in the past."})


def _check_data_sources(use_case: UseCase, data_sources) -> None:
    """A use case may only use data sources of its own unit or ones shared with it."""
    foreign = [ds for ds in data_sources if ds.business_unit_id != use_case.business_unit_id]
    if foreign:
        names = ", ".join(ds.reference for ds in foreign)
        raise ValidationError(
            {"data_sources": f"{names} belong to another business unit; ask its owner to share."}
        )


# Use cases -----------------------------------------------------------------------------------
@transaction.atomic
def use_case_register(*, actor, data: dict, lifecycle: str | None = None) -> UseCase:
    require(actor, "registry.add_usecase")
    use_case = UseCase()
    assign_fields(use_case, data, USE_CASE_FIELDS)
    if lifecycle:
        use_case.lifecycle = lifecycle
    if use_case.business_unit_id:
        check_unit(actor, use_case.business_unit)
    use_case.reference = "UC-0000"  # placeholder so full_clean passes; numbered below
    use_case.full_clean()
    _check_review_date(use_case, changed=True)
    data_sources = list(data.get("data_sources") or [])
    _check_data_sources(use_case, data_sources)
    use_case.reference = next_reference("UC")
    save_with_history(
        use_case, actor=actor, reason="Registered", m2m={"data_sources": data_sources}
    )
    return use_case


@transaction.atomic
def use_case_update(*, actor, use_case: UseCase, data: dict, reason: str = "") -> UseCase:
    """Edit a use case. A material change (registry/changes.py) is announced after the save;
    the flags it raised are on the returned use case as ``flags_raised``."""
    use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
    require(actor, "registry.change_usecase", use_case)
    old_unit = use_case.business_unit_id
    before = material.snapshot_use_case(use_case)
    changed = assign_fields(use_case, data, USE_CASE_FIELDS)
    if use_case.business_unit_id != old_unit:
        check_unit(actor, use_case.business_unit)
    use_case.full_clean()
    _check_review_date(use_case, changed="next_review_date" in changed)
    current = list(use_case.data_sources.all())
    new_sources = list(data["data_sources"]) if "data_sources" in data else current
    # Checked on every edit: a move to another unit must not keep the old unit's data.
    _check_data_sources(use_case, new_sources)
    if {d.pk for d in new_sources} != {d.pk for d in current}:
        changed.append("data_sources")
    if not changed:
        return use_case
    reason = reason or "Edited " + ", ".join(f.replace("_", " ") for f in changed)
    m2m = {"data_sources": new_sources} if "data_sources" in changed else None
    save_with_history(use_case, actor=actor, reason=reason, m2m=m2m)
    raised = material.announce(
        actor=actor, changes=material.use_case_changes(use_case, before, new_sources)
    )
    if raised:  # the flags marked it for re-assessment: answer with that
        use_case.refresh_from_db()
    use_case.flags_raised = raised  # type: ignore[attr-defined]
    return use_case


# How a refusal by the gate begins (pages read the requirements that follow it).
GATE_NOT_MET = "The go-live gate is not met."


def available_transitions(use_case: UseCase, user) -> list[tuple[str, Transition]]:
    return workflow.available_transitions(LIFECYCLE_TRANSITIONS, use_case, user, state="lifecycle")


def use_case_transition(*, actor, use_case: UseCase, action: str, reason: str = "") -> UseCase:
    transition = workflow.get_transition(LIFECYCLE_TRANSITIONS, action)
    logged = None
    if transition.target == Lifecycle.PRODUCTION and use_case.lifecycle in transition.source:
        # Checked, and its answer logged, before the move: a refusal is kept in the log.
        require(actor, transition.rule, use_case)
        result = check_go_live(use_case, moving=True)
        logged = gate_log(result, actor, "transition")
        if not result.passed:
            raise ValidationError(
                {"action": [f"{GATE_NOT_MET} {r}" for r in result.as_dict()["reasons"]]}
            )
    return _use_case_transition(
        actor=actor, use_case=use_case, action=action, reason=reason, logged=logged
    )


@transaction.atomic
def _use_case_transition(
    *, actor, use_case: UseCase, action: str, reason: str, logged: GateCheck | None = None
) -> UseCase:
    use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
    transition = workflow.check_transition(
        LIFECYCLE_TRANSITIONS, action, use_case, actor, state="lifecycle"
    )
    result = None
    if transition.target == Lifecycle.PRODUCTION:
        # Asked again under the lock: something may have changed since the logged answer.
        result = check_go_live(use_case, moving=True)
        if not result.passed:
            raise ValidationError(
                {"action": [f"{GATE_NOT_MET} {r}" for r in result.as_dict()["reasons"]]}
            )
    reason = reason.strip()
    if transition.reason_required and not reason:
        raise ValidationError({"reason": f"Say why ({transition.label.lower()})."})
    before = use_case.get_lifecycle_display()
    lifecycle_from = use_case.lifecycle
    was_enabled = use_case.ai_enabled
    use_case.lifecycle = transition.target
    summary = f"{transition.label}: {before} → {use_case.get_lifecycle_display()}"
    save_with_history(use_case, actor=actor, reason=f"{summary}. {reason}".strip().rstrip("."))
    if result is not None:
        # The answer under the lock is the one the move rests on: it is what the record keeps.
        go_live_record(
            result,
            actor=actor,
            action=action,
            logged=logged,
            reason=reason,
            lifecycle_from=lifecycle_from,
            lifecycle_to=use_case.lifecycle,
        )
    if use_case.ai_enabled != was_enabled:
        # Suspending, resuming or retiring starts or stops the AI as surely as the kill
        # switch does: deployed systems hear of it the same way.
        ai_switched.send(
            sender=UseCase,
            actor=actor,
            use_case=use_case,
            reason=f"{summary}. {reason}".strip().rstrip("."),
        )
    return use_case


@transaction.atomic
def use_case_flag_for_reassessment(*, actor, use_case: UseCase, reason: str) -> UseCase:
    use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
    if actor is not None:
        require(actor, "registry.flag_usecase", use_case)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the use case needs re-assessment."})
    stamp = timezone.localdate().isoformat()
    line = f"{stamp}: {reason}"
    if line in use_case.reassessment_reasons.splitlines():
        return use_case
    use_case.needs_reassessment = True
    use_case.reassessment_reasons = keep_last(
        "\n".join(filter(None, [use_case.reassessment_reasons, line]))
    )
    save_with_history(use_case, actor=actor, reason=f"Flagged for re-assessment: {reason}")
    return use_case


@transaction.atomic
def use_case_clear_reassessment(
    *, actor, use_case: UseCase, reason: str, next_review_date: date | None = None
) -> UseCase:
    use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
    require(actor, "registry.flag_usecase", use_case)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say how the re-assessment was dealt with."})
    if next_review_date is not None:
        use_case.next_review_date = next_review_date
        _check_review_date(use_case, changed=True)
    elif use_case.next_review_date and use_case.next_review_date < timezone.localdate():
        # Otherwise the hourly job would flag it again at once.
        raise ValidationError({"next_review_date": "The review date has passed: set the next one."})
    use_case.needs_reassessment = False
    use_case.reassessment_reasons = ""
    save_with_history(use_case, actor=actor, reason=f"Re-assessment cleared: {reason}")
    return use_case


@transaction.atomic
def use_case_set_kill_switch(*, actor, use_case: UseCase, engaged: bool, reason: str) -> UseCase:
    use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
    require(actor, "registry.kill_switch_usecase", use_case)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the AI is switched off or on."})
    if use_case.kill_switch_engaged == engaged:
        return use_case
    use_case.kill_switch_engaged = engaged
    use_case.kill_switch_changed_at = timezone.now()
    verb = "Kill switch engaged (AI off)" if engaged else "Kill switch released (AI on)"
    save_with_history(use_case, actor=actor, reason=f"{verb}: {reason}")
    # Deployed systems and on-call tools hear of it (incidents sends signed webhooks).
    ai_switched.send(sender=UseCase, actor=actor, use_case=use_case, reason=reason)
    return use_case


@transaction.atomic
def use_case_record_risk_tier(
    *, actor, use_case: UseCase, tier: str, justification: str
) -> UseCase:
    """Record the EU AI Act tier decided outside the portal, with its justification."""
    use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
    require(actor, "registry.set_tier_usecase", use_case)
    if tier not in RiskTier.values:
        raise ValidationError({"tier": f"Choose one of: {', '.join(RiskTier.values)}."})
    justification = justification.strip()
    if not justification:
        raise ValidationError(
            {"reason": "Say what the tier rests on (e.g. the Annex III point or article)."}
        )
    if use_case.risk_tier == tier:
        return use_case
    before = use_case.get_risk_tier_display()
    use_case.risk_tier = tier
    use_case.risk_tier_basis = justification
    save_with_history(
        use_case,
        actor=actor,
        reason=f"Risk tier {before} → {use_case.get_risk_tier_display()}: {justification}",
    )
    return use_case


@transaction.atomic
def use_case_apply_screening(*, actor, use_case: UseCase, tier: str, basis: str, source: str):
    """Write a signed-off screening's tier to the use case.

    The signed-off assessment is the authority here, so no tier rule is asked of the person
    who signed it; ``source`` (e.g. "screening AS-0004") goes into the history.
    """
    use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
    if tier not in RiskTier.values:
        raise ValidationError({"tier": f"The screening gave an unknown tier {tier!r}."})
    if use_case.risk_tier == tier and use_case.risk_tier_basis == basis:
        return use_case
    before = use_case.get_risk_tier_display()
    use_case.risk_tier = tier
    use_case.risk_tier_basis = basis
    save_with_history(
        use_case,
        actor=actor,
        reason=f"Risk tier {before} → {use_case.get_risk_tier_display()} from {source}: {basis}",
    )
    return use_case


def flag_use_cases_past_review(*, today: date | None = None) -> int:
    """Mark every live use case whose review date has passed. Returns how many were flagged."""
    today = today or timezone.localdate()
    due = UseCase.objects.filter(next_review_date__lt=today, needs_reassessment=False).exclude(
        lifecycle="retired"
    )
    flagged = 0
    for use_case in due.iterator():
        assert use_case.next_review_date is not None  # the filter above needs one
        use_case_flag_for_reassessment(
            actor=None,
            use_case=use_case,
            reason=f"Review date {use_case.next_review_date.isoformat()} has passed",
        )
        flagged += 1
    return flagged


# Data sources --------------------------------------------------------------------------------
@transaction.atomic
def data_source_create(*, actor, data: dict) -> DataSource:
    require(actor, "registry.add_datasource")
    source = DataSource()
    assign_fields(source, data, DATA_SOURCE_FIELDS)
    if source.business_unit_id:
        check_unit(actor, source.business_unit)
    source.reference = "DS-0000"
    source.full_clean()
    source.reference = next_reference("DS")
    save_with_history(source, actor=actor, reason="Registered")
    return source


@transaction.atomic
def data_source_update(*, actor, data_source: DataSource, data: dict) -> DataSource:
    data_source = DataSource.objects.select_for_update().get(pk=data_source.pk)
    require(actor, "registry.change_datasource", data_source)
    old_unit = data_source.business_unit_id
    before = {
        "classification": data_source.classification,
        "personal_data": data_source.personal_data,
    }
    changed = assign_fields(data_source, data, DATA_SOURCE_FIELDS)
    if not changed:
        return data_source
    if data_source.business_unit_id != old_unit:
        check_unit(actor, data_source.business_unit)
        users = data_source.use_cases.exclude(business_unit_id=data_source.business_unit_id)
        if users.exists():
            refs = ", ".join(users.order_by("pk").values_list("reference", flat=True)[:10])
            raise ValidationError(
                {"business_unit": f"Use cases of its unit still use it ({refs}): unlink first."}
            )
    data_source.full_clean()
    save_with_history(
        data_source,
        actor=actor,
        reason="Edited " + ", ".join(f.replace("_", " ") for f in changed),
    )
    data_source.flags_raised = material.announce(  # type: ignore[attr-defined]
        actor=actor, changes=material.data_source_changes(data_source, before)
    )
    return data_source


# Business units ------------------------------------------------------------------------------
@transaction.atomic
def business_unit_create(*, actor, data: dict) -> BusinessUnit:
    require(actor, "registry.add_businessunit")
    unit = BusinessUnit(
        name=data.get("name", ""),
        code=data.get("code", ""),
        description=data.get("description", ""),
    )
    unit.full_clean()
    save_with_history(
        unit, actor=actor, reason="Created", m2m={"members": data.get("members") or []}
    )
    return unit


@transaction.atomic
def business_unit_update(*, actor, unit: BusinessUnit, data: dict) -> BusinessUnit:
    unit = BusinessUnit.objects.select_for_update().get(pk=unit.pk)
    require(actor, "registry.change_businessunit", unit)
    changed = assign_fields(unit, data, ("name", "code", "description"))
    unit.full_clean()
    m2m = None
    if "members" in data and {u.pk for u in data["members"]} != set(
        unit.members.values_list("pk", flat=True)
    ):
        m2m = {"members": data["members"]}
        changed.append("members")
    if changed:
        save_with_history(unit, actor=actor, reason="Edited " + ", ".join(changed), m2m=m2m)
    return unit
