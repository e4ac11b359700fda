"""Celery wrappers around the register's services; the rules stay in registry.services."""

from celery import shared_task

from registry import services


# The name is pinned because CELERY_BEAT_SCHEDULE refers to it; moving the module must not
# silently stop the schedule.
@shared_task(name="registry.tasks.flag_overdue_reviews")
def flag_overdue_reviews() -> int:
    """Flag every live use case whose review date has passed. Returns how many were flagged."""
    return services.flag_use_cases_past_review()
