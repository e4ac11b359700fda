"""The one-page monitoring report of a use case (PDF): whether the AI is on, trends with their
thresholds (breaching first), open flags, cost vs budget."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from monitoring import selectors
from monitoring.models import Flag, FlagStatus
from registry.models import UseCase

# A page holds this many charts beside the flags and the costs; more would spill over.
MAX_CHARTS = 6


def report_context(use_case: UseCase) -> dict:
    end = timezone.now()
    start = end - timedelta(days=30)
    deployments = list(
        use_case.deployments.filter(active=True).select_related("model_version__model")
    )
    found: list[tuple[selectors.SeriesChart, object]] = []
    for deployment in deployments:
        found += [
            (chart, deployment)
            for chart in selectors.series_charts(
                deployment,
                start,
                end,
                points=60,
                metrics=list(selectors.KEY_METRICS),
                width=420,
                height=150,
            )
            if chart.latest is not None
        ]
    # What breaches first, whichever deployment it is on.
    found.sort(key=lambda pair: (not pair[0].breaching, pair[0].label.lower()))
    trend_charts = [
        {
            "label": chart.label,
            "key": chart.key,
            "deployment": deployment,
            "latest": chart.latest,
            "latest_text": chart.latest_text,
            "latest_at": chart.latest_at,
            "count": chart.count,
            "breaching": chart.breaching,
            "thresholds": chart.threshold_texts,
            "svg": chart.svg,
        }
        for chart, deployment in found[:MAX_CHARTS]
    ]
    # One line per deployment with drift figures: how many features drifted, and which.
    drift_lines = []
    for deployment in deployments:
        table = selectors.drift_table(deployment, now=end)
        if table["total"]:
            drifted = [row.label for row in table["rows"] if row.drifted]
            drift_lines.append({**table, "deployment": deployment, "drifted_names": drifted})
    flags = list(
        Flag.objects.filter(use_case=use_case, status=FlagStatus.OPEN)
        .select_related("rule")
        .order_by("-raised_at")[:12]
    )
    spent = selectors.month_spend_of([use_case.pk]).get(use_case.pk, 0.0)
    return {
        "use_case": use_case,
        "deployments": deployments,
        "charts": trend_charts,
        "more_charts": max(len(found) - MAX_CHARTS, 0),
        "drift_lines": drift_lines,
        "flags": flags,
        "costs": selectors.budget_status(use_case, spent),
        "currency": settings.COST_CURRENCY,
        "generated_at": end,
        "site_name": settings.SITE_NAME,
        "start": start,
    }
