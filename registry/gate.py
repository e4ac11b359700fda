"""The go-live gate and the data policy: what must hold before a use case reaches production.

One function answers for the use-case page, the lifecycle move, a deployment to production
and the API a CI/CD pipeline calls, so they can never disagree.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from registry import release_policy
from registry.models import (
    AIModel,
    ApprovalStatus,
    Classification,
    DataPolicyException,
    DataSource,
    DecisionImpact,
    Deployment,
    Destination,
    EvaluationFinding,
    EvaluationRecord,
    FindingStatus,
    HumanOversight,
    ModelApproval,
    RiskTier,
    UseCase,
)

# How far data travels, nearest first; a source allowing a destination allows those before it.
REACH: list[str] = [Destination.ON_PREMISES, Destination.PRIVATE_VPC, Destination.EXTERNAL_API]
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


def data_policy_breaches(
    use_case: UseCase,
    today: date | None = None,
    *,
    deployed: list[Deployment] | None = None,
    approvals: list[ModelApproval] | None = None,
) -> list[Breach]:
    """Each (data source, model) pair of the use case that breaks the policy.

    The models are those deployed for the use case and those approved for it. A breach with
    an exception that has not expired is still listed, marked as excused. ``deployed`` (its
    active deployments) and ``approvals`` save their queries when the caller has read them.
    """
    today = today or timezone.localdate()
    sources = list(use_case.data_sources.all())
    if deployed is None:
        deployed = list(
            use_case.deployments.filter(active=True).select_related("model_version__model")
        )
    if approvals is None:
        approvals = list(use_case.model_approvals.select_related("model"))
    models = {d.model_version.model for d in deployed} | {a.model for a in approvals}
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
    # What the answer rests on (the signed-off assessment, the approvals, the runbook), as
    # plain JSON, so the go-live record keeps it without reading the apps that know it.
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Fix:
    """A link to the page where a missing requirement is put right."""

    text: str
    url: str


def person(user) -> dict | None:
    """Who someone is, as a check's evidence keeps it: id, username and name."""
    if user is None:
        return None
    return {"id": user.pk, "username": user.username, "name": user.get_full_name() or user.username}


def moment(value) -> str | None:
    """A date or time as evidence keeps it (ISO 8601), or None."""
    return value.isoformat() if value is not None else None


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

    @property
    def rows(self) -> list[tuple[Check, list[Fix]]]:
        """Each check with where to put it right, for the pages (only a missing one has any)."""
        return [
            (c, where_to_fix(self.use_case, c) if c.applies and not c.holds else [])
            for c in self.checks
        ]

    def as_dict(self) -> dict:
        return {
            "use_case": self.use_case.reference,
            "passed": self.passed,
            "checks": [asdict(c) for c in self.checks],
            "reasons": [f"{c.label}: {c.detail}" for c in self.missing],
        }


@dataclass
class GateContext:
    """What every check of one gate question reads: the use case, the day, whether the
    question is the move itself, and what several checks share (read once, see ``memo``)."""

    use_case: UseCase
    today: date
    moving: bool = False
    _memo: dict = field(default_factory=dict, repr=False)

    def memo(self, key: str, read: Callable[[], Any]) -> Any:
        """``read()`` once per gate question; later checks asking for ``key`` share it."""
        if key not in self._memo:
            self._memo[key] = read()
        return self._memo[key]

    @property
    def sources(self) -> list[DataSource]:
        return self.memo("sources", lambda: list(self.use_case.data_sources.all()))

    @property
    def deployed(self) -> list[Deployment]:
        return self.memo("deployed", lambda: _deployed(self.use_case))

    @property
    def approvals(self) -> list[ModelApproval]:
        """The models approved for the use case, by whom and when."""
        return self.memo(
            "approvals",
            lambda: list(self.use_case.model_approvals.select_related("model", "approved_by")),
        )


GateCheckFn = Callable[[GateContext], Check]
_CHECKS: list[tuple[int, GateCheckFn]] = []


FixFn = Callable[[UseCase, Check], list[Fix]]
_FIXES: dict[str, FixFn] = {}


def register_gate_fix(key: str, fix: FixFn) -> FixFn:
    """Say where the check ``key`` is put right when it is missing (the pages link there).

    Kept apart from the check and its result: a result is logged and kept with go-live
    records, and where a page lives is no part of what the gate said.
    """
    _FIXES[key] = fix
    return fix


def where_to_fix(use_case: UseCase, check: Check) -> list[Fix]:
    fix = _FIXES.get(check.key)
    return fix(use_case, check) if fix else []


def register_gate_check(check: GateCheckFn, *, order: int) -> GateCheckFn:
    """Add a requirement to the go-live gate; checks are asked in ``order``.

    The registry's own checks are registered below; apps above it (assessments, incidents)
    register theirs at start-up, so the gate asks them without importing them.
    """
    if all(existing is not check for _, existing in _CHECKS):
        _CHECKS.append((order, check))
        _CHECKS.sort(key=lambda pair: pair[0])
    return check


def gate_checks() -> list[GateCheckFn]:
    return [check for _, check in _CHECKS]


def check_go_live(
    use_case: UseCase, today: date | None = None, *, moving: bool = False
) -> GateResult:
    """Every requirement of the use case's tier, and whether it holds.

    ``moving`` is set when the question is the lifecycle move itself (going live, or
    resuming a suspended use case), which is how a suspended one comes back into service.
    """
    context = GateContext(use_case, today or timezone.localdate(), moving)
    return GateResult(use_case, [check(context) for check in gate_checks()])


def _service_check(context: GateContext) -> Check:
    use_case, moving = context.use_case, context.moving
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
        .select_related("model_version__model__approved_by", "model_version__card")
        .order_by("pk")
    )


def _approval_evidence(deployment: Deployment, approval: ModelApproval | None) -> dict:
    """A deployed model's approval, firm-wide and for this use case, as the gate saw it."""
    version = deployment.model_version
    model = version.model
    return {
        "deployment": deployment.pk,
        "environment": deployment.environment,
        "traffic_share": deployment.traffic_share,
        "model": {"id": model.pk, "reference": model.reference, "name": model.name},
        "version": {"id": version.pk, "version": version.version},
        "status": model.approval_status,
        "approved_by": person(model.approved_by),
        "approved_at": moment(model.approved_at),
        "approval_note": model.approval_note,
        "use_case_approval": (
            {
                "id": approval.pk,
                "approved_by": person(approval.approved_by),
                "approved_at": moment(approval.approved_at),
                "note": approval.note,
            }
            if approval is not None
            else None
        ),
    }


def _models_check(context: GateContext) -> Check:
    use_case, deployed = context.use_case, context.deployed
    approved_for = {a.model_id: a for a in context.approvals}
    evidence = {
        "models": [
            _approval_evidence(d, approved_for.get(d.model_version.model_id)) for d in deployed
        ]
    }
    problems = []
    for d in deployed:
        model = d.model_version.model
        if model.approval_status != ApprovalStatus.APPROVED:
            problems.append(f"{model.name} is {model.get_approval_status_display().lower()}.")
        elif model.pk not in approved_for:
            problems.append(f"{model.name} is not approved for {use_case.reference}.")
    label = "Deployed models approved"
    if not deployed:
        return Check("models", label, False, "No model is deployed yet.", evidence=evidence)
    if problems:
        return Check("models", label, False, " ".join(problems), items=problems, evidence=evidence)
    names = ", ".join(sorted({d.model_version.model.name for d in deployed}))
    return Check("models", label, True, f"Approved: {names}.", evidence=evidence)


def _cards_check(context: GateContext) -> Check:
    deployed = context.deployed
    threshold = settings.MODEL_CARD_MIN_COMPLETENESS
    short, cards = [], []
    for d in deployed:
        card = getattr(d.model_version, "card", None)
        done = card.completeness if card else 0
        cards.append({"version": d.model_version_id, "name": str(d.model_version), "percent": done})
        if done < threshold:
            short.append(f"{d.model_version}: {done}%")
    label = f"Model cards at least {threshold}% complete"
    evidence = {"cards": cards, "threshold": threshold}
    if not deployed:
        return Check(
            "cards", label, True, "Nothing is deployed yet: no card to check.", applies=False
        )
    if short:
        return Check(
            "cards",
            label,
            False,
            "Below the threshold: " + "; ".join(short),
            items=short,
            evidence=evidence,
        )
    return Check(
        "cards", label, True, "Every deployed version's card is complete enough.", evidence=evidence
    )


def _policy_check(context: GateContext) -> Check:
    if not context.deployed and not context.approvals:
        return Check(
            "data_policy",
            "Data policy clean",
            True,
            "No model is deployed or approved yet: nothing to check.",
            applies=False,
        )
    breaches = data_policy_breaches(
        context.use_case, context.today, deployed=context.deployed, approvals=context.approvals
    )
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
            if b.exception is not None  # always so: that is what excused means
        )
        if excused
        else "Every data source may go where its models send it."
    )
    return Check("data_policy", "Data policy clean", True, detail)


def _oversight_check(context: GateContext) -> Check:
    use_case = context.use_case
    automatic = use_case.decision_impact == DecisionImpact.AUTOMATIC
    label = "Human-in-the-loop rule for automatic decisions"
    if not automatic:
        return Check("oversight", label, True, "It does not decide automatically.", applies=False)
    if use_case.human_oversight == HumanOversight.NONE:
        return Check("oversight", label, False, "It decides automatically with no human review.")
    return Check("oversight", label, True, f"Rule: {use_case.get_human_oversight_display()}.")


def _tier_check(context: GateContext) -> Check:
    use_case = context.use_case
    prohibited = use_case.risk_tier == RiskTier.PROHIBITED
    return Check(
        "not_prohibited",
        "Not a prohibited practice",
        not prohibited,
        "The screening found a practice Article 5 prohibits."
        if prohibited
        else f"Tier: {use_case.get_risk_tier_display()}.",
    )


def _evaluations_check(context: GateContext) -> Check:
    """What the tier's release policy asks of each deployed version's evaluation records: an
    evaluation, a passing fairness evaluation on the named protected groups, and no open
    finding at the blocking severity."""
    policy = release_policy.policy_for(context.use_case.risk_tier)
    label = "Evaluations the tier requires"
    asks = policy.require_evaluation or policy.require_fairness or policy.blocking_severity
    versions = {d.model_version_id: d.model_version for d in context.deployed}
    evidence: dict = {
        "tier": policy.tier,
        "protected_groups": list(policy.protected_groups) if policy.require_fairness else [],
        "versions": [],
    }
    if not asks or not versions:
        # Nothing to check is not a check passed: neither shows as a tick.
        detail = (
            "Nothing is deployed yet: no evaluation to check."
            if asks
            else "The tier asks for no evaluation."
        )
        return Check("evaluations", label, True, detail, applies=False, evidence=evidence)
    # Read once for every deployed version, so the gate's queries do not grow with them.
    evaluations: dict[int, list] = {pk: [] for pk in versions}
    for record in EvaluationRecord.objects.filter(model_version_id__in=versions).order_by(
        "-ran_at", "-pk"
    ):
        evaluations[record.model_version_id].append(record)
    findings: dict[int, list] = {pk: [] for pk in versions}
    for finding in EvaluationFinding.objects.filter(
        model_version_id__in=versions, status=FindingStatus.OPEN
    ).order_by("pk"):
        findings[finding.model_version_id].append(finding)
    problems: list[str] = []
    for version in versions.values():
        found = release_policy.evaluation_problems(
            version,
            policy,
            evaluations=evaluations[version.pk],
            open_findings=findings[version.pk],
        )
        latest = next(iter(evaluations[version.pk]), None)
        evidence["versions"].append(
            {
                "version": {"id": version.pk, "version": version.version},
                "evaluation": (
                    {"id": latest.pk, "name": latest.name, "ran_at": moment(latest.ran_at)}
                    if latest
                    else None
                ),
                "problems": found,
            }
        )
        problems += found
    if problems:
        return Check(
            "evaluations", label, False, " ".join(problems), items=problems, evidence=evidence
        )
    return Check(
        "evaluations", label, True, "Every deployed version meets them.", evidence=evidence
    )


# Where each of the registry's requirements is put right ------------------------------------
def _use_case_page(use_case: UseCase, anchor: str) -> str:
    return f"{use_case.get_absolute_url()}#{anchor}"


def _fix_service(use_case: UseCase, check: Check) -> list[Fix]:
    if use_case.kill_switch_engaged:
        url = reverse("registry:use-case-kill-switch", args=[use_case.pk])
        return [Fix("Switch the AI back on", url)]
    if use_case.lifecycle == "suspended":
        return [Fix("Resume it (Lifecycle)", _use_case_page(use_case, "h-lifecycle"))]
    return []


def _fix_tier(use_case: UseCase, check: Check) -> list[Fix]:
    return [Fix("Review the risk tier", _use_case_page(use_case, "h-tier"))]


def _fix_models(use_case: UseCase, check: Check) -> list[Fix]:
    return [Fix("Approve or deploy a model (Models)", _use_case_page(use_case, "h-models"))]


def _fix_cards(use_case: UseCase, check: Check) -> list[Fix]:
    threshold = check.evidence.get("threshold", 0)
    return [
        Fix(
            f"Complete the card of {card['name']}",
            reverse("registry:model-version-detail", args=[card["version"]]) + "#h-edit",
        )
        for card in check.evidence.get("cards", [])
        if card["percent"] < threshold
    ]


def _fix_evaluations(use_case: UseCase, check: Check) -> list[Fix]:
    return [
        Fix(
            f"Evaluations of version {v['version']['version']}",
            reverse("registry:model-version-detail", args=[v["version"]["id"]]),
        )
        for v in check.evidence.get("versions", [])
        if v["problems"]
    ]


def _fix_policy(use_case: UseCase, check: Check) -> list[Fix]:
    return [Fix("Data policy breaches and exceptions", _use_case_page(use_case, "h-policy"))]


def _fix_oversight(use_case: UseCase, check: Check) -> list[Fix]:
    url = reverse("registry:use-case-edit", args=[use_case.pk])
    return [Fix("Set the human-in-the-loop rule", url)]


register_gate_fix("in_service", _fix_service)
register_gate_fix("not_prohibited", _fix_tier)
register_gate_fix("models", _fix_models)
register_gate_fix("cards", _fix_cards)
register_gate_fix("evaluations", _fix_evaluations)
register_gate_fix("data_policy", _fix_policy)
register_gate_fix("oversight", _fix_oversight)

# The registry's own requirements; assessments (20, 40, 50) and incidents (100) add theirs.
register_gate_check(_service_check, order=10)
register_gate_check(_tier_check, order=30)
register_gate_check(_models_check, order=60)
register_gate_check(_cards_check, order=70)
register_gate_check(_evaluations_check, order=75)
register_gate_check(_policy_check, order=80)
register_gate_check(_oversight_check, order=90)
