"""The demo firm (manage.py seed_demo), seeded once and shared by the tests that read it.

About a dozen tests check what the demo shows (the loop closing, the obligations, the
one-pagers, the notifications) or walk its records (history, the append-only guards, the
evidence pack). Seeding it costs tens of seconds of CPU on a loaded two-core machine, and each
of those tests used to seed it afresh. Now they ask for the `demo_firm` fixture instead.

The first of them in a process seeds the demo, with the same command and options as before,
inside a transaction of its own (``DemoFirm.open``), opened before the test's own: pytest-django
then wraps the test in a savepoint within it (Django's TestCase nests its atomic blocks) and
rolls the savepoint back after the test, as it always does. So every demo test starts from
exactly the rows seed_demo made, none sees what another changed, and nothing is committed: the
demo's on-commit side effects (emails, PDFs, tasks) never run, as when each test seeded it in
its own transaction. Before the first test that does not ask for the demo, the transaction is
rolled back (``DemoFirm.close``) and the database is again as the migrations left it.

The demo tests run one after another so that it is seeded once a run: ``tests/conftest.py``
sorts them together and, under pytest-xdist, sends them to one process as a group.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings

FIXTURE = "demo_firm"
STASH = pytest.StashKey["DemoFirm"]()


class DemoFirm:
    """The open transaction holding the seeded demo, if there is one."""

    def __init__(self, blocker):
        self.blocker = blocker  # pytest-django's django_db_blocker
        self.atomic: transaction.Atomic | None = None
        self.seeded = 0  # how many times this process seeded it

    @property
    def is_open(self) -> bool:
        return self.atomic is not None

    def open(self) -> None:
        if self.atomic is not None:
            return
        with self.blocker.unblock():
            atomic = transaction.atomic()
            # As Django marks a test's own blocks: a durable block inside still runs.
            atomic._from_testcase = True
            atomic.__enter__()
            try:
                # The fast hasher every test uses (conftest.py); seed_demo sets passwords.
                hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
                with override_settings(PASSWORD_HASHERS=hashers):
                    call_command("seed_demo", allow_production=True, verbosity=0)
            except BaseException:
                transaction.set_rollback(True)
                atomic.__exit__(None, None, None)
                raise
        self.atomic = atomic
        self.seeded += 1

    def close(self) -> None:
        if self.atomic is None:
            return
        atomic, self.atomic = self.atomic, None
        with self.blocker.unblock():
            if connection.in_atomic_block:
                transaction.set_rollback(True)
                atomic.__exit__(None, None, None)


def uses_demo(item: pytest.Item) -> bool:
    return FIXTURE in getattr(item, "fixturenames", ())


def before_test(item: pytest.Item) -> None:
    """Open the demo's transaction for a demo test, roll it back before any other test."""
    demo = item.config.stash.get(STASH, None)
    if demo is None:
        return  # not seeded yet in this process: the session fixture does it first
    if uses_demo(item):
        demo.open()
    else:
        demo.close()
