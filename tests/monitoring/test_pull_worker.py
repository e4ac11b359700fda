"""Beat's dispatch and the pull, run by a real Celery worker on Redis against the test database."""

import pytest
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import EagerResult

from monitoring.models import MetricSample, MetricSource
from monitoring.tasks import dispatch_due_sources
from portal.celery import app as celery_app
from tests.factories import MetricSourceFactory
from tests.monitoring.servers import TestServer
from tests.readiness import DEADLINE_SECONDS, wait_for

pytestmark = pytest.mark.celery


@pytest.fixture
def send_to_worker():
    """Settings make this process run tasks in-process; send them to the worker instead."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = eager


@pytest.fixture
def server():
    with TestServer() as running:
        yield running


def test_worker_dispatches_and_pulls_a_due_source(
    celery_worker, send_to_worker, transactional_db, django_db_serialized_rollback, server
):
    server.answer("/stats", json={"errors": {"rate": 0.05}, "p95": 210})
    source = MetricSourceFactory(
        url=server.url("/stats"),
        config={"metrics": {"error_rate": "errors.rate", "latency_ms": "p95"}},
    )

    sent = dispatch_due_sources.apply_async()

    assert not isinstance(sent, EagerResult)
    try:
        queued = celery_worker.result(sent.id).get(timeout=DEADLINE_SECONDS)
    except CeleryTimeoutError:
        pytest.fail(
            f"No dispatch result within {DEADLINE_SECONDS:.0f} s:\n{celery_worker.log_tail()}"
        )
    assert queued == 1
    # The dispatch queued a pull_source task; the same worker runs it next.

    def pulled() -> MetricSource | None:
        fresh = MetricSource.objects.get(pk=source.pk)
        return fresh if fresh.last_success_at or fresh.last_error_at else None

    source = wait_for(
        pulled,
        what=f"the worker to pull source {source.pk} ({source.url}): a last success or error",
        output=celery_worker.log_tail,
    )

    if "127.0.0.1 is a loopback address" in source.last_error:
        pytest.fail(
            "The worker refused 127.0.0.1: it was started without "
            "MONITORING_ALLOWED_NETWORKS=127.0.0.1/32 in its environment (tests/conftest.py)."
        )
    assert source.last_error == ""
    assert source.failures_in_row == 0
    assert source.last_sample_count == 2
    assert source.claimed_until is None
    assert sorted(MetricSample.objects.filter(source=source).values_list("metric", "value")) == [
        ("error_rate", 0.05),
        ("latency_ms", 210.0),
    ]
    assert len(server.requests) == 1
