"""Benchmark of the tamper-evident ledger (`make bench BENCH_ARGS="--only ledger"`).

Appends N entries shaped like history rows (a use case's ~20 fields as canonical JSON) in
transactions of 10,000, as a busy portal or a bulk import would, then seals them into the
chain; verifies the whole chain; records the seeded register's history rows that were
bulk-loaded without signals (backfill) and verifies again, reading every recorded row back
from its table. The ledger's tables are emptied first (TRUNCATE: the triggers refuse
row-level DELETE, not TRUNCATE, which needs the owner's rights).
"""

import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from portal.ledger import chain
from portal.models import LedgerCheckpoint, LedgerEntry, LedgerLink

BATCH = 10_000


@dataclass
class Figure:
    label: str
    value: float
    unit: str
    note: str = ""


def wipe() -> None:
    tables = [m._meta.db_table for m in (LedgerLink, LedgerCheckpoint, LedgerEntry)]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables))


def _payload(i: int, rng: random.Random, at) -> dict:
    return {
        "history_id": i,
        "id": i // 5 + 1,
        "reference": f"UC-{i // 5 + 1:05d}",
        "title": f"Use case {i // 5 + 1} " + rng.choice(["scoring", "triage", "chat", "search"]),
        "purpose": "Sort the incoming work so the right team sees it first. " * 2,
        "business_unit_id": 1 + i % 3,
        "owner_id": 1 + i % 7,
        "lifecycle": rng.choice(["proposed", "pilot", "production"]),
        "people_affected": ["staff", "customers"],
        "decision_impact": "assists",
        "human_oversight": "before_action",
        "risk_tier": rng.choice(["minimal", "limited", "high"]),
        "needs_reassessment": False,
        "kill_switch_engaged": False,
        "next_review_date": "2027-06-30",
        "history_date": at,
        "history_type": "~",
        "history_change_reason": "Edited purpose",
        "history_user_id": 1 + i % 7,
    }


def bench_append(total: int) -> list[Figure]:
    rng = random.Random(7)
    start = timezone.now() - timedelta(days=365)
    started = time.perf_counter()
    # Sealed after all are in, to time the two steps apart (the portal seals after each commit).
    with override_settings(LEDGER_SEAL_ON_COMMIT=False):
        _append(total, rng, start)
    append_s = time.perf_counter() - started
    started = time.perf_counter()
    sealed = chain.seal(full=True)
    seal_s = time.perf_counter() - started
    return _figures(total, append_s, sealed, seal_s)


def _append(total: int, rng: random.Random, start) -> None:
    appended = 0
    while appended < total:
        size = min(BATCH, total - appended)
        with transaction.atomic():
            entries = []
            for i in range(appended, appended + size):
                at = start + timedelta(seconds=i * 30)
                entries.append(
                    chain.entry_for(
                        "history",
                        "bench_synthetic",
                        i,
                        _payload(i, rng, at),
                        subject=f"registry.usecase:{i // 5 + 1}",
                        use_case_id=i // 5 + 1,
                        actor_id=1 + i % 7,
                        at=at,
                    )
                )
            chain.append_many(entries)
        appended += size


def _figures(total: int, append_s: float, sealed: int, seal_s: float) -> list[Figure]:
    return [
        Figure(
            "append (hash each payload, insert)",
            total / append_s,
            "entries/s",
            f"{total:,} entries in transactions of {BATCH:,}, {append_s:.1f} s",
        ),
        Figure(
            "seal into the chain",
            sealed / seal_s,
            "entries/s",
            f"{sealed:,} entries chained, {seal_s:.1f} s, "
            f"{LedgerCheckpoint.objects.count():,} checkpoints",
        ),
        Figure(
            "append and seal, end to end",
            total / (append_s + seal_s),
            "entries/s",
            f"{append_s + seal_s:.1f} s",
        ),
    ]


def bench_verify(label: str, *, check_sources: bool) -> Figure:
    report = chain.verify(check_sources=check_sources, seal_first=False)
    return Figure(
        label,
        report.seconds,
        "s",
        f"{report.entries:,} entries"
        + (f", {report.sources_checked:,} rows read back" if check_sources else "")
        + (", intact" if report.intact else f"; NOT INTACT: {report.first_break}"),
    )


def run(*, entries: int) -> list[Figure]:
    wipe()
    figures = bench_append(entries)
    figures.append(bench_verify("verify the chain", check_sources=False))
    started = time.perf_counter()
    recorded = chain.backfill()
    chain.seal(full=True)
    backfill_s = time.perf_counter() - started
    figures.append(
        Figure(
            "record the seeded history (backfill)",
            recorded / backfill_s if backfill_s else 0.0,
            "rows/s",
            f"{recorded:,} history rows read, recorded and sealed in {backfill_s:.1f} s",
        )
    )
    figures.append(bench_verify("verify the chain and every recorded row", check_sources=True))
    return figures
