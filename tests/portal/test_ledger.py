"""The tamper-evident ledger: what it records, the database refusing rewrites, verification
naming what was changed behind its back, erasure on the record, and the offline export."""

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from portal.ledger import chain, erasure
from portal.ledger.sources import history_models
from portal.ledger.triggers import guarded_tables
from portal.models import LedgerEntry, LedgerLink, Role
from registry import services
from registry.models import DecisionImpact, HumanOversight, UseCase
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

VERIFIER = Path(__file__).resolve().parents[2] / "portal" / "ledger" / "verify_export.py"


@pytest.fixture
def use_case(retail, product_owner, risk_officer):
    uc = services.use_case_register(
        actor=product_owner,
        data={
            "title": "Complaint triage",
            "purpose": "Sort complaints for the right team.",
            "business_unit": retail,
            "owner": product_owner,
            "people_affected": ["staff"],
            "decision_impact": DecisionImpact.ASSISTS,
            "human_oversight": HumanOversight.BEFORE_ACTION,
        },
    )
    services.use_case_update(
        actor=risk_officer, use_case=uc, data={"purpose": "Route complaints."}, reason="Scope"
    )
    return uc


def _raw(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        _raw(sql)
    return str(caught.value)


# Recording -----------------------------------------------------------------------------------
def test_every_change_is_recorded_with_its_record_and_person(use_case, product_owner, risk_officer):
    entries = LedgerEntry.objects.filter(subject=f"registry.usecase:{use_case.pk}").order_by("id")
    assert [e.kind for e in entries] == ["history", "history"]
    assert [e.actor_id for e in entries] == [product_owner.pk, risk_officer.pk]
    assert {e.use_case_id for e in entries} == {use_case.pk}
    last = json.loads(entries.last().payload)
    assert last["purpose"] == "Route complaints."
    assert last["history_change_reason"] == "Scope"
    assert last["history_type"] == "~"


def test_a_record_saved_with_its_links_has_one_creating_version(retail, product_owner):
    source = services.data_source_create(
        actor=product_owner,
        data={
            "name": "Complaints",
            "business_unit": retail,
            "owner": product_owner,
            "classification": "internal",
            "allowed_destination": "external_api",
            "retention_days": 365,
        },
    )
    uc = services.use_case_register(
        actor=product_owner,
        data={
            "title": "With sources",
            "purpose": "p",
            "business_unit": retail,
            "owner": product_owner,
            "people_affected": ["staff"],
            "decision_impact": DecisionImpact.ASSISTS,
            "human_oversight": HumanOversight.BEFORE_ACTION,
            "data_sources": [source],
        },
    )
    assert list(uc.history.values_list("history_type", flat=True)) == ["+"]
    payload = json.loads(LedgerEntry.objects.get(subject=f"registry.usecase:{uc.pk}").payload)
    assert payload["m2m:data_sources"] == [source.pk]


def test_a_membership_change_is_recorded_from_the_snapshot_just_written(
    retail, product_owner, risk_officer, django_assert_num_queries
):
    """simple-history writes the unit's members with its history row; the ledger's entry
    takes them from there (no query to read them back) and verification, which does read
    them back, agrees."""
    newcomer = UserFactory()
    # The unit's history row, its members' snapshot (read, then written), and the ledger's
    # entry: no fifth query reading the snapshot again.
    with django_assert_num_queries(6):
        retail.members.add(newcomer)
    entry = LedgerEntry.objects.filter(subject=f"registry.businessunit:{retail.pk}").last()
    members = sorted(retail.members.values_list("pk", flat=True))
    assert newcomer.pk in members
    assert json.loads(entry.payload)["m2m:members"] == members
    assert chain.verify().intact


def test_role_changes_are_recorded(product_owner):
    product_owner.groups.add(*[g for g in product_owner.groups.model.objects.filter(name=Role.DPO)])
    entry = LedgerEntry.objects.filter(kind="permission", source_id=str(product_owner.pk)).last()
    assert json.loads(entry.payload)["action"] == "add"


def test_gate_decisions_are_recorded(use_case, risk_officer):
    services.gate_check(use_case=use_case, actor=risk_officer, source="page")
    entry = LedgerEntry.objects.get(kind="gate")
    assert entry.use_case_id == use_case.pk and entry.actor_id == risk_officer.pk


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_entries_are_sealed_once_the_change_commits(retail):
    # Real commits (a transactional test): each one seals what it recorded.
    services.business_unit_update(
        actor=UserFactory(roles=[Role.ADMIN]), unit=retail, data={"description": "Retail"}
    )
    assert LedgerEntry.objects.exists()
    assert not LedgerEntry.objects.filter(link__isnull=True).exists()
    assert LedgerLink.objects.count() == LedgerEntry.objects.count()
    assert chain.verify().intact


# The database refuses rewrites ---------------------------------------------------------------
def test_every_history_table_and_the_ledger_are_guarded():
    tables = guarded_tables()
    for model in history_models():
        assert model._meta.db_table in tables
    assert {"portal_ledgerentry", "portal_ledgerlink", "portal_ledgercheckpoint"} <= set(tables)


def test_raw_updates_and_deletes_of_history_are_refused(use_case):
    table = UseCase.history.model._meta.db_table
    assert "append-only" in _refused(f"UPDATE {table} SET title = 'Forged'")
    assert "append-only" in _refused(f"DELETE FROM {table}")
    chain.seal()
    assert "append-only" in _refused("UPDATE portal_ledgerentry SET payload = '{}'")
    assert "append-only" in _refused("DELETE FROM portal_ledgerlink")
    assert use_case.history.count() == 2


# Verification --------------------------------------------------------------------------------
def test_a_ledger_of_ordinary_work_verifies(use_case):
    report = chain.verify()
    assert report.intact, report.summary()
    assert report.entries == report.intact_up_to == LedgerEntry.objects.count()
    assert report.sources_checked >= 2


def test_the_database_hashes_ordinary_entries_as_python_does(use_case):
    # PostgreSQL recomputes every hash itself and Python checks only what it flags: on
    # ordinary work it must flag nothing, or a million entries would be checked twice.
    whole_second = timezone.now().replace(microsecond=0)
    chain.append(
        "history", "bench", "1", {"title": "Füße"}, subject="registry.usecase:1", at=whole_second
    )
    chain.append("history", "bench", "2", {}, subject="registry.usecase:Ä", at=whole_second)
    chain.seal()
    assert chain.suspects_in_database() == set()
    report = chain.verify(check_sources=False)
    assert report.intact, report.summary()
    assert report.entries == LedgerEntry.objects.count()


def _behind_the_triggers(table: str, sql: str, params=()):
    # As a superuser would: with every trigger of the session switched off.
    _raw("SET LOCAL session_replication_role = replica")
    _raw(sql, params)
    _raw("SET LOCAL session_replication_role = DEFAULT")


def test_verification_names_a_history_row_edited_behind_the_triggers(use_case):
    chain.seal()
    table = UseCase.history.model._meta.db_table
    first = use_case.history.earliest("history_id")
    _behind_the_triggers(
        table, f"UPDATE {table} SET title = 'Forged' WHERE history_id = %s", [first.history_id]
    )
    report = chain.verify()
    assert not report.intact
    problem = report.first_break
    assert (problem.source, problem.source_id) == (table, str(first.history_id))
    assert "changed after it was recorded" in problem.what
    entry = LedgerEntry.objects.get(source=table, source_id=str(first.history_id))
    assert problem.seq == entry.link.seq and report.intact_up_to == problem.seq - 1


def test_verification_names_a_deleted_history_row(use_case):
    chain.seal()
    table = UseCase.history.model._meta.db_table
    last = use_case.history.latest("history_id")
    _behind_the_triggers(table, f"DELETE FROM {table} WHERE history_id = %s", [last.history_id])
    problem = chain.verify().first_break
    assert problem.source_id == str(last.history_id) and "deleted" in problem.what


def test_verification_names_a_row_slipped_in_without_a_ledger_entry(use_case):
    table = UseCase.history.model._meta.db_table
    row = use_case.history.latest("history_id")
    fields = [f.attname for f in row._meta.concrete_fields if f.attname != "history_id"]
    # Inserted as a shell would, with no signal: nothing records it.
    UseCase.history.model.objects.bulk_create(
        [UseCase.history.model(**{name: getattr(row, name) for name in fields})]
    )
    problems = chain.verify().problems
    assert any(p.source == table and "not in the ledger" in p.what for p in problems)


def test_verification_names_an_edited_ledger_entry(use_case):
    chain.seal()
    entry = LedgerEntry.objects.order_by("id").first()
    _behind_the_triggers(
        "portal_ledgerentry",
        "UPDATE portal_ledgerentry SET subject = 'registry.usecase:999' WHERE id = %s",
        [entry.pk],
    )
    problem = chain.verify().first_break
    assert problem.seq == entry.link.seq and "hash does not match" in problem.what


def test_verification_names_a_deleted_entry(use_case):
    chain.seal()
    _behind_the_triggers("portal_ledgerlink", "DELETE FROM portal_ledgerlink WHERE seq = 2")
    report = chain.verify(check_sources=False)
    assert report.first_break.seq == 3 and "missing" in report.first_break.what
    assert report.intact_up_to == 2


def test_verification_names_reordered_entries(use_case):
    chain.seal()
    # Entries 1 and 2 change places, each keeping its own hashes.
    for old, new in ((1, -1), (2, 1), (-1, 2)):
        _behind_the_triggers(
            "portal_ledgerlink", "UPDATE portal_ledgerlink SET seq = %s WHERE seq = %s", [new, old]
        )
    report = chain.verify(check_sources=False)
    assert report.first_break.seq == 1 and not report.intact


def test_audit_verify_command_exits_1_on_a_broken_ledger(use_case, capsys):
    call_command("audit_verify")
    assert "Intact" in capsys.readouterr().out
    _behind_the_triggers("portal_ledgerlink", "DELETE FROM portal_ledgerlink WHERE seq = 1")
    with pytest.raises(CommandError) as failed:
        call_command("audit_verify", "--chain-only")
    assert failed.value.returncode == 1
    assert "first break: entry 2" in capsys.readouterr().out


# Erasure and retention -----------------------------------------------------------------------
def test_erasing_a_record_history_leaves_a_tombstone_and_a_chain_that_verifies(
    use_case, admin_user, capsys
):
    call_command(
        "history_erase",
        "registry.usecase",
        str(use_case.pk),
        "--reason",
        "Data subject request DSR-7",
        "--by",
        admin_user.username,
    )
    assert "Erased 2 history versions" in capsys.readouterr().out
    assert use_case.history.count() == 0
    tombstone = LedgerEntry.objects.get(kind="tombstone")
    data = json.loads(tombstone.payload)
    assert data["reason"] == "Data subject request DSR-7" and data["by"] == admin_user.username
    assert len(data["rows"]) == 2
    erased = LedgerEntry.objects.filter(subject=f"registry.usecase:{use_case.pk}", kind="history")
    assert set(erased.values_list("payload", flat=True)) == {""}
    report = chain.verify()
    assert report.intact, report.summary()
    assert report.erased == 2


def test_an_erasure_needs_a_reason(use_case, admin_user):
    with pytest.raises(Exception, match="Say why"):
        erasure.erase_record(actor=admin_user, model=UseCase, pk=use_case.pk, reason=" ")
    assert use_case.history.count() == 2


def test_retention_removes_old_versions_but_each_record_keeps_its_newest(use_case, admin_user):
    cutoff = timezone.now() + timedelta(days=1)
    erased = erasure.prune_before(actor=admin_user, cutoff=cutoff, reason="Retention test")
    assert list(use_case.history.values_list("history_type", flat=True)) == ["~"]
    assert erased.rows >= 1 and chain.verify().intact


def test_history_is_kept_forever_unless_retention_is_set(use_case, admin_user, settings, capsys):
    settings.HISTORY_RETENTION_DAYS = None
    call_command("history_prune", "--by", admin_user.username)
    assert "kept forever" in capsys.readouterr().out
    assert use_case.history.count() == 2


# Export and offline verification ---------------------------------------------------------------
def _export(client, **params) -> bytes:
    response = client.get(reverse("api-ledger-export"), params)
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def _offline(tmp_path, body: bytes) -> subprocess.CompletedProcess:
    path = tmp_path / "export.jsonl"
    path.write_bytes(body)
    # The documented script, with a bare interpreter: -I ignores the environment and site.
    return subprocess.run(
        [sys.executable, "-I", str(VERIFIER), str(path)], capture_output=True, text=True, timeout=60
    )


def test_an_export_verifies_offline_with_the_standard_library(use_case, auditor, tmp_path):
    api = APIClient()
    api.force_authenticate(auditor)
    body = _export(api)
    manifest = json.loads(body.splitlines()[0])
    assert manifest["count"] == LedgerEntry.objects.count() == len(body.splitlines()) - 1
    assert manifest["last_hash"] == chain.head()[1]
    result = _offline(tmp_path, body)
    assert result.returncode == 0 and result.stdout.startswith("intact"), result.stdout


def test_an_edited_export_fails_offline_verification(use_case, auditor, tmp_path):
    api = APIClient()
    api.force_authenticate(auditor)
    lines = _export(api).decode().splitlines()
    at = next(n for n, line in enumerate(lines) if "Complaint triage" in line)
    entry = json.loads(lines[at])
    entry["payload"] = entry["payload"].replace("Complaint", "Compliment")
    lines[at] = json.dumps(entry)
    result = _offline(tmp_path, ("\n".join(lines) + "\n").encode())
    assert result.returncode == 1 and f"entry {entry['seq']}:" in result.stdout


def test_an_export_for_a_period_holds_that_period(use_case, auditor, tmp_path):
    api = APIClient()
    api.force_authenticate(auditor)
    today = timezone.localdate()
    assert json.loads(_export(api, **{"from": today, "to": today}).splitlines()[0])["count"] > 0
    future = today + timedelta(days=3)
    empty = _export(api, **{"from": future})
    assert json.loads(empty.splitlines()[0])["count"] == 0
    assert _offline(tmp_path, empty).returncode == 0
    bad = api.get(reverse("api-ledger-export"), {"from": future, "to": today})
    assert bad.status_code == 400 and "non_field_errors" in bad.json()


# Who may ---------------------------------------------------------------------------------------
LEDGER_URLS = ["ledger", "ledger-verifier", "api-ledger-verify", "api-ledger-export"]


@pytest.mark.parametrize("name", LEDGER_URLS)
@pytest.mark.parametrize(
    "persona, allowed",
    [
        ("admin", True),
        ("auditor", True),
        ("risk_officer", False),
        ("product_owner", False),
        ("leadership", False),
        ("dpo", False),
        ("outsider", False),
    ],
)
def test_ledger_permission_matrix(client, personas, persona, allowed, name):
    client.force_login(personas[persona])
    response = client.get(reverse(name))
    assert response.status_code == (200 if allowed else 403)


@pytest.mark.parametrize("name", LEDGER_URLS)
def test_anonymous_cannot_reach_the_ledger(client, name):
    response = client.get(reverse(name))
    assert response.status_code in (302, 401, 403)
    assert response.status_code != 200
