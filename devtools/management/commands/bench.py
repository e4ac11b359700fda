"""Time the register's busiest pages on PostgreSQL with 10,000 use cases.

`make bench` runs this. It creates the benchmark database if it is missing, migrates it,
seeds it once (re-runs reuse the data), then requests each page as a product owner (who
sees a third of the register) and as the auditor (who sees all of it) and prints median
and 95th-percentile times and queries per request against the target. Last, it downloads
the one-page summary PDF of a signed-off DPIA as leadership (target: median under 1 s).
The model registry is seeded too (2,000 models of 10 versions, some deployed) and its list,
a model's page and the go-live gate API are timed with the pages.
`--only pages` or `--only pdf` runs one part alone; `--only models` times the model registry.
`--only api` times the API's use-case detail, history and list against their floor: each
request's own SQL replayed on a raw connection (devtools/bench/api.py, floors.py).
`--only monitoring` times metric ingestion and rules; `--only killswitch` has 1,000 deployed
systems poll the kill switch of a gunicorn server (devtools/bench/incidents.py); `--only
ledger` appends, seals and verifies 1,000,000 ledger entries (devtools/bench/ledger.py).
`--only operations` times the outbox (relay, a broker outage) and breach-to-flag with real
Redis, worker and beat processes (devtools/bench/operations.py); it takes about 15 minutes,
so the default run leaves it out.
`--only compliance` computes applicability for every use case and times the coverage page and
API (devtools/bench/compliance.py). `--only gatewatch` times the nightly re-check of the go-live
gate over every seeded use case moved into production (devtools/bench/gate_watch.py);
`--only leadership` times the portfolio page, the KPI API and the board pack's PDF with a year
of monthly KPI snapshots (devtools/bench/leadership.py). These three run only when asked.
`--only search` times the search page and API at 10,000 use cases with 20,000 assessments and
at 100,000 use cases, against their own SQL (devtools/bench/search.py); only when asked.
"""

import io
import logging
import os
import re
import statistics
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from psycopg import sql

from devtools.bench import api as api_bench
from devtools.bench import assessments as assessment_bench
from devtools.bench import compliance as compliance_bench
from devtools.bench import gate_watch as gatewatch_bench
from devtools.bench import inbox as inbox_bench
from devtools.bench import incidents as killswitch_bench
from devtools.bench import leadership as leadership_bench
from devtools.bench import ledger as ledger_bench
from devtools.bench import monitoring as monitoring_bench
from devtools.bench import operations as operations_bench
from devtools.bench import register as register_bench
from devtools.bench import search as search_bench
from devtools.bench.stats import machine_speed, p95
from registry.models import AIModel, Deployment, UseCase

MEDIAN_TARGET_MS = 100
PDF_MEDIAN_TARGET_MS = 1000
P95_TARGET_MS = 200
API_LIST_URL = "/api/v1/use-cases/"
API_HISTORY_URL = "/api/v1/history/usecase/{}/"


@dataclass
class Endpoint:
    label: str
    client: Client
    urls: list[str]
    headers: dict = field(default_factory=dict)


@dataclass
class Result:
    endpoint: Endpoint
    times_ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)  # time spent in the database
    cpu_ms: list[float] = field(default_factory=list)  # this process's CPU time: Python
    problem: str = ""  # why it was not timed: a status code or an exception
    slowest_sql: list[dict] = field(default_factory=list)
    fewest_sql: list[dict] = field(default_factory=list)  # the requests with the fewest and
    most_sql: list[dict] = field(default_factory=list)  # the most queries

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return p95(self.times_ms)

    @property
    def passed(self) -> bool:
        return not self.problem and self.median < MEDIAN_TARGET_MS and self.p95 < P95_TARGET_MS


class Command(BaseCommand):
    help = "Seed 10,000 use cases on PostgreSQL and time the register, detail, history and API."

    def add_arguments(self, parser):
        parser.add_argument("--use-cases", type=int, default=10_000, help="Rows to seed.")
        parser.add_argument("--requests", type=int, default=50, help="Timed requests each.")
        parser.add_argument("--warmup", type=int, default=3, help="Untimed requests first.")
        parser.add_argument(
            "--reseed", action="store_true", help="Empty the registry tables and seed again."
        )
        parser.add_argument(
            "--models",
            type=int,
            default=register_bench.MODELS,
            help="AI models to seed (10 versions each).",
        )
        parser.add_argument(
            "--only",
            choices=[
                "pages",
                "api",
                "pdf",
                "models",
                "monitoring",
                "killswitch",
                "ledger",
                "operations",
                "compliance",
                "gatewatch",
                "leadership",
                "search",
                "inbox",
            ],
            help="Time only the pages and API (models included), only the API against its floor "
            "(its own SQL replayed: api), only the one-page summary PDF, "
            "only the model registry, only monitoring, only the kill-switch polling, only the "
            "ledger, only operations, only compliance (applicability, coverage), only the "
            "nightly gate re-check (gatewatch), only the portfolio, KPI API and board pack "
            "(leadership), only search (search) or only My work and the dashboard (inbox) "
            "(default: all but operations, compliance, gatewatch, leadership, search and inbox).",
        )
        parser.add_argument(
            "--gate-live",
            type=int,
            default=None,
            help="Use cases moved into production for the nightly gate re-check, the first of "
            "those seeded (default: all of them) (gatewatch).",
        )
        parser.add_argument(
            "--board-pack-renders",
            type=int,
            default=10,
            help="Timed renders of the board pack's PDF (leadership).",
        )
        parser.add_argument(
            "--samples", type=int, default=1_000_000, help="Samples to ingest (monitoring)."
        )
        parser.add_argument(
            "--deployments",
            type=int,
            default=5_000,
            help="Live deployments whose rules are evaluated in one cycle (monitoring).",
        )
        parser.add_argument(
            "--pollers",
            type=int,
            default=1_000,
            help="Deployed systems polling the kill switch at once (killswitch).",
        )
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=10,
            help="How often each system polls the kill switch (killswitch).",
        )
        parser.add_argument(
            "--connections",
            type=int,
            default=1_000,
            help="Kept-alive connections the polling systems share, as behind a load "
            "balancer (killswitch).",
        )
        parser.add_argument(
            "--pdf-renders", type=int, default=20, help="Timed renders of the summary PDF."
        )
        parser.add_argument(
            "--ledger-entries",
            type=int,
            default=1_000_000,
            help="Ledger entries to append, seal and verify (ledger).",
        )

        parser.add_argument(
            "--outbox-messages",
            type=int,
            default=operations_bench.MESSAGES,
            help="Side effects relayed, and run by a worker (operations).",
        )
        parser.add_argument(
            "--outage-seconds",
            type=float,
            default=operations_bench.OUTAGE_SECONDS,
            help="How long Redis is stopped while side effects are saved (operations).",
        )
        parser.add_argument(
            "--write-rate",
            type=float,
            default=operations_bench.WRITE_RATE,
            help="Side effects saved per second around the outage (operations).",
        )
        parser.add_argument(
            "--breaches",
            type=int,
            default=operations_bench.BREACHES,
            help="Breaches timed from the source to the flag (operations).",
        )
        parser.add_argument(
            "--tick-seconds",
            type=int,
            default=operations_bench.TICK_SECONDS,
            help="The source's pull interval and beat's pull and rule schedule; the figures "
            "asked for use 60, less is for a quick run (operations).",
        )

    def handle(self, *args, **options):
        # How fast the machine is at the moment, before and after: the figures are absolute.
        self.stdout.write(f"Machine speed before: {self._speed()}")
        try:
            self._run(*args, **options)
        finally:
            self.stdout.write(f"Machine speed after: {self._speed()}")

    @staticmethod
    def _speed() -> str:
        return (
            f"{machine_speed():.2f} s for ten million additions in Python "
            "(this machine idle: 0.28 to 0.31 s)"
        )

    def _run(self, *args, **options):
        # A line per timed request would bury the figures.
        logging.getLogger("steward.access").setLevel(logging.WARNING)
        if connection.vendor != "postgresql":
            raise CommandError(
                f"bench runs on PostgreSQL only; DATABASE_URL points at {connection.vendor}. "
                "Use `make bench`, or set DATABASE_URL=postgres://..."
            )
        if options["use_cases"] < 1 or options["requests"] < 1 or options["models"] < 2:
            raise CommandError(
                "--use-cases and --requests must be at least 1, and --models at least 2."
            )
        self._ensure_database()
        call_command("migrate", interactive=False, verbosity=max(0, options["verbosity"] - 1))
        seeded = self._seed(options["use_cases"], options["reseed"])
        self._seed_models(options["models"], options["reseed"])
        # WhiteNoise warns that collectstatic has not run; the pages do not need it here.
        warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
        if options["only"] == "monitoring":
            self._bench_monitoring(options["samples"], options["deployments"])
            return
        if options["only"] == "killswitch":
            self._bench_killswitch(
                options["pollers"], options["poll_seconds"], options["connections"]
            )
            return
        if options["only"] == "ledger":
            self._bench_ledger(options["ledger_entries"])
            return
        if options["only"] == "operations":
            self._bench_operations(options)
            return
        if options["only"] == "compliance":
            self._bench_compliance(seeded, options)
            return
        if options["only"] == "gatewatch":
            self._bench_gatewatch(options["gate_live"])
            return
        if options["only"] == "leadership":
            self._bench_leadership(seeded, options)
            return
        if options["only"] == "inbox":
            # My work and the dashboard at 20,000 assessments, rolled back after (bench/inbox.py).
            inbox_bench.run(
                seeded,
                requests=options["requests"],
                warmup=options["warmup"],
                out=self.stdout.write,
            )
            return
        if options["only"] == "search":
            # 20,000 assessments, then 100,000 use cases, rolled back after (bench/search.py).
            search_bench.run(
                seeded,
                requests=options["requests"],
                warmup=options["warmup"],
                out=self.stdout.write,
            )
            return
        if options["only"] == "api":
            self._bench_api(seeded, options)
            return
        if options["only"] != "pdf":
            with connection.cursor() as cursor:
                # A fresh bulk load has no planner statistics or visibility map until
                # autovacuum gets round to it, and it would then run in the middle of the timings.
                cursor.execute("VACUUM (ANALYZE)")
            with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
                endpoints = (
                    self._model_endpoints(seeded, *self._clients(seeded))
                    if options["only"] == "models"
                    else self._endpoints(seeded)
                )
                results = [
                    self._measure(e, options["warmup"], options["requests"]) for e in endpoints
                ]
            self._report(seeded, results)
        if options["only"] not in ("pages", "models"):
            with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
                self._bench_pdf(min(options["warmup"], 2), max(1, options["pdf_renders"]))
        if options["only"] is None:
            self._bench_api(seeded, options)
            self._bench_monitoring(options["samples"], options["deployments"])
            self._bench_killswitch(
                options["pollers"], options["poll_seconds"], options["connections"]
            )
            self._bench_ledger(options["ledger_entries"])

    # The API against its floor ------------------------------------------------------------
    def _bench_api(self, seeded: register_bench.Seeded, options: dict) -> None:
        """A use case's API detail and history and the API list, each against its own SQL."""
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        n = seeded.use_cases
        owner, auditor = self._clients(seeded)
        units = len(register_bench.UNITS)
        own_rows = _spread(range(0, n, units), 6)
        all_rows = _spread(range(n), 6)
        own_heavy = _spread(range(0, n, register_bench.HEAVY_EVERY * units), 5)
        pks = dict(
            UseCase.objects.filter(
                reference__in=[register_bench.reference(i) for i in own_rows + all_rows + own_heavy]
            ).values_list("reference", "pk")
        )

        def urls(pattern: str, rows) -> list[str]:
            return [pattern.format(pks[register_bench.reference(i)]) for i in rows]

        json = {"HTTP_ACCEPT": "application/json"}
        endpoints = [
            ("API detail, product owner", owner, urls(API_LIST_URL + "{}/", own_rows)),
            ("API detail, auditor", auditor, urls(API_LIST_URL + "{}/", all_rows)),
            (
                "API history (6 versions), owner",
                owner,
                urls(API_HISTORY_URL, own_heavy),
            ),
            ("API list, product owner", owner, [API_LIST_URL]),
            ("API list, auditor", auditor, [API_LIST_URL]),
        ]
        load = os.getloadavg()
        with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            results = [
                api_bench.measure(
                    label, client, paths, json, options["warmup"], options["requests"]
                )
                for label, client, paths in endpoints
            ]
        api_bench.report(self.stdout.write, results)
        end = os.getloadavg()
        self.stdout.write(
            f"{n:,} use cases, {os.cpu_count()} CPUs; load average {load[0]:.2f} at the start, "
            f"{end[0]:.2f} at the end."
        )

    # Compliance -------------------------------------------------------------------------------
    def _bench_compliance(self, seeded: register_bench.Seeded, options: dict) -> None:
        """Applicability for every use case, then the coverage page and API at that size."""
        figures = compliance_bench.run(seeded.use_cases)
        self.stdout.write(
            f"Applicability for {figures.use_cases:,} use cases: {figures.rows:,} rows "
            f"({figures.applicable:,} applicable) computed and written with their history in "
            f"{figures.compute_seconds:.1f} s ({figures.compute_queries:,} queries); the nightly "
            f"status refresh over them took {figures.refresh_seconds:.1f} s "
            f"({figures.refresh_queries:,} queries; {figures.changed:,} changed)."
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        owner, auditor = self._clients(seeded)
        coverage = reverse("compliance:coverage")
        endpoints = [
            Endpoint("coverage page, product owner", owner, [coverage]),
            Endpoint("coverage page, auditor (all)", auditor, [coverage]),
            Endpoint("coverage API, auditor", auditor, ["/api/v1/coverage/"]),
        ]
        with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            results = [self._measure(e, options["warmup"], options["requests"]) for e in endpoints]
        self._report(seeded, results)

    # Ledger -----------------------------------------------------------------------------------
    def _bench_ledger(self, entries: int) -> None:
        """Append and seal entries, verify the chain, record the seeded history, verify all."""
        if entries < 1:
            raise CommandError("--ledger-entries must be at least 1.")
        out = self.stdout.write
        out("")
        out(
            f"Ledger: {entries:,} entries appended and sealed, the chain verified; then the "
            "seeded register's history recorded and everything verified against its rows."
        )
        header = f"{'measure':<62} {'figure':>12}  detail"
        out(header)
        out("-" * len(header))
        for f in ledger_bench.run(entries=entries):
            out(f"{f.label:<62} {f.value:>12,.1f}  {f.unit}; {f.note}")

    # Operations -----------------------------------------------------------------------------
    def _bench_operations(self, options: dict) -> None:
        """The outbox's relay and a broker outage, and breach-to-flag, with real processes."""
        messages, outage = options["outbox_messages"], options["outage_seconds"]
        rate, breaches, tick = options["write_rate"], options["breaches"], options["tick_seconds"]
        if messages < 1 or outage < 0 or rate <= 0 or breaches < 1 or tick < 1:
            raise CommandError(
                "--outbox-messages, --breaches and --tick-seconds must be at least 1, "
                "--write-rate above 0 and --outage-seconds not negative."
            )
        out = self.stdout.write
        out("")
        load = os.getloadavg()
        out(
            f"Operations: {messages:,} side effects through the outbox; Redis stopped for "
            f"{outage:g} s while emails are saved at {rate:g}/s; {breaches} breaches of a "
            f"metric source pulled every {tick} s. Own redis-server, `celery worker "
            f"--concurrency {operations_bench.WORKER_CONCURRENCY}` and `celery beat`; "
            f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}."
        )
        header = f"{'measure':<62} {'figure':>12}  detail"
        out(header)
        out("-" * len(header))

        def report(figures) -> None:
            for f in figures:
                out(f"{f.label:<62} {f.value:>12,.1f}  {f.unit}; {f.note}")

        operations_bench.run(
            actor=get_user_model().objects.get(username="bench.admin"),
            messages=messages,
            outage_seconds=outage,
            write_rate=rate,
            breaches=breaches,
            tick_seconds=tick,
            report=report,
        )
        load = os.getloadavg()
        out(f"Load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.")

    # Nightly gate re-check ------------------------------------------------------------------
    def _bench_gatewatch(self, live: int | None) -> None:
        """The nightly go-live gate re-check over every live use case, run twice."""
        out = self.stdout.write
        figures = gatewatch_bench.run(live)
        out("")
        out(
            f"Nightly gate re-check over {figures.live:,} live use cases (gate data written "
            f"in {figures.seed_seconds:.1f} s); {figures.passing:,} pass every check that "
            "can lapse, the others fail at least one."
        )
        header = (
            f"{'run':<36} {'seconds':>8} {'queries':>9} {'per use case':>13} {'raised':>7} "
            f"{'still open':>11} {'resolved':>9}"
        )
        out(header)
        out("-" * len(header))
        for label, r in (
            ("first (flags raised)", figures.first),
            ("second (nothing new)", figures.second),
        ):
            report = r.report
            out(
                f"{label:<36} {r.seconds:>8.1f} {r.queries:>9,} "
                f"{r.queries / max(1, report.checked):>13.1f} {len(report.raised):>7,} "
                f"{report.still_open:>11,} {len(report.resolved):>9,}"
            )
        raised = ", ".join(
            f"{cause} {n:,}" for cause, n in figures.first.raised_by_check.most_common()
        )
        out(f"Flags raised by the first run, by check: {raised or 'none'}.")
        load = os.getloadavg()
        out(f"Load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.")

    # Leadership: portfolio, KPI API, board pack ---------------------------------------------
    def _bench_leadership(self, seeded: register_bench.Seeded, options: dict) -> None:
        """A year of KPI snapshots; the board pack's render; the portfolio page and KPI API."""
        out = self.stdout.write
        # Made through the services, which email the people it concerns: not here.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            figures = leadership_bench.run(
                renders=options["board_pack_renders"], warmup=min(options["warmup"], 1)
            )
        out("")
        out(
            f"KPI snapshots: {figures.snapshots} kept (a year, the firm and each unit) in "
            f"{figures.snapshot_seconds:.1f} s."
        )
        target = leadership_bench.RENDER_MEDIAN_TARGET_S
        verdict = (
            self.style.SUCCESS("PASS") if figures.median < target else self.style.ERROR("FAIL")
        )
        lo, hi = min(figures.render_queries), max(figures.render_queries)
        out(
            f"Board pack {figures.pack} made in {figures.make_seconds:.2f} s "
            f"({figures.make_queries} queries); render: {len(figures.renders)} renders, median "
            f"{figures.median:.2f} s, p95 {figures.p95:.2f} s, "
            f"{lo if lo == hi else f'{lo}-{hi}'} queries each, {_pdf_pages(figures.pdf)} pages, "
            f"{len(figures.pdf) // 1024} KB; target: median < {target:g} s  {verdict}"
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        users = get_user_model().objects
        clients = {}
        for role, username in (
            ("risk officer", leadership_bench.RISK_OFFICER),
            ("leadership", leadership_bench.LEADER),
        ):
            clients[role] = Client(raise_request_exception=True)
            clients[role].force_login(users.get(username=username))
        portfolio = reverse("portfolio")
        json = {"HTTP_ACCEPT": "application/json"}
        endpoints = [
            *(Endpoint(f"portfolio, {role}", c, [portfolio]) for role, c in clients.items()),
            *(
                Endpoint(f"KPI API, {role}", c, [reverse("api-kpis")], json)
                for role, c in clients.items()
            ),
        ]
        with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            results = [self._measure(e, options["warmup"], options["requests"]) for e in endpoints]
        self._report(seeded, results)

    # Monitoring -----------------------------------------------------------------------------
    def _bench_monitoring(self, samples: int, deployments: int) -> None:
        """Ingest through push and pull, one rules cycle, and the deployment page."""
        out = self.stdout.write
        users = get_user_model().objects
        out("")
        out(
            f"Monitoring: {samples:,} samples pushed and {samples:,} pulled, rules over "
            f"{deployments:,} deployments, the deployment page with a year of minutely samples."
        )
        figures = monitoring_bench.run(
            actor=users.get(username="bench.admin"),
            viewer=users.get(username=register_bench.AUDITOR),
            samples=samples,
            deployments=deployments,
        )
        header = f"{'measure':<62} {'figure':>12}  detail"
        out(header)
        out("-" * len(header))
        for f in figures:
            out(f"{f.label:<62} {f.value:>12,.1f}  {f.unit}; {f.note}")

    # Kill switch ------------------------------------------------------------------------------
    def _bench_killswitch(self, pollers: int, poll_seconds: float, connections: int) -> None:
        """Deployed systems polling the kill switch of a real gunicorn, and one switch-off;
        first, the poll's rate against a constant-JSON view on the same server (its floor)."""
        if pollers < 1 or poll_seconds <= 0 or connections < 1:
            raise CommandError(
                "--pollers and --connections must be at least 1 and --poll-seconds above 0."
            )
        out = self.stdout.write
        out("")
        out(
            f"Kill switch: {pollers:,} deployed systems poll every {poll_seconds:g} s for "
            f"{3 * poll_seconds:g} s (gunicorn on 127.0.0.1); half way, up to "
            f"{killswitch_bench.SWITCHED_USE_CASES} of their use cases are switched off."
        )
        figures = killswitch_bench.run(
            actor=get_user_model().objects.get(username="bench.admin"),
            pollers=pollers,
            poll_seconds=poll_seconds,
            connections=connections,
        )
        header = f"{'measure':<62} {'figure':>12}  detail"
        out(header)
        out("-" * len(header))
        for f in figures:
            out(f"{f.label:<62} {f.value:>12,.1f}  {f.unit}; {f.note}")

    # Database and data ---------------------------------------------------------------------
    def _ensure_database(self) -> None:
        db = settings.DATABASES["default"]
        params: dict[str, Any] = {
            "dbname": "postgres",
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
        }
        try:
            with psycopg.connect(**params, autocommit=True) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
                ).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
                    self.stdout.write(f"Created database {db['NAME']}.")
        except psycopg.OperationalError as exc:
            raise CommandError(f"Cannot reach PostgreSQL: {exc}".strip()) from exc

    def _seed(self, n: int, reseed: bool) -> register_bench.Seeded:
        if not reseed and register_bench.is_seeded(n):
            self.stdout.write(f"Reusing the seeded data: {n:,} use cases (--reseed to redo).")
            return register_bench.load(n)
        started = time.perf_counter()
        register_bench.wipe()
        seeded = register_bench.seed(n)
        history = UseCase.history.model.objects.count()
        self.stdout.write(
            f"Seeded {n:,} use cases and {history:,} history rows "
            f"in {time.perf_counter() - started:.1f} s."
        )
        return seeded

    def _seed_models(self, n_models: int, reseed: bool) -> None:
        # After the use cases: a reseed of those truncated the model tables too.
        if not reseed and register_bench.models_seeded(n_models):
            self.stdout.write(
                f"Reusing the seeded models: {n_models:,} models and "
                f"{n_models * register_bench.VERSIONS_PER_MODEL:,} versions."
            )
            return
        started = time.perf_counter()
        register_bench.wipe_models()
        register_bench.seed_models(n_models)
        self.stdout.write(
            f"Seeded {n_models:,} models, "
            f"{n_models * register_bench.VERSIONS_PER_MODEL:,} versions, "
            f"{Deployment.objects.count():,} deployments "
            f"in {time.perf_counter() - started:.1f} s."
        )

    # Measuring ------------------------------------------------------------------------------
    def _clients(self, seeded: register_bench.Seeded) -> tuple[Client, Client]:
        owner = Client(raise_request_exception=True)
        owner.force_login(seeded.product_owner)
        auditor = Client(raise_request_exception=True)
        auditor.force_login(seeded.auditor)
        return owner, auditor

    def _endpoints(self, seeded: register_bench.Seeded) -> list[Endpoint]:
        n = seeded.use_cases
        owner, auditor = self._clients(seeded)
        units = len(register_bench.UNITS)
        # Rows of the owner's unit (every third), spread so that they differ in data sources
        # and history length: a query count that varies between them points at an N+1.
        own_rows = _spread(range(0, n, units), 6)
        all_rows = _spread(range(n), 6)
        own_heavy = _spread(range(0, n, register_bench.HEAVY_EVERY * units), 5)
        all_heavy = _spread(range(0, n, register_bench.HEAVY_EVERY), 5)
        pks = dict(
            UseCase.objects.filter(
                reference__in=[
                    register_bench.reference(i) for i in own_rows + all_rows + own_heavy + all_heavy
                ]
            ).values_list("reference", "pk")
        )

        def details(rows):
            return [
                reverse("registry:use-case-detail", args=[pks[register_bench.reference(i)]])
                for i in rows
            ]

        def histories(rows):
            try:
                return [
                    reverse("history", args=["usecase", pks[register_bench.reference(i)]])
                    for i in rows
                ]
            except NoReverseMatch:
                return [f"/history/usecase/{pks[register_bench.reference(i)]}/" for i in rows]

        register = reverse("registry:use-case-list")
        as_of = (timezone.localdate() - timedelta(days=450)).isoformat()
        filtered = f"{register}?q=scoring&lifecycle=production&sort=-review"
        json = {"HTTP_ACCEPT": "application/json"}
        return [
            Endpoint("register list, product owner", owner, [register]),
            Endpoint("register list, auditor", auditor, [register]),
            Endpoint("register filtered+sorted, owner", owner, [filtered]),
            Endpoint(
                "register filtered+sorted, auditor",
                auditor,
                [f"{filtered}&unit={seeded.unit_pk}"],
            ),
            Endpoint("register page 50, product owner", owner, [f"{register}?page=50"]),
            Endpoint("register page 50, auditor", auditor, [f"{register}?page=50"]),
            # From history: each use case as its newest version on or before the day (seeded
            # versions are 100 days apart, so this day lands between two of them).
            Endpoint("register as of a date, product owner", owner, [f"{register}?as_of={as_of}"]),
            Endpoint("register as of a date, auditor", auditor, [f"{register}?as_of={as_of}"]),
            Endpoint("use-case detail, product owner", owner, details(own_rows)),
            Endpoint("use-case detail, auditor", auditor, details(all_rows)),
            Endpoint("history, product owner", owner, histories(own_heavy)),
            Endpoint("history, auditor", auditor, histories(all_heavy)),
            Endpoint("API list, product owner", owner, [API_LIST_URL], json),
            Endpoint("API list, auditor", auditor, [API_LIST_URL], json),
            *self._assessment_endpoints(seeded, owner),
            *self._model_endpoints(seeded, owner, auditor),
        ]

    def _model_endpoints(self, seeded: register_bench.Seeded, owner: Client, auditor: Client):
        """The model list, model pages (10 versions each) and the gate API, at 2,000 models."""
        models = AIModel.objects.count()
        # Models spread over the catalogue, and models that serve use cases (their pages list
        # deployments and approvals too): a query count that varies between them is an N+1.
        spread = [register_bench.model_reference(i) for i in _spread(range(models), 4)]
        model_pks = list(AIModel.objects.filter(reference__in=spread).values_list("pk", flat=True))
        model_pks += list(
            AIModel.objects.filter(versions__deployments__active=True)
            .exclude(pk__in=model_pks)
            .distinct()
            .order_by("pk")
            .values_list("pk", flat=True)[:4]
        )
        # Use cases of the owner's unit with deployments, some of which can roll back.
        gated = list(
            UseCase.objects.filter(owner=seeded.product_owner, deployments__active=True)
            .distinct()
            .order_by("pk")
            .values_list("reference", flat=True)
        )
        gated = [gated[i] for i in _spread(range(len(gated)), 6)]
        models_url = reverse("registry:model-list")
        json = {"HTTP_ACCEPT": "application/json"}
        return [
            Endpoint("model list, product owner", owner, [models_url]),
            Endpoint("model list, auditor", auditor, [models_url]),
            Endpoint("model list page 40, product owner", owner, [f"{models_url}?page=40"]),
            Endpoint(
                "model detail (10 versions), owner",
                owner,
                [reverse("registry:model-detail", args=[pk]) for pk in model_pks],
            ),
            Endpoint(
                "gate API, product owner",
                owner,
                [reverse("api-gate", args=[ref]) for ref in gated],
                json,
            ),
        ]

    def _assessment_endpoints(self, seeded: register_bench.Seeded, owner: Client) -> list[Endpoint]:
        """The assessment form with a 150-question template, every question answered."""
        use_case = (
            UseCase.objects.filter(owner=seeded.product_owner)
            .exclude(lifecycle="retired")
            .order_by("pk")
            .first()
        )
        a = assessment_bench.form_assessment(seeded.product_owner, use_case)
        section = a.definition["sections"][0]["key"]
        return [
            Endpoint(
                "assessment form, 150 questions",
                owner,
                [reverse("assessments:section", args=[a.pk, section])],
            ),
            Endpoint("assessment overview, 150 questions", owner, [a.get_absolute_url()]),
            Endpoint(
                "assessment API detail, 150 questions",
                owner,
                [f"/api/v1/assessments/{a.pk}/"],
                {"HTTP_ACCEPT": "application/json"},
            ),
        ]

    def _measure(self, endpoint: Endpoint, warmup: int, requests: int) -> Result:
        result = Result(endpoint)
        slowest = -1.0
        for k in range(warmup + requests):
            url = endpoint.urls[k % len(endpoint.urls)]
            reset_queries()  # the log keeps 9,000 queries; past that the capture miscounts
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                cpu_started = time.process_time()
                try:
                    response = endpoint.client.get(url, **endpoint.headers)
                except Exception as exc:  # a page under construction must not stop the run
                    result.problem = f"raised {type(exc).__name__}: {exc}"[:120] + f" ({url})"
                    return result
                elapsed = (time.perf_counter() - started) * 1000
                cpu = (time.process_time() - cpu_started) * 1000
            if response.status_code != 200:
                result.problem = f"answered {response.status_code}, not 200 ({url})"
                return result
            if k < warmup:
                continue
            result.times_ms.append(elapsed)
            result.cpu_ms.append(cpu)
            result.queries.append(len(captured.captured_queries))
            result.sql_ms.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
            if not result.fewest_sql or len(captured) < len(result.fewest_sql):
                result.fewest_sql = captured.captured_queries
            if len(captured) > len(result.most_sql):
                result.most_sql = captured.captured_queries
            if elapsed > slowest:
                slowest = elapsed
                result.slowest_sql = sorted(
                    captured.captured_queries, key=lambda q: -float(q["time"])
                )[:2]
        return result

    # The one-page summary PDF ----------------------------------------------------------------
    def _bench_pdf(self, warmup: int, renders: int) -> None:
        """Download the summary (and the full report) of a signed-off DPIA as leadership."""
        out = self.stdout.write
        out("")
        try:
            # Made through the services, which email the people it concerns: not here.
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
                assessment = register_bench.pdf_assessment()
        except Exception as exc:  # a template under construction must not stop the run
            out(f"Summary PDF: not timed: no signed-off assessment to render ({exc})"[:300])
            return
        leader = Client(raise_request_exception=True)
        leader.force_login(get_user_model().objects.get(username=register_bench.PDF_SIGNER))
        risks = len(assessment.answers.get("risks") or [])
        out(
            f"PDFs of {assessment.reference} ({assessment.template.title}, {risks} risks, "
            f"{assessment.get_status_display().lower()}), downloaded by leadership; "
            f"target: summary median < {PDF_MEDIAN_TARGET_MS} ms."
        )
        header = (
            f"{'pdf':<28} {'renders':>7} {'median ms':>10} {'p95 ms':>8} {'pages':>6} {'KB':>5}"
            "  result"
        )
        out(header)
        out("-" * len(header))
        for label, name, count, target in (
            ("one-page summary", "assessments:pdf-summary", renders, PDF_MEDIAN_TARGET_MS),
            ("full report", "assessments:pdf-full", max(1, renders // 4), None),
        ):
            url = reverse(name, args=[assessment.pk])
            times, response = [], None
            for k in range(warmup + count):
                started = time.perf_counter()
                try:
                    response = leader.get(url)
                except Exception as exc:
                    out(f"{label:<28} {'-':>7}  not timed: raised {type(exc).__name__}: {exc}")
                    break
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    out(f"{label:<28} {'-':>7}  not timed: answered {response.status_code}")
                    break
                if k >= warmup:
                    times.append(elapsed)
            else:
                assert response is not None  # count >= 1: the loop made a request
                median = statistics.median(times)
                slowest = p95(times)
                pages = _pdf_pages(response.content)
                if target is None:
                    verdict = "(no target)"
                elif median < target and pages == 1:
                    verdict = self.style.SUCCESS("PASS")
                else:
                    verdict = self.style.ERROR("FAIL")
                out(
                    f"{label:<28} {len(times):>7} {median:>10.1f} {slowest:>8.1f} {pages:>6} "
                    f"{len(response.content) // 1024:>5}  {verdict}"
                )

    # Reporting ------------------------------------------------------------------------------
    def _report(self, seeded: register_bench.Seeded, results: list[Result]) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0]
        out = self.stdout.write
        out("")
        out(
            f"{seeded.use_cases:,} use cases, PostgreSQL {pg_version}, {os.cpu_count()} CPUs; "
            f"target: median < {MEDIAN_TARGET_MS} ms and p95 < {P95_TARGET_MS} ms."
        )
        load = os.getloadavg()[0]
        busy = load > 0.75 * (os.cpu_count() or 1)  # this command and its PostgreSQL make ~1
        out(
            f"Load average over the last minute: {load:.2f}"
            + (": other work shared the CPUs, so times are higher than alone." if busy else ".")
        )
        header = (
            f"{'endpoint':<36} {'reqs':>5} {'median ms':>10} {'p95 ms':>8} "
            f"{'sql ms':>7} {'cpu ms':>7} {'queries':>8}  result"
        )
        out(header)
        out("-" * len(header))
        for r in results:
            if r.problem:
                out(f"{r.endpoint.label:<36} {'-':>5}  not timed: {r.problem}")
                continue
            lo, hi = min(r.queries), max(r.queries)
            queries = str(lo) if lo == hi else f"{lo}-{hi}"
            verdict = self.style.SUCCESS("PASS") if r.passed else self.style.ERROR("FAIL")
            out(
                f"{r.endpoint.label:<36} {len(r.times_ms):>5} {r.median:>10.1f} {r.p95:>8.1f} "
                f"{statistics.median(r.sql_ms):>7.1f} {statistics.median(r.cpu_ms):>7.1f} "
                f"{queries:>8}  {verdict}"
            )
        timed = [r for r in results if not r.problem]
        out("")
        varying = [r for r in timed if min(r.queries) != max(r.queries)]
        repeated = {r.endpoint.label: _repeated_queries(r.most_sql) for r in timed}
        if timed and not varying and not any(repeated.values()):
            out(
                f"Queries per request at {seeded.use_cases:,} rows: constant for every endpoint "
                "across the records and pages requested, and no query repeats per row."
            )
        for r in varying:
            out(
                f"Queries per request differ between the records of {r.endpoint.label} "
                f"({min(r.queries)}-{max(r.queries)}); the extra queries (a per-row query if "
                "they repeat, else a lookup skipped when there is nothing to look up):"
            )
            for statement, times in _extra_queries(r.fewest_sql, r.most_sql).items():
                out(f"  {times} x {statement}")
        for label, statements in repeated.items():
            if statements:
                out(f"Per-row queries (N+1) in {label}: one request ran")
                for statement, times in statements.items():
                    out(f"  {times} x {statement}")
        failed = [r for r in timed if not r.passed]
        for r in failed:
            out(f"\nSlowest queries of the slowest request, {r.endpoint.label}:")
            for q in r.slowest_sql:
                out(f"  {float(q['time']) * 1000:5.0f} ms  {' '.join(q['sql'].split())[:200]}")
        untimed = len(results) - len(timed)
        out(
            f"\nSummary: {len(timed) - len(failed)} of {len(results)} endpoints met the target, "
            f"{len(failed)} missed it, {untimed} not timed (no 200 answer)."
        )


def _pdf_pages(content: bytes) -> int | str:
    try:
        from pypdf import PdfReader  # noqa: PLC0415 (optional: a test tool)
    except ImportError:  # pypdf comes with the test tools; without it, no page count
        return "?"
    return len(PdfReader(io.BytesIO(content)).pages)


def _shape(statement: str) -> str:
    """A query with its literals blanked, to compare queries across records."""
    return re.sub(r"'[^']*'|\b\d+\b", "?", " ".join(statement.split()))


def _extra_queries(fewest: list[dict], most: list[dict]) -> Counter:
    """The queries of one request that another request of the same endpoint did without."""
    extra = Counter(_shape(q["sql"]) for q in most)
    extra.subtract(_shape(q["sql"]) for q in fewest)
    return Counter({shape[:160]: n for shape, n in extra.items() if n > 0})


def _repeated_queries(queries: list[dict], at_least: int = 5) -> Counter:
    """Queries run many times in one request: the mark of a query per row shown."""
    counts = Counter(_shape(q["sql"]) for q in queries)
    return Counter({shape[:160]: n for shape, n in counts.items() if n >= at_least})


def _spread(rows: range, k: int) -> list[int]:
    """k row numbers spread evenly over rows (fewer if rows is shorter)."""
    if len(rows) <= k:
        return list(rows)
    step = (len(rows) - 1) / (k - 1)
    return [rows[round(j * step)] for j in range(k)]
