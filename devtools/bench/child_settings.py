"""Settings of the worker and beat that `manage.py bench --only operations` starts.

portal.settings as deployed, with two differences the benchmark needs:

- emails go to files in BENCH_EMAIL_DIR (Django's file-based backend), so the benchmark can
  count how many times each side effect really ran;
- BENCH_TICK_SECONDS, when set, replaces the one-minute schedule of the pull dispatch and the
  rule evaluation (a quick run of the benchmark, such as its test; the figures the issue asks
  for use the minute).
"""

import os

from portal.settings import *  # noqa: F403 (everything else as deployed)
from portal.settings import CELERY_BEAT_SCHEDULE

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ["BENCH_EMAIL_DIR"]

_tick = int(os.environ.get("BENCH_TICK_SECONDS") or 0)
if _tick:
    CELERY_BEAT_SCHEDULE = {
        **CELERY_BEAT_SCHEDULE,
        "pull-due-metric-sources": {
            "task": "monitoring.tasks.dispatch_due_sources",
            "schedule": _tick,
        },
        "evaluate-monitoring-rules": {"task": "monitoring.tasks.evaluate_rules", "schedule": _tick},
    }
