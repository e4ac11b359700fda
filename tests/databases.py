"""One migrated test database per run, copied for each pytest-xdist worker.

`make test` runs the suite on several processes (pytest-xdist), each with a test database of
its own (pytest-django names them test_<name>_gw0, _gw1, ...). Left to itself each process
creates its database by running every migration, which on a busy two-core machine costs
minutes, the same minutes in every process at once. Instead the controlling process migrates
one database (``migrate_template``), in the background while the workers start, collect and
run the tests that need no database; it is named test_<name>_migrated once every migration
is applied (``finish_template``). A worker's first test on the database waits for that name
(``wait_for_template``), then the worker's database is a copy of it made by PostgreSQL
(``CREATE DATABASE ... TEMPLATE``, about two seconds: ``copy_template``). Django then finds
every migration applied and uses the copy as it is (keepdb), so the tests see exactly what the
migrations made, as before. The controlling process drops the template and the copies when
the run ends (``drop_copies``).

On SQLite, or without pytest-xdist, nothing here applies: pytest-django creates the database
as usual.

The tests that run Steward on SQLite, the embedded default, in a process of their own
(`manage.py serve`, the history walk's second run) start from one SQLite file migrated once a
run (``migrated_sqlite``), rather than each running every migration (about 28 s of CPU each,
most of it Django rendering model states): the first process to ask migrates it under a lock,
the others wait for it, and each test works on its own copy.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
# Set by the controlling process for its workers (they inherit its environment).
TEMPLATE_ENV = "STEWARD_TEST_TEMPLATE_DB"
# Set by a test for the pytest it runs on SQLite: its test database is a copy of this file.
SQLITE_TEMPLATE_ENV = "STEWARD_TEST_SQLITE_TEMPLATE"
# Where the controlling process writes the migration's output if it fails (workers read it).
TEMPLATE_FAILED_ENV = "STEWARD_TEST_TEMPLATE_FAILED"
MIGRATED_SECONDS = pytest.StashKey[float]()
MIGRATION = pytest.StashKey[tuple[subprocess.Popen, threading.Thread]]()
# How long a worker waits for the template before it gives up (a migration takes about a
# minute on a loaded two-core machine), and how often it looks.
TEMPLATE_DEADLINE_SECONDS = 1200
TEMPLATE_POLL_SECONDS = 0.25


def _database() -> dict:
    return settings.DATABASES["default"]


def _on_postgresql() -> bool:
    return _database()["ENGINE"] == "django.db.backends.postgresql"


def _test_name() -> str:
    """The test database's name before pytest-xdist adds its suffix (as pytest-django)."""
    db = _database()
    return db.get("TEST", {}).get("NAME") or f"test_{db['NAME']}"


def _maintenance():
    """A connection to the server's ``postgres`` database, to create and drop others."""
    db = _database()
    return psycopg.connect(
        dbname="postgres",
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        autocommit=True,
    )


def _drop(conn, name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _create(conn, name: str, template: str | None = None) -> None:
    """A test database (a copy of ``template``, if given) whose commits do not wait for the
    disk: synchronous_commit off, for every connection to it (the tests', and the servers',
    workers' and commands' the tests start). A test database need not outlive a crash of
    PostgreSQL itself; while the server runs, nothing committed is lost or reordered. On this
    machine a commit then costs 0.07 to 0.13 ms instead of 0.27 to 0.32, and does not queue
    behind whatever else is writing to the disk (a checkpoint after a benchmark's million
    rows, say). A copy does not inherit the setting from its template: each is given it."""
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    conn.execute(create)
    conn.execute(
        sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name))
    )


def migrate_template(config: pytest.Config) -> None:
    """Start running every migration on a new database, once: in the background, while
    pytest-xdist starts the workers and they collect the tests (about half a minute each on
    two cores) and run those that need no database. It is test_<name>_migrated_partial until
    the migrations are done, then renamed test_<name>_migrated (``finish_template``)."""
    if not _on_postgresql() or not os.environ.get("DATABASE_URL"):
        return
    template = f"{_test_name()}_migrated"
    partial = f"{template}_partial"
    started = time.monotonic()
    with _maintenance() as conn:
        _drop(conn, template)
        _drop(conn, partial)
        _create(conn, partial)
    url = urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + quote(partial)))
    process = subprocess.Popen(
        [sys.executable, "manage.py", "migrate", "--noinput", "--run-syncdb", "-v0"],
        cwd=BASE_DIR,
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    failed = Path(tempfile.mkdtemp(prefix="steward-template-")) / "migration-failed.txt"
    finishing = threading.Thread(
        target=finish_template,
        args=(config, process, partial, template, started, failed),
        name="migrate-template",
        daemon=True,
    )
    finishing.start()
    config.stash[MIGRATION] = (process, finishing)
    # The workers inherit them when they start: their databases are copied from the template.
    os.environ[TEMPLATE_ENV] = template
    os.environ[TEMPLATE_FAILED_ENV] = str(failed)


def finish_template(
    config: pytest.Config,
    process: subprocess.Popen,
    partial: str,
    template: str,
    started: float,
    failed: Path,
) -> None:
    """The controlling process, beside the run: when the migration ends, give the database
    the name the workers wait for, or write down why it failed for them to say."""
    output, _ = process.communicate()
    if process.returncode != 0:
        failed.write_text(output or f"migrate exited with {process.returncode}")
        return
    try:
        with _maintenance() as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(partial), sql.Identifier(template)
                )
            )
    except psycopg.Error as exc:  # the workers would wait for the name until their deadline
        failed.write_text(f"{output}\nRenaming {partial} to {template} failed: {exc}")
        return
    config.stash[MIGRATED_SECONDS] = time.monotonic() - started


def wait_for_template() -> str:
    """A worker, before its first test on the database: wait until the controlling process
    has named the migrated template, and return its name; fail that test with the
    migration's output if it failed."""
    template = os.environ[TEMPLATE_ENV]
    failed = Path(os.environ.get(TEMPLATE_FAILED_ENV, "/nonexistent"))
    deadline = time.monotonic() + TEMPLATE_DEADLINE_SECONDS
    with _maintenance() as conn:
        while True:
            if failed.exists():
                pytest.fail(
                    f"Migrating the test database {template} failed:\n{failed.read_text()}",
                    pytrace=False,
                )
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
            if found.fetchone():
                return template
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Waited {TEMPLATE_DEADLINE_SECONDS} s for the controlling process to "
                    f"migrate the test database {template}; it is still not there.",
                    pytrace=False,
                )
            time.sleep(TEMPLATE_POLL_SECONDS)


def copying() -> bool:
    """Whether this process's test database is a copy of a migrated one: a worker's, of the
    template; a run on SQLite, of the migrated file it was given."""
    # A test that runs pytest again in a subprocess (on SQLite) inherits both variables.
    return _sqlite_copying() or bool(
        os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(TEMPLATE_ENV) and _on_postgresql()
    )


def migrated_template() -> str | None:
    """The run's migrated database (under pytest-xdist on PostgreSQL), if there is one: a test
    that needs a whole database of its own may start from a copy of it (once it is ready)."""
    if not _on_postgresql() or not os.environ.get(TEMPLATE_ENV):
        return None
    return wait_for_template()


def copy_template() -> None:
    """Make this worker's test database a fresh copy of the migrated template."""
    if _sqlite_copying():
        _use_sqlite_copy()
        return
    if not copying():
        return
    name = _database()["TEST"]["NAME"]  # with the worker's suffix, set by pytest-django
    template = wait_for_template()
    with _maintenance() as conn:
        _drop(conn, name)
        _create(conn, name, template)


def migrated_sqlite(shared: Path) -> Path:
    """A SQLite database with every migration applied, in ``shared`` (a folder every process
    of the run sees): made by the first process that asks, under a lock the others wait on,
    then read by all. Copy it (``copy_sqlite``) rather than write to it."""
    path = shared / "migrated.sqlite3"
    with (shared / "migrated.sqlite3.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process ends
        if not path.exists():
            partial = shared / "migrating.sqlite3"
            partial.unlink(missing_ok=True)
            env = {**os.environ, "DATABASE_URL": f"sqlite:///{partial}",
                   "CELERY_TASK_ALWAYS_EAGER": "true"}  # fmt: skip
            env.pop(SQLITE_TEMPLATE_ENV, None)
            result = subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
                cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            if result.returncode != 0:
                raise RuntimeError(f"migrating {partial} failed:\n{result.stdout}{result.stderr}")
            copy_sqlite(partial, path)  # whole, without the write-ahead log beside it
            for left in shared.glob(f"{partial.name}*"):  # and its log, if one was left
                left.unlink()
    return path


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (SQLite's backup, which takes in what its
    write-ahead log holds), replacing ``target``."""
    target.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _sqlite_copying() -> bool:
    return not _on_postgresql() and bool(os.environ.get(SQLITE_TEMPLATE_ENV))


def _use_sqlite_copy() -> None:
    """On SQLite, with a migrated file named: the test database is a copy of it beside the
    database the settings name, used as it is (keepdb), so Django finds every migration
    applied."""
    db = _database()
    copy = Path(db["NAME"]).with_name(f"test_{Path(db['NAME']).name}")
    copy_sqlite(Path(os.environ[SQLITE_TEMPLATE_ENV]), copy)
    db.setdefault("TEST", {})["NAME"] = str(copy)


def drop_copies(config: pytest.Config) -> None:
    """Drop the template and every worker's copy (the controlling process, at the end)."""
    migration = config.stash.get(MIGRATION, None)
    if migration is not None:
        del config.stash[MIGRATION]
        process, finishing = migration
        if process.poll() is None:  # the run ended before the migration (interrupted)
            process.kill()
        finishing.join()
    failed = os.environ.pop(TEMPLATE_FAILED_ENV, None)
    if failed:
        Path(failed).unlink(missing_ok=True)
        Path(failed).parent.rmdir()
    template = os.environ.pop(TEMPLATE_ENV, None)
    if not template:
        return
    copy = re.compile(re.escape(_test_name()) + r"_gw\d+")
    with _maintenance() as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
        for name in names:
            if name in (template, f"{template}_partial") or copy.fullmatch(name):
                _drop(conn, name)


def report_header(config: pytest.Config) -> str | None:
    if MIGRATION not in config.stash:
        return None
    return "test databases: migrated once while the workers start, copied for each worker"


def report_summary(config: pytest.Config) -> str | None:
    seconds = config.stash.get(MIGRATED_SECONDS, None)
    if seconds is None:
        return None
    return f"test databases: migrated once in {seconds:.1f} s, copied for each worker"
