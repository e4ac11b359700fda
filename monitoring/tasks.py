"""Celery wrappers around the monitoring services; the rules stay in monitoring.services.

Task names are pinned because CELERY_BEAT_SCHEDULE refers to them.
"""

import logging

from celery import shared_task

# Modules, not names: the pull service queues pull_source from this module, and each side
# reads the other's attribute only when called, so the two can import each other.
from monitoring.services import costs, evaluation, gate_watch, pull
from portal import metrics

logger = logging.getLogger(__name__)


@shared_task(name="monitoring.tasks.dispatch_due_sources")
def dispatch_due_sources() -> int:
    """Claim each metric source that is due and queue its pull. Returns how many were queued."""

    return pull.dispatch_due_sources()


@shared_task(name="monitoring.tasks.pull_source")
def pull_source(source_id: int) -> dict:
    """Pull one source; its health (last success, last error, failures in a row) is recorded."""

    outcome = pull.source_pull(source_id=source_id)
    metrics.PULLS.labels(outcome.status).inc()
    return outcome.as_dict()


@shared_task(name="monitoring.tasks.evaluate_rules")
def evaluate_rules() -> dict:
    """Check every enabled rule against every live deployment's recent samples."""

    return evaluation.rules_evaluate().as_dict()


@shared_task(name="monitoring.tasks.check_budgets")
def check_budgets() -> int:
    """Send the budget alerts (50/75/90/100%) this month has newly crossed."""

    return costs.budgets_check()


@shared_task(name="monitoring.tasks.watch_live_gate")
def watch_live_gate() -> dict:
    """Nightly: re-check the go-live gate of every production use case; flag what now fails."""

    return gate_watch.gate_watch().as_dict()
