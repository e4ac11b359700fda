"""Who must review and approve an assessment, from the firm's routing rules."""

from dataclasses import dataclass, field

from django.contrib.auth.models import Group

from assessments.models import Assessment, Kind, RoutingRule
from portal.models import Role
from registry.models import Classification, RiskTier


@dataclass
class Route:
    stage: str
    role: str = ""
    group: Group | None = None
    reasons: list[str] = field(default_factory=list)


def effective_tier(assessment: Assessment) -> str:
    """The tier routing reads: a screening's own result, else the use case's tier."""
    if assessment.kind == Kind.SCREENING and assessment.result_value in RiskTier.values:
        return assessment.result_value
    return assessment.use_case.risk_tier


def facts(assessment: Assessment) -> dict:
    sources = list(assessment.use_case.data_sources.all())
    return {
        "kind": assessment.kind,
        "tier": effective_tier(assessment),
        "level": assessment.result_value,
        "personal_data": any(s.personal_data for s in sources),
        "special_category": any(
            s.classification == Classification.SPECIAL_CATEGORY for s in sources
        ),
    }


def rule_matches(rule: RoutingRule, f: dict) -> bool:
    return (
        (not rule.kinds or f["kind"] in rule.kinds)
        and (not rule.tiers or f["tier"] in rule.tiers)
        and (not rule.levels or f["level"] in rule.levels)
        and (not rule.personal_data or f["personal_data"])
        and (not rule.special_category or f["special_category"])
    )


def route(assessment: Assessment) -> list[Route]:
    f = facts(assessment)
    routes: dict[tuple, Route] = {}
    for rule in RoutingRule.objects.filter(active=True).select_related("group"):
        if not rule_matches(rule, f):
            continue
        key = (rule.stage, rule.role, rule.group_id)
        entry = routes.setdefault(key, Route(rule.stage, rule.role, rule.group))
        entry.reasons.append(rule.reason)
    stages = {r.stage for r in routes.values()}
    # Nobody signs their own homework: without a matching rule, the defaults below apply.
    if RoutingRule.Stage.REVIEW not in stages:
        routes[("review", Role.RISK_OFFICER, None)] = Route(
            "review",
            Role.RISK_OFFICER,
            None,
            ["No routing rule named a reviewer: risk officers review by default."],
        )
    if RoutingRule.Stage.APPROVE not in stages:
        routes[("approve", Role.LEADERSHIP, None)] = Route(
            "approve",
            Role.LEADERSHIP,
            None,
            ["No routing rule named an approver: leadership signs off by default."],
        )
    return sorted(
        routes.values(), key=lambda r: (r.stage != "review", r.role, r.group.pk if r.group else 0)
    )
