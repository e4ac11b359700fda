"""Waiting for what a test started (a server, a worker, a scrape): poll the condition with short
pauses until a deadline, never a fixed sleep, and say what was awaited when giving up.

The deadline is generous because the suite runs on loaded 2-core machines, where the MLflow
server has taken more than 90 s to answer its first request. A healthy server answers within
seconds, so only a broken one makes a test wait the whole deadline; a process that exits ends
the wait at once. STEWARD_TEST_SERVER_DEADLINE (seconds) sets another deadline.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

DEADLINE_ENV = "STEWARD_TEST_SERVER_DEADLINE"
DEADLINE_SECONDS = float(os.environ.get(DEADLINE_ENV) or 300)
POLL_SECONDS = 0.25

T = TypeVar("T")


def tail(log: Path, lines: int = 40) -> str:
    """The last lines a process wrote to its log, for a failure message."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:]) or "(it wrote nothing)"


def wait_for(
    ready: Callable[[], T],
    *,
    what: str,
    deadline: float = DEADLINE_SECONDS,
    poll: float = POLL_SECONDS,
    exited: Callable[[], object] | None = None,
    output: Callable[[], str] | None = None,
) -> T:
    """Call ``ready`` until it returns something true, and return that.

    ``what`` says what is awaited, e.g. "GET http://127.0.0.1:5000/health to answer 200", for
    the failure message. An OSError from ``ready`` (refused, reset, timed out: the server is not
    listening yet) counts as not ready. ``exited`` (a Popen's ``poll``) ends the wait as soon as
    it returns something other than None: the process, or thread, that would make ``ready``
    true has ended. ``output`` gives the tail of its log.
    """
    give_up = time.monotonic() + deadline
    last_error = "none"
    while True:
        try:
            result = ready()
        except OSError as exc:
            result, last_error = None, f"{type(exc).__name__}: {exc}"
        if result:
            return result
        code = exited() if exited is not None else None
        if code is not None or time.monotonic() > give_up:
            why = (
                f"it ended first ({f'exit status {code}' if isinstance(code, int) else code})"
                if code is not None
                else f"gave up after {deadline:g} s ({DEADLINE_ENV} sets this deadline)"
            )
            pytest.fail(
                f"Waited for {what}: {why}; last error: {last_error}"
                + (f"\n--- the last lines of its output ---\n{output()}" if output else "")
            )
        time.sleep(poll)
