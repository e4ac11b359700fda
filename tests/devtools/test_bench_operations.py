"""`manage.py bench --only operations` end to end in a tiny configuration.

It starts its own redis-server, a Celery worker and beat, so it is slow and needs PostgreSQL.
The figures it prints are read back: every side effect relayed and done, no save failed while
Redis was down, every email sent exactly once, and a breach turned into a flag. The test
passes --tick-seconds 5 (the source's pull interval and beat's pull and rule schedule):
the one-minute schedule the benchmark measures by default would make a breach take up to two
minutes here. A quick run also hands out again after 30 s a message Redis lost in the outage
(five minutes as deployed), which a loaded machine's worker may not have taken before Redis
stopped.
"""

import io
import re
import shutil

import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

MESSAGES = 300


def figure(output: str, label: str) -> tuple[float, str]:
    """The figure and detail printed on the line of `label`."""
    match = re.search(rf"^{re.escape(label)}\s+([\d,.]+)\s+(.*)$", output, re.MULTILINE)
    assert match, f"no line {label!r} in:\n{output}"
    return float(match[1].replace(",", "")), match[2]


def test_operations_benchmark_runs_end_to_end(unavailable):
    if connection.vendor != "postgresql":
        unavailable("the operations benchmark runs on PostgreSQL")
    if shutil.which("redis-server") is None:
        unavailable("the operations benchmark starts its own redis-server, which is missing")
    out = io.StringIO()
    call_command(
        "bench",
        "--only=operations",
        "--use-cases=30",
        "--models=2",
        f"--outbox-messages={MESSAGES}",
        "--outage-seconds=5",
        "--write-rate=10",
        "--breaches=1",
        "--tick-seconds=5",
        stdout=out,
    )
    output = out.getvalue()

    handed, detail = figure(output, "outbox relay: side effects handed to Redis")
    assert handed > 0
    assert f"{MESSAGES} in the Redis queue" in detail
    rate, detail = figure(output, "outbox end to end: relayed and run by a worker")
    assert rate > 0
    assert f"{MESSAGES} of {MESSAGES} done" in detail
    assert "0 failed" in detail

    failures, detail = figure(output, "saves that failed (broker down or up)")
    assert failures == 0, detail
    peak, _ = figure(output, "backlog at its peak")
    assert peak >= 1
    drain, detail = figure(output, "drain: Redis back to backlog zero")
    # A quick run hands a message Redis lost out again after 30 s, not the deployed five
    # minutes; beat relays every 10 s.
    assert "handed out again after 30 s" in detail, detail
    assert 0 <= drain < 30 + 180, detail
    sent, detail = figure(output, "emails sent exactly once")
    assert sent >= 1
    assert detail.startswith("emails; exactly once:"), detail
    assert "0 sent twice, 0 never sent" in detail

    median, detail = figure(output, "breach to flag, median")
    assert 0 < median < 3 * 5 + 60, detail
    assert "over 1 breaches" in detail
    pulls, _ = figure(output, "pulls made")
    assert pulls >= 1
    # The machine's speed before and after, to read the figures by.
    speeds = re.findall(r"Machine speed (before|after): (\d+\.\d\d) s for ten million", output)
    assert [when for when, _ in speeds] == ["before", "after"], output[:300]
    assert all(float(seconds) > 0 for _, seconds in speeds)
