"""The floor a piece of work is compared with: its own SQL, replayed on a raw connection.

A request (or a rules cycle) is run with its SQL captured; then exactly those statements are
executed again, one by one and in order, on a separate psycopg connection inside a
transaction that is rolled back, every row fetched. The replay's time is what the database
work alone costs, round trips included, with none of Django, DRF or Python around it: the
least the same answer could cost with the same queries. ``ratio = work / floor``.

Requests and replays alternate (request, its replay, the next request...), so a load that
comes and goes on a shared machine weighs on both alike.
"""

import time
from typing import Any

import psycopg
from django.conf import settings

FLOOR = (
    "floor: the same SQL statements the work issued, captured and replayed in order on a raw "
    "psycopg connection (one transaction, rolled back, every row fetched), interleaved with it"
)


def raw_connection() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    params: dict[str, Any] = {
        "dbname": db["NAME"],
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    return psycopg.connect(**params)


def statements(captured: list[dict]) -> list[str]:
    """The statements a CaptureQueriesContext saw, as sent (parameters bound client-side)."""
    return [q["sql"] for q in captured if q.get("sql")]


def replay(conn: psycopg.Connection, sql: list[str]) -> float:
    """Seconds to run ``sql`` in order on ``conn``, fetching every row; rolled back after."""
    started = time.perf_counter()
    with conn.cursor() as cursor:
        for statement in sql:
            cursor.execute(statement.encode())
            if cursor.description is not None:
                cursor.fetchall()
    elapsed = time.perf_counter() - started
    conn.rollback()
    return elapsed
