"""Reads of monitoring, filtered to who asks, shaped for the pages, the API and the PDF.

Series are down-sampled in the database: a year of minutely samples is 525,600 rows per
series, so a chart never loads raw rows. The samples are grouped into ``points`` time buckets
and each bucket gives its average, minimum and maximum. On PostgreSQL one statement serves
every series of a page: a loose index scan over the unique (deployment, metric, feature, at)
index finds the series (one index probe each, however many samples), and a lateral
subquery buckets each series' range through the same index.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from monitoring import catalogue, charts, drift
from monitoring.models import (
    Budget,
    Comparison,
    Flag,
    FlagStatus,
    MaterialChangeRule,
    MetricRollup,
    MetricSample,
    MetricSource,
    ReferenceDistribution,
    Rule,
    Severity,
)
from monitoring.services.costs import costs_by_period, month_spend
from portal.access import can, get_visible_or_404
from portal.params import id_or_reference
from registry.models import Deployment, UseCase
from registry.selectors import (
    deployments_visible_to,
    of_visible_use_cases,
    use_cases_visible_to,
)

RANGES: dict[str, tuple[str, timedelta]] = {
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
    "1y": ("1 year", timedelta(days=365)),
}
DEFAULT_RANGE = "7d"
# Drawn as trend lines on the use case page (drift per feature is too many for a card).
KEY_METRICS = ("error_rate", "drift.psi", "drift", "quality", "latency_ms", "cost")
SEVERITY_ORDER: dict[str, int] = {
    s: i for i, s in enumerate([Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW])
}

SeriesKey = tuple[int, str, str]  # deployment id, metric, feature


# Visibility ----------------------------------------------------------------------------------
def deployment_for_metrics(user, pk: int) -> Deployment:
    """The deployment if the person may read its metrics; 404 if missing or not theirs."""
    deployment = get_object_or_404(
        deployments_visible_to(user).select_related("use_case__business_unit", "use_case__owner"),
        pk=pk,
    )
    if not can(user, "monitoring.view_metrics", deployment):
        raise Http404("No such deployment.")
    return deployment


def sources_visible_to(user) -> QuerySet[MetricSource]:
    return MetricSource.objects.filter(
        deployment__use_case__in=use_cases_visible_to(user).values("pk")
    ).select_related("deployment__use_case", "deployment__model_version__model")


def samples_visible_to(user) -> QuerySet[MetricSample]:
    return MetricSample.objects.filter(
        deployment__use_case__in=use_cases_visible_to(user).values("pk")
    )


def flags_visible_to(user) -> QuerySet[Flag]:
    return of_visible_use_cases(user, Flag.objects.all()).select_related(
        "rule", "use_case", "model_version__model", "deployment", "resolved_by", "reassessment"
    )


def _evidence_text(value) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {_evidence_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_evidence_text(v) for v in value)
    if value is None or value == "":
        return "—"
    return str(value)


def cause_evidence_rows(evidence: dict | None) -> list[tuple[str, str]]:
    """A non-metric flag's evidence as label and text, in the order it was written."""
    return [
        (key.replace("_", " ").capitalize(), _evidence_text(value))
        for key, value in (evidence or {}).items()
        if key != "reassessment"
    ]


def failing_gate_visible_to(user, limit: int = 50) -> list[Flag]:
    """Open flags of the nightly gate check on visible production use cases, by use case."""
    return list(
        flags_visible_to(user)
        .filter(
            status=FlagStatus.OPEN,
            rule__isnull=True,
            cause__startswith="gate:",
            use_case__lifecycle="production",
        )
        .select_related(None)
        .select_related("use_case")
        # What a line shows: the flag's reference and reason, its use case's link and name.
        .only("reference", "reason", "use_case__reference", "use_case__title")
        .order_by("use_case__reference", "cause")[:limit]
    )


def material_rules_visible_to(user) -> QuerySet[MaterialChangeRule]:
    """Every material-change rule to anyone signed in (they are the firm's); none otherwise."""
    if not can(user, "monitoring.view_material_rule"):
        return MaterialChangeRule.objects.none()
    return MaterialChangeRule.objects.all()


def flag_by_key(user, key: str) -> Flag:
    """A visible flag by its reference (FL-0001) or id; 404 otherwise."""
    key = str(key).strip()
    qs = flags_visible_to(user)
    flag = qs.filter(**id_or_reference(key)).first()
    if flag is None:
        raise Http404("No such flag.")
    return flag


def access_source(user, pk: int, perm: str = "monitoring.view_metrics") -> MetricSource:
    """A visible metric source the person passes ``perm`` on (missing or unseen: 404)."""
    return get_visible_or_404(sources_visible_to(user), user, perm, pk=pk)


def rules_visible_to(user) -> QuerySet[Rule]:
    """Firm-wide rules, and the rules of use cases the person sees."""
    visible = use_cases_visible_to(user).values("pk")
    return Rule.objects.filter(Q(use_case__isnull=True) | Q(use_case__in=visible)).select_related(
        "use_case"
    )


def budgets_visible_to(user) -> QuerySet[Budget]:
    return Budget.objects.filter(
        use_case__in=use_cases_visible_to(user).values("pk")
    ).select_related("use_case", "set_by")


def rules_for(deployment: Deployment) -> list[Rule]:
    """The enabled rules that watch this deployment (firm-wide or its use case's)."""
    return list(
        Rule.objects.filter(enabled=True).filter(
            Q(use_case__isnull=True) | Q(use_case_id=deployment.use_case_id)
        )
    )


def rule_applies(rule: Rule, metric: str, feature: str) -> bool:
    return rule.metric == metric and (not rule.feature or rule.feature == feature)


# Down-sampled series -------------------------------------------------------------------------
def bucket_for(start: datetime, end: datetime, points: int) -> timedelta:
    seconds = max(1, math.ceil((end - start).total_seconds() / max(points, 1)))
    return timedelta(seconds=seconds)


_PG_SERIES = """
WITH RECURSIVE k(deployment_id, metric, feature) AS (
    SELECT d.id, f.metric, f.feature
    FROM unnest(%(ids)s::bigint[]) AS d(id)
    CROSS JOIN LATERAL (
        SELECT s.metric, s.feature FROM {table} s WHERE s.deployment_id = d.id
        ORDER BY s.metric, s.feature LIMIT 1
    ) f
  UNION ALL
    SELECT k.deployment_id, n.metric, n.feature
    FROM k CROSS JOIN LATERAL (
        SELECT s.metric, s.feature FROM {table} s
        WHERE s.deployment_id = k.deployment_id AND (s.metric, s.feature) > (k.metric, k.feature)
        ORDER BY s.metric, s.feature LIMIT 1
    ) n
)
SELECT k.deployment_id, k.metric, k.feature, b.bucket, b.mean, b.low, b.high, b.n
FROM k LEFT JOIN LATERAL ({buckets}) b ON true
WHERE (%(all_metrics)s OR k.metric = ANY(%(metrics)s::varchar[]))
ORDER BY 1, 2, 3, 4
"""

_PG_SAMPLE_BUCKETS = """
    SELECT date_bin(%(step)s, s.at, %(start)s) AS bucket,
           avg(s.value) AS mean, min(s.value) AS low, max(s.value) AS high, count(*) AS n
    FROM {table} s
    WHERE s.deployment_id = k.deployment_id AND s.metric = k.metric AND s.feature = k.feature
      AND s.at >= %(start)s AND s.at < %(end)s
    GROUP BY 1
"""
# Buckets of an hour or more read the hourly rollups (kept by a trigger, migration 0004):
# a year is 8,760 rows a series instead of 525,600.
_PG_ROLLUP_BUCKETS = """
    SELECT date_bin(%(step)s, r.hour, %(start)s) AS bucket,
           sum(r.total) / sum(r.count) AS mean, min(r.low) AS low, max(r.high) AS high,
           sum(r.count) AS n
    FROM {rollup} r
    WHERE r.deployment_id = k.deployment_id AND r.metric = k.metric AND r.feature = k.feature
      AND r.hour >= date_trunc('hour', %(start)s::timestamptz, 'UTC') AND r.hour < %(end)s
    GROUP BY 1
"""
ROLLUP_FROM = timedelta(hours=1)


def series_many(
    deployment_ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    points: int = 400,
    metrics: Sequence[str] | None = None,
) -> dict[SeriesKey, list[charts.Point]]:
    """Every series of these deployments (or only ``metrics``), bucketed, in one query.

    A series with no samples in the range is still a key, with no points, so the page can
    say so rather than hide it.
    """
    if not deployment_ids:
        return {}
    step = bucket_for(start, end, points)
    table = MetricSample._meta.db_table
    result: dict[SeriesKey, list[charts.Point]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The planner prices a year of buckets high enough to JIT-compile the query,
            # which costs a quarter of a second to save nothing: the index does the work.
            cursor.execute("SET LOCAL jit = off")
            buckets = (
                _PG_ROLLUP_BUCKETS.format(rollup=MetricRollup._meta.db_table)
                if step >= ROLLUP_FROM
                else _PG_SAMPLE_BUCKETS.format(table=table)
            )
            cursor.execute(
                _PG_SERIES.format(table=table, buckets=buckets),
                {
                    "ids": list(deployment_ids),
                    "step": step,  # type: ignore[dict-item]  # psycopg adapts a timedelta
                    "start": start,
                    "end": end,
                    "all_metrics": metrics is None,
                    "metrics": list(metrics or []),
                },
            )
            rows = cursor.fetchall()
        else:
            rows = _sqlite_series(cursor, table, deployment_ids, start, end, step, metrics)
    for dep_id, metric, feature, bucket, mean, low, high, n in rows:
        points_of = result.setdefault((dep_id, metric, feature), [])
        if bucket is not None:
            points_of.append(charts.Point(at=bucket, value=mean, low=low, high=high, count=int(n)))
    return result


def _sqlite_series(cursor, table, deployment_ids, start, end, step, metrics) -> list[tuple]:
    """The embedded default: the same buckets by integer division of epoch seconds."""
    ops = connection.ops
    ids = ",".join(str(int(i)) for i in deployment_ids)
    metric_filter = ""
    params: list = []
    if metrics is not None:
        metric_filter = f" AND metric IN ({','.join('%s' for _ in metrics) or 'NULL'})"
        params = list(metrics)
    cursor.execute(
        f"SELECT DISTINCT deployment_id, metric, feature FROM {table} "
        f"WHERE deployment_id IN ({ids}){metric_filter}",
        params,
    )
    keys = sorted(cursor.fetchall())
    seconds = int(step.total_seconds())
    origin = int(start.timestamp())
    cursor.execute(
        f"SELECT deployment_id, metric, feature, "
        f"(CAST(strftime('%%s', at) AS INTEGER) - %s) / %s AS b, avg(value), min(value), "
        f"max(value), count(*) FROM {table} WHERE deployment_id IN ({ids}) AND at >= %s AND at < %s"
        f"{metric_filter} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        [
            origin,
            seconds,
            ops.adapt_datetimefield_value(start),
            ops.adapt_datetimefield_value(end),
            *params,
        ],
    )
    rows = []
    seen = set()
    for dep_id, metric, feature, b, mean, low, high, n in cursor.fetchall():
        at = datetime.fromtimestamp(origin + b * seconds, tz=UTC)
        rows.append((dep_id, metric, feature, at, mean, low, high, n))
        seen.add((dep_id, metric, feature))
    rows += [(*k, None, None, None, None, None) for k in keys if k not in seen]
    return sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3] or start))


def series(
    deployment: Deployment,
    metric: str,
    feature: str,
    start: datetime,
    end: datetime,
    points: int = 400,
) -> list[charts.Point]:
    """One series, bucketed into at most ``points`` (avg, min, max) points."""
    found = series_many([deployment.pk], start, end, points=points, metrics=[metric])
    return found.get((deployment.pk, metric, feature), [])


def latest_samples(
    deployment_id: int, keys: Sequence[tuple[str, str]], end: datetime
) -> dict[tuple[str, str], tuple[datetime, float]]:
    """Each series' last raw sample before ``end``: its time and value.

    One query whatever the number of series, each one probe of the (deployment, metric,
    feature, at) index. A chart's last point is a bucket's average; this is the value the
    system actually reported.
    """
    if not keys:
        return {}
    table = MetricSample._meta.db_table
    one = (
        "SELECT * FROM (SELECT s.metric, s.feature, s.at, s.value "
        f"FROM {table} s WHERE s.deployment_id = %s AND s.metric = %s AND s.feature = %s "
        "AND s.at < %s ORDER BY s.at DESC LIMIT 1) AS k{i}"
    )
    end_value = connection.ops.adapt_datetimefield_value(end)
    sql = " UNION ALL ".join(one.format(i=i) for i in range(len(keys)))
    params: list = []
    for metric, feature in keys:
        params += [deployment_id, metric, feature, end_value]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found = {}
    for metric, feature, at, value in rows:
        if isinstance(at, str):  # SQLite hands a raw query's times back as text
            at = datetime.fromisoformat(at)
        if timezone.is_naive(at):
            at = at.replace(tzinfo=UTC)
        found[(metric, feature)] = (at, value)
    return found


# The deployment page ------------------------------------------------------------------------
@dataclass
class SeriesChart:
    metric: str
    feature: str
    svg: str
    latest: float | None
    thresholds: list[charts.Threshold] = field(default_factory=list)
    latest_at: datetime | None = None
    count: int = 0
    breaching: bool = False
    rules: list[Rule] = field(default_factory=list)

    @property
    def label(self) -> str:
        """What people read: "Input drift — transaction amount (PSI)"."""
        return catalogue.describe(self.metric, self.feature)

    @property
    def key(self) -> str:
        """What sources and rules write: ``drift.psi[transaction_amount]``."""
        return catalogue.key(self.metric, self.feature)

    @property
    def unit(self) -> str:
        return catalogue.unit(self.metric)

    @property
    def latest_text(self) -> str:
        return catalogue.format_value(self.metric, self.latest)

    @property
    def threshold_texts(self) -> list[str]:
        """Each rule's line in words: "above 25 % (Error rate too high)"."""
        return [rule_threshold_text(r) for r in self.rules]


def rule_threshold_text(rule: Rule) -> str:
    words = {"gt": "above", "gte": "at or above", "lt": "below", "lte": "at or below"}
    figure = catalogue.format_value(rule.metric, rule.threshold)
    comparison = words.get(rule.comparison, rule.comparison)
    return f"{rule.get_aggregation_display().lower()} {comparison} {figure} ({rule.name})"


def breaches(rule: Rule, value: float | None) -> bool:
    return value is not None and Comparison(rule.comparison).holds(value, rule.threshold)


def evidence_value(flag: Flag) -> float | None:
    """The figure a flag's rule saw, from its evidence (helper services write it)."""
    evidence = flag.evidence or {}
    for key in ("aggregate", "value"):
        value = evidence.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def series_charts(
    deployment: Deployment,
    start: datetime,
    end: datetime,
    *,
    points: int = 400,
    metrics: Sequence[str] | None = None,
    width: int = 640,
    height: int = 220,
) -> list[SeriesChart]:
    """A chart per series of the deployment (or of ``metrics``), with its rules' thresholds
    and breaches, breaching series first, then by name.

    Four queries whatever the number of samples, series or rules: series, latest samples,
    rules, flags.
    """
    found = series_many([deployment.pk], start, end, points=points, metrics=metrics)
    rules = rules_for(deployment)
    flags = list(
        Flag.objects.filter(
            rule__in=[r.pk for r in rules],
            use_case_id=deployment.use_case_id,
            raised_at__gte=start,
            raised_at__lte=end,
        )
        .filter(Q(deployment=deployment) | Q(deployment__isnull=True))
        .select_related("rule")
    )
    latest_of = latest_samples(deployment.pk, [(m, f) for _, m, f in found], end)
    result = []
    for (_, metric, feature), points_of in found.items():
        applying = [r for r in rules if rule_applies(r, metric, feature)]
        thresholds = [
            charts.Threshold(
                r.threshold, f"{r.name}: {catalogue.format_value(metric, r.threshold)}"
            )
            for r in applying
        ]
        markers = []
        for flag in flags:
            if flag.rule is None or not rule_applies(flag.rule, metric, feature):
                continue
            if (flag.evidence or {}).get("feature", feature) not in ("", feature):
                continue
            value = evidence_value(flag)
            if value is not None:
                markers.append(charts.Marker(flag.raised_at, value, f"{flag.reference}"))
        label = catalogue.describe(metric, feature)
        # The last sample the system reported in the range, not the last bucket's average.
        # Counted from the buckets; on the hourly rollups the first hour counts whole.
        last = None
        if points_of and (metric, feature) in latest_of:
            at, value = latest_of[(metric, feature)]
            last = charts.Latest(at, value, sum(p.count or 0 for p in points_of))
        svg = charts.line_chart(
            points_of,
            title=f"{label} of {deployment.use_case.reference}",
            thresholds=thresholds,
            markers=markers,
            start=start,
            end=end,
            width=width,
            height=height,
            latest=last,
            value_format=partial(catalogue.format_value, metric),
            tick_format=partial(catalogue.format_tick, metric),
        )
        latest = last.value if last else None
        result.append(
            SeriesChart(
                metric,
                feature,
                svg,
                latest,
                thresholds,
                latest_at=last.at if last else None,
                count=(last.count or 0) if last else 0,
                breaching=any(breaches(r, latest) for r in applying),
                rules=applying,
            )
        )
    # What breaches first, then by name as people read it.
    result.sort(key=lambda c: (not c.breaching, c.label.lower(), c.key))
    return result


# Per-feature drift, in the manner of Evidently's data drift report -------------------------
DRIFT_TEST = "drift.psi"
# Evidently's default PSI threshold, used where no rule of the firm watches the feature.
DEFAULT_PSI_THRESHOLD = 0.1
# The other figures shown beside the test's score when they were recorded.
DRIFT_FIGURES = ("drift.ks_p", "drift.chi2_p", "drift.js")


@dataclass
class DriftRow:
    feature: str
    kind: str
    test: str
    score: float | None
    at: datetime | None
    threshold: float
    threshold_source: str
    drifted: bool | None
    figures: list[tuple[str, str]] = field(default_factory=list)
    histogram: str | None = None
    current_at: datetime | None = None

    @property
    def label(self) -> str:
        return catalogue.feature_label(self.feature)

    @property
    def score_text(self) -> str:
        return catalogue.format_value(DRIFT_TEST, self.score)


def drift_table(deployment: Deployment, *, now: datetime | None = None) -> dict:
    """One row per feature: its test, latest score, threshold, drifted or not, and the
    reference and latest current distributions drawn side by side.

    The score is the last PSI the portal recorded for the feature (the figure the rules
    see); the threshold is that of the enabled rule watching the feature's PSI, else
    Evidently's default of 0.1. Three queries: references, rules, latest figures.
    """
    now = now or timezone.now()
    references = {
        r.feature: r
        for r in ReferenceDistribution.objects.filter(deployment=deployment).only(
            "feature", "kind", "data", "current", "current_at"
        )
    }
    if not references:
        return {"rows": [], "drifted": 0, "total": 0}
    rules = [r for r in rules_for(deployment) if r.metric == DRIFT_TEST]
    features = sorted(references)
    keys = [(m, f) for f in features for m in (DRIFT_TEST, *DRIFT_FIGURES)]
    latest = latest_samples(deployment.pk, keys, now + timedelta(seconds=1))
    rows = []
    for feature in features:
        ref = references[feature]
        score_at, score = latest.get((DRIFT_TEST, feature), (None, None))
        rule = next((r for r in rules if rule_applies(r, DRIFT_TEST, feature)), None)
        threshold = rule.threshold if rule else DEFAULT_PSI_THRESHOLD
        drifted = None
        if score is not None:
            drifted = breaches(rule, score) if rule is not None else score > DEFAULT_PSI_THRESHOLD
        figures = [
            (catalogue.CATALOGUE[m].test, catalogue.format_value(m, latest[(m, feature)][1]))
            for m in DRIFT_FIGURES
            if (m, feature) in latest
        ]
        rows.append(
            DriftRow(
                feature=feature,
                kind=ref.get_kind_display(),
                test="PSI",
                score=score,
                at=score_at,
                threshold=threshold,
                threshold_source=f"rule {rule.name}" if rule else "Evidently's default",
                drifted=drifted,
                figures=figures,
                histogram=_histogram_of(ref),
                current_at=ref.current_at,
            )
        )
    # Drifted features first, as the breaching series are on the charts.
    rows.sort(key=lambda r: (not r.drifted, r.feature))
    return {
        "rows": rows,
        "drifted": sum(1 for r in rows if r.drifted),
        "total": len(rows),
        "measured": sum(1 for r in rows if r.drifted is not None),
    }


def _histogram_of(reference: ReferenceDistribution) -> str | None:
    if not reference.current:
        return None
    try:
        shares = drift.histogram(
            drift.parse_distribution(reference.kind, reference.data),
            drift.parse_distribution(reference.kind, reference.current),
        )
    except drift.DistributionError:
        return None
    return charts.histogram(
        shares.bins,
        shares.reference,
        shares.current,
        title=f"{catalogue.feature_label(reference.feature)}: reference (grey) and current "
        "(blue) distributions",
    )


def open_flags_of_deployment(deployment: Deployment) -> list[Flag]:
    return list(
        Flag.objects.filter(status=FlagStatus.OPEN, use_case_id=deployment.use_case_id)
        .filter(Q(deployment=deployment) | Q(deployment__isnull=True))
        .select_related("rule")
    )


_UNREAD = object()


def budget_status(use_case: UseCase, spent: float | None, *, budget=_UNREAD) -> dict:
    """This month's spend against the budget (if any), as the pages and the PDF show it.

    ``spent`` None means it was not read (nothing live and no budget): the page says less.
    """
    if budget is _UNREAD:
        budget = Budget.objects.filter(use_case=use_case).first()
    known = spent is not None
    spent = float(spent or 0.0)
    amount = float(budget.monthly_amount) if budget else None
    pct = round(spent / amount * 100, 1) if amount else None
    return {
        "budget": budget,
        "amount": amount,
        "spent": spent,
        "pct": pct,
        "bar": min(pct, 100.0) if pct is not None else None,
        "over": bool(pct is not None and pct >= 100),
        "known": known,
    }


def month_spend_of(use_case_ids: Iterable[int]) -> dict[int, float]:
    return month_spend(use_case_ids=list(use_case_ids))


def cost_days(deployment: Deployment, *, days: int = 30) -> list[dict]:
    """Cost and tokens per day over the last ``days`` days."""

    end = timezone.now()
    return costs_by_period(
        deployment=deployment, period="day", start=end - timedelta(days=days), end=end
    )


def cost_chart(rows: list[dict], title: str, *, days: int = 30) -> str:
    points = [
        charts.Point(
            at=datetime.combine(r["period"], datetime.min.time(), tzinfo=UTC)
            if isinstance(r["period"], date) and not isinstance(r["period"], datetime)
            else r["period"],
            value=float(r["cost"]),
        )
        for r in rows
    ]
    end = timezone.now()
    return charts.line_chart(points, title=title, start=end - timedelta(days=days), end=end)


# The use case page ---------------------------------------------------------------------------
def use_case_monitoring(user, use_case: UseCase, deployments: list | None = None) -> dict:
    """Everything the monitoring card of a use case page needs, in a handful of queries.

    ``deployments``: the use case's active deployments when the page has read them already
    (with their model versions and models). Then: key metrics' last 30 days as daily
    buckets (1 query, none without deployments), open flags (1), the budget (1) and this
    month's spend (the cost service's query; skipped with neither a budget nor a live
    deployment, when there is nothing to spend against).
    """
    if not can(user, "monitoring.view_metrics", use_case):
        return {"monitoring": None}
    if deployments is None:
        deployments = list(
            use_case.deployments.filter(active=True).select_related("model_version__model")
        )
    deployments = [d for d in deployments if d.active]
    end = timezone.now()
    found = series_many(
        [d.pk for d in deployments],
        end - timedelta(days=30),
        end,
        points=30,
        metrics=list(KEY_METRICS),
    )
    trends = defaultdict(list)
    for (dep_id, metric, feature), points_of in found.items():
        if not points_of:
            continue
        label = catalogue.describe(metric, feature)
        trends[dep_id].append(
            {
                "label": label,
                # A day's average: the card says so, the deployment page has the last sample.
                "latest": points_of[-1].value,
                "latest_text": catalogue.format_value(metric, points_of[-1].value),
                "svg": charts.sparkline(points_of, title=f"{label}, last 30 days"),
            }
        )
    cards = [{"deployment": d, "trends": trends.get(d.pk, [])} for d in deployments]
    flags = sorted(
        Flag.objects.filter(use_case=use_case, status=FlagStatus.OPEN).select_related("rule"),
        key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), -f.raised_at.timestamp()),
    )
    budget = Budget.objects.filter(use_case=use_case).first()
    spent = None
    if budget is not None or deployments:
        spent = month_spend_of([use_case.pk]).get(use_case.pk, 0.0)
    return {
        "monitoring": {
            "deployments": cards,
            "flags": flags,
            "costs": budget_status(use_case, spent, budget=budget),
            "can_set_budget": can(user, "monitoring.set_budget", use_case),
            "can_manage": can(user, "monitoring.manage_source", use_case),
        }
    }
