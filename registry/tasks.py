"""Celery wrappers around the register's services; the rules stay in registry.services."""

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from registry import services
from registry.models import BusinessUnit

logger = logging.getLogger(__name__)


# The name is pinned because CELERY_BEAT_SCHEDULE refers to it; moving the module must not
# silently stop the schedule.
@shared_task(name="registry.tasks.flag_overdue_reviews")
def flag_overdue_reviews() -> int:
    """Flag every live use case whose review date has passed. Returns how many were flagged."""
    return services.flag_use_cases_past_review()


@shared_task(name="registry.tasks.import_mlflow_models")
def import_mlflow_models(
    *, actor_id: int, business_unit_id: int, owner_id: int, tracking_uri: str = ""
) -> dict:
    """Import MLflow's registered models; returns what was created, updated and left alone.

    A failure to read MLflow raises, so the task's result and the worker's log say why, and
    nothing is written.
    """

    users = get_user_model().objects
    report = services.models_import_mlflow(
        actor=users.get(pk=actor_id),
        tracking_uri=tracking_uri,
        business_unit=BusinessUnit.objects.get(pk=business_unit_id),
        owner=users.get(pk=owner_id),
    )
    logger.info("MLflow import from %s: %s", report.tracking_uri, report.summary())
    return report.as_dict()
