"""The one-page monitoring report of a use case (PDF): trends, open flags, cost vs budget."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from monitoring import charts, selectors
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
    by_id = {d.pk: d for d in deployments}
    found = selectors.series_many(
        list(by_id), start, end, points=60, metrics=list(selectors.KEY_METRICS)
    )
    trend_charts: list[dict] = []
    for (dep_id, metric, feature), points in found.items():
        if not points or len(trend_charts) >= MAX_CHARTS:
            continue
        label = f"{metric}[{feature}]" if feature else metric
        deployment = by_id[dep_id]
        trend_charts.append(
            {
                "label": label,
                "deployment": deployment,
                "latest": points[-1].value,
                "svg": charts.line_chart(
                    points,
                    title=f"{label}, {deployment.model_version}, last 30 days",
                    start=start,
                    end=end,
                    width=420,
                    height=150,
                ),
            }
        )
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
        "flags": flags,
        "costs": selectors.budget_status(use_case, spent),
        "currency": settings.COST_CURRENCY,
        "generated_at": end,
        "site_name": settings.SITE_NAME,
        "start": start,
    }
