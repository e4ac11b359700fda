"""The governance KPIs, defined once (issue 17): each is a function with a docstring that
says exactly what it counts, listed in ``KPIS`` and in docs/users/leadership.md.

Every KPI is computed over a *scope*: the use cases a person may see (their visibility, from
``registry.selectors.use_cases_visible_to``), narrowed to a business unit or an owner if
asked; ``viewer=None`` is the firm as a whole, for the scheduled snapshots. Stock figures
(tiers, the gate, overdue work, open flags) are as of the moment asked; flow figures
(incidents, deadlines) count what happened in the period. The portfolio page, the API
(``GET /api/v1/kpis/``), the monthly snapshots and the board pack all call ``compute``, so
they always agree.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from assessments.models import Assessment, Status
from compliance.models import Evidence
from compliance.selectors import coverage_over
from incidents.models import Incident
from incidents.models import Severity as IncidentSeverity
from incidents.services.deadlines import deadlines
from monitoring.models import Budget, Flag, FlagStatus
from monitoring.models import Severity as FlagSeverity
from monitoring.services.costs import month_spend_by_unit
from portal.history.asof import rows_as_of
from registry.models import (
    AIModel,
    ApprovalStatus,
    BusinessUnit,
    Deployment,
    GateCheck,
    Lifecycle,
    ModelApproval,
    RiskTier,
    UseCase,
)
from registry.selectors import sees_every_use_case, use_cases_visible_to

AGE_BUCKETS = ((0, 30, "0–30 days"), (31, 90, "31–90 days"), (91, None, "over 90 days"))
LIVE = Lifecycle.PRODUCTION
IN_USE = (Lifecycle.PILOT, Lifecycle.PRODUCTION)


@dataclass(frozen=True)
class Scope:
    """Whose view, and how narrowed. ``viewer=None``: the whole firm (jobs only)."""

    viewer: object | None = None
    unit_id: int | None = None
    owner_id: int | None = None
    start: date | None = None  # the period, for flow figures; default: the last 30 days
    end: date | None = None
    now: datetime = field(default_factory=timezone.now)

    @property
    def today(self) -> date:
        return timezone.localdate(self.now)

    @property
    def period(self) -> tuple[date, date]:
        end = self.end or self.today
        return (self.start or end - timedelta(days=29), end)

    @cached_property
    def whole_register(self) -> bool:
        """Every use case is in scope: the firm, or a viewer who sees every one (an auditor, or
        a member of every unit), not narrowed. Counts then need no visibility filter at all."""
        if self.unit_id is not None or self.owner_id is not None:
            return False
        return self.viewer is None or sees_every_use_case(self.viewer)

    def use_cases(self) -> QuerySet[UseCase]:
        qs = (
            UseCase.objects.all()
            if self.viewer is None or self.whole_register
            else use_cases_visible_to(self.viewer).select_related(None)
        )
        if self.unit_id is not None:
            qs = qs.filter(business_unit_id=self.unit_id)
        if self.owner_id is not None:
            qs = qs.filter(owner_id=self.owner_id)
        return qs.order_by()


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _ages(days: list[int]) -> dict:
    buckets = {label: 0 for _, _, label in AGE_BUCKETS}
    for d in days:
        for low, high, label in AGE_BUCKETS:
            if d >= low and (high is None or d <= high):
                buckets[label] += 1
                break
    return {"buckets": buckets, "oldest_days": max(days) if days else None}


def _ids(scope: Scope) -> QuerySet:
    return scope.use_cases().values("pk")


def _in_scope(qs: QuerySet, scope: Scope, path: str = "use_case") -> QuerySet:
    """``qs`` narrowed to rows of use cases in scope (through ``path``); left whole when the
    scope is the whole register (a semi-join with every use case would change nothing and
    cost a read of them all)."""
    return qs if scope.whole_register else qs.filter(**{f"{path}__in": _ids(scope)})


# The KPIs ----------------------------------------------------------------------------------
def tiers_and_lifecycles(scope: Scope) -> dict:
    """Use cases by EU AI Act risk tier and by lifecycle, and the two crossed; retired ones
    included (they are on the register), with the total."""
    rows = scope.use_cases().values_list("risk_tier", "lifecycle").annotate(n=Count("pk"))
    by_tier = dict.fromkeys(RiskTier.values, 0)
    by_lifecycle = dict.fromkeys(Lifecycle.values, 0)
    matrix: dict[str, dict[str, int]] = {t: dict.fromkeys(Lifecycle.values, 0) for t in by_tier}
    for tier, lifecycle, n in rows:
        by_tier[tier] = by_tier.get(tier, 0) + n
        by_lifecycle[lifecycle] = by_lifecycle.get(lifecycle, 0) + n
        matrix.setdefault(tier, dict.fromkeys(Lifecycle.values, 0))[lifecycle] = n
    return {
        "total": sum(by_tier.values()),
        "by_tier": by_tier,
        "by_lifecycle": by_lifecycle,
        "matrix": matrix,
    }


def latest_gate_answers(use_cases: QuerySet) -> QuerySet:
    """Each use case with its latest go-live gate answer (``gate_passed``: True, False or None
    when the gate was never asked) and when it was asked."""
    latest = GateCheck.objects.filter(use_case=OuterRef("pk")).order_by("-asked_at", "-pk")
    return use_cases.annotate(
        gate_passed=Subquery(latest.values("passed")[:1]),
        gate_asked_at=Subquery(latest.values("asked_at")[:1]),
    )


def gate_pass_rate(scope: Scope) -> dict:
    """Live use cases (lifecycle production) passing the go-live gate, by its latest answer
    (the gate is asked on every move and page, and again each night by the scheduled check):
    how many pass, fail, were never asked, and the share passing of those live."""
    # Only the answer is counted: the time it was asked (latest_gate_answers) would be a
    # second lookup per live use case that nothing reads.
    latest = GateCheck.objects.filter(use_case=OuterRef("pk")).order_by("-asked_at", "-pk")
    rows = (
        scope.use_cases()
        .filter(lifecycle=LIVE)
        .annotate(gate_passed=Subquery(latest.values("passed")[:1]))
        .aggregate(
            live=Count("pk"),
            passing=Count("pk", filter=Q(gate_passed=True)),
            failing=Count("pk", filter=Q(gate_passed=False)),
        )
    )
    live, passing, failing = rows["live"], rows["passing"], rows["failing"]
    return {
        "live": live,
        "passing": passing,
        "failing": failing,
        "unchecked": live - passing - failing,
        "percent": pct(passing, live),
    }


def signed_off_current(scope: Scope) -> dict:
    """Use cases in use (pilot or production) with a current signed-off assessment: one
    signed off whose valid-until date has not passed; as a count and a share."""
    # The use cases with a current one, listed once and looked up by hash: an EXISTS asked
    # of each use case in use was an index probe each (6,000 at 10,000 use cases).
    current = Assessment.objects.filter(
        status=Status.SIGNED_OFF, valid_until__gte=scope.today
    ).values("use_case_id")
    rows = (
        scope.use_cases()
        .filter(lifecycle__in=IN_USE)
        .aggregate(
            in_use=Count("pk"),
            signed=Count("pk", filter=Q(pk__in=current)),
        )
    )
    return {
        "in_use": rows["in_use"],
        "signed": rows["signed"],
        "percent": pct(rows["signed"], rows["in_use"]),
    }


def _dated_ages(qs: QuerySet, field: str, today: date) -> dict:
    """How many rows of ``qs`` have ``field`` (a past date), in each of AGE_BUCKETS by its
    age in days, and the oldest: counted in SQL, so no date travels to Python."""
    buckets = {}
    for k, (low, high, _) in enumerate(AGE_BUCKETS):
        when = Q(**{f"{field}__lte": today - timedelta(days=low)})
        if high is not None:
            when &= Q(**{f"{field}__gte": today - timedelta(days=high)})
        buckets[f"b{k}"] = Count("pk", filter=when)
    return qs.aggregate(n=Count("pk"), oldest=Min(field), **buckets)


def overdue(scope: Scope) -> dict:
    """Overdue reviews (a use case, not retired, past its next review date) and overdue
    re-assessments (a signed-off assessment past its valid-until date), each with its age in
    days; their ageing in buckets, the oldest, and use cases flagged for re-assessment."""
    today = scope.today
    reviews = _dated_ages(
        scope.use_cases().exclude(lifecycle=Lifecycle.RETIRED).filter(next_review_date__lt=today),
        "next_review_date",
        today,
    )
    reassessments = _dated_ages(
        _in_scope(
            Assessment.objects.filter(status=Status.SIGNED_OFF, valid_until__lt=today), scope
        ),
        "valid_until",
        today,
    )
    flagged = scope.use_cases().filter(needs_reassessment=True).count()
    oldest = [d for d in (reviews["oldest"], reassessments["oldest"]) if d is not None]
    return {
        "reviews": reviews["n"],
        "reassessments": reassessments["n"],
        "flagged_for_reassessment": flagged,
        "total": reviews["n"] + reassessments["n"],
        "buckets": {
            label: reviews[f"b{k}"] + reassessments[f"b{k}"]
            for k, (_, _, label) in enumerate(AGE_BUCKETS)
        },
        "oldest_days": (today - min(oldest)).days if oldest else None,
    }


def open_flags(scope: Scope) -> dict:
    """Open monitoring flags on the scope's use cases, by severity, with their ageing since
    raised; and how many were raised in the period."""
    start, end = scope.period
    flags = _in_scope(Flag.objects.all(), scope)
    open_rows = list(flags.filter(status=FlagStatus.OPEN).values_list("severity", "raised_at"))
    by_severity = dict.fromkeys(FlagSeverity.values, 0)
    for severity, _ in open_rows:
        by_severity[severity] = by_severity.get(severity, 0) + 1
    raised = flags.filter(raised_at__date__gte=start, raised_at__date__lte=end).count()
    return {
        "open": len(open_rows),
        "by_severity": by_severity,
        "raised_in_period": raised,
        **_ages([(scope.now - at).days for _, at in open_rows]),
    }


def _median_hours(deltas: list[timedelta]) -> float | None:
    return round(statistics.median(d.total_seconds() / 3600 for d in deltas), 1) if deltas else None


def incidents(scope: Scope) -> dict:
    """Incidents opened in the period, by severity; those open now; and the median hours from
    opening to mitigation (its first move to mitigated, resolved or closed, from the history)
    and to closing, over the incidents of the period that got there."""
    start, end = scope.period
    history = Incident.history.model
    first_mitigated = (
        history.objects.filter(id=OuterRef("pk"), status__in=["mitigated", "resolved", "closed"])
        .order_by("history_date")
        .values("history_date")[:1]
    )
    in_scope = _in_scope(Incident.objects.all(), scope)
    rows = list(
        in_scope.filter(opened_at__date__gte=start, opened_at__date__lte=end)
        .annotate(mitigated_at=Subquery(first_mitigated))
        .values_list("severity", "opened_at", "mitigated_at", "closed_at")
    )
    by_severity = dict.fromkeys(IncidentSeverity.values, 0)
    for severity, *_ in rows:
        by_severity[severity] = by_severity.get(severity, 0) + 1
    return {
        "opened_in_period": len(rows),
        "by_severity": by_severity,
        "open_now": in_scope.exclude(status__in=["resolved", "closed"]).count(),
        "median_hours_to_mitigate": _median_hours([m - o for _, o, m, _ in rows if m]),
        "median_hours_to_close": _median_hours([c - o for _, o, _, c in rows if c]),
    }


def regulatory_deadlines(scope: Scope) -> dict:
    """Regulatory reporting deadlines (AI Act serious incidents, GDPR breaches) that fell due
    in the period: met on time, met late, missed (past due, not reported); and those due later
    still open."""
    start, end = scope.period
    found = {"met": 0, "met_late": 0, "missed": 0, "open": 0}
    clocks = _in_scope(Incident.objects.all(), scope).filter(
        ~Q(serious_harm="") | Q(personal_data_breach=True)
    )
    for incident in clocks:
        for d in deadlines(incident, now=scope.now):
            due = timezone.localdate(d.due_at)
            if d.state in ("open", "near"):
                found["open"] += 1
            elif start <= due <= end:
                found["missed" if d.state == "overdue" else d.state] += 1
    return found


def model_approvals_pending(scope: Scope) -> dict:
    """AI models still under evaluation (not approved, not banned) that a use case in scope
    is deployed on or named for; for the firm, every model under evaluation."""
    models = AIModel.objects.filter(approval_status=ApprovalStatus.UNDER_EVALUATION)
    if scope.viewer is not None or scope.unit_id is not None or scope.owner_id is not None:
        # Two lists of model ids, each read once (no join of every model to its versions,
        # deployments and approvals, and so no DISTINCT over the rows that multiplied).
        deployed = _in_scope(Deployment.objects.all(), scope).values("model_version__model_id")
        named = _in_scope(ModelApproval.objects.all(), scope).values("model_id")
        models = models.filter(Q(pk__in=deployed) | Q(pk__in=named))
    return {"pending": models.count()}


def evidence_expiring(scope: Scope, days: int = 30) -> dict:
    """Evidence that expires in the next ``days`` days, and that has already expired: items of
    the evidence library (compliance) scoped to a use case in scope or to the whole firm, and
    evidence attached to current signed-off assessments (an item with an expiry date)."""
    today = scope.today
    library = Evidence.objects.filter(expires_on__isnull=False).filter(
        Q(use_cases__in=_ids(scope)) | Q(use_cases__isnull=True)
    )
    if scope.whole_register:
        library = Evidence.objects.filter(expires_on__isnull=False)
    counted = library.aggregate(
        soon=Count(
            "pk",
            filter=Q(expires_on__gte=today, expires_on__lte=today + timedelta(days=days)),
            distinct=True,
        ),
        expired=Count("pk", filter=Q(expires_on__lt=today), distinct=True),
    )
    soon, expired = counted["soon"], counted["expired"]
    answers = _in_scope(Assessment.objects.filter(status=Status.SIGNED_OFF), scope).values_list(
        "answers", flat=True
    )
    for a in answers.iterator(chunk_size=500):
        for value in (a or {}).values():
            if not isinstance(value, list):
                continue
            for item in value:
                expires = item.get("expires") if isinstance(item, dict) else None
                if not expires:
                    continue
                try:
                    when = date.fromisoformat(expires)
                except (TypeError, ValueError):
                    continue
                if when < today:
                    expired += 1
                elif when <= today + timedelta(days=days):
                    soon += 1
    return {"expiring_30_days": soon, "expired": expired}


def obligations_coverage(scope: Scope) -> dict:
    """Applicable obligations met, over the use cases in scope and per framework (the
    obligations each use case's signed-off screening made applicable): applicable, met,
    overdue, accepted (unmet but under a risk officer's live exception) and the share met."""
    found = coverage_over(None if scope.whole_register else scope.use_cases())

    def figures(share) -> dict:
        return {
            "applicable": share.applicable,
            "met": share.met,
            "overdue": share.overdue,
            "accepted": share.accepted,
            "percent": pct(share.met, share.applicable),
        }

    return {
        **figures(found["total"]),
        "frameworks": [
            {"key": s.key, "framework": s.label, **figures(s)} for s in found["frameworks"]
        ],
    }


def spend_vs_budget(scope: Scope) -> dict:
    """This month's AI spend (cost samples) against the monthly budgets, by business unit:
    spent, budget, and the share used; units with neither are left out."""
    spend = month_spend_by_unit(
        use_cases=None if scope.whole_register else scope.use_cases(), month=scope.today
    )
    budgets = dict(
        _in_scope(Budget.objects.all(), scope)
        .values("use_case__business_unit_id")
        .annotate(total=Sum("monthly_amount"))
        .order_by()
        .values_list("use_case__business_unit_id", "total")
    )
    names = dict(
        BusinessUnit.objects.filter(pk__in=set(spend) | set(budgets)).values_list("pk", "name")
    )
    units: list[dict[str, Any]] = [
        {
            "unit_id": unit_id,
            "unit": names.get(unit_id, ""),
            "spent": round(float(spend.get(unit_id) or 0.0), 2),
            "budget": float(budgets.get(unit_id) or 0),
        }
        for unit_id in set(spend) | set(budgets)
    ]
    listed = [
        {**u, "percent": pct(u["spent"], u["budget"])}
        for u in sorted(units, key=lambda u: u["unit"])
        if u["spent"] or u["budget"]
    ]
    spent = round(sum(u["spent"] for u in listed), 2)
    budget = round(sum(u["budget"] for u in listed), 2)
    return {"spent": spent, "budget": budget, "percent": pct(spent, budget), "by_unit": listed}


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    compute: Callable[[Scope], dict]

    @property
    def definition(self) -> str:
        return " ".join((self.compute.__doc__ or "").split())


KPIS: tuple[Kpi, ...] = (
    Kpi("tiers", "Use cases by tier and lifecycle", tiers_and_lifecycles),
    Kpi("gate", "Live use cases passing the go-live gate", gate_pass_rate),
    Kpi("signed_off", "Use cases with a current signed-off assessment", signed_off_current),
    Kpi("overdue", "Overdue reviews and re-assessments", overdue),
    Kpi("flags", "Open flags by severity", open_flags),
    Kpi("incidents", "Incidents by severity, time to mitigate and to close", incidents),
    Kpi("deadlines", "Regulatory deadlines met and missed", regulatory_deadlines),
    Kpi("model_approvals", "Model approvals pending", model_approvals_pending),
    Kpi("evidence", "Evidence expiring in 30 days", evidence_expiring),
    Kpi("spend", "Spend against budget", spend_vs_budget),
    Kpi("coverage", "Applicable obligations met, per framework", obligations_coverage),
)


def compute(scope: Scope) -> dict:
    """Every KPI for the scope, keyed as in ``KPIS``, with the period they cover."""
    start, end = scope.period
    figures = {k.key: k.compute(scope) for k in KPIS}
    return {"period": {"start": start.isoformat(), "end": end.isoformat()}, **figures}


def live_failing_gate(scope: Scope, limit: int = 50) -> list[UseCase]:
    """Live use cases whose latest go-live gate answer is a refusal, oldest answer first."""
    # Only use cases refused at least once can have a refusal as their latest answer: the
    # latest is looked up for those, not for every live use case.
    refused = GateCheck.objects.filter(passed=False).values("use_case_id")
    return list(
        latest_gate_answers(scope.use_cases().filter(lifecycle=LIVE, pk__in=refused))
        .filter(gate_passed=False)
        .select_related("business_unit", "owner")
        .order_by("gate_asked_at", "reference")[:limit]
    )


__all__ = ["KPIS", "Kpi", "Scope", "compute", "live_failing_gate", "latest_gate_answers"]

# Kept for readers of the snapshots: which figures add up across units (the trend of a
# viewer who sees several units is their sum).
ADDITIVE = {
    "tiers.total": ("tiers", "total"),
    "gate.live": ("gate", "live"),
    "gate.passing": ("gate", "passing"),
    "signed_off.in_use": ("signed_off", "in_use"),
    "signed_off.signed": ("signed_off", "signed"),
    "overdue.total": ("overdue", "total"),
    "flags.open": ("flags", "open"),
    "flags.raised_in_period": ("flags", "raised_in_period"),
    "incidents.opened_in_period": ("incidents", "opened_in_period"),
    "deadlines.missed": ("deadlines", "missed"),
    "spend.spent": ("spend", "spent"),
    "spend.budget": ("spend", "budget"),
}


# Figures as they stood at a past moment, from history (the backfill) ------------------------
def figures_as_of(moment: datetime, *, unit_id: int | None = None, start: date) -> dict:
    """The KPIs that history can tell, as they stood at ``moment`` for the firm or a unit:
    tiers and lifecycles, the gate (the latest answer asked by then), overdue reviews, flags
    open then, and the period's incidents and deadlines. The others are left out (their
    records keep no history of their own) and the snapshot says it was backfilled."""
    among = UseCase.objects.filter(business_unit_id=unit_id) if unit_id else None
    rows = rows_as_of(
        UseCase, moment, among=None if among is None else among.order_by().values("pk")
    ).order_by()
    if unit_id is not None:
        rows = rows.filter(business_unit_id=unit_id)
    today = timezone.localdate(moment)
    by_tier = dict.fromkeys(RiskTier.values, 0)
    by_lifecycle = dict.fromkeys(Lifecycle.values, 0)
    matrix: dict[str, dict[str, int]] = {t: dict.fromkeys(Lifecycle.values, 0) for t in by_tier}
    live_ids, review_days, ids = [], [], []
    for pk, tier, lifecycle, review in rows.values_list(
        "id", "risk_tier", "lifecycle", "next_review_date"
    ):
        ids.append(pk)
        by_tier[tier] = by_tier.get(tier, 0) + 1
        by_lifecycle[lifecycle] = by_lifecycle.get(lifecycle, 0) + 1
        matrix.setdefault(tier, dict.fromkeys(Lifecycle.values, 0))[lifecycle] = (
            matrix.get(tier, {}).get(lifecycle, 0) + 1
        )
        if lifecycle == LIVE:
            live_ids.append(pk)
        if review and review < today and lifecycle != Lifecycle.RETIRED:
            review_days.append((today - review).days)
    latest = (
        GateCheck.objects.filter(use_case=OuterRef("pk"), asked_at__lte=moment)
        .order_by("-asked_at", "-pk")
        .values("passed")[:1]
    )
    answers = list(
        UseCase.objects.filter(pk__in=live_ids)
        .annotate(gate_passed=Subquery(latest))
        .values_list("gate_passed", flat=True)
    )
    passing, failing = answers.count(True), answers.count(False)
    scope = Scope(unit_id=unit_id, start=start, end=today, now=moment)
    flags = Flag.objects.filter(use_case_id__in=ids, raised_at__lte=moment).filter(
        Q(resolved_at__isnull=True) | Q(resolved_at__gt=moment)
    )
    open_rows = list(flags.values_list("severity", "raised_at"))
    flag_severity = dict.fromkeys(FlagSeverity.values, 0)
    for severity, _ in open_rows:
        flag_severity[severity] += 1
    raised = Flag.objects.filter(
        use_case_id__in=ids, raised_at__date__gte=start, raised_at__date__lte=today
    ).count()
    return {
        "period": {"start": start.isoformat(), "end": today.isoformat()},
        "backfilled": True,
        "tiers": {
            "total": len(ids),
            "by_tier": by_tier,
            "by_lifecycle": by_lifecycle,
            "matrix": matrix,
        },
        "gate": {
            "live": len(live_ids),
            "passing": passing,
            "failing": failing,
            "unchecked": len(live_ids) - passing - failing,
            "percent": pct(passing, len(live_ids)),
        },
        "overdue": {
            "reviews": len(review_days),
            "total": len(review_days),
            **_ages(review_days),
        },
        "flags": {
            "open": len(open_rows),
            "by_severity": flag_severity,
            "raised_in_period": raised,
            **_ages([(moment - at).days for _, at in open_rows]),
        },
        "incidents": incidents(scope),
        "deadlines": regulatory_deadlines(scope),
    }
