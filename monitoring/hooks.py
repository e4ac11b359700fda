"""What the monitoring app adds to the apps below it, at start-up (MonitoringConfig.ready
calls ``register_all``): its records in the history browser and the monitoring card of the
use-case page (trends, open flags and spend)."""

from monitoring.models import Budget, Flag, MetricSource, Rule
from monitoring.selectors import (
    budgets_visible_to,
    flags_visible_to,
    rules_visible_to,
    sources_visible_to,
    use_case_monitoring,
)
from portal.history import tracked as history
from registry.models import UseCase
from registry.pages import use_case_panels


def _use_case_card(user, use_case: UseCase, context: dict) -> dict:
    # The models card (order 20) has read the active deployments already.
    return use_case_monitoring(user, use_case, context.get("deployments"))


def register_all() -> None:
    history.register(MetricSource, rule="monitoring.view_metrics", selector=sources_visible_to)
    history.register(Rule, rule="monitoring.view_rule", selector=rules_visible_to)
    history.register(Flag, rule="monitoring.view_flag", selector=flags_visible_to)
    history.register(Budget, rule="monitoring.view_costs", selector=budgets_visible_to)
    use_case_panels.register("monitoring/_use_case_monitoring.html", _use_case_card, order=30)
