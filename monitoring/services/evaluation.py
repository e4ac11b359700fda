"""Checking the rules against what the deployments reported: one cycle of the monitor.

Each enabled rule costs one query for its latest resolutions, one aggregate query over
MetricSample grouped by series (deployment and feature, however many deployments there are),
one query for the rule's open flags and one UPDATE of their "last seen". The rule's new flags
are raised together in a fixed number of statements however many there are (the latest values
of every breaching series in one query, then ``flags_raise_bulk`` in services/flags.py), and
the cycle ends with one email per person listing every flag raised on what they own. A flag
stays open when the metric recovers: a person resolves it, and its "last seen" tells them when
the breach was last found.

A series is one deployment's metric for one feature: a rule with no feature watches every
feature's series on its own (a mean never mixes features), and a subject breaches through its
worst series. Resolving a flag re-arms the rule on that subject only for new evidence: samples
at or before the resolution no longer count for it (for the month-long budget metric, nothing
more is raised on it until next month).
"""

import logging
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    F,
    FloatField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone

from monitoring.models import (
    Aggregation,
    Comparison,
    Flag,
    FlagStatus,
    Metric,
    MetricSample,
    Rule,
    RuleSubject,
)
from monitoring.services.costs import firm_zone, month_of, month_spend
from monitoring.services.flags import Breach, Notices, flags_raise_bulk, subject_key
from registry.models import Deployment, ModelVersion, UseCase

logger = logging.getLogger(__name__)

# How many of the latest values of the series a flag keeps as evidence.
EVIDENCE_VALUES = 20


@dataclass
class EvaluationSummary:
    evaluated_rules: int = 0
    evaluated_deployments: int = 0  # distinct deployments with enough samples for some rule
    breaches: int = 0  # rule and subject pairs found in breach
    flags_raised: int = 0
    flags_still_open: int = 0  # breaches whose flag was already open (their last seen moves)
    errors: int = 0  # rules (or single flags) that failed; logged with their traceback

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Observation:
    """A rule's aggregate over one series (a deployment's metric for one feature) in its
    window; ``feature`` is "" for metrics without features and for budget_used_pct."""

    deployment_id: int
    use_case_id: int
    model_version_id: int
    feature: str
    value: float
    samples: int


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile (linear interpolation, as numpy.percentile)."""

    function = "PERCENTILE_CONT"
    name = "Percentile"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        # A literal we control, not user input: the planner needs it as a constant.
        super().__init__(expression, fraction=float(fraction), **extra)


class LatestValue(Aggregate):
    """PostgreSQL: the series' value at its latest instant (unique within a series), read in
    the same pass over the rows as the count."""

    name = "LatestValue"
    output_field = FloatField()

    def __init__(self, value, at, **extra):
        super().__init__(value, at, **extra)

    def as_sql(self, compiler, connection, **extra_context):
        value, at = self.get_source_expressions()[:2]  # then filter (unused here)
        value_sql, value_params = compiler.compile(value)
        at_sql, at_params = compiler.compile(at)
        sql = f"(ARRAY_AGG({value_sql} ORDER BY {at_sql} DESC))[1]"
        return sql, (*value_params, *at_params)


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks: percentile_cont and numpy's default."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rules_evaluate(
    *, now: datetime | None = None, deployment_ids: Iterable[int] | None = None
) -> EvaluationSummary:
    """Evaluate every enabled rule over every live deployment (or only those given)."""
    now = now or timezone.now()
    ids = None if deployment_ids is None else list(deployment_ids)
    summary = EvaluationSummary()
    seen: set[int] = set()
    notices = Notices()
    for rule in Rule.objects.filter(enabled=True).order_by("pk"):
        summary.evaluated_rules += 1
        try:
            _evaluate_rule(
                rule, now=now, deployment_ids=ids, summary=summary, seen=seen, notices=notices
            )
        except Exception:
            # One rule's bad data or bad definition must not stop the others.
            logger.exception("Monitoring rule %s (%s) could not be evaluated", rule.pk, rule)
            summary.errors += 1
    summary.evaluated_deployments = len(seen)
    # One email per person for the whole cycle, listing every flag raised on what they own.
    notices.send()
    return summary


def _evaluate_rule(
    rule: Rule,
    *,
    now: datetime,
    deployment_ids: list[int] | None,
    summary: EvaluationSummary,
    seen: set[int],
    notices: Notices,
) -> None:
    comparison = Comparison(rule.comparison)
    start = now - timedelta(minutes=rule.window_minutes)
    # A savepoint, so a failed query leaves the caller's transaction usable for the next rule.
    with transaction.atomic():
        rearmed = rearmed_at(rule, now=now)
        observations = observe(rule, now=now, deployment_ids=deployment_ids, rearmed=rearmed)
        seen.update(o.deployment_id for o in observations)

        # One flag per subject: when several series (deployments, features) of it breach, keep
        # the worst in the comparison's direction; ties go to the lowest deployment and feature,
        # so the flag names the same series whatever order the rows came in.
        worst: dict[str, Observation] = {}
        sign = -1 if comparison in (Comparison.GT, Comparison.GTE) else 1

        def rank(o: Observation) -> tuple:
            return (sign * o.value, o.deployment_id, o.feature)

        for o in observations:
            if not comparison.holds(o.value, rule.threshold):
                continue
            key = subject_key(rule, use_case_id=o.use_case_id, model_version_id=o.model_version_id)
            kept = worst.get(key)
            if kept is None or rank(o) < rank(kept):
                worst[key] = o
        summary.breaches += len(worst)
        if not worst:
            return

        open_keys = set(
            Flag.objects.filter(
                rule=rule, status=FlagStatus.OPEN, subject_key__in=list(worst)
            ).values_list("subject_key", flat=True)
        )
        if open_keys:
            # QuerySet.update: "last seen" moves every cycle and adds no history version.
            Flag.objects.filter(
                rule=rule, status=FlagStatus.OPEN, subject_key__in=list(open_keys)
            ).update(last_seen_at=now)
        summary.flags_still_open += len(open_keys)

    missing = [(key, o) for key, o in worst.items() if key not in open_keys]
    if not missing:
        return
    ids = {o.use_case_id for _k, o in missing}
    use_cases = UseCase.objects.select_related("owner").in_bulk(ids)
    versions = ModelVersion.objects.select_related("model__owner").in_bulk(
        {o.model_version_id for _k, o in missing}
    )
    deployments = Deployment.objects.in_bulk({o.deployment_id for _k, o in missing})
    starts = {key: max(start, rearmed.get(key, start)) for key, _o in missing}
    evidence = evidence_many(rule, missing, now=now, start=start, starts=starts)
    breaches = [
        Breach(
            rule=rule,
            use_case=use_cases[o.use_case_id],
            model_version=versions[o.model_version_id],
            deployment=deployments[o.deployment_id],
            evidence=evidence[key],
        )
        for key, o in missing
    ]
    try:
        with transaction.atomic():
            raised = flags_raise_bulk(breaches=breaches, now=now, notices=notices)
    except Exception:
        logger.exception("Rule %s could not raise its %s flags", rule, len(breaches))
        summary.errors += 1
        return
    summary.flags_raised += len(raised)
    # Those a concurrent evaluation raised first.
    summary.flags_still_open += len(breaches) - len(raised)


def evidence_many(
    rule: Rule,
    missing: list[tuple[str, Observation]],
    *,
    now: datetime,
    start: datetime,
    starts: dict[str, datetime],
) -> dict[str, dict]:
    """``evidence_for`` of each breach (subject key, observation), the latest values of every
    series read in one query (a subject re-armed within the window, rare, reads its own)."""
    found: dict[str, dict] = {}
    plain = [(key, o) for key, o in missing if starts[key] == start]
    if rule.metric == Metric.BUDGET_USED or len(plain) < 2:
        plain = []
    for key, o in missing:
        if (key, o) not in plain:
            found[key] = evidence_for(rule, o, now=now, start=starts[key])
    if not plain:
        return found
    series = {(o.deployment_id, o.feature) for _k, o in plain}
    latest = (
        MetricSample.objects.filter(
            deployment_id__in={d for d, _f in series},
            feature__in={f for _d, f in series},
            metric=rule.metric,
            at__gt=start,
            at__lte=now,
        )
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("deployment_id"), F("feature")],
                order_by=F("at").desc(),
            )
        )
        .filter(rank__lte=EVIDENCE_VALUES)
        .order_by("deployment_id", "feature", "at")
        .values_list("deployment_id", "feature", "at", "value")
    )
    values: dict[tuple[int, str], list] = {}
    for deployment_id, feature, at, value in latest:
        if (deployment_id, feature) in series:
            values.setdefault((deployment_id, feature), []).append([at.isoformat(), value])
    for key, o in plain:
        found[key] = _evidence(
            rule, o, now=now, start=start, values=values.get((o.deployment_id, o.feature), [])
        )
    return found


# Re-arming after a resolution ---------------------------------------------------------------
def _rearm_since(rule: Rule, *, now: datetime) -> datetime:
    """How far back a resolution can matter: the window, or the month for budget_used_pct."""
    if rule.metric == Metric.BUDGET_USED:
        return datetime.combine(month_of(now), time.min, tzinfo=firm_zone())
    return now - timedelta(minutes=rule.window_minutes)


def rearmed_at(rule: Rule, *, now: datetime) -> dict[str, datetime]:
    """subject_key -> the rule's latest resolution on it that still matters, in one query.

    Samples at or before that instant were already dealt with by the person who resolved the
    flag: they must not raise it again (only new evidence does).
    """
    rows = (
        Flag.objects.filter(
            rule=rule, status=FlagStatus.RESOLVED, resolved_at__gte=_rearm_since(rule, now=now)
        )
        .order_by()
        .values("subject_key")
        .annotate(last=Max("resolved_at"))
        .values_list("subject_key", "last")
    )
    return dict(rows)


def _after_resolutions(samples, rule: Rule, rearmed: dict[str, datetime]):
    """Drop each re-armed subject's samples at or before its resolution.

    One NOT (subject AND at <= resolved) term per subject resolved within the window: a handful
    in practice (people resolve flags), and it keeps the rule at one aggregate query.
    """
    field = (
        "deployment__model_version_id"
        if rule.subject == RuleSubject.MODEL_VERSION
        else "deployment__use_case_id"
    )
    dealt_with = Q()
    for key, resolved_at in rearmed.items():
        dealt_with |= Q(**{field: int(key.partition(":")[2]), "at__lte": resolved_at})
    return samples.exclude(dealt_with) if dealt_with else samples


# Reading the aggregates ---------------------------------------------------------------------
def rule_samples(
    rule: Rule,
    *,
    now: datetime,
    deployment_ids: list[int] | None,
    rearmed: dict[str, datetime] | None = None,
):
    """The rule's samples in its window, from live deployments of live use cases, without those
    a resolution already dealt with."""
    start = now - timedelta(minutes=rule.window_minutes)
    samples = MetricSample.objects.filter(
        metric=rule.metric, at__gt=start, at__lte=now, deployment__active=True
    ).exclude(deployment__use_case__lifecycle="retired")
    if rule.feature:
        samples = samples.filter(feature=rule.feature)
    if rule.use_case_id is not None:
        samples = samples.filter(deployment__use_case_id=rule.use_case_id)
    if deployment_ids is not None:
        samples = samples.filter(deployment_id__in=deployment_ids)
    return _after_resolutions(samples, rule, rearmed or {})


def _in_window(rule: Rule, *, now: datetime):
    """The same window without the joins: the inner query of the 'last' aggregate."""
    start = now - timedelta(minutes=rule.window_minutes)
    samples = MetricSample.objects.filter(metric=rule.metric, at__gt=start, at__lte=now)
    if rule.feature:
        samples = samples.filter(feature=rule.feature)
    return samples


def observe(
    rule: Rule,
    *,
    now: datetime,
    deployment_ids: list[int] | None = None,
    rearmed: dict[str, datetime] | None = None,
) -> list[Observation]:
    """The rule's aggregate per series (deployment and feature) with at least ``min_samples``
    samples counted since the window's start or the subject's last resolution (``rearmed``,
    read here when not given)."""
    if rearmed is None:
        rearmed = rearmed_at(rule, now=now)
    if rule.metric == Metric.BUDGET_USED:
        return _observe_budget(rule, now=now, deployment_ids=deployment_ids, rearmed=rearmed)
    samples = rule_samples(rule, now=now, deployment_ids=deployment_ids, rearmed=rearmed)
    if rule.aggregation == Aggregation.P95 and connection.vendor != "postgresql":
        return observe_p95_in_python(rule, samples)

    value: Aggregate | Subquery
    if rule.aggregation == Aggregation.MEAN:
        value = Avg("value")
    elif rule.aggregation == Aggregation.MAX:
        value = Max("value")
    elif rule.aggregation == Aggregation.P95:
        value = Percentile("value", 0.95)
    elif rule.aggregation == Aggregation.LAST and connection.vendor == "postgresql":
        value = LatestValue("value", "at")
    elif rule.aggregation == Aggregation.LAST:
        # Elsewhere (SQLite, the embedded default) a correlated subquery on the series index
        # gives the same value, per series.
        latest = (
            _after_resolutions(_in_window(rule, now=now), rule, rearmed)
            .filter(deployment_id=OuterRef("deployment_id"), feature=OuterRef("feature"))
            .order_by("-at")
            .values("value")[:1]
        )
        value = Subquery(latest, output_field=FloatField())
    else:
        raise ValueError(f"Unknown aggregation {rule.aggregation!r}")

    rows = (
        samples.order_by()
        .values(
            "deployment_id",
            "feature",
            use_case_id=F("deployment__use_case_id"),
            model_version_id=F("deployment__model_version_id"),
        )
        .annotate(samples=Count("id"), value=value)
        .filter(samples__gte=rule.min_samples)
    )
    return [
        Observation(
            deployment_id=r["deployment_id"],
            use_case_id=r["use_case_id"],
            model_version_id=r["model_version_id"],
            feature=r["feature"],
            value=r["value"],
            samples=r["samples"],
        )
        for r in rows
        if r["value"] is not None
    ]


def observe_p95_in_python(rule: Rule, samples) -> list[Observation]:
    """SQLite has no percentile aggregate: read the window's values, fine at embedded scale."""
    series: dict[tuple[int, int, int, str], list[float]] = {}
    rows = samples.order_by().values_list(
        "deployment_id",
        "deployment__use_case_id",
        "deployment__model_version_id",
        "feature",
        "value",
    )
    for deployment_id, use_case_id, version_id, feature, value in rows:
        series.setdefault((deployment_id, use_case_id, version_id, feature), []).append(value)
    return [
        Observation(*key, value=percentile(values, 0.95), samples=len(values))
        for key, values in series.items()
        if len(values) >= rule.min_samples
    ]


def _observe_budget(
    rule: Rule,
    *,
    now: datetime,
    deployment_ids: list[int] | None,
    rearmed: dict[str, datetime],
) -> list[Observation]:
    """budget_used_pct: this month's spend over the budget, per use case with a budget.

    The use case's first live deployment stands for it (the flag names it); one observation
    counts as one sample. The month's spend only grows, so a subject whose flag was resolved
    this month (``rearmed`` reaches back to the month's start) is not observed until the next.
    """
    if rule.min_samples > 1:
        return []
    deployments = (
        Deployment.objects.filter(active=True, use_case__budget__monthly_amount__gt=0)
        .exclude(use_case__lifecycle="retired")
        .order_by("use_case_id", "pk")
    )
    if rule.use_case_id is not None:
        deployments = deployments.filter(use_case_id=rule.use_case_id)
    if deployment_ids is not None:
        deployments = deployments.filter(pk__in=deployment_ids)
    first: dict[int, tuple[int, int, float]] = {}
    for pk, use_case_id, version_id, amount in deployments.values_list(
        "pk", "use_case_id", "model_version_id", "use_case__budget__monthly_amount"
    ):
        first.setdefault(use_case_id, (pk, version_id, float(amount)))
    if not first:
        return []
    spend = month_spend(use_case_ids=list(first), month=month_of(now))
    observations = []
    for use_case_id, (pk, version_id, budget) in first.items():
        if subject_key(rule, use_case_id=use_case_id, model_version_id=version_id) in rearmed:
            continue
        used = float(spend.get(use_case_id) or 0) / budget * 100
        observations.append(
            Observation(
                deployment_id=pk,
                use_case_id=use_case_id,
                model_version_id=version_id,
                feature="",
                value=used,
                samples=1,
            )
        )
    return observations


def evidence_for(rule: Rule, o: Observation, *, now: datetime, start: datetime) -> dict:
    """What a flag keeps: the rule's terms, the aggregate and the latest values of the series
    that breached (``o.feature``: for a rule over every feature, the feature that breached).

    ``start`` is where the counting began: the window's start, or the subject's last
    resolution when that is later (the values before it were already dealt with).
    """
    if rule.metric == Metric.BUDGET_USED:
        return _evidence(rule, o, now=now, start=start, values=[])
    latest = (
        MetricSample.objects.filter(
            deployment_id=o.deployment_id,
            metric=rule.metric,
            feature=o.feature,
            at__gt=start,
            at__lte=now,
        )
        .order_by("-at")
        .values_list("at", "value")[:EVIDENCE_VALUES]
    )
    values = [[at.isoformat(), value] for at, value in reversed(latest)]
    return _evidence(rule, o, now=now, start=start, values=values)


def _evidence(rule: Rule, o: Observation, *, now: datetime, start: datetime, values: list) -> dict:
    if rule.metric == Metric.BUDGET_USED:
        values = [[now.isoformat(), o.value]]
        start = datetime.combine(month_of(now), time.min, tzinfo=firm_zone())
    return {
        "metric": rule.metric,
        "feature": o.feature,
        "aggregation": rule.aggregation,
        "window_minutes": rule.window_minutes,
        "window_start": start.isoformat(),
        "window_end": now.isoformat(),
        "comparison": rule.comparison,
        "threshold": rule.threshold,
        "value": o.value,
        "samples": o.samples,
        "values": values,
        "deployment": o.deployment_id,
    }
