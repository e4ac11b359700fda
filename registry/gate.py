"""The go-live gate and the data policy: what must hold before a use case reaches production.

One function answers for the use-case page, the lifecycle move, a deployment to production
and the API a CI/CD pipeline calls, so they can never disagree.
"""

from dataclasses import asdict, dataclass, field
from datetime import date

from django.conf import settings
from django.utils import timezone

from registry.models import (
    AIModel,
    ApprovalStatus,
    Classification,
    DataPolicyException,
    DataSource,
    DecisionImpact,
    Deployment,
    Destination,
    Environment,
    HumanOversight,
    RiskTier,
    UseCase,
)

# How far data travels, nearest first; a source allowing a destination allows those before it.
REACH = [Destination.ON_PREMISES, Destination.PRIVATE_VPC, Destination.EXTERNAL_API]
NEVER_EXTERNAL = {Classification.RESTRICTED, Classification.SPECIAL_CATEGORY}


# Data policy -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Breach:
    data_source: DataSource
    model: AIModel
    reason: str
    exception: DataPolicyException | None = None

    @property
    def excused(self) -> bool:
        return self.exception is not None

    def as_dict(self) -> dict:
        return {
            "data_source": self.data_source.reference,
            "model": self.model.reference,
            "reason": self.reason,
            "exception": (
                {
                    "approved_by": self.exception.approved_by.username,
                    "expires_on": self.exception.expires_on.isoformat(),
                }
                if self.exception
                else None
            ),
        }


def policy_problem(source: DataSource, model: AIModel) -> str:
    """Why this source's data may not go to this model, or "" if it may."""
    goes_to = model.data_destination
    if source.classification in NEVER_EXTERNAL and goes_to == Destination.EXTERNAL_API:
        return (
            f"{source.reference} is {source.get_classification_display().lower()}: it never "
            f"goes to an external API, and {model.name} is one."
        )
    if REACH.index(goes_to) > REACH.index(source.allowed_destination):
        return (
            f"{source.reference} may go no further than "
            f"{source.get_allowed_destination_display().lower()}; {model.name} sends data to "
            f"{Destination(goes_to).label.lower()}."
        )
    return ""


def data_policy_breaches(use_case: UseCase, today: date | None = None) -> list[Breach]:
    """Each (data source, model) pair of the use case that breaks the policy.

    The models are those deployed for the use case and those approved for it. A breach with
    an exception that has not expired is still listed, marked as excused.
    """
    today = today or timezone.localdate()
    sources = list(use_case.data_sources.all())
    models = {
        d.model_version.model
        for d in use_case.deployments.filter(active=True).select_related("model_version__model")
    } | {a.model for a in use_case.model_approvals.select_related("model")}
    exceptions = {
        (e.data_source_id, e.model_id): e
        for e in use_case.data_policy_exceptions.filter(expires_on__gte=today).select_related(
            "approved_by"
        )
    }
    breaches = []
    for model in sorted(models, key=lambda m: m.pk):
        for source in sources:
            problem = policy_problem(source, model)
            if problem:
                breaches.append(
                    Breach(source, model, problem, exceptions.get((source.pk, model.pk)))
                )
    return breaches


# The gate ----------------------------------------------------------------------------------
@dataclass
class Check:
    key: str
    label: str
    holds: bool
    detail: str
    applies: bool = True
    items: list[str] = field(default_factory=list)


@dataclass
class GateResult:
    use_case: UseCase
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.holds for c in self.checks if c.applies)

    @property
    def missing(self) -> list[Check]:
        return [c for c in self.checks if c.applies and not c.holds]

    def as_dict(self) -> dict:
        return {
            "use_case": self.use_case.reference,
            "passed": self.passed,
            "checks": [asdict(c) for c in self.checks],
            "reasons": [f"{c.label}: {c.detail}" for c in self.missing],
        }


def _signed(use_case: UseCase) -> dict:
    """The latest signed-off assessment of each kind, in one query."""
    from assessments.models import Assessment, Status

    latest: dict = {}
    for a in Assessment.objects.filter(use_case=use_case, status=Status.SIGNED_OFF).order_by(
        "kind", "-version"
    ):
        latest.setdefault(a.kind, a)
    return latest


def _assessment_check(signed_by_kind, kind, key, label, applies, why, today) -> Check:
    signed = signed_by_kind.get(kind)
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
        )
    detail = f"{signed.reference} signed off"
    if signed.valid_until:
        detail += f", valid until {signed.valid_until:%d %b %Y}"
    return Check(key, label, True, detail + ".")


def check_go_live(
    use_case: UseCase, today: date | None = None, *, moving: bool = False
) -> GateResult:
    """Every requirement of the use case's tier, and whether it holds.

    ``moving`` is set when the question is the lifecycle move itself (going live, or
    resuming a suspended use case), which is how a suspended one comes back into service.
    """
    today = today or timezone.localdate()
    sources = list(use_case.data_sources.all())
    personal = [s for s in sources if s.personal_data]
    tier = use_case.risk_tier
    signed = _signed(use_case)
    deployed = _deployed(use_case)
    checks = [
        _service_check(use_case, moving),
        _assessment_check(
            signed,
            "screening",
            "screening",
            "Risk screening",
            True,
            "Every use case is screened under the EU AI Act.",
            today,
        ),
        Check(
            "not_prohibited",
            "Not a prohibited practice",
            tier != RiskTier.PROHIBITED,
            "The screening found a practice Article 5 prohibits."
            if tier == RiskTier.PROHIBITED
            else f"Tier: {use_case.get_risk_tier_display()}.",
        ),
        _assessment_check(
            signed,
            "dpia",
            "dpia",
            "DPIA",
            bool(personal),
            f"It processes personal data ({', '.join(s.reference for s in personal)})."
            if personal
            else "No personal data: no DPIA needed.",
            today,
        ),
        _assessment_check(
            signed,
            "impact",
            "impact",
            "AI impact assessment",
            tier == RiskTier.HIGH,
            "It is high risk." if tier == RiskTier.HIGH else "Not high risk: not needed.",
            today,
        ),
        _models_check(use_case, deployed),
        _cards_check(deployed),
        _policy_check(use_case, today),
        _oversight_check(use_case),
        _runbook_check(use_case, today),
    ]
    return GateResult(use_case, checks)


def _service_check(use_case: UseCase, moving: bool) -> Check:
    label = "In service: not suspended, retired or switched off"
    if use_case.kill_switch_engaged:
        return Check("in_service", label, False, "The kill switch is engaged: the AI is off.")
    if use_case.lifecycle == "retired" or (use_case.lifecycle == "suspended" and not moving):
        return Check(
            "in_service",
            label,
            False,
            f"It is {use_case.get_lifecycle_display().lower()}; resume it first.",
        )
    return Check("in_service", label, True, f"Lifecycle: {use_case.get_lifecycle_display()}.")


def _deployed(use_case: UseCase) -> list[Deployment]:
    return list(
        use_case.deployments.filter(active=True)
        .select_related("model_version__model", "model_version__card")
        .order_by("pk")
    )


def _models_check(use_case: UseCase, deployed: list[Deployment]) -> Check:
    approved_for = set(use_case.model_approvals.values_list("model_id", flat=True))
    problems = []
    for d in deployed:
        model = d.model_version.model
        if model.approval_status != ApprovalStatus.APPROVED:
            problems.append(f"{model.name} is {model.get_approval_status_display().lower()}.")
        elif model.pk not in approved_for:
            problems.append(f"{model.name} is not approved for {use_case.reference}.")
    if not deployed:
        return Check("models", "Deployed models approved", False, "No model is deployed yet.")
    if problems:
        return Check(
            "models", "Deployed models approved", False, " ".join(problems), items=problems
        )
    names = ", ".join(sorted({d.model_version.model.name for d in deployed}))
    return Check("models", "Deployed models approved", True, f"Approved: {names}.")


def _cards_check(deployed: list[Deployment]) -> Check:
    threshold = settings.MODEL_CARD_MIN_COMPLETENESS
    short = []
    for d in deployed:
        card = getattr(d.model_version, "card", None)
        done = card.completeness if card else 0
        if done < threshold:
            short.append(f"{d.model_version}: {done}%")
    label = f"Model cards at least {threshold}% complete"
    if short:
        return Check("cards", label, False, "Below the threshold: " + "; ".join(short), items=short)
    return Check("cards", label, True, "Every deployed version's card is complete enough.")


def _policy_check(use_case: UseCase, today: date) -> Check:
    breaches = data_policy_breaches(use_case, today)
    open_ = [b for b in breaches if not b.excused]
    if open_:
        return Check(
            "data_policy",
            "Data policy clean",
            False,
            " ".join(b.reason for b in open_),
            items=[b.reason for b in open_],
        )
    excused = [b for b in breaches if b.excused]
    detail = (
        "Allowed by recorded exceptions: "
        + "; ".join(
            f"{b.data_source.reference} → {b.model.name} until {b.exception.expires_on:%d %b %Y}"
            for b in excused
        )
        if excused
        else "Every data source may go where its models send it."
    )
    return Check("data_policy", "Data policy clean", True, detail)


def _oversight_check(use_case: UseCase) -> Check:
    automatic = use_case.decision_impact == DecisionImpact.AUTOMATIC
    label = "Human-in-the-loop rule for automatic decisions"
    if not automatic:
        return Check("oversight", label, True, "It does not decide automatically.", applies=False)
    if use_case.human_oversight == HumanOversight.NONE:
        return Check("oversight", label, False, "It decides automatically with no human review.")
    return Check("oversight", label, True, f"Rule: {use_case.get_human_oversight_display()}.")


def _runbook_check(use_case: UseCase, today: date) -> Check:
    # Imported here: the incidents services import the registry's, which import this module.
    from incidents.services.runbooks import runbook_is_current

    holds, detail = runbook_is_current(use_case, today)
    return Check("runbook", "A current runbook", holds, detail)


def deployment_goes_to_production(environment: str) -> bool:
    return environment == Environment.PRODUCTION
