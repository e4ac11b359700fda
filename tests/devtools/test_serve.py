"""`make run`'s jobs: `manage.py serve` starts the web server with a worker and beat on the
embedded broker, so side effects and scheduled jobs run with no Redis (issue 20, item 1)."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.readiness import tail, wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ready(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError:
        return None


def test_the_embedded_default_runs_its_jobs_without_redis(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "STATE_DIR": str(tmp_path / "state"),
        "SITE_URL": f"http://127.0.0.1:{port}",
        "DEBUG": "true",
        "SECURE": "false",
        "SECRET_KEY": "test-only-secret",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [*manage, "serve", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        # Ready means a worker ran beat's heartbeat task and beat ticked: both are running.
        state = wait_for(
            lambda: _ready(f"http://127.0.0.1:{port}/readyz"),
            what=f"GET http://127.0.0.1:{port}/readyz to answer 200 (worker and beat alive)",
            exited=server.poll,
            output=lambda: tail(log),
        )
        assert state["checks"]["worker"]["ok"] and state["checks"]["beat"]["ok"]

        # A side effect written by another process goes through the embedded broker.
        subprocess.run(
            [*manage, "shell", "-c",
             "from django.contrib.auth import get_user_model as g; from portal import notify; "
             "u = g().objects.create(username='x', email='x@example.com'); "
             "notify.email([u], 'Hello', 'From the outbox')"],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
        )  # fmt: skip

        def sent():
            with sqlite3.connect(tmp_path / "db.sqlite3", timeout=30) as db:
                row = db.execute(
                    "SELECT done_at FROM portal_outboxmessage WHERE task = ?",
                    ["portal.tasks.send_email"],
                ).fetchone()
            # done_at is written once the mail backend took the message, by the worker.
            return row is not None and row[0] is not None

        wait_for(sent, what="the worker to send the queued email", exited=server.poll,
                 output=lambda: tail(log))  # fmt: skip
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
    # Beat's schedule and the embedded broker's files are in STATE_DIR, not the checkout.
    assert not (ROOT / "celerybeat-schedule").exists() and not (ROOT / "control").exists()
    assert (tmp_path / "state" / "celerybeat-schedule").exists() or any(
        (tmp_path / "state").glob("celerybeat-schedule*")
    )
