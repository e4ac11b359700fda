"""My work, kept: each person's gathered list, stored and read back until anything it was
read from changes.

Gathering My work runs a dozen queries over the register (dashboard/work.py); the dashboard
and My work open far more often than what they list changes. So the gathered list is kept,
one row per person (``WorkSnapshot``), and read back in one query while nothing it rests on
has changed.

What "changed" means is PostgreSQL's to say, not the code's: every table the kept sources
read (``WATCHED``) has a statement trigger that adds a row to ``dashboard_workchange``, naming
the table, for each INSERT, UPDATE, DELETE or TRUNCATE, whichever code or tool made it (the
ORM, a bulk update, raw SQL, the admin), even one that changes no row; an UPDATE of only a
column no source reads (``UNREAD_COLUMNS``) adds none. Each migrate adds one too. A snapshot
records the change log as it read it before it gathered (a ``Mark``: the lowest id, and the
number of rows for each table). Each source says which tables it reads (dashboard/work.py's
``KEPT``; who the person is, ``EVERYONE_READS``, is read by all): a source is gathered afresh
when a table it reads has more rows in the log than when its items were kept, and only then,
so a flag raised gathers the flags again, not the reviews. After a prune (the lowest id moved)
everything is. The log is read in the same query as the snapshot, and only committed rows
count, so kept items are never older than the log they are kept under: a change committed
while a person's list was being gathered moves the log on, and the next request gathers that
source afresh; and what the request read of the person before the log (their roles and units)
is read again before gathering. ``tests/dashboard/test_work_store.py`` walks each source's SQL
to prove every table it reads is among its own, and watched, on the paths its data takes.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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

# Who the person is: their account, roles, units and grants (access_for, sees_every_use_case).
# Every kept source and panel reads them, so a change to any of these outdates everything kept;
# so does a migrate (its row in the log names no table).
MIGRATE = "(migrate)"
EVERYONE_READS = (
    MIGRATE,
    "auth_group",
    "auth_permission",
    "auth_user",
    "auth_user_groups",
    "django_content_type",
    "guardian_groupobjectpermission",
    "guardian_userobjectpermission",
    "registry_businessunit",
    "registry_businessunit_members",
)

# The change log is pruned to its newest tenth once it holds this many rows, when it is next
# read (each prune is itself a change: every kept list is gathered afresh once after it).
# Small, since every read counts it.
KEEP_CHANGES = 1_000


# Columns whose change outdates no kept list, written often: an assessment's answers and
# what is worked out from them (saved every few seconds while someone types), a flag's "last
# seen" (every rules cycle, for every open flag), a person's last sign-in, and what else of
# a person no list shows (a password changed, an email address): who may decide what is their
# flags, groups and units, and a list shows other people by name only. An UPDATE that sets
# only these logs nothing. No source or panel reads them (tests/dashboard checks).
UNREAD_COLUMNS = {
    "assessments_assessment": ("answers", "result", "result_value", "revision", "updated_at"),
    "monitoring_flag": ("last_seen_at",),
    "auth_user": ("last_login", "password", "email", "date_joined"),
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
    # Field by field, not dataclasses.asdict: that deep-copies every value, which made keeping
    # a list of several hundred items cost more than gathering some of its sources.
    return {
        "kind": item.kind,
        "title": item.title,
        "why": item.why,
        "link": item.link,
        "due": item.due.isoformat() if item.due else None,
        "since": item.since.isoformat() if item.since else None,
    }


@dataclass(frozen=True)
class Mark:
    """The change log as read: its lowest id, and how many rows name each table."""

    low: int
    counts: Mapping[str, int]

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def changed_since(self, kept: Mark | None) -> set[str] | None:
        """The tables changed since the log read ``kept``; None for "anything may have": nothing
        was kept, or the log was pruned since (rows gone, so counts no longer tell)."""
        if kept is None or kept.low != self.low:
            return None
        return {
            table
            for table in self.counts.keys() | kept.counts.keys()
            if self.counts.get(table, 0) != kept.counts.get(table, 0)
        }


def outdated(changed: set[str] | None, reads: Mapping[str, Iterable[str]]) -> set[str]:
    """The names in ``reads`` (a source or panel: the tables it reads) that read a changed
    table, or who the person is; every name when anything may have changed."""
    if changed is None:
        return set(reads)
    return {name for name, tables in reads.items() if changed & {*tables, *EVERYONE_READS}}


# The change log as a mark: the lowest id and the rows for each table (a few dozen groups).
_LOG = """
(SELECT COALESCE(MIN(low), 0) AS low, COALESCE(jsonb_object_agg(t, n), '{}'::jsonb) AS counts
 FROM (SELECT "table" AS t, COUNT(*) AS n, MIN(id) AS low
       FROM dashboard_workchange GROUP BY "table") AS g) AS c
"""


def _json(value):
    # Django has psycopg hand jsonb back as text.
    return json.loads(value) if isinstance(value, str) else value


def _mark(low, counts) -> Mark | None:
    return None if low is None else Mark(low, _json(counts))


_READ = f"""
SELECT c.low, c.counts, s.changes_from, s.changes, s.day, s.settings_key, s.depths,
       CASE WHEN %(first)s::int IS NULL THEN s.items
            ELSE jsonb_path_query_array(
                s.items, ('$[0 to ' || (%(first)s::int)::text || ']')::jsonpath
            )
       END,
       s.counts, s.waiting
FROM {_LOG}
LEFT JOIN dashboard_worksnapshot AS s ON s.person_id = %(person)s
"""


class Kept:
    """What ``read`` found: the log's ``mark`` to keep whatever is gathered now under, and the
    list kept (``items``, None if nothing usable was), with the tables ``changed`` since it was
    kept (an empty set: it is current; None: anything may have changed), how many items each
    source was gathered for (``depths``) and how many the read asks for of each (``asked``)."""

    def __init__(
        self,
        mark: Mark,
        items=None,
        counts=None,
        waiting=None,
        changed: set[str] | None = None,
        kept_under: Mark | None = None,
        depths: Mapping[str, int] | None = None,
        asked: int = 0,
    ):
        self.mark, self.items = mark, items
        self.depths, self.asked = dict(depths or {}), asked
        self.counts = Counter(counts or {})
        self.waiting = Counter(waiting or {})
        self.changed = changed if items is not None else None
        self.kept_under = kept_under

    def outdated(self, reads: Mapping[str, Iterable[str]]) -> set[str]:
        """The sources of ``reads`` to gather afresh: those that read a changed table, and
        those kept with fewer items than the read asks for (the dashboard's five, where My
        work's page asks for fifty)."""
        return outdated(self.changed, reads) | {
            name for name in reads if self.depths.get(name, 0) < self.asked
        }


def read(user, today: date, first: int | None, depth: int) -> Kept:
    """The change log's mark and the person's kept list (its first ``first`` items only, or
    all of them for None), with what changed since it was kept, in one query. Nothing is
    usable if it was kept on another day or with other settings; a source kept with fewer
    than ``depth`` items is outdated (``Kept.outdated``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _READ, {"person": user.pk, "first": None if first is None else max(0, first - 1)}
        )
        low, counts, kept_from, kept, day, key, depths, items, k_counts, waiting = cursor.fetchone()
    mark = Mark(low, _json(counts))
    if mark.rows > KEEP_CHANGES:
        prune()
        return read(user, today, first, depth)
    kept_under = _mark(kept_from, kept)
    if not _usable(day, today, key):
        return Kept(mark, asked=depth)
    return Kept(
        mark,
        [_item(raw) for raw in _json(items)],
        _json(k_counts),
        _json(waiting),
        changed=mark.changed_since(kept_under),
        kept_under=kept_under,
        depths=_json(depths),
        asked=depth,
    )


def read_whole(user, kept: Kept) -> Kept | None:
    """The person's kept list in full, if it is still the one ``read`` found (not kept again
    since, by another request of theirs); None otherwise."""
    assert kept.kept_under is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT items, counts, waiting FROM dashboard_worksnapshot "
            "WHERE person_id = %s AND changes_from = %s AND changes = %s::jsonb",
            [user.pk, kept.kept_under.low, json.dumps(dict(kept.kept_under.counts))],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    items, counts, waiting = (_json(value) for value in row)
    return Kept(
        kept.mark,
        [_item(raw) for raw in items],
        counts,
        waiting,
        kept.changed,
        kept.kept_under,
        kept.depths,
        kept.asked,
    )


def _usable(day, today: date, key) -> bool:
    """Whether something kept on ``day`` with settings ``key`` may be used today: the day's
    windows and the settings are the same."""
    return day == today and key == settings_key()


def keep(user, today: date, mark: Mark, depths: Mapping[str, int], items, counts, waiting):
    """Store the list gathered, each source's first ``depths[name]`` items, after the change
    log read ``mark`` (one statement)."""
    WorkSnapshot.objects.bulk_create(
        [
            WorkSnapshot(
                person_id=user.pk,
                changes_from=mark.low,
                changes=dict(mark.counts),
                day=today,
                settings_key=settings_key(),
                depths=dict(depths),
                items=[_raw(i) for i in items],
                counts=dict(counts),
                waiting=dict(waiting),
            )
        ],
        update_conflicts=True,
        unique_fields=["person"],
        update_fields=[
            "changes_from", "changes", "day", "settings_key", "depths", "items", "counts",
            "waiting", "gathered_at",
        ],
    )  # fmt: skip


_READ_PANELS = f"""
SELECT c.low, c.counts, s.changes_from, s.changes, s.day, s.settings_key, s.panels
FROM {_LOG}
LEFT JOIN dashboard_panelsnapshot AS s ON s.person_id = %(person)s
"""


@dataclass(frozen=True)
class KeptPanels:
    """What ``read_panels`` found: the log's ``mark``, the panels kept by name (empty if none
    usable), and the tables ``changed`` since (None: anything may have)."""

    mark: Mark
    panels: dict[str, str]
    changed: set[str] | None

    def outdated(self, reads: Mapping[str, Iterable[str]]) -> set[str]:
        """The panels of ``reads`` to render afresh (every one not kept)."""
        return outdated(self.changed, reads) | (set(reads) - set(self.panels))


def read_panels(user, today: date) -> KeptPanels:
    """The change log's mark, and the person's kept dashboard panels with what changed since
    they were kept, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_READ_PANELS, {"person": user.pk})
        low, counts, kept_from, kept, day, key, panels = cursor.fetchone()
    mark = Mark(low, _json(counts))
    if mark.rows > KEEP_CHANGES:
        prune()
        return read_panels(user, today)
    if panels is None or not _usable(day, today, key):
        return KeptPanels(mark, {}, None)
    return KeptPanels(mark, _json(panels), mark.changed_since(_mark(kept_from, kept)))


def keep_panels(user, today: date, mark: Mark, panels: dict[str, str]) -> None:
    """Store the panels rendered after the change log read ``mark`` (one statement)."""
    PanelSnapshot.objects.bulk_create(
        [
            PanelSnapshot(
                person_id=user.pk,
                changes_from=mark.low,
                changes=dict(mark.counts),
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
        cursor.execute("""INSERT INTO dashboard_workchange ("table") VALUES (%s)""", [MIGRATE])


def drop_triggers(cursor) -> None:
    """Take every change trigger away, and their function (migrating the log back)."""
    for table in triggered_tables(cursor):
        cursor.execute(f'DROP TRIGGER IF EXISTS {TRIGGER} ON "{table}"')
    cursor.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
