"""Shared by the rule, evaluation and flag tests: a fixed clock and a way to lay down a series."""

from datetime import UTC, datetime, timedelta

from monitoring.models import MetricSample, Rule

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
