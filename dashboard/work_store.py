"""My work, kept: each person's gathered list, stored and read back until anything it was
read from changes.

Gathering My work runs a dozen queries over the register (dashboard/work.py); the dashboard
and My work open far more often than what they list changes. So the gathered list is kept,
one row per person (``WorkSnapshot``), and read back in one query while nothing it rests on
has changed.

What "changed" means is PostgreSQL's to say, not the code's: every table the kept sources
read (``WATCHED``) has a statement trigger that adds a row to ``dashboard_workchange`` for
each INSERT, UPDATE, DELETE or TRUNCATE, whichever code or tool made it (the ORM, a bulk
update, raw SQL, the admin), even one that changes no row; an UPDATE of only a column no
source reads (``UNREAD_COLUMNS``) adds none. Each migrate adds one too. A snapshot records
the change log as it read it (the lowest id and the number of rows) before it gathered; it is
used only while the log still reads the same. The log is read in the same query as the
snapshot, and only committed rows count, so a kept list is never older than the log it is
kept under: a change committed while a person's list was being gathered moves the log on,
and the next request gathers afresh; and what the request read of the person before the log
(their roles and units) is read again before gathering. ``tests/dashboard/test_work_store.py``
walks the sources' SQL to prove every table they read is watched, on the paths its data takes.

The dashboard's panels that do not move with the clock are kept under the same log, as
rendered HTML (``read_panels``, ``keep_panels``; dashboard/panels.py).

What depends on the clock is not kept: the incidents source (its reporting clocks go from
running to overdue by the hour) is read on every request, and a snapshot is for one day
(the review and expiry windows count from today) and one set of the settings it counts
with. On SQLite (the embedded default) there are no triggers and nothing is kept: the list
is gathered on every request, as before.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from datetime import date, datetime

from django.conf import settings
from django.db import connection

from dashboard.models import PanelSnapshot, WorkSnapshot

# Every table a kept source or panel reads (tests/dashboard/test_work_store.py and
# test_panels_kept.py check the list against the SQL they run). The auth tables are here
# because who may decide what (roles, units, groups, an account made inactive) is read from
# them.
WATCHED = (
    "assessments_assessment",
    "assessments_reviewassignment",
    "auth_group",
    "auth_permission",
    "auth_user",
    "auth_user_groups",
    "compliance_applicability",
    "compliance_control",
    "compliance_evidence",
    "compliance_evidence_controls",
    "compliance_framework",
    "compliance_obligation",
    "compliance_obligationexception",
    "django_content_type",
    "guardian_groupobjectpermission",
    "guardian_userobjectpermission",
    "incidents_incident",
    "monitoring_flag",
    "monitoring_rule",
    "registry_aimodel",
    "registry_businessunit",
    "registry_businessunit_members",
    "registry_deployment",
    "registry_modelapproval",
    "registry_modelversion",
    "registry_promotionapproval",
    "registry_promotionrequest",
    "registry_usecase",
)

# The change log is pruned to its newest tenth once it holds this many rows, when it is next
# read (each prune is itself a change: every kept list is gathered afresh once after it).
# Small, since every read counts it.
KEEP_CHANGES = 1_000


# Columns whose change outdates no kept list, written often: an assessment's answers and
# what is worked out from them (saved every few seconds while someone types), a flag's "last
# seen" (every rules cycle, for every open flag) and a person's last sign-in. An UPDATE that
# sets only these logs nothing. No source or panel reads them (tests/dashboard checks).
UNREAD_COLUMNS = {
    "assessments_assessment": ("answers", "result", "result_value", "revision", "updated_at"),
    "monitoring_flag": ("last_seen_at",),
    "auth_user": ("last_login",),
}

TRIGGER = "steward_work_changed"
_installed: dict[str, bool] = {}


def keeps() -> bool:
    """Whether lists are kept: on PostgreSQL, where every watched table has its trigger
    (asked once a process: a table without one would leave kept lists outdated unseen)."""
    if connection.vendor != "postgresql":
        return False
    if connection.alias not in _installed:
        with connection.cursor() as cursor:
            _installed[connection.alias] = set(WATCHED) <= triggered_tables(cursor)
    return _installed[connection.alias]


def triggered_tables(cursor) -> set[str]:
    """The tables that have the change trigger now."""
    cursor.execute(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = %s",
        [TRIGGER],
    )
    return {table for (table,) in cursor.fetchall()}


def settings_key() -> str:
    """The settings the kept sources count with: a snapshot of other settings is not used.
    (Code is another matter: a deploy runs migrate, which outdates every kept list.)"""
    from dashboard import work  # noqa: PLC0415 (work imports this module)

    return (
        f"stuck={settings.ASSESSMENT_STUCK_DAYS};soon={work.SOON_DAYS};limit={work.LIMIT};"
        f"notice={getattr(settings, 'COMPLIANCE_EXPIRY_NOTICE_DAYS', 30)};"
        f"tz={settings.TIME_ZONE}"
    )


def _item(raw: dict):
    from dashboard.work import WorkItem  # noqa: PLC0415

    due, since = raw["due"], raw["since"]
    return WorkItem(
        raw["kind"],
        raw["title"],
        raw["why"],
        raw["link"],
        date.fromisoformat(due) if due else None,
        datetime.fromisoformat(since) if since else None,
    )


def _raw(item) -> dict:
    raw = asdict(item)
    raw["due"] = item.due.isoformat() if item.due else None
    raw["since"] = item.since.isoformat() if item.since else None
    return raw


_READ = """
SELECT c.low, c.n, s.changes_from, s.changes, s.day, s.settings_key, s.depth,
       CASE WHEN %(first)s::int IS NULL THEN s.items
            ELSE jsonb_path_query_array(
                s.items, ('$[0 to ' || (%(first)s::int)::text || ']')::jsonpath
            )
       END,
       s.counts, s.waiting
FROM (SELECT COALESCE(MIN(id), 0) AS low, COUNT(*) AS n FROM dashboard_workchange) AS c
LEFT JOIN dashboard_worksnapshot AS s ON s.person_id = %(person)s
"""


class Kept:
    """What ``read`` found: the list if it is still good (``items`` not None), else the
    change log's mark to ``keep`` the list about to be gathered under."""

    def __init__(self, mark: tuple[int, int], items=None, counts=None, waiting=None):
        self.mark, self.items = mark, items
        self.counts = Counter(counts or {})
        self.waiting = Counter(waiting or {})


def read(user, today: date, first: int | None, depth: int) -> Kept:
    """The person's kept list if nothing it rests on changed since and each source gave at
    least ``depth`` items (its first ``first`` items only, or all of them for None), in one
    query."""
    with connection.cursor() as cursor:
        cursor.execute(
            _READ, {"person": user.pk, "first": None if first is None else max(0, first - 1)}
        )
        low, n, kept_from, kept, day, key, kept_depth, items, counts, waiting = cursor.fetchone()
    if n > KEEP_CHANGES:
        prune()
        return read(user, today, first, depth)
    mark = (low, n)
    if not _current(mark, (kept_from, kept), day, today, key) or kept_depth < depth:
        return Kept(mark)
    if isinstance(items, str):  # Django has psycopg hand jsonb back as text
        items, counts, waiting = json.loads(items), json.loads(counts), json.loads(waiting)
    return Kept(mark, [_item(raw) for raw in items], counts, waiting)


def _current(mark: tuple[int, int], kept_mark, day, today: date, key) -> bool:
    """Whether what was kept under ``kept_mark`` on ``day`` with settings ``key`` still holds:
    the log reads as it did, on the same day, with the same settings."""
    return kept_mark == mark and day == today and key == settings_key()


def keep(user, today: date, mark: tuple[int, int], depth: int, items, counts, waiting) -> None:
    """Store the list gathered, ``depth`` items a source, after the change log read ``mark``
    (one statement)."""
    WorkSnapshot.objects.bulk_create(
        [
            WorkSnapshot(
                person_id=user.pk,
                changes_from=mark[0],
                changes=mark[1],
                day=today,
                settings_key=settings_key(),
                depth=depth,
                items=[_raw(i) for i in items],
                counts=dict(counts),
                waiting=dict(waiting),
            )
        ],
        update_conflicts=True,
        unique_fields=["person"],
        update_fields=[
            "changes_from", "changes", "day", "settings_key", "depth", "items", "counts",
            "waiting", "gathered_at",
        ],
    )  # fmt: skip


_READ_PANELS = """
SELECT c.low, c.n, s.changes_from, s.changes, s.day, s.settings_key, s.panels
FROM (SELECT COALESCE(MIN(id), 0) AS low, COUNT(*) AS n FROM dashboard_workchange) AS c
LEFT JOIN dashboard_panelsnapshot AS s ON s.person_id = %(person)s
"""


def read_panels(user, today: date) -> tuple[tuple[int, int], dict[str, str] | None]:
    """The change log's mark, and the person's kept dashboard panels if nothing they rest on
    changed since (None otherwise), in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_READ_PANELS, {"person": user.pk})
        low, n, kept_from, kept, day, key, panels = cursor.fetchone()
    if n > KEEP_CHANGES:
        prune()
        return read_panels(user, today)
    mark = (low, n)
    if not _current(mark, (kept_from, kept), day, today, key):
        return mark, None
    return mark, json.loads(panels) if isinstance(panels, str) else panels


def keep_panels(user, today: date, mark: tuple[int, int], panels: dict[str, str]) -> None:
    """Store the panels rendered after the change log read ``mark`` (one statement)."""
    PanelSnapshot.objects.bulk_create(
        [
            PanelSnapshot(
                person_id=user.pk,
                changes_from=mark[0],
                changes=mark[1],
                day=today,
                settings_key=settings_key(),
                panels=panels,
            )
        ],
        update_conflicts=True,
        unique_fields=["person"],
        update_fields=["changes_from", "changes", "day", "settings_key", "panels", "rendered_at"],
    )


def prune() -> None:
    """Drop all but the newest rows of the change log (a change in itself: kept lists are
    gathered afresh once)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM dashboard_workchange WHERE id < "
            "(SELECT MAX(id) FROM dashboard_workchange) - %s",
            [KEEP_CHANGES // 10],
        )


_FUNCTION = """
CREATE OR REPLACE FUNCTION steward_work_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_workchange ("table") VALUES (TG_TABLE_NAME);
    RETURN NULL;
END
$$
"""


def install_triggers(using: str = "default", **kwargs) -> None:
    """Put the change trigger on every watched table, after each migrate: idempotent, and a
    table added to WATCHED gets its trigger without a migration of its own. Then log a change:
    what the migrate wrote (before the triggers were back) and the code deployed with it may
    change what My work lists, so every kept list is gathered afresh."""
    from django.db import connections  # noqa: PLC0415

    target = connections[using]
    if target.vendor != "postgresql":
        return
    _installed.pop(using, None)
    existing = set(target.introspection.table_names())
    with target.cursor() as cursor:
        if "dashboard_workchange" not in existing:
            # The log was unmigrated (migrate dashboard 0002): no trigger may write to it.
            drop_triggers(cursor)
            return
        cursor.execute(_FUNCTION)
        for table in WATCHED:
            if table not in existing:
                continue  # not migrated yet (a partial migrate): the next migrate adds it
            unread = UNREAD_COLUMNS.get(table)
            if unread:
                columns = [
                    c.name
                    for c in target.introspection.get_table_description(cursor, table)
                    if c.name not in unread
                ]
                read = ", ".join(f'"{c}"' for c in columns)
                events = f"INSERT OR DELETE OR TRUNCATE OR UPDATE OF {read}"
            else:
                events = "INSERT OR UPDATE OR DELETE OR TRUNCATE"
            cursor.execute(
                f'CREATE OR REPLACE TRIGGER {TRIGGER} AFTER {events} ON "{table}" '
                f"FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()"
            )
        cursor.execute("""INSERT INTO dashboard_workchange ("table") VALUES ('(migrate)')""")


def drop_triggers(cursor) -> None:
    """Take every change trigger away, and their function (migrating the log back)."""
    for table in triggered_tables(cursor):
        cursor.execute(f'DROP TRIGGER IF EXISTS {TRIGGER} ON "{table}"')
    cursor.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
