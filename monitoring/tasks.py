"""Celery wrappers around the monitoring services; the rules stay in monitoring.services.

Task names are pinned because CELERY_BEAT_SCHEDULE refers to them.
"""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="monitoring.tasks.dispatch_due_sources")
def dispatch_due_sources() -> int:
    """Claim each metric source that is due and queue its pull. Returns how many were queued."""
    from monitoring.services.pull import dispatch_due_sources as dispatch

    return dispatch()


@shared_task(name="monitoring.tasks.pull_source")
def pull_source(source_id: int) -> dict:
    """Pull one source; its health (last success, last error, failures in a row) is recorded."""
    from monitoring.services.pull import source_pull

    return source_pull(source_id=source_id).as_dict()


@shared_task(name="monitoring.tasks.evaluate_rules")
def evaluate_rules() -> dict:
    """Check every enabled rule against every live deployment's recent samples."""
    from monitoring.services.evaluation import rules_evaluate

    return rules_evaluate().as_dict()


@shared_task(name="monitoring.tasks.check_budgets")
def check_budgets() -> int:
    """Send the budget alerts (50/75/90/100%) this month has newly crossed."""
    from monitoring.services.costs import budgets_check

    return budgets_check()
