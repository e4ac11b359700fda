"""The metrics Steward knows, as people read them: a label, a unit, a format, which way is bad.

A metric key is what sources report (``error_rate``, ``drift.psi``); a drift figure is about
one feature (``drift.psi`` of ``transaction_amount``, shown by engineers as
``drift.psi[transaction_amount]``). Pages, charts, the PDF and the API name a series with
``describe(metric, feature)``: "Input drift — transaction amount (PSI)". A key the catalogue
does not know still reads as itself, so a source's own metrics are never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """One family of metrics.

    ``label`` names the figure; for a per-feature family (drift) it is the family's name and
    ``test`` the statistic, so a series reads "{label} — {feature} ({test})". ``kind`` says how
    a value is written: "ratio" (0.012 → 1.2 %), "ms", "money", "count", "p" (a p-value, small
    is bad), "score". ``unit`` is what the stored value counts in ("ratio": 1 is 100 %).
    ``higher_is_worse`` is what a threshold line means when no rule says.
    """

    label: str
    unit: str = ""
    kind: str = "score"
    higher_is_worse: bool = True
    test: str = ""
    help: str = ""


CATALOGUE: dict[str, MetricInfo] = {
    "drift": MetricInfo(
        "Drift score", help="A drift score the system works out and reports itself."
    ),
    "drift.psi": MetricInfo(
        "Input drift",
        test="PSI",
        help="Population Stability Index: 0.1 is a moderate shift, 0.25 a significant one.",
    ),
    "drift.ks": MetricInfo(
        "Input drift",
        test="Kolmogorov-Smirnov statistic",
        help="The largest gap between the two cumulative distributions, 0 to 1.",
    ),
    "drift.ks_p": MetricInfo(
        "Input drift",
        kind="p",
        higher_is_worse=False,
        test="Kolmogorov-Smirnov p-value",
        help="Below 0.05 the current data is unlikely to come from the reference distribution.",
    ),
    "drift.js": MetricInfo(
        "Input drift",
        test="Jensen-Shannon distance",
        help="0 for the same distribution, at most 0.83 (natural logarithm).",
    ),
    "drift.chi2": MetricInfo("Input drift", test="chi-square statistic"),
    "drift.chi2_p": MetricInfo(
        "Input drift",
        kind="p",
        higher_is_worse=False,
        test="chi-square p-value",
        help="Below 0.05 the categories' shares have changed.",
    ),
    "drift.wasserstein": MetricInfo("Input drift", test="Wasserstein distance"),
    "quality": MetricInfo(
        "Quality",
        unit="ratio",
        kind="ratio",
        higher_is_worse=False,
        help="Accuracy or the system's own score.",
    ),
    "accuracy": MetricInfo("Accuracy", unit="ratio", kind="ratio", higher_is_worse=False),
    "error_rate": MetricInfo("Error rate", unit="ratio", kind="ratio"),
    "latency_ms": MetricInfo("Response time", unit="ms", kind="ms"),
    "latency_p95_ms": MetricInfo("Response time, 95th percentile", unit="ms", kind="ms"),
    "correction_rate": MetricInfo(
        "Human correction rate", unit="ratio", kind="ratio", help="Share of outputs people changed."
    ),
    "tokens": MetricInfo("Tokens used", unit="tokens", kind="count"),
    "cost": MetricInfo("Cost", unit="currency", kind="money"),
    "budget_used_pct": MetricInfo("Budget used this month", unit="%", kind="percent"),
}


def info(metric: str) -> MetricInfo | None:
    return CATALOGUE.get(metric)


def feature_label(feature: str) -> str:
    """``transaction_amount`` → "transaction amount"."""
    return feature.replace("_", " ").strip()


def describe(metric: str, feature: str = "") -> str:
    """How a series is named to people; an unknown key reads as the key itself."""
    known = CATALOGUE.get(metric)
    if known is None:
        return f"{metric}[{feature}]" if feature else metric
    if feature:
        test = f" ({known.test})" if known.test else ""
        return f"{known.label} — {feature_label(feature)}{test}"
    if known.test:
        return f"{known.label} ({known.test})"
    return known.label


def key(metric: str, feature: str = "") -> str:
    """The engineer's name of a series, as sources and rules write it."""
    return f"{metric}[{feature}]" if feature else metric


def unit(metric: str) -> str:
    known = CATALOGUE.get(metric)
    if known is None:
        return ""
    if known.unit == "currency":
        return settings.COST_CURRENCY
    return known.unit


def higher_is_worse(metric: str) -> bool:
    known = CATALOGUE.get(metric)
    return True if known is None else known.higher_is_worse


def _sig(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


def format_value(metric: str, value: float | None) -> str:
    """A value with its unit, rounded for reading: "1.2 %", "412 ms", "p < 0.001"."""
    if value is None:
        return "—"
    known = CATALOGUE.get(metric)
    kind = known.kind if known else "score"
    if kind == "ratio":
        return f"{_sig(value * 100)} %"
    if kind == "percent":
        return f"{_sig(value)} %"
    if kind == "ms":
        return f"{value:,.0f} ms" if abs(value) >= 100 else f"{_sig(value)} ms"
    if kind == "money":
        return f"{settings.COST_CURRENCY} {value:,.2f}"
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "p":
        return "p < 0.001" if 0 <= value < 0.001 else f"p = {value:.3f}"
    return _sig(value) if abs(value) < 1000 else f"{value:,.0f}"


def format_tick(metric: str, value: float) -> str:
    """An axis label: short, in the metric's unit where that reads better ("21 %", "400 ms");
    p-values and scores stay figures, since three ticks of "p < 0.001" would say nothing."""
    known = CATALOGUE.get(metric)
    kind = known.kind if known else "score"
    if kind == "ratio":
        return f"{value * 100:.3g} %"
    if kind in ("ms", "percent"):
        return format_value(metric, value)
    if kind == "count":
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10_000 else f"{value:,.0f}"
