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
        worker = None
        # The autoreloader runs this command again in a child (RUN_MAIN=true) for each reload;
        # the worker belongs to the parent, which lives as long as the server.
        if not no_jobs and os.environ.get("RUN_MAIN") != "true":
            worker = self._start_worker()
        try:
            call_command("runserver", addrport)
        finally:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()

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
        self.stdout.write(
            f"Worker and beat on {settings.CELERY_BROKER_URL.split('://')[0]}:// "
            f"(state in {settings.STATE_DIR})"
        )
        return subprocess.Popen(command, env=os.environ.copy())
