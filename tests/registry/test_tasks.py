"""The register's Celery tasks, run by a real worker on Redis against the test database."""

from datetime import timedelta

import pytest
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import EagerResult
from django.utils import timezone

from portal.celery import app as celery_app
from registry.tasks import flag_overdue_reviews
from tests.factories import ProductionUseCaseFactory, RetiredUseCaseFactory
from tests.readiness import DEADLINE_SECONDS

pytestmark = pytest.mark.celery


@pytest.fixture
def send_to_worker():
    """Settings make this process run tasks in-process; send them to the worker instead."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = eager


def test_worker_flags_live_use_cases_past_their_review_date(
    celery_worker,
    send_to_worker,
    transactional_db,
    django_db_serialized_rollback,
    retail,
    product_owner,
):
    today = timezone.localdate()
    in_retail = {"business_unit": retail, "owner": product_owner}
    overdue = ProductionUseCaseFactory(**in_retail, next_review_date=today - timedelta(days=10))
    not_due = ProductionUseCaseFactory(**in_retail, next_review_date=today + timedelta(days=30))
    retired = RetiredUseCaseFactory(**in_retail, next_review_date=today - timedelta(days=10))

    sent = flag_overdue_reviews.apply_async()

    assert not isinstance(sent, EagerResult)
    try:
        flagged = celery_worker.result(sent.id).get(timeout=DEADLINE_SECONDS)
    except CeleryTimeoutError:
        pytest.fail(
            f"No result from the worker within {DEADLINE_SECONDS:.0f} s:\n"
            f"{celery_worker.log_tail()}"
        )
    assert flagged == 1
    for use_case in (overdue, not_due, retired):
        use_case.refresh_from_db()
    reason = f"Review date {overdue.next_review_date.isoformat()} has passed"
    assert overdue.needs_reassessment
    assert overdue.reassessment_reasons == f"{today.isoformat()}: {reason}"
    assert overdue.history.first().history_change_reason == f"Flagged for re-assessment: {reason}"
    assert not not_due.needs_reassessment
    assert not retired.needs_reassessment
    assert retired.reassessment_reasons == ""
