"""`manage.py bench --only operations`: the outbox and the one-minute pull, with real processes.

Everything runs against a redis-server of the benchmark's own (a free port of 127.0.0.1, no
persistence, so stopping it loses what it held, as a restarted Redis without persistence does)
and real `celery worker` and `celery beat` processes started as docs/operations.md says, with
devtools/bench/child_settings.py (emails to files, to count them).

1. Outbox relay throughput. (a) N side effects (portal.tasks.heartbeat, cheap and real) are
   written to the outbox and handed to Redis by the relay, with no worker: side effects/s
   handed to the broker. (b) With the worker running, N more are written and relayed, and
   the clock stops when the last is done: side effects/s end to end.
2. Backlog drain after a broker outage. With the worker and beat running, the benchmark saves
   emails (one outbox message each, as portal/notify.py does) at a steady rate, each in its
   own transaction, stops Redis for the outage, starts it again and keeps saving. It counts
   saves that failed (must be none), the backlog at its peak, the time from Redis back until
   every message written before was done, and how many times each email reached the
   file-based backend (must be once).
3. Breach-to-flag latency. An HTTP JSON metric source on 127.0.0.1 (pulled every minute) and a
   rule on it (last value over 5 min > 0.5); at a random moment the source starts serving a
   breaching value, and the time to the flag's raised_at is measured, the flag resolved and
   the source healthy again; `breaches` times.

Every process started here is stopped at the end, error or not (process groups, terminate,
then kill); every wait has a deadline and says what it waited for.
"""

import json
import logging
import math
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis
from celery import current_app
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from devtools.bench.incidents import database_url, free_port
from devtools.bench.monitoring import Figures
from monitoring.models import Flag, FlagStatus, MetricSample, MetricSource, Rule
from monitoring.services.flags import flag_resolve
from monitoring.services.metric_rules import rule_create
from monitoring.services.sources import source_create
from portal import outbox
from portal.models import OutboxMessage
from portal.notify import SEND_EMAIL
from registry.models import Deployment

MESSAGES = 20_000
OUTAGE_SECONDS = 120.0
WRITE_RATE = 20.0  # emails saved per second during the outage part
BREACHES = 5
TICK_SECONDS = 60
WORKER_CONCURRENCY = 4  # as docs/operations.md starts the worker
HEARTBEAT = "portal.tasks.heartbeat"
BEFORE_OUTAGE_SECONDS = 5.0  # saving normally before Redis stops
METRIC = "bench.breach"
HEALTHY, BREACHING, THRESHOLD = 0.1, 0.9, 0.5
READY_SECONDS = 120.0  # a process (Redis, the worker) to answer
POLL = 0.2
BULK = 2_000
RESTART_SECONDS = 5  # a worker or beat that exits is started again after this (systemd's)
# A quick run's (a tick under the minute) time before a message handed out but not done is
# handed out again: a message Redis held when it stopped is lost, and the deployed five
# minutes would make the drain that long. Long enough that no email is sent twice.
QUICK_REDISPATCH_SECONDS = 30
WRITERS = 8  # threads saving at once around the outage, like a web server's request threads

logger = logging.getLogger(__name__)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)] if ordered else 0.0  # nearest rank


def wait_until(condition, *, what: str, seconds: float, processes=(), poll: float = POLL):
    """Call condition until it returns something true (and return that), or raise saying what
    was awaited; a started process that exits ends the wait at once."""
    give_up = time.monotonic() + seconds
    while True:
        try:
            result = condition()
        except (OSError, redis.RedisError):
            result = None
        if result:
            return result
        for process in processes:
            if process.exited():
                raise RuntimeError(
                    f"Waited for {what}, but {process.name} exited:\n{process.tail()}"
                )
        if time.monotonic() > give_up:
            logs = "".join(f"\n--- {p.name} ---\n{p.tail()}" for p in processes)
            raise RuntimeError(f"Waited {seconds:g} s for {what}; gave up.{logs}")
        time.sleep(poll)


# Processes ------------------------------------------------------------------------------------
class Process:
    """A child process in a process group of its own, its output in a file; stop() ends the
    group (SIGTERM, then SIGKILL after `grace` seconds)."""

    def __init__(self, name: str, args: list[str], env: dict, log: Path, grace: float = 20):
        self.name, self.args, self.env, self.log, self.grace = name, args, env, log, grace
        self.popen: subprocess.Popen | None = None
        self.exits: list[int] = []  # exit statuses of the times it ended and was revived
        self._exited_at: float | None = None

    def start(self) -> "Process":
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args,
                cwd=Path(settings.BASE_DIR),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() takes its children too
            )
        return self

    def exited(self) -> bool:
        return self.popen is not None and self.popen.poll() is not None

    def revive(self) -> bool:
        """Start it again RESTART_SECONDS after it exited, as deploy/systemd's units do
        (Restart=on-failure, RestartSec=5); whether it did now."""
        if self.popen is None or self.popen.poll() is None:
            return False
        if self._exited_at is None:
            self._exited_at = time.monotonic()
            logger.warning("%s exited (%s)", self.name, self.popen.returncode)
        if time.monotonic() - self._exited_at < RESTART_SECONDS:
            return False
        self.exits.append(self.popen.returncode)
        self._exited_at = None
        self.stop()  # what is left of its process group
        self.start()
        return True

    def tail(self, lines: int = 120) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:]) or "(nothing written)"

    def stop(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:
                pass
        # Children that outlived their parent (a worker's pool processes) go too.
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen = None


class RedisServer(Process):
    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
        super().__init__("redis-server", args, dict(os.environ), folder / "redis.log", grace=10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=5)

    def start(self) -> "RedisServer":
        super().start()
        wait_until(
            lambda: self.client().ping(),
            what=f"redis-server on port {self.port} to answer PING",
            seconds=READY_SECONDS,
            processes=[self],
        )
        return self


@contextmanager
def broker(url: str):
    """This process's Celery app and the outbox's relay talking to `url`, not eagerly.

    Celery reads CELERY_BROKER_URL from the environment before its own configuration, and
    keeps a pool of connections to the broker it first used: both are switched, and back.
    """
    app = current_app
    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved_conf = app.conf.broker_url

    def reset_pools() -> None:
        # Dropped, not closed: whoever still holds the old pool (a test's result backend)
        # keeps a working one.
        app._pool = None
        app.amqp._producer_pool = None

    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    reset_pools()
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=url):
            yield app
    finally:
        reset_pools()
        app.conf.broker_url = saved_conf
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env


@dataclass
class Stack:
    """The processes of a run: Redis, then the worker and beat on it."""

    folder: Path
    tick_seconds: int
    concurrency: int
    redis: RedisServer = field(init=False)
    nodename: str = field(init=False)
    email_dir: Path = field(init=False)
    started: list[Process] = field(default_factory=list)

    @property
    def redispatch_seconds(self) -> int:
        """How long the worker, beat and this process wait before a message handed out but
        not done is handed out again: as deployed, or shorter on a quick run."""
        if self.tick_seconds == TICK_SECONDS:
            return settings.OUTBOX_REDISPATCH_SECONDS
        return min(settings.OUTBOX_REDISPATCH_SECONDS, QUICK_REDISPATCH_SECONDS)

    def __post_init__(self) -> None:
        self.redis = RedisServer(self.folder)
        self.nodename = f"bench-ops-{secrets.token_hex(4)}@localhost"
        self.email_dir = self.folder / "emails"
        self.email_dir.mkdir()

    def env(self) -> dict:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "devtools.bench.child_settings",
            "DATABASE_URL": database_url(),
            "SECRET_KEY": settings.SECRET_KEY or "bench-only-secret",
            "CELERY_BROKER_URL": self.redis.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "BENCH_EMAIL_DIR": str(self.email_dir),
            "STATE_DIR": str(self.folder / "state"),  # beat's schedule file
            "MONITORING_ALLOWED_NETWORKS": "127.0.0.1/32",  # the metric source below
            "OUTBOX_REDISPATCH_SECONDS": str(self.redispatch_seconds),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("BENCH_TICK_SECONDS", None)
        if self.tick_seconds != TICK_SECONDS:
            env["BENCH_TICK_SECONDS"] = str(self.tick_seconds)
        return env

    def celery(self, name: str, *args: str) -> Process:
        command = [sys.executable, "-m", "celery", "-A", "portal", *args]
        process = Process(name, command, self.env(), self.folder / f"{name}.log").start()
        self.started.append(process)
        return process

    def start_worker(self, app) -> Process:
        worker = self.celery(
            "worker",
            "worker",
            f"--concurrency={self.concurrency}",
            "--loglevel=INFO",
            f"--hostname={self.nodename}",
        )
        wait_until(
            lambda: app.control.ping(destination=[self.nodename], timeout=0.5),
            what=f"the Celery worker {self.nodename} to answer a ping",
            seconds=READY_SECONDS,
            processes=[worker],
            poll=0,
        )
        return worker

    def start_beat(self) -> Process:
        return self.celery("beat", "beat", "--loglevel=INFO")

    def stop(self) -> None:
        for process in reversed(self.started):
            try:
                process.stop()
            except Exception:
                logger.exception("Could not stop %s", process.name)
        self.redis.stop()


# 1. Relay throughput --------------------------------------------------------------------------
def _write(n: int, task: str = HEARTBEAT) -> int:
    """n outbox rows as enqueue writes them (in bulk: the relay's rate is measured, not the
    writing); the first id."""
    first = None
    for start in range(0, n, BULK):
        rows = OutboxMessage.objects.bulk_create(
            [OutboxMessage(task=task, args=[], kwargs={}) for _ in range(min(BULK, n - start))]
        )
        first = first or rows[0].pk
    assert first is not None
    return first


def bench_relay(stack: Stack, app, n: int) -> tuple[list[Figures], Process]:
    client = stack.redis.client()
    queue = app.conf.task_default_queue
    first = _write(n)
    started = time.perf_counter()
    handed = outbox.relay()
    handoff = time.perf_counter() - started
    queued = client.llen(queue)
    ours = OutboxMessage.objects.filter(pk__gte=first, task=HEARTBEAT)
    if handed != n or queued != n:
        raise RuntimeError(
            f"the relay handed {handed:,} messages and Redis holds {queued:,}, not {n:,}"
        )
    # Nothing ran: forget them, and what Redis holds.
    client.flushall()
    ours.delete()

    worker = stack.start_worker(app)
    first = _write(n)
    ours = OutboxMessage.objects.filter(pk__gte=first, task=HEARTBEAT)
    started = time.perf_counter()
    handed_again = outbox.relay()
    relayed = time.perf_counter() - started
    wait_until(
        lambda: not ours.filter(done_at__isnull=True).exists(),
        what=f"the worker to run all {n:,} side effects",
        seconds=max(300.0, n / 20),
        processes=[worker],
    )
    elapsed = time.perf_counter() - started
    done = ours.filter(done_at__isnull=False).count()
    redelivered = ours.filter(dispatches__gt=1).count()
    failed = ours.filter(failures__gt=0).count()
    return [
        Figures(
            "outbox relay: side effects handed to Redis",
            n / handoff,
            "side effects/s",
            f"{handed:,} {HEARTBEAT} messages relayed in {handoff:.1f} s "
            f"(batches of {outbox.RELAY_BATCH}), {queued:,} in the Redis queue, no worker",
        ),
        Figures(
            "outbox end to end: relayed and run by a worker",
            n / elapsed,
            "side effects/s",
            f"{done:,} of {n:,} done in {elapsed:.1f} s (the relay took {relayed:.1f} s of it, "
            f"{handed_again:,} handed); worker --concurrency {stack.concurrency}; "
            f"{failed} failed, {redelivered} handed out twice",
        ),
    ], worker


# 2. Outage and drain --------------------------------------------------------------------------
class RelayLog(logging.Handler):
    """Counts the outbox's warnings and errors (a relay after commit that failed)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.times.append(time.monotonic())


@dataclass
class Writer:
    """Saves emails at `rate` per second in all, each in its own transaction as a service
    does, from `threads` threads (a web server's concurrent requests).

    Saves are due every 1/rate seconds; a thread takes the next due time that nobody took,
    waiting for it if early. When every thread is stuck (a save that blocks), the due times
    that passed meanwhile are skipped, not made up in a burst afterwards: the rate drops to
    what the threads manage, and comes back to `rate` when saves are quick again.
    """

    rate: float
    marker: str
    threads: int = WRITERS
    stop: threading.Event = field(default_factory=threading.Event)
    saved: list[str] = field(default_factory=list)  # subjects of the saves that committed
    failures: list[str] = field(default_factory=list)
    # (monotonic time it began, seconds the save with its relay took)
    saves: list[tuple[float, float]] = field(default_factory=list)
    skipped: int = 0  # due times that passed with every thread busy
    start: float = 0.0
    _slot: int = 0
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def subject(self, k: int) -> str:
        return f"{self.marker} #{k}"

    def _take(self) -> tuple[int, float]:
        """(the save's number, when it is due)."""
        with self._lock:
            now_slot = math.floor((time.monotonic() - self.start) * self.rate)
            if now_slot > self._slot:
                self.skipped += now_slot - self._slot
                self._slot = now_slot
            slot, self._slot = self._slot, self._slot + 1
            k, self._count = self._count, self._count + 1
        return k, self.start + slot / self.rate

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                k, due = self._take()
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)  # the pacing of the writes
                began = time.monotonic()
                try:
                    with transaction.atomic():
                        outbox.enqueue(
                            SEND_EMAIL,
                            [f"outage-{k}@bench.invalid"],
                            self.subject(k),
                            "Written while the broker may be down.",
                        )
                except Exception as exc:  # counted: a save must never fail for the broker
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                else:
                    self.saved.append(self.subject(k))
                self.saves.append((began, time.monotonic() - began))
        finally:
            connection.close()  # this thread's own connection

    def begin(self) -> list[threading.Thread]:
        self.start = time.monotonic()
        threads = [
            threading.Thread(target=self.run, name=f"outbox-writer-{i}", daemon=True)
            for i in range(self.threads)
        ]
        for thread in threads:
            thread.start()
        return threads


def _ours(marker: str):
    return OutboxMessage.objects.filter(task=SEND_EMAIL, args__1__startswith=marker + " #")


def _emails_by_subject(folder: Path, marker: str) -> Counter:
    pattern = re.compile(rf"^Subject: \[Steward\] ({re.escape(marker)} #\d+)$", re.MULTILINE)
    counts: Counter = Counter()
    for path in folder.iterdir():
        counts.update(pattern.findall(path.read_text(errors="replace")))
    return counts


def bench_outage(stack: Stack, worker: Process, outage: float, rate: float) -> list[Figures]:
    beat = stack.start_beat()
    marker = f"bench outage {secrets.token_hex(3)}"
    ours = _ours(marker)
    writer = Writer(rate, marker)
    log = RelayLog()
    outbox_logger = logging.getLogger(outbox.__name__)
    outbox_logger.addHandler(log)
    threads: list[threading.Thread] = []
    peak = 0
    try:
        threads = writer.begin()
        time.sleep(BEFORE_OUTAGE_SECONDS)  # saving with the broker up first
        stack.redis.stop()
        down_at = time.monotonic()
        while time.monotonic() < down_at + outage:  # the outage: the deliberate wait
            peak = max(peak, ours.filter(done_at__isnull=True).count())
            worker.revive()
            beat.revive()
            time.sleep(1)
        stack.redis.start()
        back_at = time.monotonic()
        back = timezone.now()
        written_before = ours.filter(created_at__lt=back).count()
        before = ours.filter(created_at__lt=back, done_at__isnull=True)

        def drained() -> bool:
            nonlocal peak
            worker.revive()
            beat.revive()
            peak = max(peak, ours.filter(done_at__isnull=True).count())
            return not before.exists()

        wait_until(
            drained,
            what="the backlog written before Redis came back to be done",
            seconds=stack.redispatch_seconds + 180,
        )
        drain = time.monotonic() - back_at
    finally:
        writer.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        outbox_logger.removeHandler(log)
    wait_until(
        lambda: (
            (worker.revive() or beat.revive() or True)
            and not ours.filter(done_at__isnull=True).exists()
        ),
        what="the emails written after Redis came back to be done",
        seconds=300,
    )
    written = len(writer.saved)
    done = ours.filter(done_at__isnull=False).count()
    handed_again = ours.filter(dispatches__gt=1).count()
    sent = _emails_by_subject(stack.email_dir, marker)
    missing = sum(1 for subject in writer.saved if subject not in sent)
    twice = sum(1 for n in sent.values() if n > 1)
    once = written == done == sum(sent.values()) == len(sent) and not twice and not missing
    during = [s for began, s in writer.saves if down_at <= began < back_at]
    normal = [s for began, s in writer.saves if not down_at <= began < back_at]
    failed_relays_after = sum(1 for t in log.times if t >= back_at)
    return [
        Figures(
            "saves that failed (broker down or up)",
            len(writer.failures),
            "failures",
            f"{written:,} emails saved at up to {rate:g}/s by {writer.threads} threads, each "
            f"in its own transaction, {len(during):,} of them while Redis was down for "
            f"{outage:g} s ({len(during) / outage if outage else 0:.1f}/s)"
            + (f"; first: {writer.failures[0]}" if writer.failures else ""),
        ),
        Figures(
            "save with its relay after commit, Redis down (median)",
            statistics.median(during) * 1000 if during else 0.0,
            "ms",
            f"p95 {_percentile(during, 0.95) * 1000:.1f} ms, "
            f"max {max(during, default=0) * 1000:.0f} ms; with Redis up: median "
            f"{statistics.median(normal) * 1000 if normal else 0:.1f} ms; "
            f"{writer.skipped:,} due saves skipped while all {writer.threads} threads were busy",
        ),
        Figures(
            "backlog at its peak",
            peak,
            "messages",
            f"not done; {written_before:,} written before Redis came back, "
            f"{len(during):,} while it was down",
        ),
        Figures(
            "drain: Redis back to backlog zero",
            drain,
            "s",
            f"until every message written before Redis came back was done (beat relays every "
            f"10 s; a message Redis lost is handed out again after "
            f"{stack.redispatch_seconds} s); {handed_again} needed more than one relay "
            f"(refused by the down broker, or handed out again); "
            f"{failed_relays_after} relays after commit failed after Redis was back; "
            f"the worker exited {len(worker.exits)} times (statuses {worker.exits}) and beat "
            f"{len(beat.exits)} times, each started again after {RESTART_SECONDS} s as "
            "deploy/systemd's units do",
        ),
        Figures(
            "emails sent exactly once",
            len(sent),
            "emails",
            f"{'exactly once' if once else 'NOT exactly once'}: {written:,} saved, {done:,} done, "
            f"{sum(sent.values()):,} written by the file backend for {len(sent):,} subjects, "
            f"{twice} sent twice, {missing} never sent",
        ),
    ]


# 3. Breach to flag ----------------------------------------------------------------------------
class _Source(BaseHTTPRequestHandler):
    """Serves {"value": <the current value>}, as a system's metrics endpoint would."""

    value = HEALTHY

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = json.dumps({"value": type(self).value}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _deployment() -> Deployment:
    deployment = (
        Deployment.objects.filter(active=True)
        .exclude(use_case__lifecycle="retired")
        .select_related("use_case")
        .order_by("pk")
        .first()
    )
    if deployment is None:
        raise RuntimeError("No live deployment: seed the registry first.")
    return deployment


def bench_breaches(
    stack: Stack, worker: Process, beat: Process, actor, breaches: int, seed: int = 20
) -> list[Figures]:
    tick = stack.tick_seconds
    deployment = _deployment()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Source)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Source.value = HEALTHY
    name = f"bench breach {secrets.token_hex(3)}"
    rng = random.Random(seed)
    latencies: list[float] = []
    source = rule = None
    try:
        with override_settings(MONITORING_ALLOWED_NETWORKS=["127.0.0.1/32"]):
            source, _ = source_create(
                actor=actor,
                deployment=deployment,
                name=name,
                kind="http_json",
                url=f"http://127.0.0.1:{server.server_address[1]}/metrics.json",
                config={"metrics": {METRIC: "value"}},
            )
        if tick != TICK_SECONDS:
            # Below the form's one-minute minimum: a quick run only.
            MetricSource.objects.filter(pk=source.pk).update(interval_seconds=tick)
        rule = rule_create(
            actor=actor,
            name=name,
            metric=METRIC,
            aggregation="last",
            window_minutes=5,
            comparison="gt",
            threshold=THRESHOLD,
            min_samples=1,
            severity="medium",
            action="flag",
            subject="use_case",
            use_case=deployment.use_case,
        )
        started = timezone.now()
        for _ in range(breaches):
            time.sleep(rng.uniform(0, tick))  # a random moment against beat's minute
            breach_at = _switch(BREACHING)
            flag = wait_until(
                lambda: Flag.objects.filter(rule=rule, status=FlagStatus.OPEN).first(),
                what=f"a flag from the rule {name!r} after the source breached",
                seconds=3 * tick + 60,
                processes=[worker, beat],
                poll=0.5,
            )
            latencies.append((flag.raised_at - breach_at).total_seconds())
            _switch(HEALTHY)
            flag_resolve(actor=actor, flag=flag, reason="Benchmark: the breach is over.")
        minutes = (timezone.now() - started).total_seconds() / tick
        pulls = MetricSample.objects.filter(source=source).count()
    finally:
        server.shutdown()
        server.server_close()
        close_old_connections()
        if source is not None:
            MetricSource.objects.filter(pk=source.pk).update(enabled=False)
        if rule is not None:
            Rule.objects.filter(pk=rule.pk).update(enabled=False)
    every = "minute" if tick == 60 else f"{tick} s"
    return [
        Figures(
            "breach to flag, median",
            statistics.median(latencies),
            "s",
            f"p95 {_percentile(latencies, 0.95):.1f} s, min {min(latencies):.1f} s, max "
            f"{max(latencies):.1f} s over {len(latencies)} breaches at random moments; source "
            f"pulled every {every}, beat dispatching pulls and evaluating rules every {every}",
        ),
        Figures(
            "breach to flag, p95",
            _percentile(latencies, 0.95),
            "s",
            "latencies: " + ", ".join(f"{s:.1f}" for s in latencies),
        ),
        Figures(
            "pulls made by the one-minute schedule" if tick == 60 else "pulls made",
            pulls,
            "pulls",
            f"in {minutes:.1f} intervals of {tick} s (one pull per interval expected, "
            f"none skipped: about {math.floor(minutes)})",
        ),
    ]


def _switch(value: float) -> datetime:
    _Source.value = value
    return timezone.now()


# The run --------------------------------------------------------------------------------------
def run(
    actor,
    messages: int = MESSAGES,
    outage_seconds: float = OUTAGE_SECONDS,
    write_rate: float = WRITE_RATE,
    breaches: int = BREACHES,
    tick_seconds: int = TICK_SECONDS,
    concurrency: int = WORKER_CONCURRENCY,
    report=None,
) -> list[Figures]:
    """All three parts; `report(figures)` is called as each part ends (the run is long)."""
    if connection.vendor != "postgresql":
        raise RuntimeError("the operations benchmark needs PostgreSQL (other processes share it)")
    report = report or (lambda figures: None)
    # The outbox is emptied first, so every run measures the same work (the bench database).
    OutboxMessage.objects.all().delete()
    figures: list[Figures] = []
    with ExitStack() as cleanup:
        folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-ops-")))
        stack = Stack(folder, tick_seconds, concurrency)
        cleanup.callback(stack.stop)
        stack.redis.start()
        app = cleanup.enter_context(broker(stack.redis.url))
        part, worker = bench_relay(stack, app, messages)
        report(part)
        figures += part
        part = bench_outage(stack, worker, outage_seconds, write_rate)
        report(part)
        figures += part
        beat = next(p for p in stack.started if p.name == "beat")
        part = bench_breaches(stack, worker, beat, actor, breaches)
        report(part)
        figures += part
    return figures
