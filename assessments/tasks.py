"""Celery wrappers around the assessment services."""

from celery import shared_task

from assessments import services


@shared_task(name="assessments.tasks.flag_overdue_assessments")
def flag_overdue_assessments() -> int:
    """Flag use cases whose signed-off assessments are past their valid-until date."""
    return services.flag_overdue_assessments()


@shared_task(name="assessments.tasks.prune_unattached_evidence")
def prune_unattached_evidence() -> int:
    """Remove uploaded evidence that no answer ever referred to (after a grace period)."""
    return services.evidence_prune_unattached()
