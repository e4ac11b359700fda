"""Health, readiness, metrics and logs: what an operator's monitoring reads (issue 20)."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError
from django.utils import timezone

from portal import metrics, notify
from portal.models import Heartbeat, OutboxMessage
from tests.portal.test_outbox import broker_down

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def test_liveness_answers_json(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_ready_with_tasks_in_process(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.json()
    checks = answer.json()["checks"]
    assert checks["database"]["ok"] and checks["outbox"]["ok"]
    assert set(checks) == {"database", "broker", "worker", "beat", "outbox"}


def _alive(*names):
    for name in names:
        Heartbeat.objects.update_or_create(name=name, defaults={"at": timezone.now()})


def test_not_ready_without_a_worker_or_beat(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the shared Redis of the test run is the broker
    answer = client.get("/readyz")
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["broker"]["ok"], checks["broker"]
    assert checks["worker"] == {**checks["worker"], "ok": False, "detail": "never seen"}
    _alive("worker", "beat")
    assert client.get("/readyz").status_code == 200
    Heartbeat.objects.filter(name="beat").update(at=timezone.now() - timedelta(minutes=5))
    answer = client.get("/readyz")
    assert (
        answer.status_code == 503 and "more than 60 s" in answer.json()["checks"]["beat"]["detail"]
    )


def test_not_ready_with_the_broker_down(client, settings):
    _alive("worker", "beat")
    with broker_down(settings):
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["broker"]["ok"] is False
    assert "unreachable" in answer.json()["checks"]["broker"]["detail"]


def test_not_ready_while_side_effects_pile_up(client, settings, product_owner):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    notify.email([product_owner], "A", "B")  # written, not relayed (the test never commits)
    assert client.get("/readyz").status_code == 200
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["outbox"]["detail"].startswith("1 waiting, oldest 6")


def _portal_process(code: str, **env) -> subprocess.CompletedProcess:
    """Run code in a fresh Steward process with these settings (as its own server would)."""
    full = {**os.environ, "SECRET_KEY": "x", "DEBUG": "false", "SECURE": "false", **env}
    prelude = "import django; django.setup(); from django.test import Client; c = Client()\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=ROOT,
        env={**full, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_with_the_database_down_liveness_holds_and_readiness_says_503_in_json():
    from tests.monitoring.servers import closed_port  # noqa: PLC0415 (a test helper)

    done = _portal_process(
        "a = c.get('/healthz'); b = c.get('/readyz')\n"
        "print(a.status_code, a['Content-Type']); print(b.status_code, b['Content-Type'])\n"
        "print(b.content.decode())",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port()}/steward",
        ALLOWED_HOSTS="testserver",
    )
    lines = done.stdout.splitlines()
    assert lines[:2] == ["200 application/json", "503 application/json"], done.stderr[-2000:]
    checks = json.loads(lines[2])["checks"]
    assert checks["database"]["ok"] is False and "unreachable" in checks["database"]["detail"]


def test_metrics_are_off_without_a_token_and_need_it(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "s3cret-scrape"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    client.get("/healthz")
    answer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape")
    assert answer.status_code == 200
    text = answer.content.decode()
    for name in (
        "steward_http_requests_total",
        "steward_outbox_pending",
        "steward_outbox_oldest_age_seconds",
        "steward_flags_open",
        "steward_webhook_deliveries_pending",
        'steward_heartbeat_age_seconds{process="worker"}',
        'steward_metric_sources{health="failing"}',
    ):
        assert name in text, name
    assert 'view="healthz"' in text


def test_json_logs_carry_time_level_and_the_request_id(tmp_path):
    done = _portal_process(
        "r = c.get('/healthz', HTTP_X_REQUEST_ID='abc-123'); print(r['X-Request-ID'])\n"
        "r = c.get('/healthz'); print(r['X-Request-ID'])",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        LOG_FORMAT="json",
        ALLOWED_HOSTS="testserver",
    )
    given, generated = done.stdout.split()
    assert given == "abc-123" and len(generated) == 32
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "steward.access"]
    assert [a["request_id"] for a in access] == ["abc-123", generated], done.stderr[-2000:]
    first = access[0]
    assert first["level"] == "INFO" and first["status"] == 200 and first["path"] == "/healthz"
    assert first["time"].endswith("+00:00") and first["duration_ms"] >= 0


def test_metrics_answer_with_the_counters_when_a_gauge_cannot_be_read(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape"

    def broken():
        raise OperationalError("the database is down")
        yield  # a generator, as the apps' gauges are

    metrics.register_gauges(broken)
    try:
        client.get("/healthz")
        answer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape")
    finally:
        metrics._gauges.remove(broken)
    assert answer.status_code == 200
    text = answer.content.decode()
    assert 'view="healthz"' in text and "steward_outbox_pending" in text
    assert "steward_metrics_gauge_errors 1.0" in text


def test_a_message_that_keeps_failing_is_counted_not_held_against_readiness(
    client, settings, product_owner
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    notify.email([product_owner], "A", "B")  # written, not relayed (the test never commits)
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(hours=3), failures=4)
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["checks"]["outbox"]["detail"].startswith("1 waiting, oldest 0 s")
