"""Fixtures for tests that run real processes next to the test process (a Celery worker), and
the `slow` marker on every test that starts a server or a browser.

The personas live in the root conftest.py; this file holds what needs outside services.
"""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from _pytest.nodeid import coerce_node_id
from celery.app.backends import by_url
from celery.result import AsyncResult
from django.apps import apps
from django.conf import settings
from django.db import connection
from pytest_django.fixtures import validate_django_db

from portal.celery import app
from portal.ledger.triggers import guarded_tables
from tests import databases, demo
from tests.readiness import tail, wait_for

BASE_DIR = Path(__file__).resolve().parent.parent
WORKER_STOP_SECONDS = 20

# Markers whose tests start a server or a browser (see `slow` in pyproject.toml): MLflow, a
# Celery worker, Chromium with the live server. Those tests are slow whatever their module says,
# so `make test-fast` (-m "not slow") leaves them out without each one repeating the mark.
SLOW_MARKERS = ("e2e", "mlflow", "celery")
# Fixtures that start one: a test asking for any of them, even through another fixture, is slow.
SERVER_FIXTURES = ("celery_worker", "live_server", "browser", "page")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (make test): migrate once, and give each worker its own queue.

    Every worker has its own test database (pytest-django names it test_<name>_gw<N>). The
    controlling process migrates one database while the workers start (and run the tests that
    need no database), and each worker's database is a copy of it (tests/databases.py), rather
    than each running every migration itself.
    Each worker also has, through the `celery_worker` fixture, its own Celery worker process on
    its database. They share one Redis, so a task sent by one test process must reach only its
    own Celery worker: one queue per test process, named after it.
    """
    xdist_worker = os.environ.get("PYTEST_XDIST_WORKER")
    if xdist_worker:
        # The Celery workers the tests start inherit the environment: their tasks' own tasks
        # (a dispatch sending its pulls) go to this queue too, not to the default one.
        queue = f"steward-test-{xdist_worker}"
        os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
        app.conf.task_default_queue = queue
    elif getattr(config.option, "numprocesses", None):
        databases.migrate_template(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        databases.drop_copies(config)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """A worker's test database is a copy of the one migrated before the run (if there is)."""
    databases.copy_template()


@pytest.fixture(scope="session")
def django_db_keepdb(request: pytest.FixtureRequest) -> bool:
    """A copied database is used as it is: Django checks its migrations, finds them applied,
    and leaves the dropping to the controlling process (databases.drop_copies)."""
    return databases.copying() or request.config.getvalue("reuse_db")


def pytest_report_header(config: pytest.Config) -> str | None:
    return databases.report_header(config)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    line = databases.report_summary(config)
    if line:
        terminalreporter.write_line(line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # The tests on the shared demo firm (tests/demo.py) run on one process, together.
        if demo.uses_demo(item):
            item.add_marker(pytest.mark.xdist_group(demo.FIXTURE))
    _group_for_xdist(config, items)
    for item in items:
        starts_a_server = any(item.get_closest_marker(name) for name in SLOW_MARKERS) or any(
            name in SERVER_FIXTURES for name in getattr(item, "fixturenames", ())
        )
        if starts_a_server and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    # Slow tests first, so that on several processes (make test) the long ones start early
    # and the short ones fill in at the end, rather than one long test finishing alone. Within
    # pytest-django's order (tests on the database, then transactional ones, which empty it,
    # then the rest), except that slow tests that use no database go first of all. The tests
    # on the shared demo firm come first among their kind, one after another, so that it is
    # seeded once (tests/demo.py).
    items.sort(key=lambda item: (_run_order(item), not demo.uses_demo(item)))


def _group_for_xdist(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Send the tests marked ``xdist_group`` to one process (make test: --dist loadgroup).

    pytest-xdist 3.8 does it by renaming each such test to end in ``@<group>``, through the
    attribute ``_nodeid``, which pytest 9 no longer reads (it keeps the id in ``_id``): the
    MLflow tests then ran on every process, each starting its own server. Renamed here the
    same way, where pytest keeps it, until pytest-xdist follows.

    A transactional test stays out of its group: a group runs as one block on its process, and
    a transactional test empties the database, so the tests on the database that process runs
    next would find none of what the migrations made (hence pytest-django's order). It runs
    with the other transactional tests, starting the group's server again if it needs it.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        if _run_order(item) in (3, 4):
            continue
        names = sorted(
            {str(m.args[0] if m.args else m.kwargs.get("name", "default"))
             for m in item.iter_markers("xdist_group")}
        )  # fmt: skip
        if names and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")


def _run_order(item: pytest.Item) -> int:
    slow = item.get_closest_marker("slow") is not None
    fixtures = getattr(item, "fixturenames", ())
    marker = item.get_closest_marker("django_db")
    transactional = "transactional_db" in fixtures or "live_server" in fixtures
    if marker:
        transaction, reset_sequences, *_ = validate_django_db(marker)
        transactional = transactional or transaction or reset_sequences
    if transactional:
        return 3 if slow else 4
    if marker or "db" in fixtures:
        return 1 if slow else 2
    return 0 if slow else 5


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    demo.before_test(item)


@pytest.fixture(scope="session")
def _demo_firm_transaction(
    request: pytest.FixtureRequest, django_db_setup, django_db_blocker
) -> Iterator[demo.DemoFirm]:
    """The process's shared demo (tests/demo.py): seeded by the first test that asks for it,
    before that test's own transaction, and rolled back at the end if still open."""
    firm = demo.DemoFirm(django_db_blocker)
    firm.open()
    request.config.stash[demo.STASH] = firm
    try:
        yield firm
    finally:
        firm.close()
        del request.config.stash[demo.STASH]


@pytest.fixture
def demo_firm(_demo_firm_transaction: demo.DemoFirm, db) -> None:
    """The demo firm exactly as `manage.py seed_demo` makes it, seeded once a run and shared
    (tests/demo.py); what the test changes is rolled back after it, as always."""
    assert _demo_firm_transaction.is_open, "the demo's transaction opens before each demo test"


@pytest.fixture(scope="session")
def migrated_sqlite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A SQLite database with every migration applied, made once a run for every process
    (tests/databases.py): for the tests that run Steward on the embedded default. Copy it."""
    base = tmp_path_factory.getbasetemp()
    # A pytest-xdist worker (not a pytest a test runs, which inherits the worker's environment)
    # has a folder of its own in the run's folder.
    worker = getattr(request.config, "workerinput", None) is not None
    shared = base.parent if worker else base
    return databases.migrated_sqlite(shared)


@pytest.fixture(scope="session")
def unavailable() -> Callable[[str], NoReturn]:
    """Skip when a service a test needs is missing, except under CI, where it must fail.

    `make test` starts PostgreSQL and Redis and installs Chromium, so a missing one in CI is a
    broken runner, and a skip there would pass green without testing anything.
    """

    def _unavailable(reason: str) -> NoReturn:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
        pytest.skip(reason)

    return _unavailable


def _redis_problem(url: str) -> str | None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc)
    finally:
        client.close()
    return None


def _with_database(url: str, name: str) -> str:
    """The same DATABASE_URL (user, host, options) pointing at another database."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(name)))


@dataclass(frozen=True)
class CeleryWorker:
    """A `celery -A portal worker` subprocess serving the test database."""

    nodename: str
    queue: str
    result_backend_url: str
    log: Path

    def result(self, task_id: str) -> Any:
        """The task's AsyncResult, read from the backend the worker writes to.

        The test process itself runs with no result backend (settings), so the AsyncResult
        that apply_async returns there cannot be waited on.
        """
        backend_cls, url = by_url(self.result_backend_url, app.loader)
        return AsyncResult(task_id, app=app, backend=backend_cls(app=app, url=url))

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup, unavailable, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """Start one real Celery worker on Redis for the session, pointed at the test database.

    Tests using it need `transactional_db`: the worker is another process and only sees
    committed rows.
    """
    if connection.vendor != "postgresql":
        unavailable(
            "the Celery worker needs a database another process can open; "
            "set DATABASE_URL to PostgreSQL"
        )
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("redis://", "rediss://")):
        unavailable(f"the Celery worker needs CELERY_BROKER_URL on Redis, not {broker!r}")
    problem = _redis_problem(broker)
    if problem:
        unavailable(f"Redis at {broker} is unreachable: {problem}")

    # django_db_setup has renamed the database to the test one (test_<name>) by now.
    test_database = connection.settings_dict["NAME"]
    result_backend = settings.CELERY_RESULT_BACKEND or broker
    queue = app.conf.task_default_queue
    # A name of its own, so the readiness ping is answered by this worker and no other.
    nodename = f"steward-test-{uuid.uuid4().hex[:8]}@localhost"
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "portal.settings"),
        "DATABASE_URL": _with_database(os.environ["DATABASE_URL"], test_database),
        # Close the connection after each task, so nothing holds the test database open when
        # pytest-django flushes it between tests and drops it at the end.
        "CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": result_backend,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
        # The monitoring tests' metric servers listen on 127.0.0.1, which pulls otherwise refuse.
        "MONITORING_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    command = [
        *(sys.executable, "-m", "celery", "-A", "portal", "worker"),
        *("--pool=solo", "--concurrency=1", "-Q", queue, "-n", nodename),
        *("--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=INFO"),
    ]
    worker = CeleryWorker(nodename, queue, result_backend, log)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        # Each ping waits half a second for the answer: no pause between them is needed.
        wait_for(
            lambda: app.control.ping(destination=[nodename], timeout=0.5),
            what=f"the Celery worker {nodename} to answer a ping on {broker}",
            poll=0,
            exited=process.poll,
            output=worker.log_tail,
        )
        yield worker
    finally:
        process.terminate()  # SIGTERM: a warm shutdown, finishing the task in hand
        try:
            process.wait(timeout=WORKER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Leave history and the ledger out of the copy of what the migrations made.

    Tests marked ``serialized_rollback`` reload that copy with an UPDATE or INSERT per row;
    history and ledger rows are append-only (database triggers) and the copy, through JSON,
    keeps timestamps to the millisecond only, so reloading them would rewrite them and be
    refused. What those tests need is the rows themselves (roles, templates, routing).
    """
    contents = getattr(connection, "_test_serialized_contents", None)
    if contents:
        with django_db_blocker.unblock():
            guarded = set(guarded_tables())
        kept = [
            obj
            for obj in json.loads(contents)
            if apps.get_model(obj["model"])._meta.db_table not in guarded
        ]
        connection._test_serialized_contents = json.dumps(kept)
    return django_db_setup
