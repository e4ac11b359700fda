"""What the compliance app adds to the apps below it, at start-up (ComplianceConfig.ready calls
``register_all``): its records in the history browser, the obligations card of the use-case
page, the go-live gate's obligations check, and the recomputation of a use case's
applicability when its screening is signed off or its tier, lifecycle or people affected
change (Django's model signals on the registry's and assessments' models: neither app knows
this one).
"""

from django.db.models.signals import post_init, post_save
from django.urls import reverse

from assessments.models import Assessment, Kind
from assessments.models import Status as AssessmentStatus
from compliance.models import (
    Applicability,
    Control,
    Evidence,
    Exclusion,
    Framework,
    ObligationException,
    SignedStatement,
    Status,
)
from compliance.selectors import (
    applicability_visible_to,
    controls_visible_to,
    evidence_visible_to,
    frameworks_visible_to,
    obligations_visible_to,
    use_case_obligations,
)
from compliance.services.applicability import applicability_compute, statuses_refresh
from portal import ledger
from portal.access import can
from portal.history import tracked as history
from registry.gate import (
    Check,
    Fix,
    GateContext,
    moment,
    person,
    register_gate_check,
    register_gate_fix,
)
from registry.models import RiskTier, UseCase
from registry.pages import use_case_panels

GATE_LABEL = "Applicable obligations met or accepted by a named risk officer"

# What the applicability of a use case reads of it; a change to any of them recomputes it.
_WATCHED = ("risk_tier", "lifecycle", "people_affected")
_LABELS = {"risk_tier": "tier", "lifecycle": "lifecycle", "people_affected": "people affected"}


def _snapshot(instance) -> tuple | None:
    # From __dict__: a use case read with only some fields must not load the rest here.
    values = instance.__dict__
    if not all(name in values for name in _WATCHED):
        return None
    return tuple(tuple(values[n]) if isinstance(values[n], list) else values[n] for n in _WATCHED)


def _remember_use_case(sender, instance: UseCase, **kwargs) -> None:
    instance._compliance_seen = _snapshot(instance)  # type: ignore[attr-defined]


def _use_case_saved(sender, instance: UseCase, created: bool, **kwargs) -> None:
    before = getattr(instance, "_compliance_seen", None)
    now = _snapshot(instance)
    instance._compliance_seen = now  # type: ignore[attr-defined]
    if created or before is None or now is None or before == now:
        return
    changes = [
        f"{_LABELS[name]} {_show(old)} → {_show(new)}"
        for name, old, new in zip(_WATCHED, before, now, strict=True)
        if old != new
    ]
    applicability_compute(
        use_cases=[instance],
        why="Use case changed (" + "; ".join(changes) + ")",
        actor=getattr(instance, "_history_user", None),
    )


def _show(value) -> str:
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    return str(value)


def _remember_assessment(sender, instance: Assessment, **kwargs) -> None:
    values = instance.__dict__
    instance._compliance_seen = (  # type: ignore[attr-defined]
        values.get("status"),
        values.get("tier_override"),
    )


def _assessment_saved(sender, instance: Assessment, created: bool, **kwargs) -> None:
    before = getattr(instance, "_compliance_seen", None)
    now = (instance.status, instance.tier_override)
    instance._compliance_seen = now  # type: ignore[attr-defined]
    if instance.status != AssessmentStatus.SIGNED_OFF:
        return
    if before == now and not created:
        return
    if instance.kind != Kind.SCREENING:
        # Another assessment signed off may meet an obligation (Art. 27: the FRIA).
        statuses_refresh(
            why=f"{instance.reference} signed off",
            actor=getattr(instance, "_history_user", None),
            use_case_ids=[instance.use_case_id],
        )
        return
    why = (
        f"Screening {instance.reference} signed off"
        if created or before is None or before[0] != AssessmentStatus.SIGNED_OFF
        else f"Screening {instance.reference}: tier overridden"
    )
    use_case = UseCase.objects.get(pk=instance.use_case_id)
    applicability_compute(
        use_cases=[use_case], why=why, actor=getattr(instance, "_history_user", None)
    )


# The go-live gate ---------------------------------------------------------------------------
def _rows(use_case: UseCase) -> list:
    # Nothing is computed before the screening sets a tier: no query for those.
    if use_case.risk_tier in ("", RiskTier.UNSCREENED):
        return []
    return use_case_obligations(use_case)


def obligations_check(context: GateContext) -> Check:
    rows = [r for r in _rows(context.use_case) if r.applicable]
    if not rows:
        return Check(
            "obligations",
            GATE_LABEL,
            True,
            "No obligation applies yet (computed when the screening is signed off).",
            applies=False,
        )
    missing, accepted = [], []
    for row in rows:
        if row.status == Status.MET:
            continue
        exc = row.live_exception
        if exc is not None and exc.expires_on >= context.today:
            accepted.append(
                {
                    "obligation": row.obligation.ref,
                    "accepted_by": person(exc.accepted_by),
                    "reason": exc.reason,
                    "expires_on": moment(exc.expires_on),
                }
            )
            continue
        missing.append(f"{row.obligation.ref} {row.obligation.title} ({row.get_status_display()})")
    evidence = {
        "applicable": len(rows),
        "met": sum(1 for r in rows if r.status == Status.MET),
        "accepted": accepted,
    }
    if missing:
        return Check(
            "obligations",
            GATE_LABEL,
            False,
            f"{len(missing)} of {len(rows)} not met: " + "; ".join(missing),
            items=missing,
            evidence=evidence,
        )
    detail = f"All {len(rows)} met"
    if accepted:
        detail += f", {len(accepted)} of them accepted by a risk officer until they expire"
    return Check("obligations", GATE_LABEL, True, detail + ".", evidence=evidence)


def _fix_obligations(use_case: UseCase, check: Check) -> list[Fix]:
    url = reverse("compliance:use-case-obligations", args=[use_case.pk])
    return [Fix("Obligations and their evidence", url)]


def _use_case_card(user, use_case: UseCase, context: dict) -> dict:
    rows = _rows(use_case)
    applicable = [r for r in rows if r.applicable]
    met = sum(1 for r in applicable if r.status == Status.MET)
    return {
        "compliance_rows": applicable,
        "compliance_not_applicable": len(rows) - len(applicable),
        "compliance_met": met,
        "compliance_percent": round(100 * met / len(applicable)) if applicable else None,
        "compliance_computed": bool(rows),
        "compliance_can_accept": can(user, "compliance.accept_exception", use_case),
    }


def _statement_subject(signed: SignedStatement) -> tuple[str, int | None]:
    if signed.use_case_id is not None:
        return f"registry.usecase:{signed.use_case_id}", signed.use_case_id
    return f"compliance.framework:{signed.framework_id}", None


def register_all() -> None:
    ledger.register(SignedStatement, kind="soa", subject=_statement_subject)
    post_init.connect(_remember_use_case, sender=UseCase, dispatch_uid="compliance.uc_init")
    post_save.connect(_use_case_saved, sender=UseCase, dispatch_uid="compliance.uc_saved")
    post_init.connect(_remember_assessment, sender=Assessment, dispatch_uid="compliance.as_init")
    post_save.connect(_assessment_saved, sender=Assessment, dispatch_uid="compliance.as_saved")
    register_gate_check(obligations_check, order=110)
    register_gate_fix("obligations", _fix_obligations)
    use_case_panels.register("compliance/_use_case_obligations.html", _use_case_card, order=15)
    history.register(Framework, rule="compliance.view_framework", selector=frameworks_visible_to)
    history.register(Exclusion, rule="compliance.view_framework", selector=_exclusions_visible_to)
    history.register(Control, rule="compliance.view_control", selector=controls_visible_to)
    history.register(Evidence, rule="compliance.view_evidence", selector=evidence_visible_to)
    history.register(
        Applicability, rule="compliance.view_applicability", selector=applicability_visible_to
    )
    history.register(
        ObligationException,
        rule="compliance.view_applicability",
        selector=_exceptions_visible_to,
    )


def _exclusions_visible_to(user):
    return Exclusion.objects.filter(obligation__in=obligations_visible_to(user).values("pk"))


def _exceptions_visible_to(user):
    return ObligationException.objects.filter(
        applicability__in=applicability_visible_to(user).values("pk")
    )
