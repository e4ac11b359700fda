"""`make run`'s jobs: `manage.py serve` starts the web server with a worker and beat on the
embedded broker, so side effects and scheduled jobs run with no Redis (issue 20, item 1)."""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from devtools.management.commands.serve import WorkerKeeper
from tests.databases import copy_sqlite
from tests.readiness import tail, wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The last answer /readyz gave while not ready, for the failure message.
_NOT_READY: list[str] = [""]


def _ready(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        _NOT_READY[0] = answer.read().decode(errors="replace")
        return None


def test_the_embedded_default_runs_its_jobs_without_redis(tmp_path, migrated_sqlite):
    port = _free_port()
    # The run's migrated database (tests/databases.py); `migrate` below finds nothing to do,
    # as on a second `make run`.
    copy_sqlite(migrated_sqlite, tmp_path / "db.sqlite3")
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
            # Its last answer says which check failed; the log, what the worker said.
            output=lambda: f"/readyz: {_NOT_READY[0]}\n" + tail(log, 120),
        )
        assert state["checks"]["worker"]["ok"] and state["checks"]["beat"]["ok"]

        # A side effect written by another process goes through the embedded broker.
        def queue_email(username: str) -> None:
            subprocess.run(
                [*manage, "shell", "-c",
                 "from django.contrib.auth import get_user_model as g; from portal import notify; "
                 f"u = g().objects.create(username='{username}', email='{username}@example.com'); "
                 "notify.email([u], 'Hello', 'From the outbox')"],
                cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
            )  # fmt: skip

        def sent(emails: int):
            with sqlite3.connect(tmp_path / "db.sqlite3", timeout=30) as db:
                (done,) = db.execute(
                    "SELECT COUNT(*) FROM portal_outboxmessage "
                    "WHERE task = ? AND done_at IS NOT NULL",
                    ["portal.tasks.send_email"],
                ).fetchone()
            # done_at is written once the mail backend took the message, by the worker.
            return done >= emails

        queue_email("x")
        wait_for(lambda: sent(1), what="the worker to send the queued email",
                 exited=server.poll, output=lambda: tail(log))  # fmt: skip

        # A worker that dies is started again, and the jobs go on.
        [worker] = re.findall(r"process (\d+)\)", log.read_text())
        os.kill(int(worker), signal.SIGKILL)
        wait_for(
            lambda: len(re.findall(r"process (\d+)\)", log.read_text())) == 2,
            what="serve to start the killed worker again",
            exited=server.poll,
            output=lambda: tail(log),
        )
        assert f"The worker stopped (exit code -{signal.SIGKILL.value})" in log.read_text()
        queue_email("y")
        wait_for(lambda: sent(2), what="the new worker to send the next email",
                 exited=server.poll, output=lambda: tail(log))  # fmt: skip
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
    # Beat's schedule and the embedded broker's files are in STATE_DIR, not the checkout.
    assert not (ROOT / "celerybeat-schedule").exists() and not (ROOT / "control").exists()
    assert (tmp_path / "state" / "celerybeat-schedule").exists() or any(
        (tmp_path / "state").glob("celerybeat-schedule*")
    )


def test_the_keeper_starts_a_stopped_worker_again_even_after_a_start_that_failed(monkeypatch):
    """A worker that exits is started again; a start that fails (no memory for a process) is
    tried again later rather than ending the restarts; stopping stops the newest worker."""
    monkeypatch.setattr(WorkerKeeper, "RESTART_FIRST_SECONDS", 0.05)
    said: list[str] = []
    starts: list[subprocess.Popen | None] = []

    def start() -> subprocess.Popen:
        if len(starts) == 1:
            starts.append(None)
            raise OSError("no memory")
        code = "import sys; sys.exit(3)" if len(starts) < 3 else "import time; time.sleep(120)"
        worker = subprocess.Popen([sys.executable, "-c", code])
        starts.append(worker)
        return worker

    keeper = WorkerKeeper(start, said.append)
    keeper.start()
    try:
        wait_for(lambda: len(starts) >= 4, what="the keeper's fourth start of the worker")
    finally:
        keeper.stop()
    last = starts[3]
    assert last is not None and last.poll() is not None  # stopped with the server
    assert said[:3] == [
        "The worker stopped (exit code 3); starting it again in 0.05 s.",
        "The worker could not be started (no memory); trying again.",
        "The worker stopped (exit code 3); starting it again in 0.2 s.",
    ]
