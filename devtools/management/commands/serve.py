"""``manage.py serve [addr:port]``: the embedded default in one command (``make run``).

Starts Django's development server and, beside it, one Celery worker with beat embedded
(``celery -A portal worker -B``) on the embedded broker: queues kept as files in the state
folder (kombu's filesystem transport, ``CELERY_BROKER_URL=filesystem://``), so metric pulls,
rules, reminders, the outbox relay and webhook retries run with no Redis. The worker stops
when the server does. With a real broker configured, it uses that instead.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the web server and a worker with beat (the embedded default)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument(
            "--no-jobs", action="store_true", help="The web server alone (no worker or beat)."
        )

    def handle(self, *args, addrport: str, no_jobs: bool, **options):
        keeper = None
        # The autoreloader runs this command again in a child (RUN_MAIN=true) for each reload;
        # the worker belongs to the parent, which lives as long as the server.
        if not no_jobs and os.environ.get("RUN_MAIN") != "true":
            keeper = WorkerKeeper(self._start_worker, self.stderr.write)
            keeper.start()
        try:
            call_command("runserver", addrport)
        finally:
            if keeper is not None:
                keeper.stop()

    def _start_worker(self) -> subprocess.Popen:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError(
                "Tasks are set to run in-process (CELERY_TASK_ALWAYS_EAGER): there is no broker "
                "for a worker. Set CELERY_BROKER_URL=filesystem:// (the embedded broker, as "
                "`make run` does) or redis://..., or pass --no-jobs."
            )
        command = [
            sys.executable, "-m", "celery", "-A", "portal", "worker", "--beat",
            "--concurrency", "1", "--loglevel", "INFO",
            "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
        ]  # fmt: skip
        worker = subprocess.Popen(command, env=os.environ.copy())
        self.stdout.write(
            f"Worker and beat on {settings.CELERY_BROKER_URL.split('://')[0]}:// "
            f"(state in {settings.STATE_DIR}; process {worker.pid})"
        )
        return worker


class WorkerKeeper:
    """Keeps the worker running as long as the server: a worker that exits (killed, out of
    memory, a crash at start-up on a busy machine) is started again after a pause that doubles
    up to RESTART_MAX_SECONDS, and says so, rather than leaving the portal serving pages with
    no jobs running and /readyz answering 503 until someone notices."""

    RESTART_FIRST_SECONDS = 1.0
    RESTART_MAX_SECONDS = 30.0
    # A worker that ran this long before it exited was healthy: the pause starts again small.
    HEALTHY_SECONDS = 300.0

    def __init__(self, start: Callable[[], subprocess.Popen], say: Callable[[str], object]):
        self._start, self._say = start, say
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.worker: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._keep, name="worker-keeper", daemon=True)

    def start(self) -> None:
        self.worker = self._start()
        self._thread.start()

    def _keep(self) -> None:
        pause = self.RESTART_FIRST_SECONDS
        while not self._stopping.is_set():
            worker = self.worker
            if worker is not None:
                started = time.monotonic()
                code = worker.wait()
                if self._stopping.is_set():
                    return
                if time.monotonic() - started >= self.HEALTHY_SECONDS:
                    pause = self.RESTART_FIRST_SECONDS
                self._say(
                    f"The worker stopped (exit code {code}); starting it again in {pause:g} s."
                )
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, self.RESTART_MAX_SECONDS)
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self.worker = self._start()
                except Exception as exc:  # no memory for a process, say: try again later
                    self.worker = None
                    self._say(f"The worker could not be started ({exc}); trying again.")

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            worker = self.worker
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
