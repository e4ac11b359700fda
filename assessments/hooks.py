"""What the assessments app adds to the portal and the registry below it, at start-up
(AssessmentsConfig.ready calls ``register_all``): its history records, the assessments card
of the use-case page, and the go-live gate's assessment requirements (a signed-off, unexpired
screening for every use case, a DPIA where personal data is processed, and an AI impact
assessment where the use case is high risk).
"""

from datetime import date

from django.urls import reverse

from assessments.models import Assessment, AssessmentTemplate, Kind, SignOff, Status
from assessments.selectors import assessments_visible_to, templates_visible_to
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


def _signed(context: GateContext) -> dict[str, Assessment]:
    """The latest signed-off assessment of each kind, in one query shared by the checks."""

    def read() -> dict[str, Assessment]:
        latest: dict[str, Assessment] = {}
        for a in (
            Assessment.objects.filter(use_case=context.use_case, status=Status.SIGNED_OFF)
            .select_related("sign_off_record__signed_by")
            .order_by("kind", "-version")
        ):
            latest.setdefault(a.kind, a)
        return latest

    return context.memo("signed_assessments", read)


def _evidence(signed: Assessment) -> dict:
    """The signed-off assessment a check rests on, with the hash of what was signed."""
    sign_off: SignOff | None = getattr(signed, "sign_off_record", None)
    return {
        "assessment": {
            "id": signed.pk,
            "reference": signed.reference,
            "kind": signed.kind,
            "version": signed.version,
            "valid_until": moment(signed.valid_until),
            # None only for an assessment marked signed off without the workflow's sign-off.
            "signed_by": person(sign_off.signed_by) if sign_off else None,
            "signed_at": moment(sign_off.signed_at) if sign_off else None,
            "sha256": sign_off.sha256 if sign_off else None,
        }
    }


def _assessment_check(
    signed: Assessment | None, key: str, label: str, applies: bool, why: str, today: date
) -> Check:
    if not applies:
        return Check(key, label, True, why, applies=False)
    if signed is None:
        return Check(key, label, False, f"No signed-off {label.lower()} yet. {why}")
    if signed.valid_until and signed.valid_until < today:
        return Check(
            key,
            label,
            False,
            f"{signed.reference} was valid until {signed.valid_until:%d %b %Y}: re-assess it.",
            evidence=_evidence(signed),
        )
    detail = f"{signed.reference} signed off"
    if signed.valid_until:
        detail += f", valid until {signed.valid_until:%d %b %Y}"
    return Check(key, label, True, detail + ".", evidence=_evidence(signed))


def screening_check(context: GateContext) -> Check:
    return _assessment_check(
        _signed(context).get(Kind.SCREENING),
        "screening",
        "Risk screening",
        True,
        "Every use case is screened under the EU AI Act.",
        context.today,
    )


def dpia_check(context: GateContext) -> Check:
    personal = [s for s in context.sources if s.personal_data]
    return _assessment_check(
        _signed(context).get(Kind.DPIA),
        "dpia",
        "DPIA",
        bool(personal),
        f"It processes personal data ({', '.join(s.reference for s in personal)})."
        if personal
        else "No personal data: no DPIA needed.",
        context.today,
    )


def impact_check(context: GateContext) -> Check:
    high = context.use_case.risk_tier == RiskTier.HIGH
    return _assessment_check(
        _signed(context).get(Kind.IMPACT),
        "impact",
        "AI impact assessment",
        high,
        "It is high risk." if high else "Not high risk: not needed.",
        context.today,
    )


def _fix_assessment(kind: str):
    """Where a missing assessment is put right: the latest of its kind (to continue it, or to
    re-assess an expired one), or the page that starts one."""

    def fix(use_case: UseCase, check: Check) -> list[Fix]:
        latest = (
            Assessment.objects.filter(use_case=use_case, kind=kind).order_by("-version").first()
        )
        if latest is not None:
            return [
                Fix(
                    f"{latest.reference} ({latest.get_status_display().lower()})",
                    latest.get_absolute_url(),
                )
            ]
        url = reverse("assessments:start", args=[use_case.pk]) + f"?kind={kind}"
        return [Fix(f"Start the {check.label.lower()}", url)]

    return fix


def _use_case_card(user, use_case, context: dict) -> dict:
    # Every assessment of the use case the person may see is one they may read.
    return {
        "assessments": use_case.assessments.select_related("template").order_by("kind", "-version"),
        "can_assess": can(user, "assessments.add_assessment", use_case),
    }


def _signoff_subject(signoff: SignOff) -> tuple[str, int | None]:
    assessment = signoff.assessment
    return f"assessments.assessment:{assessment.pk}", assessment.use_case_id


def register_all() -> None:
    """What the assessments app adds to the apps below it, at start-up."""
    ledger.register(SignOff, kind="signoff", subject=_signoff_subject)
    register_gate_check(screening_check, order=20)
    register_gate_check(dpia_check, order=40)
    register_gate_check(impact_check, order=50)
    for kind, key in ((Kind.SCREENING, "screening"), (Kind.DPIA, "dpia"), (Kind.IMPACT, "impact")):
        register_gate_fix(key, _fix_assessment(kind))
    use_case_panels.register("assessments/_use_case_assessments.html", _use_case_card, order=10)
    history.register(
        Assessment, rule="assessments.view_assessment", selector=assessments_visible_to
    )
    history.register(
        AssessmentTemplate, rule="assessments.view_template", selector=templates_visible_to
    )
