"""Append-only in the database: triggers refuse UPDATE and DELETE on every history table
(and its many-to-many snapshots), on the append-only records apps register with the ledger
(sign-offs, incident timelines) and on the ledger's own tables, on PostgreSQL and SQLite.

They are (re)created after every ``migrate`` (PortalConfig connects ``install`` to
post_migrate), for every history model there is then, so a model that gains history is
guarded without a migration of its own, and a table SQLite rebuilt in a migration gets its
triggers back.

An UPDATE that changes nothing goes through (Django's test runner reloads rows that way).
The one way through for a change is ``manage.py history_erase`` (retention, or a data subject's
erasure): inside its transaction it writes an ErasurePermit row naming the table, and the
trigger lets a statement on a table with a permit through; the erasure is recorded in the
ledger as a tombstone. Anyone who can write a permit can also drop a trigger: the guard is
against changes through the application's account and by mistake, and the ledger's
verification names what was changed whichever way it was done.

No trigger on TRUNCATE (PostgreSQL), as for the incident timeline
(incidents/migrations/0002_append_only_timeline.py): Django's test runner empties tables
that way, and TRUNCATE needs the table owner's rights.
"""

from django.apps import apps
from django.db import connections

from portal.ledger.sources import history_models, m2m_history_models, sources

FUNCTION = "steward_append_only"

POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM portal_erasurepermit WHERE table_name = TG_TABLE_NAME) THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'Steward keeps % append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql
"""


def guarded_tables() -> list[str]:
    ledger = [
        apps.get_model("portal", name)._meta.db_table
        for name in ("LedgerEntry", "LedgerLink", "LedgerCheckpoint")
    ]
    tables = [m._meta.db_table for m in [*history_models(), *m2m_history_models()]]
    # The append-only records apps register (sign-offs, incident timelines).
    tables += [s.table for s in sources().values() if s.append_only]
    return sorted(set(tables)) + ledger


def _postgresql(table: str) -> list[str]:
    name = f"{FUNCTION}_guard"
    return [
        f'DROP TRIGGER IF EXISTS {name} ON "{table}"',
        f'CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON "{table}" '
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
    ]


def _sqlite(table: str, columns: list[str]) -> list[str]:
    statements = []
    unchanged = " AND ".join(f'NEW."{c}" IS OLD."{c}"' for c in columns)
    for op in ("UPDATE", "DELETE"):
        name = f"{FUNCTION}_{op.lower()}_{table}"
        when = f"NOT EXISTS (SELECT 1 FROM portal_erasurepermit WHERE table_name = '{table}')"
        if op == "UPDATE":
            when += f" AND NOT ({unchanged})"
        statements += [
            f'DROP TRIGGER IF EXISTS "{name}"',
            f'CREATE TRIGGER "{name}" BEFORE {op} ON "{table}" WHEN {when} '
            f"BEGIN SELECT RAISE(ABORT, 'Steward keeps {table} append-only: {op} refused'); END",
        ]
    return statements


def install(using: str = "default", **kwargs) -> int:
    """Create (or recreate) the guard on every append-only table; how many were guarded."""
    connection = connections[using]
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        return 0
    existing = set(connection.introspection.table_names())
    tables = [t for t in guarded_tables() if t in existing]
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(POSTGRESQL_FUNCTION)
        for table in tables:
            if vendor == "postgresql":
                statements = _postgresql(table)
            else:
                columns = [
                    c.name for c in connection.introspection.get_table_description(cursor, table)
                ]
                statements = _sqlite(table, columns)
            for statement in statements:
                cursor.execute(statement)
    return len(tables)
