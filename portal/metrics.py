"""Steward's own figures for Prometheus at /metrics (METRICS_TOKEN turns it on).

Counters and histograms are kept per process by prometheus_client; with
PROMETHEUS_MULTIPROC_DIR set (docs/operations.md) every gunicorn and Celery process writes
them to that folder and a scrape adds them up. Gauges of what the database holds (the outbox's
backlog, open flags, pending webhooks, the workers' and beat's last signs of life) are read at
scrape time, from collectors the apps register (``register_gauges``).
"""

import logging
import os
import time
from collections.abc import Callable, Iterable

from celery.signals import task_failure, task_postrun, task_prerun
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REQUESTS = Counter(
    "steward_http_requests", "HTTP requests answered, by method, status and view.",
    ["method", "status", "view"],
)  # fmt: skip
REQUEST_SECONDS = Histogram(
    "steward_http_request_duration_seconds", "Time to answer a request.", ["method"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip
PULLS = Counter(
    "steward_pulls", "Metric-source pulls, by result (ok, failed, skipped).", ["result"]
)
WEBHOOK_FAILURES = Counter("steward_webhook_failures", "Webhook attempts not acknowledged.")
TASK_SECONDS = Histogram(
    "steward_task_duration_seconds", "Time a background task ran, by task.", ["task"],
    buckets=(0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)  # fmt: skip
TASK_FAILURES = Counter("steward_task_failures", "Background tasks that raised, by task.", ["task"])
CONTENT_TYPE = CONTENT_TYPE_LATEST
logger = logging.getLogger(__name__)

GaugeSource = Callable[[], Iterable[GaugeMetricFamily]]
_gauges: list[GaugeSource] = []


def register_gauges(source: GaugeSource) -> None:
    """An app's gauges, read from the database at each scrape."""
    if source not in _gauges:
        _gauges.append(source)


def gauge(name: str, documentation: str, value: float, labels: dict | None = None):
    family = GaugeMetricFamily(name, documentation, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


class _DatabaseGauges(Collector):
    """The apps' gauges. One that cannot be read (the database is down) is left out and
    counted in ``steward_metrics_gauge_errors``: the scrape still answers, with the request
    counters that show the outage."""

    def collect(self):
        errors = 0
        for source in _gauges:
            try:
                families = list(source())
            except Exception:
                errors += 1
                logger.warning("A /metrics gauge could not be read", exc_info=True)
                continue
            yield from families
        yield gauge(
            "steward_metrics_gauge_errors", "Gauge sources that failed at this scrape.", errors
        )


def observe_request(method: str, status: int, view: str, seconds: float) -> None:
    REQUESTS.labels(method, str(status), view).inc()
    REQUEST_SECONDS.labels(method).observe(seconds)


def render() -> bytes:
    """The exposition text: every process's counters (or this one's), then the gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    gauges = CollectorRegistry()
    gauges.register(_DatabaseGauges())
    return generate_latest(counted) + generate_latest(gauges)


_started: dict[str, float] = {}


def _task_started(task_id=None, **kwargs) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


def _task_finished(task_id=None, task=None, **kwargs) -> None:
    began = _started.pop(task_id, None) if task_id else None
    if began is not None and task is not None:
        TASK_SECONDS.labels(task.name).observe(time.monotonic() - began)


def _task_failed(sender=None, **kwargs) -> None:
    TASK_FAILURES.labels(getattr(sender, "name", "unknown")).inc()


def connect() -> None:
    task_prerun.connect(_task_started, weak=False, dispatch_uid="metrics:prerun")
    task_postrun.connect(_task_finished, weak=False, dispatch_uid="metrics:postrun")
    task_failure.connect(_task_failed, weak=False, dispatch_uid="metrics:failure")
