"""Shared by the rule, evaluation and flag tests: a fixed clock, a way to lay down a series, and
a flag raised at that clock."""

from datetime import UTC, datetime, timedelta

from monitoring.models import MetricSample, Rule
from monitoring.services.flags import flag_raise
from tests.factories import RuleFactory

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def record(deployment, metric: str, values, *, feature: str = "", end=NOW, step=MINUTE):
    """Write a series oldest first, its last value at ``end``, one every ``step``."""
    values = list(values)
    MetricSample.objects.bulk_create(
        MetricSample(
            deployment=deployment,
            metric=metric,
            feature=feature,
            at=end - step * (len(values) - 1 - i),
            value=value,
        )
        for i, value in enumerate(values)
    )


def switch_off_shipped_rules() -> None:
    """The three shipped rules watch every deployment; most tests want only their own rule."""
    Rule.objects.exclude(builtin="").update(enabled=False)


def raise_flag(deployment, rule=None, value=0.9):
    rule = rule or RuleFactory()
    return flag_raise(
        rule=rule,
        use_case=deployment.use_case,
        model_version=deployment.model_version,
        deployment=deployment,
        evidence={
            "metric": rule.metric,
            "feature": rule.feature,
            "aggregation": rule.aggregation,
            "window_minutes": rule.window_minutes,
            "window_start": (NOW - timedelta(minutes=rule.window_minutes)).isoformat(),
            "window_end": NOW.isoformat(),
            "comparison": rule.comparison,
            "threshold": rule.threshold,
            "value": value,
            "samples": 1,
            "values": [[NOW.isoformat(), value]],
            "deployment": deployment.pk,
        },
        now=NOW,
    )
