"""`manage.py bench --only monitoring`: the monitoring figures the issue asks for.

1. Ingest 1,000,000 samples through the push API (batches of MAX_BATCH from several
   deployed systems, each with its own token) and through pulls (HTTP JSON sources served
   by a real HTTP server on 127.0.0.1), printing samples per second for each; each pushed
   batch is followed by its floor, the same rows COPYed into the same table (FLOOR), and
   the push's rate is printed as a ratio to the floor's (goal, issue 19: at least 0.8x),
   and to a COPY of the rows without their source column (WITHOUT_SOURCE).
2. Evaluate the rules for 5,000 live deployments in one cycle, printing seconds: once when
   every breach raises its flag, once more when the flags are already open. Before those,
   the first cycle is run CYCLE_FLOOR_RUNS times in a transaction that is rolled back, each
   followed by a replay of its own SQL on a raw connection (floors.py): the cycle's time as
   a ratio to that floor, with its queries (goal, issue 19: the first cycle under 3 s).
3. Time the deployment page of a deployment with a year of minutely samples.

It runs on the registry the main benchmark seeds (use cases, models, deployments) and empties
the monitoring tables first, so every run measures the same work.
"""

import importlib
import json
import statistics
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.apps import apps
from django.conf import settings
from django.db import connection, reset_queries, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from devtools.bench import floors
from devtools.bench.stats import p95
from monitoring.models import (
    Budget,
    Flag,
    MetricRollup,
    MetricSample,
    MetricSource,
    ReferenceDistribution,
    Rule,
)
from monitoring.services.evaluation import rules_evaluate
from monitoring.services.pull import source_pull
from monitoring.services.sources import source_create
from registry.models import Deployment, Environment

SAMPLES = 1_000_000
PUSHERS = 10  # deployed systems pushing, each with its own token
PULLED_SOURCES = 100
DEPLOYMENTS = 5_000
YEAR_MINUTES = 365 * 24 * 60
PAGE_REQUESTS = 20
CYCLE_FLOOR_RUNS = 3
CYCLE_TARGET_S = 3.0
PUSH_GOAL = 0.8  # the push API's rate as a share of its floor's (issue 19)


@dataclass
class Figures:
    label: str
    value: float
    unit: str
    note: str = ""


def wipe() -> None:
    tables = [
        m._meta.db_table
        for m in (Flag, MetricSample, MetricRollup, ReferenceDistribution, MetricSource, Budget)
    ]
    tables += [Flag.history.model._meta.db_table, MetricSource.history.model._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables) + " CASCADE"
        )


def ensure_deployments(n: int) -> list[int]:
    """At least n live deployments: the seeded ones, plus staging copies when short."""
    # Retired use cases are neither watched nor changed: their deployments do not count.
    watched = Deployment.objects.filter(active=True).exclude(use_case__lifecycle="retired")
    live = list(watched.order_by("pk").values_list("pk", flat=True))
    missing = n - len(live)
    if missing > 0:
        base = list(
            watched.filter(environment=Environment.PRODUCTION)
            .order_by("pk")
            .values("use_case_id", "model_version_id")
        )
        extra = [
            Deployment(
                use_case_id=base[k % len(base)]["use_case_id"],
                model_version_id=base[k % len(base)]["model_version_id"],
                environment=Environment.DEVELOPMENT,
                traffic_share=0,
            )
            for k in range(missing)
        ]
        Deployment.objects.bulk_create(extra, batch_size=2000)
        live = list(watched.order_by("pk").values_list("pk", flat=True))
    return live[:n]


def _batch(start, minutes: range, metric: str, salt: int) -> list[dict]:
    return [
        {
            "metric": metric,
            "at": (start + timedelta(minutes=m)).isoformat(),
            "value": ((m * 7919 + salt) % 1000) / 1000,
        }
        for m in minutes
    ]


FLOOR = (
    "floor: the push's rows as it writes them (deployment, metric, time, value and source), "
    "already parsed and in memory, COPYed into the same table as one text payload and "
    "committed; no HTTP, no JSON parsing, no checks, no repeat test (another metric name keeps "
    "the rows apart)"
)


def _floor_rows(body: str) -> list[tuple[str, float]]:
    """The batch's times and values, read before the floor's clock starts."""
    return [(row["at"], row["value"]) for row in json.loads(body)["samples"]]


WITHOUT_SOURCE = (
    "the floor's COPY without the source column (one foreign-key check a row fewer than the "
    "push writes): not the goal's floor, since the push must record each sample's source; "
    "printed to show what that check costs PostgreSQL"
)


def _copy_floor(cursor, deployment_id: int, rows: list, source_id: int | None = None) -> None:
    """The floor for one batch (FLOOR, with ``source_id``): the rows COPYed straight into the
    same table the cheapest way we know from Python (one text payload: psycopg's write_row per
    row is slower). Without ``source_id``, the same with no source column (WITHOUT_SOURCE)."""
    if source_id is None:
        head, tail, source = f"{deployment_id}\tfloor_copy\t\t", "\n", ""
    else:
        head, tail, source = f"{deployment_id}\tfloor_source\t\t", f"\t{source_id}\n", ", source_id"
    payload = "".join([f"{head}{at}\t{value!r}{tail}" for at, value in rows]).encode()
    table = MetricSample._meta.db_table
    with cursor.cursor.copy(
        f"COPY {table} (deployment_id, metric, feature, at, value{source}) FROM STDIN"
    ) as copy:
        copy.write(payload)


def bench_push(deployment_ids: list[int], actor, total: int) -> list[Figures]:
    """POST total samples to /api/v1/push/samples/ from PUSHERS systems, MAX_BATCH at a time;
    each batch is paired with its floor (FLOOR), the same rows by COPY into the same table
    (timed apart, interleaved and taking turns to go first, so that load on the machine falls
    on both alike)."""
    batch = settings.MONITORING_MAX_BATCH
    per_pusher = total // PUSHERS
    tokens, source_ids = [], []
    for k in range(PUSHERS):
        deployment = Deployment.objects.get(pk=deployment_ids[k])
        source, token = source_create(
            actor=actor, deployment=deployment, name=f"bench push {k}", kind="push"
        )
        tokens.append(token)
        source_ids.append(source.pk)
    client = Client()
    start = timezone.now() - timedelta(minutes=per_pusher + 10)
    bodies = []
    for k, token in enumerate(tokens):
        for first in range(0, per_pusher, batch):
            minutes = range(first, min(first + batch, per_pusher))
            body = json.dumps({"samples": _batch(start, minutes, "latency_ms", k)})
            bodies.append((k, token, body))
    sent = new = copied = 0
    api_seconds = floor_seconds = bare_seconds = 0.0

    def push(token: str | None, body: str) -> float:
        started = time.perf_counter()
        response = client.post(
            "/api/v1/push/samples/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        elapsed = time.perf_counter() - started
        if response.status_code not in (200, 201, 202):
            raise RuntimeError(f"push answered {response.status_code}: {response.content[:200]!r}")
        nonlocal sent, new
        sent += response.json()["received"]
        new += response.json()["new"]
        return elapsed

    def floor(deployment_id: int, rows: list, source_id: int | None = None) -> float:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            _copy_floor(cursor, deployment_id, rows, source_id)
        return time.perf_counter() - started

    # Untimed: the first request imports the URLconf and the API's modules (a second or so,
    # once per process), which is not the push's rate.
    push(tokens[0], json.dumps({"samples": []}))
    for n, (k, token, body) in enumerate(bodies):
        rows = _floor_rows(body)
        # The three take turns to go first, so that none always follows another's commit.
        turns = [
            ("push", partial(push, token, body)),
            ("floor", partial(floor, deployment_ids[k], rows, source_ids[k])),
            ("bare", partial(floor, deployment_ids[k], rows)),
        ]
        for name, timed in turns[n % 3 :] + turns[: n % 3]:
            elapsed = timed()
            if name == "push":
                api_seconds += elapsed
            elif name == "floor":
                floor_seconds += elapsed
            else:
                bare_seconds += elapsed
        copied += len(rows)
    MetricSample.objects.filter(metric__in=["floor_copy", "floor_source"]).delete()
    api_rate, floor_rate = sent / api_seconds, copied / floor_seconds
    bare_rate = copied / bare_seconds
    verdict = "met" if api_rate / floor_rate >= PUSH_GOAL else "not met"
    return [
        Figures(
            "ingest through the push API",
            api_rate,
            "samples/s",
            f"{sent:,} samples ({new:,} new) in {len(bodies)} requests of {batch:,} "
            f"from {PUSHERS} systems, {api_seconds:.1f} s",
        ),
        Figures(
            "floor: COPY of the same rows into the same table",
            floor_rate,
            "samples/s",
            f"{copied:,} samples in {floor_seconds:.1f} s, one COPY per batch beside it; " + FLOOR,
        ),
        Figures(
            "push API, ratio to the floor",
            api_rate / floor_rate,
            "x",
            f"{api_rate / floor_rate:.2f}x; goal: at least {PUSH_GOAL:g}x, {verdict}",
        ),
        Figures(
            "push API, ratio to COPY without the source column",
            api_rate / bare_rate,
            "x",
            f"{api_rate / bare_rate:.2f}x (that COPY {bare_rate:,.0f} samples/s, "
            f"{bare_seconds:.1f} s); " + WITHOUT_SOURCE,
        ),
    ]


class _Feed(BaseHTTPRequestHandler):
    """Serves /<source>.json: that source's samples as {"items": [{"at", "value"}, ...]}."""

    bodies: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = self.bodies.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass


def bench_pull(deployment_ids: list[int], actor, total: int) -> Figures:
    """PULLED_SOURCES HTTP JSON sources on a real server on 127.0.0.1, pulled one by one."""
    per_source = total // PULLED_SOURCES
    start = timezone.now() - timedelta(minutes=per_source + 10)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sources = []
    try:
        with override_settings(MONITORING_ALLOWED_NETWORKS=["127.0.0.1/32"]):
            for k in range(PULLED_SOURCES):
                deployment = Deployment.objects.get(pk=deployment_ids[PUSHERS + k])
                source, _ = source_create(
                    actor=actor,
                    deployment=deployment,
                    name=f"bench pull {k}",
                    kind="http_json",
                    url=f"{base}/{k}.json",
                    config={"items": "items", "timestamp": "at", "metrics": {"cost": "value"}},
                )
                sources.append(source)
                items = _batch(start, range(per_source), "cost", k)
                _Feed.bodies[f"/{k}.json"] = json.dumps({"items": items}).encode()
            new = 0
            started = time.perf_counter()
            for source in sources:
                outcome = source_pull(source_id=source.pk).as_dict()
                if outcome.get("error"):
                    raise RuntimeError(f"pull of {source.name} failed: {outcome['error']}")
                new += outcome["written"]
            elapsed = time.perf_counter() - started
    finally:
        server.shutdown()
        _Feed.bodies.clear()
    written = MetricSample.objects.filter(source__in=sources).count()
    return Figures(
        "ingest through pulls (HTTP JSON)",
        written / elapsed,
        "samples/s",
        f"{written:,} samples from {len(sources)} sources of {per_source:,} each, "
        f"{elapsed:.1f} s (fetch, parse and write)",
    )


def seed_rule_samples(deployment_ids: list[int]) -> int:
    """The last 15 minutes of error rate and an hour's PSI for each deployment, in SQL.

    One in ten deployments is over the default error-rate rule and one in twenty over the
    PSI rule, so the cycle raises flags as well as finding nothing.
    """
    table = MetricSample._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (deployment_id, metric, feature, at, value) "
            "SELECT d, 'error_rate', '', date_trunc('minute', now()) - g * interval '1 minute', "
            "CASE WHEN d %% 10 = 0 THEN 0.09 ELSE 0.01 END + g * 0.0001 "
            "FROM unnest(%s::bigint[]) AS d, generate_series(0, 14) AS g "
            "ON CONFLICT DO NOTHING",
            [deployment_ids],
        )
        errors = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {table} (deployment_id, metric, feature, at, value) "
            "SELECT d, 'drift.psi', f, date_trunc('minute', now()) - interval '5 minutes', "
            "CASE WHEN d %% 20 = 0 AND f = 'income' THEN 0.31 ELSE 0.04 END "
            "FROM unnest(%s::bigint[]) AS d, unnest(ARRAY['age', 'income', 'region']) AS f "
            "ON CONFLICT DO NOTHING",
            [deployment_ids],
        )
        return errors + cursor.rowcount


def ensure_default_rules() -> int:
    """The shipped rules, as the migration makes them (a reseed of the register, which
    truncates use cases with CASCADE, takes the rules along)."""
    shipped = importlib.import_module("monitoring.migrations.0002_default_rules")
    shipped.add_rules(apps, None)
    Rule.objects.filter(builtin__in=[r["builtin"] for r in shipped.DEFAULT_RULES]).update(
        enabled=True
    )
    return Rule.objects.filter(enabled=True).count()


def bench_rules(deployment_ids: list[int]) -> list[Figures]:
    ensure_default_rules()
    seeded = seed_rule_samples(deployment_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {MetricSample._meta.db_table}")
    figures: list[Figures] = []
    # Flags email the owners; not from a benchmark.
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        figures.append(cycle_against_floor(len(deployment_ids)))
        for label in ("first cycle (raises the flags)", "next cycle (flags already open)"):
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                summary = rules_evaluate().as_dict()
                elapsed = time.perf_counter() - started
            figures.append(
                Figures(
                    f"rules for {len(deployment_ids):,} deployments, {label}",
                    elapsed,
                    "s",
                    ", ".join(f"{k} {v}" for k, v in summary.items() if not isinstance(v, list))
                    + f"; {len(captured):,} queries; {seeded:,} samples in the window",
                )
            )
    return figures


class _RolledBack(Exception):
    pass


@contextmanager
def _this_connection():
    yield None


def _replay(raw, sql: list[str], here: bool) -> float:
    if not here:
        return floors.replay(raw, sql)
    try:
        with transaction.atomic():
            started = time.perf_counter()
            cursor = connection.cursor().cursor  # psycopg's own, under Django's wrapper
            for statement in sql:
                cursor.execute(statement.encode())
                if cursor.description is not None:
                    cursor.fetchall()
            elapsed = time.perf_counter() - started
            raise _RolledBack
    except _RolledBack:
        return elapsed


def cycle_against_floor(deployments: int, runs: int = CYCLE_FLOOR_RUNS) -> Figures:
    """The first cycle (every breach raises its flag) against its own SQL replayed, ``runs``
    times, each cycle rolled back so that the next (and the real one after) start alike."""
    # Django keeps the last 9,000 queries; a cycle that raises flags one by one runs more.
    connection.queries_log = deque(maxlen=1_000_000)
    pairs = []
    # Inside a transaction already (the benchmark's test), a separate connection would not
    # see the uncommitted data and would wait for its locks: replay on this one instead.
    here = connection.in_atomic_block
    with floors.raw_connection() if not here else _this_connection() as raw:
        for _ in range(runs):
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                try:
                    with transaction.atomic():
                        summary = rules_evaluate()
                        raise _RolledBack
                except _RolledBack:
                    pass
                elapsed = time.perf_counter() - started
            sql = floors.statements(captured.captured_queries)
            pairs.append((elapsed, _replay(raw, sql, here), len(sql), summary))
    cycle = statistics.median(p[0] for p in pairs)
    floor = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[0] / p[1] for p in pairs)
    queries = sorted({p[2] for p in pairs})
    summary = pairs[-1][3]
    verdict = "PASS" if cycle < CYCLE_TARGET_S else "FAIL"
    return Figures(
        f"rules for {deployments:,} deployments, raising the flags, x its floor",
        ratio,
        "x",
        f"cycle {cycle:.2f} s (median of {runs}, rolled back), floor {floor:.2f} s, "
        f"{'-'.join(map(str, queries))} queries, {summary.flags_raised} flags raised; target "
        f"< {CYCLE_TARGET_S:g} s {verdict}; {floors.FLOOR} (the ledger's COPY is not "
        "captured, so not replayed)",
    )


def seed_year(deployment_id: int, minutes: int = YEAR_MINUTES) -> int:
    """A year of minutely samples of error rate for one deployment (525,600 rows)."""
    table = MetricSample._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (deployment_id, metric, feature, at, value) "
            "SELECT %s, 'error_rate', '', date_trunc('minute', now()) - g * interval '1 minute', "
            "0.02 + 0.01 * sin(g / 1440.0) + (g %% 17) / 2000.0 "
            "FROM generate_series(0, %s) AS g ON CONFLICT DO NOTHING",
            [deployment_id, minutes - 1],
        )
        inserted = cursor.rowcount
        cursor.execute(f"ANALYZE {table}")
    return inserted


def bench_page(deployment_id: int, user, minutes: int = YEAR_MINUTES) -> list[Figures]:
    inserted = seed_year(deployment_id, minutes)
    client = Client(raise_request_exception=True)
    client.force_login(user)
    url = reverse("monitoring:deployment-detail", args=[deployment_id])
    figures = []
    for label, query in (("7 days shown", ""), ("the whole year shown", "?range=1y")):
        times, queries = [], []
        for k in range(PAGE_REQUESTS + 2):
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url + query)
                elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{url}{query} answered {response.status_code}")
            if k >= 2:
                times.append(elapsed)
                queries.append(len(captured.captured_queries))
        figures.append(
            Figures(
                f"deployment page, a year of minutely samples, {label}",
                statistics.median(times),
                "ms median",
                f"p95 {p95(times):.1f} ms, {max(queries)} queries, {PAGE_REQUESTS} requests, "
                f"{inserted:,} samples in the series",
            )
        )
    return figures


def run(
    actor,
    viewer,
    samples: int = SAMPLES,
    deployments: int = DEPLOYMENTS,
    year_minutes: int = YEAR_MINUTES,
) -> list[Figures]:
    wipe()
    ids = ensure_deployments(deployments)
    # Django's test client calls itself "testserver".
    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
        figures = [*bench_push(ids, actor, samples), bench_pull(ids, actor, samples)]
        figures += bench_rules(ids)
        figures += bench_page(ids[-1], viewer, year_minutes)
    return figures
