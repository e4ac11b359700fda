"""A worker process killed in the middle of a task (issue 20, item 3): the task goes back to
the queue at once (acks late, reject on worker lost) and another process finishes it."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from incidents.models import Delivery
from incidents.services.webhooks import webhook_endpoint_create
from portal.celery import app
from tests.incidents.servers import Receiver
from tests.readiness import tail, wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    # This process runs tasks in-process; send_task goes to the broker regardless, as meant.
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_webhook_whose_worker_process_is_killed_is_delivered_by_the_next(
    admin_user, settings, tmp_path
):
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs PostgreSQL and Redis (make test sets both)")
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    queue = f"lost-{uuid.uuid4().hex[:8]}"
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "CONN_MAX_AGE": "0",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "MONITORING_ALLOWED_NETWORKS": "127.0.0.1/32",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "worker.log"
    with Receiver(delay=2.0) as receiver:
        endpoint, _ = webhook_endpoint_create(actor=admin_user, name="Ops", url=receiver.url())
        delivery = Delivery.objects.create(
            endpoint=endpoint, message_id="msg_lost", event="incident.opened",
            subject="incident:INC-0001", sequence=1, payload={}, next_attempt_at=None,
        )  # fmt: skip
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        with log.open("w") as out:
            # The default prefork pool: the task runs in a child process, which is killed.
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "portal", "worker", "--concurrency", "1",
                 "-Q", queue, "-n", f"{queue}@localhost", "--without-gossip", "--without-mingle",
                 "--loglevel", "INFO"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            app.send_task("incidents.tasks.deliver_webhook", args=[delivery.pk], queue=queue)
            wait_for(receiver.arrived.is_set, exited=worker.poll, output=lambda: tail(log),
                     what="the worker to post the webhook")  # fmt: skip
            (child,) = _children(worker.pid)
            os.kill(child, signal.SIGKILL)  # mid-POST: the receiver has not answered yet

            def delivered():
                return Delivery.objects.filter(pk=delivery.pk, delivered_at__isnull=False).exists()

            wait_for(delivered, exited=worker.poll, output=lambda: tail(log),
                     what="the task to come back and the webhook to be delivered")  # fmt: skip
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert ids == ["msg_lost", "msg_lost"]  # sent again by the new process, same id
    assert "WorkerLostError" in log.read_text() or "lost" in log.read_text().lower()
