"""What the monitoring app adds to the apps below it, at start-up (MonitoringConfig.ready
calls ``register_all``): its records in the history browser, the monitoring card of the
use-case page (trends, open flags and spend), and the material-change rules listening to what
the registry announces (registry.changes.material_change and
registry.signals.model_version_stage_changed)."""

from django.db.models import Count, Q

from monitoring.models import Budget, Flag, FlagStatus, MaterialChangeRule, MetricSource, Rule
from monitoring.selectors import (
    budgets_visible_to,
    flags_visible_to,
    material_rules_visible_to,
    rules_visible_to,
    sources_visible_to,
    use_case_monitoring,
)
from monitoring.services.material_changes import on_material_change, on_stage_changed
from portal import crypto, metrics
from portal.history import tracked as history
from registry import signals
from registry.changes import material_change
from registry.models import UseCase
from registry.pages import use_case_panels


def _use_case_card(user, use_case: UseCase, context: dict) -> dict:
    # The models card (order 20) has read the active deployments already.
    return use_case_monitoring(user, use_case, context.get("deployments"))


def _gauges():
    """For /metrics: open flags, and pulled sources by how their last pull went."""
    yield metrics.gauge(
        "steward_flags_open",
        "Flags open (a rule's breach not yet resolved).",
        Flag.objects.filter(status=FlagStatus.OPEN).count(),
    )
    health = MetricSource.objects.filter(enabled=True).aggregate(
        failing=Count("pk", filter=Q(failures_in_row__gt=0)),
        ok=Count("pk", filter=Q(failures_in_row=0, last_success_at__isnull=False)),
        never=Count("pk", filter=Q(last_success_at__isnull=True, failures_in_row=0)),
    )
    for state, count in health.items():
        yield metrics.gauge(
            "steward_metric_sources",
            "Enabled metric sources by the outcome of their last pull.",
            count,
            {"health": state},
        )


def register_all() -> None:
    metrics.register_gauges(_gauges)
    crypto.register_field(MetricSource, "credentials_encrypted")
    history.register(MetricSource, rule="monitoring.view_metrics", selector=sources_visible_to)
    history.register(Rule, rule="monitoring.view_rule", selector=rules_visible_to)
    history.register(Flag, rule="monitoring.view_flag", selector=flags_visible_to)
    history.register(Budget, rule="monitoring.view_costs", selector=budgets_visible_to)
    history.register(
        MaterialChangeRule,
        rule="monitoring.view_material_rule",
        selector=material_rules_visible_to,
    )
    material_change.connect(on_material_change, dispatch_uid="monitoring:material-change")
    signals.model_version_stage_changed.connect(
        on_stage_changed, dispatch_uid="monitoring:stage-changed"
    )
    use_case_panels.register("monitoring/_use_case_monitoring.html", _use_case_card, order=30)
