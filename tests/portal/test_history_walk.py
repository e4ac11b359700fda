"""Every history page opens: each model registered with the history browser, walked from the
registration (portal.history.tracked.HISTORY_REGISTRY), not from a hand list.

The demo (manage.py seed_demo) makes records of every governed kind with several versions;
for each registered model the auditor opens a record's history page, compares two versions,
downloads the CSV and reads the history API, and the audit log is opened filtered to that
model and exported. The same walk runs again on SQLite in a subprocess, since the embedded
default is where a new user first meets these pages.
"""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db.models import Count, Window
from django.urls import reverse
from rest_framework.test import APIClient

from portal.csvexport import stream_csv
from portal.history.selectors import TOTAL, RecordVersions, versions_of
from portal.history.tracked import HISTORY_REGISTRY
from tests.databases import SQLITE_TEMPLATE_ENV
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
ON_SQLITE = "STEWARD_HISTORY_WALK_ON_SQLITE"
APPEND_ONLY = str(Path(__file__).with_name("test_append_only.py"))


def _csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def _record_with_most_versions(entry):
    hm = entry.history_model
    pk_name = entry.model._meta.pk.attname
    counts: dict = {}
    for pk in hm._default_manager.values_list(pk_name, flat=True):
        counts[pk] = counts.get(pk, 0) + 1
    assert counts, f"the demo made no {entry.label} with history: the walk cannot check it"
    pk = max(counts, key=lambda k: (counts[k], k))
    return pk, list(
        hm._default_manager.filter(**{pk_name: pk})
        .order_by("-history_date", "-history_id")
        .values_list("history_id", flat=True)
    )


def test_every_registered_history_model_opens_on_page_compare_csv_and_api(demo_firm, client):
    auditor = UserFactory(username="walk.auditor", roles=["auditor"])
    client.force_login(auditor)
    api = APIClient()
    api.force_authenticate(auditor)
    problems = []
    for key, entry in HISTORY_REGISTRY.items():
        pk, versions = _record_with_most_versions(entry)
        page = client.get(reverse("history", args=[key, pk]))
        if page.status_code != 200:
            problems.append(f"{key} #{pk}: history page answered {page.status_code}")
        elif not page.context["versions"]:
            problems.append(f"{key} #{pk}: history page lists no version")
        if len(versions) >= 2:
            a, b = versions[0], versions[-1]
            compared = client.get(reverse("history-compare", args=[key, pk]), {"a": a, "b": b})
            if compared.status_code != 200:
                problems.append(f"{key} #{pk}: compare answered {compared.status_code}")
            api_compare = api.get(reverse("api-history-compare", args=[key, pk]), {"a": a, "b": b})
            if api_compare.status_code != 200:
                problems.append(f"{key} #{pk}: API compare answered {api_compare.status_code}")
        export = client.get(reverse("history-export", args=[key, pk]))
        if export.status_code != 200:
            problems.append(f"{key} #{pk}: CSV answered {export.status_code}")
        elif {r["version"] for r in _csv_rows(export)} != {str(v) for v in versions}:
            problems.append(f"{key} #{pk}: CSV does not hold every version")
        listed = api.get(reverse("api-history", args=[key, pk]))
        if listed.status_code != 200:
            problems.append(f"{key} #{pk}: API answered {listed.status_code}")
        audit = client.get(reverse("audit-log"), {"model": key})
        if audit.status_code != 200:
            problems.append(f"{key}: audit log filtered to it answered {audit.status_code}")
        elif audit.context["page"].paginator.count != entry.history_model.objects.count():
            problems.append(f"{key}: audit log does not count every version")
    assert not problems, "\n".join(problems)


def _as_read(row, hm) -> dict:
    """Everything a historical row holds as read: its columns after the fields' converters,
    what the page added (the count), and the person who made it if read with it."""
    made_by = hm._meta.get_field("history_user")
    person = None
    if made_by.is_cached(row) and row.history_user is not None:
        person = {
            "pk": row.history_user.pk,
            "label": (row.history_user.get_full_name(), row.history_user.get_username()),
            "not read": row.history_user.get_deferred_fields(),
        }
    return {
        "values": {f.attname: getattr(row, f.attname) for f in hm._meta.concrete_fields},
        "not read": row.get_deferred_fields(),
        "count": getattr(row, TOTAL),
        "person": person,
    }


def test_every_kinds_pages_read_in_sql_are_the_rows_the_orm_reads(demo_firm):
    """RecordVersions reads a page of versions in the SQL the ORM wrote once for that kind
    of record; for every kind registered, every page of every size holds what the ORM's own
    query reads: the same rows in the same order, each value converted alike (JSON, dates,
    lists), the same count and the same person read with each."""
    problems = []
    for key, entry in HISTORY_REGISTRY.items():
        pk, versions = _record_with_most_versions(entry)
        hm = entry.history_model
        counted = versions_of(entry, pk).annotate(**{TOTAL: Window(Count("*"))})
        for size in sorted({1, 2, len(versions), len(versions) + 1}):
            for offset in range(0, len(versions) + 1, size):
                by_orm = [_as_read(r, hm) for r in counted[offset : offset + size]]
                in_sql = [_as_read(r, hm) for r in RecordVersions(entry, pk).rows(offset, size)]
                if in_sql != by_orm:
                    problems.append(f"{key} #{pk}, {size} from {offset}: {in_sql} != {by_orm}")
        # As a sequence (what a paginator may ask of it): its length, a slice, an item.
        sequence = RecordVersions(entry, pk)
        if len(sequence) != len(versions) or [r.pk for r in sequence[1:3]] != versions[1:3]:
            problems.append(f"{key} #{pk}: as a sequence, not the versions in order")
        if sequence[0].pk != versions[0] or sequence[-1].pk != versions[-1]:
            problems.append(f"{key} #{pk}: its first and last items are not the newest and oldest")
        if [r.pk for r in sequence] != versions or [r.pk for r in sequence[::-1]] != versions[::-1]:
            problems.append(f"{key} #{pk}: its rows, forwards and backwards, not in order")
    assert not problems, "\n".join(problems)


def test_the_audit_log_and_its_export_hold_every_governed_change(demo_firm, client):
    auditor = UserFactory(username="walk.auditor", roles=["auditor"])
    client.force_login(auditor)
    total = sum(e.history_model.objects.count() for e in HISTORY_REGISTRY.values())
    page = client.get(reverse("audit-log"))
    assert page.status_code == 200
    assert page.context["page"].paginator.count == total
    export = client.get(reverse("audit-log-export"))
    assert export.status_code == 200
    rows = _csv_rows(export)
    assert len({(r["record_type"], r["version"]) for r in rows}) == total


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get(ON_SQLITE)), reason="this is the SQLite run itself")
def test_the_same_walk_and_the_append_only_guards_pass_on_sqlite(tmp_path, migrated_sqlite):
    env = {
        **os.environ,
        ON_SQLITE: "1",
        # Its test database is a copy of the run's migrated one (tests/databases.py).
        SQLITE_TEMPLATE_ENV: str(migrated_sqlite),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'walk.sqlite3'}",
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }
    env.pop("CELERY_BROKER_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, APPEND_ONLY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def test_an_export_whose_rows_cannot_be_read_fails_instead_of_a_header_only_200():
    def rows():
        raise RuntimeError("the history table could not be read")
        yield  # a generator, like the exports' own

    with pytest.raises(RuntimeError, match="could not be read"):
        stream_csv("audit.csv", ["version"], rows())


def test_an_export_with_no_rows_is_its_header():
    response = stream_csv("audit.csv", ["version", "date"], iter(()))
    assert b"".join(response.streaming_content).decode().splitlines() == ["version,date"]
