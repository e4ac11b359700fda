"""What a release of a model version needs, read once for the services, the rules, the gate
and the pages: the tier a version is released under, the policy of that tier, who may approve,
how stages may move, and which evaluation requirements are not met.
"""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from portal.access import access_for, can
from portal.models import Role
from registry.models import (
    ApproverRole,
    Decision,
    EvaluationFinding,
    EvaluationRecord,
    FindingStatus,
    ModelVersion,
    PromotionKind,
    PromotionRequest,
    ReleasePolicy,
    ReleaseStage,
    RiskTier,
    UseCase,
)

# The policy each tier ships with; a firm edits the rows (seeded by migration 0010).
DEFAULT_POLICIES: dict[str, dict] = {
    RiskTier.PROHIBITED: {
        "approvers": [ApproverRole.RISK_OFFICER, ApproverRole.OWNER],
        "min_shadow_hours": 72,
        "min_canary_hours": 72,
        "canary_max_traffic": 10,
        "require_evaluation": True,
        "require_fairness": True,
        "protected_groups": ["sex", "age"],
        "blocking_severity": "high",
    },
    RiskTier.HIGH: {
        "approvers": [ApproverRole.RISK_OFFICER, ApproverRole.OWNER],
        "min_shadow_hours": 72,
        "min_canary_hours": 72,
        "canary_max_traffic": 10,
        "require_evaluation": True,
        "require_fairness": True,
        "protected_groups": ["sex", "age"],
        "blocking_severity": "high",
    },
    # Not screened yet: treated as strictly as high risk until the screening says otherwise.
    RiskTier.UNSCREENED: {
        "approvers": [ApproverRole.RISK_OFFICER, ApproverRole.OWNER],
        "min_shadow_hours": 72,
        "min_canary_hours": 72,
        "canary_max_traffic": 10,
        "require_evaluation": True,
        "require_fairness": False,
        "protected_groups": [],
        "blocking_severity": "high",
    },
    RiskTier.LIMITED: {
        "approvers": [ApproverRole.RISK_OFFICER],
        "min_shadow_hours": 24,
        "min_canary_hours": 24,
        "canary_max_traffic": 25,
        "require_evaluation": False,
        "require_fairness": False,
        "protected_groups": [],
        "blocking_severity": "critical",
    },
    RiskTier.MINIMAL: {
        "approvers": [ApproverRole.OWNER],
        "min_shadow_hours": 0,
        "min_canary_hours": 0,
        "canary_max_traffic": 50,
        "require_evaluation": False,
        "require_fairness": False,
        "protected_groups": [],
        "blocking_severity": "critical",
    },
    RiskTier.OUTSIDE: {
        "approvers": [ApproverRole.OWNER],
        "min_shadow_hours": 0,
        "min_canary_hours": 0,
        "canary_max_traffic": 50,
        "require_evaluation": False,
        "require_fairness": False,
        "protected_groups": [],
        "blocking_severity": "critical",
    },
}

# Strictest first: a version serving several use cases is released under the strictest tier.
TIER_STRICTNESS = [
    RiskTier.PROHIBITED,
    RiskTier.HIGH,
    RiskTier.UNSCREENED,
    RiskTier.LIMITED,
    RiskTier.MINIMAL,
    RiskTier.OUTSIDE,
]

# The release stages in order; retired is reached from anywhere.
STAGE_ORDER: list[str] = [
    ReleaseStage.CANDIDATE,
    ReleaseStage.SHADOW,
    ReleaseStage.CANARY,
    ReleaseStage.PARTIAL,
    ReleaseStage.PRODUCTION,
]
# Forward moves; canary may go straight to production (partial is optional).
FORWARD: dict[str, set[str]] = {
    ReleaseStage.CANDIDATE: {ReleaseStage.SHADOW},
    ReleaseStage.SHADOW: {ReleaseStage.CANARY},
    ReleaseStage.CANARY: {ReleaseStage.PARTIAL, ReleaseStage.PRODUCTION},
    ReleaseStage.PARTIAL: {ReleaseStage.PRODUCTION},
}
# A move into these serves real traffic: the tier's evaluation requirements must hold.
SERVING = {ReleaseStage.CANARY, ReleaseStage.PARTIAL, ReleaseStage.PRODUCTION}

STAGE_EDIT_REFUSED = (
    "The stage changes only through the promote action (Promote on the version's page, or "
    "POST /api/v1/model-versions/{id}/promote/), which records who, why and the evidence and "
    "asks for the tier's approvals."
)


def policy_for(tier: str) -> ReleasePolicy:
    """The firm's policy for a tier, or the shipped default if the row is missing."""
    found = ReleasePolicy.objects.filter(tier=tier).first()
    if found is not None:
        return found
    return ReleasePolicy(tier=tier, **DEFAULT_POLICIES.get(tier, DEFAULT_POLICIES[RiskTier.HIGH]))


def _served(version: ModelVersion):
    model_id = version.model_id
    return UseCase.objects.filter(
        Q(deployments__model_version__model_id=model_id, deployments__active=True)
        | Q(model_approvals__model_id=model_id)
    ).distinct()


def version_tier(version: ModelVersion) -> str:
    """The strictest tier of the use cases the model serves or is approved for; the model's
    own tier when it serves none yet."""
    tiers = set(_served(version).values_list("risk_tier", flat=True)) or {version.model.risk_tier}
    return min(tiers, key=lambda t: TIER_STRICTNESS.index(t) if t in TIER_STRICTNESS else 0)


def owner_ids(version: ModelVersion) -> set[int]:
    """Who answers as "the use-case owner": the owners of the use cases the model serves or
    is approved for, or the model's owner when there are none."""
    owners = set(_served(version).values_list("owner_id", flat=True))
    return owners or {version.model.owner_id}


def move_kind(from_stage: str, to_stage: str) -> str | None:
    """promote, rollback or retire; None when the move is not allowed."""
    if from_stage == ReleaseStage.RETIRED or from_stage == to_stage:
        return None
    if to_stage == ReleaseStage.RETIRED:
        return PromotionKind.RETIRE
    if to_stage in FORWARD.get(from_stage, set()):
        return PromotionKind.PROMOTE
    if STAGE_ORDER.index(to_stage) < STAGE_ORDER.index(from_stage):
        return PromotionKind.ROLLBACK
    return None


def next_stages(stage: str) -> list[str]:
    """Every stage a version at ``stage`` may be moved to, forward first."""
    if stage == ReleaseStage.RETIRED:
        return []
    forward = [s for s in STAGE_ORDER if s in FORWARD.get(stage, set())]
    back = [s for s in reversed(STAGE_ORDER) if STAGE_ORDER.index(s) < STAGE_ORDER.index(stage)]
    return forward + back + [ReleaseStage.RETIRED]


def in_stage_since(version: ModelVersion) -> datetime:
    return version.stage_changed_at or version.created_at


def time_left_in_stage(version: ModelVersion, policy: ReleasePolicy) -> timedelta:
    """How long the version must still stay in shadow or canary (zero when it may move on)."""
    minimum: dict[str, int] = {
        ReleaseStage.SHADOW: policy.min_shadow_hours,
        ReleaseStage.CANARY: policy.min_canary_hours,
    }
    hours = minimum.get(version.stage, 0)
    left = in_stage_since(version) + timedelta(hours=hours) - timezone.now()
    return max(left, timedelta(0))


def evaluation_problems(
    version: ModelVersion,
    policy: ReleasePolicy,
    *,
    evaluations: list[EvaluationRecord] | None = None,
    open_findings: list[EvaluationFinding] | None = None,
) -> list[str]:
    """What the tier asks of the version's evaluations and is not met, in words (a failing
    group is named). ``evaluations`` (newest first) and ``open_findings`` save the queries
    when the caller read them for several versions at once."""
    problems: list[str] = []
    if evaluations is None:
        evaluations = list(version.evaluations.all())  # newest first
    if open_findings is None:
        open_findings = list(version.findings.filter(status=FindingStatus.OPEN).order_by("pk"))
    if policy.require_evaluation:
        if not evaluations:
            problems.append(f"{version}: no evaluation is recorded.")
        elif evaluations[0].failed_metrics:
            latest = evaluations[0]
            names = ", ".join(
                f"{m['name']} {m['value']} (threshold {m['threshold']})"
                for m in latest.failed_metrics
            )
            problems.append(f"{version}: the latest evaluation ({latest.name}) fails {names}.")
    if policy.require_fairness:
        groups = [str(g) for g in policy.protected_groups] or [""]
        for attribute in groups:
            problems += _fairness_problems(version, evaluations, attribute)
    if policy.blocking_severity:
        for finding in open_findings:
            if policy.blocks(finding.severity):
                problems.append(
                    f"{version}: open {finding.get_severity_display().lower()} "
                    f"{finding.get_kind_display().lower()} finding: {finding.title}."
                )
    return problems


def _matches(row: dict, attribute: str) -> bool:
    return not attribute or str(row.get("attribute", "")).lower() == attribute.lower()


def _fairness_problems(version, evaluations, attribute: str) -> list[str]:
    latest = next((e for e in evaluations if any(_matches(r, attribute) for r in e.fairness)), None)
    on = f" on {attribute}" if attribute else ""
    if latest is None:
        return [f"{version}: no fairness evaluation{on}."]
    return [
        f"{version}: fairness{on} fails for group {row.get('group')}: {row.get('metric')} "
        f"gap {row.get('gap')} over the threshold {row.get('threshold')} "
        f"({latest.name}, {timezone.localtime(latest.ran_at):%d %b %Y})."
        for row in latest.fairness
        if _matches(row, attribute) and not row.get("passed")
    ]


# Approvers ---------------------------------------------------------------------------------
def roles_of(user, request: PromotionRequest) -> set[str]:
    """The approver roles a person holds for this request."""
    access = access_for(user)
    held: set[str] = set()
    if access.has_role(Role.RISK_OFFICER):
        held.add(ApproverRole.RISK_OFFICER)
    if access.has_role(Role.DPO):
        held.add(ApproverRole.DPO)
    if user.pk in owner_ids(request.model_version):
        held.add(ApproverRole.OWNER)
    return held


def outstanding_roles(request: PromotionRequest) -> list[str]:
    """The required roles no approval answers yet, in the policy's order."""
    done = [a.role for a in request.approvals.all() if a.decision == Decision.APPROVE]
    left = list(request.required_approvers)
    for role in done:
        if role in left:
            left.remove(role)
    return left


# When a person holds several open roles, the narrowest is theirs to answer first.
ROLE_PREFERENCE = [ApproverRole.OWNER, ApproverRole.DPO, ApproverRole.RISK_OFFICER]


def role_to_answer(user, request: PromotionRequest) -> str | None:
    """The open role this person would answer in, or None if they may not approve (four
    eyes: never the requester, never twice)."""
    if not request.is_pending or user.pk == request.requested_by_id:
        return None
    if access_for(user).has_role(Role.AUDITOR):
        return None
    if any(a.approver_id == user.pk for a in request.approvals.all()):
        return None
    open_roles = set(outstanding_roles(request)) & roles_of(user, request)
    for role in ROLE_PREFERENCE:
        if role in open_roles:
            return role
    return None


def approvers_to_tell(request: PromotionRequest) -> list:
    """Who may give one of the approvals the request still waits for (never the requester):
    the risk officers and DPOs of the units concerned, and the use cases' owners, as the
    rules decide each of them."""
    left = set(outstanding_roles(request))
    if not left:
        return []
    version = request.model_version
    units = set(_served(version).values_list("business_unit_id", flat=True))
    units.add(version.model.business_unit_id)
    groups = [
        group
        for role, group in (
            (ApproverRole.RISK_OFFICER, Role.RISK_OFFICER),
            (ApproverRole.DPO, Role.DPO),
        )
        if role in left
    ]
    users = get_user_model().objects.filter(is_active=True)
    found = set(users.filter(groups__name__in=groups, business_units__in=units))
    if ApproverRole.OWNER in left:
        found |= set(users.filter(pk__in=owner_ids(version)))
    return sorted(
        (
            u
            for u in found
            if u.pk != request.requested_by_id and can(u, "registry.decide_promotion", request)
        ),
        key=lambda u: u.pk,
    )
