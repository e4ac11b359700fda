"""Beat's dispatch and the pull, run by a real Celery worker on Redis against the test database."""

import time

import pytest
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import EagerResult

from monitoring.models import MetricSample, MetricSource
from monitoring.tasks import dispatch_due_sources
from portal.celery import app as celery_app
from tests.factories import MetricSourceFactory
from tests.monitoring.servers import TestServer

pytestmark = pytest.mark.celery

RESULT_TIMEOUT_SECONDS = 30


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
        queued = celery_worker.result(sent.id).get(timeout=RESULT_TIMEOUT_SECONDS)
    except CeleryTimeoutError:
        pytest.fail(
            f"No dispatch result within {RESULT_TIMEOUT_SECONDS}s:\n{celery_worker.log_tail()}"
        )
    assert queued == 1
    # The dispatch queued a pull_source task; the same worker runs it next.
    deadline = time.monotonic() + RESULT_TIMEOUT_SECONDS
    while True:
        source = MetricSource.objects.get(pk=source.pk)
        if source.last_success_at or source.last_error_at:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"The worker did not pull the source:\n{celery_worker.log_tail()}")
        time.sleep(0.2)

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
