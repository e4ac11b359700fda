"""My work, kept (dashboard/work_store.py): read back while nothing it rests on changed, and
gathered afresh after any change, however it was made."""

import json
from dataclasses import fields
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from assessments.models import Assessment, Status
from assessments.services import assessment_save_answers
from compliance.models import Evidence
from dashboard import panels, work, work_store
from dashboard.models import WorkChange, WorkSnapshot
from incidents.models import Incident
from monitoring.models import Flag
from portal.access import access_for
from portal.models import Role
from registry.models import UseCase
from tests.dashboard.sql import columns, tables, unread_columns_read
from tests.factories import UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db

KEPT_SOURCES = [s for s in work.SOURCES if s not in work.LIVE_SOURCES]


def listed(found: work.Work) -> list[tuple]:
    return [(i.kind, i.title, i.why, i.link, i.due, i.since) for i in found.items]


def gathered(person, limit: int = work.LIMIT, kind: str = "") -> work.Work:
    """My work as every source gives it now, nothing kept."""
    items, counts, waiting = work._gather(person, timezone.localdate(), work.SOURCES, limit, kind)
    return work.Work(items[:limit], counts, waiting)


def test_each_kept_source_reads_only_its_own_tables_all_watched(world):
    """A kept source's items are outdated by a change to a table it reads, and only then
    (work.KEPT): each source's own SQL, for every persona and a person read afresh (nothing
    of theirs remembered from an earlier source), names only its tables or who the person is,
    all watched; and it lists only its own kinds."""
    assert set(work.KEPT) == {s.__name__ for s in KEPT_SOURCES}
    read: dict[str, set[str]] = {}
    kinds: dict[str, set[str]] = {}
    sql: list[str] = []
    for person in world.values():
        for source in KEPT_SOURCES:
            afresh = type(person).objects.get(pk=person.pk)
            with CaptureQueriesContext(connection) as captured:
                batch = source(afresh, timezone.localdate(), work.LIMIT)
            kinds.setdefault(source.__name__, set()).update(i.kind for i in batch.items)
            kinds[source.__name__].update(k for k, n in batch.totals.items() if n)
            for query in captured.captured_queries:
                read.setdefault(source.__name__, set()).update(tables(query["sql"]))
                sql.append(query["sql"])
    # The world gives every kept source something to list, so each ran its full SQL.
    assert all(kinds[s.__name__] for s in KEPT_SOURCES), kinds
    not_its_own = {
        name: t - {*work.KEPT[name].tables, *work_store.EVERYONE_READS} for name, t in read.items()
    }
    assert not any(not_its_own.values()), not_its_own
    assert {
        name: k - set(work.KEPT[name].kinds)
        for name, k in kinds.items()
        if k - set(work.KEPT[name].kinds)
    } == {}
    declared = {t for reads in work.KEPT.values() for t in reads.tables}
    assert not ({*declared, *work_store.EVERYONE_READS} - {*work_store.WATCHED, work_store.MIGRATE})
    # Nor do they read a column whose change is not logged.
    assert not unread_columns_read(sql, work_store.UNREAD_COLUMNS)


def test_an_item_is_kept_whole():
    """Every field of an item is stored, and read back as it was."""
    item = work.WorkItem(
        "review", "AS-0001 DPIA of UC-0001", "Submitted for review: Fraud", "/assessments/1/",
        timezone.localdate(), timezone.now(),
    )  # fmt: skip
    raw = work_store._raw(item)
    assert set(raw) == {f.name for f in fields(work.WorkItem)}
    assert work_store._item(json.loads(json.dumps(raw))) == item


def test_every_watched_table_has_the_change_trigger():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = 'steward_work_changed'"
        )
        triggered = {row[0] for row in cursor.fetchall()}
    assert triggered == set(work_store.WATCHED)


def test_a_kept_list_reads_back_as_gathered_for_every_person_kind_and_length(world):
    for name, person in world.items():
        for kind in ["", *work.KINDS]:
            for limit in (1, 5, work.LIMIT):
                expected = gathered(person, limit, kind)
                work.work(person, limit=limit, kind=kind)  # gathered (if not yet) and kept
                assert _kept(person, min(limit, work.LIMIT))
                kept = work.work(person, limit=limit, kind=kind)
                assert listed(kept) == listed(expected), (name, kind, limit)
                assert kept.counts == expected.counts, (name, kind, limit)
                assert kept.waiting == expected.waiting, (name, kind, limit)


def _kept(person, depth: int = 1) -> bool:
    """Whether the person's list is kept, every source of it current."""
    return not _outdated(person, depth)


def _outdated(person, depth: int = 1) -> set[str]:
    """The kept sources the next read would gather afresh (all of them if none is kept)."""
    found = work_store.read(person, timezone.localdate(), None, depth)
    return set(work.KEPT) if found.items is None else found.outdated(work.KEPT_TABLES)


def test_any_change_to_what_it_read_is_shown_at_once(world, product_owner, dpo):
    """Changed through the ORM, a bulk update, raw SQL or a delete, or a person's role: the
    next read gathers afresh and shows it (no kept list outlives a change)."""
    owner = product_owner
    work.work(owner)
    assert _kept(owner)
    flag = Flag.objects.get(cause="material_change:model")

    # A bulk update (no signal, no save): the flag is resolved. Only the flags are gathered
    # again.
    Flag.objects.filter(pk=flag.pk).update(status="resolved")
    assert _outdated(owner) == {"flags"}
    assert flag.reference not in {i.title.split()[0] for i in work.work(owner).items}
    assert _kept(owner)
    assert listed(work.work(owner)) == listed(gathered(owner))

    # Raw SQL: a use case marked for re-assessment (nearly every source reads use cases).
    quiet = UseCaseFactory(business_unit=flagged_unit(owner), owner=owner)
    work.work(owner)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE registry_usecase SET needs_reassessment = true WHERE id = %s", [quiet.pk]
        )
    assert {"reassessments", "reviews", "flags"} <= _outdated(owner)
    assert "evidence" not in _outdated(owner)
    assert any(quiet.reference in i.title for i in work.work(owner).items)
    assert listed(work.work(owner)) == listed(gathered(owner))

    # A delete: the evidence about to expire is gone.
    assert any(i.kind == "evidence" for i in work.work(dpo).items)
    Evidence.objects.filter(reference="EV-9001").delete()
    assert _outdated(dpo) == {"evidence"}
    assert not any(i.kind == "evidence" for i in work.work(dpo).items)

    # A role given (what a person may decide is read from their groups): a new risk officer
    # is asked for the release approval waiting for a risk officer.
    newcomer = UserFactory(units=[flagged_unit(owner)])
    assert not work.work(newcomer).items
    assert _kept(newcomer)
    newcomer.groups.add(Group.objects.get(name=Role.RISK_OFFICER))
    newcomer = type(newcomer).objects.get(pk=newcomer.pk)  # the next request's person
    assert _outdated(newcomer) == set(work.KEPT)  # who the person is: everything
    assert "approval" in {i.kind for i in work.work(newcomer).items}

    # The change log names what changed.
    assert {"monitoring_flag", "registry_usecase", "compliance_evidence", "auth_user_groups"} <= (
        set(WorkChange.objects.values_list("table", flat=True))
    )


def flagged_unit(person):
    return UseCase.objects.filter(owner=person).first().business_unit


def test_incidents_are_read_on_every_request_not_kept(world, product_owner, monkeypatch):
    """An incident's reporting clocks run by the hour: its source is asked each time, and a
    report falls overdue on the page though no table changed."""
    incident = Incident.objects.get(title="Wrong blocks")  # a breach: the 72-hour clock
    Incident.objects.filter(pk=incident.pk).update(aware_at=timezone.now() - timedelta(hours=71))
    clocks = [i.why for i in work.work(product_owner).items if i.kind == "deadline"]
    assert clocks and "overdue" not in str(clocks), clocks
    assert _kept(product_owner)
    changes = WorkChange.objects.count()
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(hours=2))
    clocks = [i.why for i in work.work(product_owner).items if i.kind == "deadline"]
    assert "overdue" in str(clocks), clocks
    assert WorkChange.objects.count() == changes  # nothing changed but the clock


def test_a_list_kept_yesterday_is_gathered_afresh_today(world, product_owner):
    """The review window counts from today: a use case due for review in 31 days is listed
    from tomorrow, whatever was kept today."""
    today = timezone.localdate()
    later = UseCaseFactory(
        business_unit=flagged_unit(product_owner),
        owner=product_owner,
        next_review_date=today + timedelta(days=work.SOON_DAYS + 1),
    )
    assert later.reference not in str(listed(work.work(product_owner, today)))
    tomorrow = today + timedelta(days=1)
    assert work_store.read(product_owner, tomorrow, None, 1).items is None
    assert later.reference in str(listed(work.work(product_owner, tomorrow)))


def test_a_page_asking_for_more_than_was_kept_gathers_afresh(world, product_owner):
    """The dashboard keeps each source's first five; My work's page asks for fifty."""
    work.work(product_owner, limit=5)
    assert _kept(product_owner, 5) and not _kept(product_owner, 50)
    page = work.work(product_owner, limit=50)
    assert listed(page) == listed(gathered(product_owner, 50))
    assert _kept(product_owner, 50) and _kept(product_owner, 5)


def test_a_list_kept_under_other_settings_is_not_used(world, product_owner, settings):
    work.work(product_owner)
    assert _kept(product_owner)
    settings.ASSESSMENT_STUCK_DAYS += 1
    assert not _kept(product_owner)


def test_the_change_log_is_pruned_and_lists_are_gathered_afresh_after(
    world, product_owner, monkeypatch
):
    monkeypatch.setattr(work_store, "KEEP_CHANGES", 20)
    for n in range(25):
        UseCase.objects.filter(owner=product_owner).update(title=f"Renamed {n}")
    assert WorkChange.objects.count() > 20
    expected = gathered(product_owner, 5)
    assert listed(work.work(product_owner, limit=5)) == listed(expected)  # pruned, gathered
    assert WorkChange.objects.count() <= 3
    assert _kept(product_owner)  # kept under the log as the prune left it
    assert listed(work.work(product_owner, limit=5)) == listed(expected)
    UseCase.objects.filter(owner=product_owner).update(title="Renamed again")
    assert not _kept(product_owner)


@pytest.mark.parametrize("name", ["my-work", "dashboard"])
def test_a_kept_list_saves_the_sources_queries(name, client, world, risk_officer):
    client.force_login(risk_officer)
    client.get(reverse(name))  # the session's first request: warmed up
    # A change to who someone is: every source is gathered afresh.
    type(risk_officer).objects.filter(pk=risk_officer.pk).update(first_name="Rita")
    with CaptureQueriesContext(connection) as gathering:
        gathered_page = client.get(reverse(name))
    with CaptureQueriesContext(connection) as again:
        kept_page = client.get(reverse(name))
    assert gathered_page.status_code == kept_page.status_code == 200
    # Kept: the one read and the live incidents source, where the kept sources ran a dozen.
    assert len(again.captured_queries) <= len(gathering.captured_queries) - 9
    shown = "work" if name == "dashboard" else "items"
    assert kept_page.context[shown]
    assert [i.link for i in kept_page.context[shown]] == [
        i.link for i in gathered_page.context[shown]
    ]


def test_a_change_to_one_table_gathers_again_only_what_reads_it(world, product_owner):
    """A flag raised or resolved gathers the flags again, not the reviews, drafts or
    evidence: those are read back as kept, and the list is what a full gathering gives."""
    owner = product_owner
    work.work(owner)
    type(owner).objects.filter(pk=owner.pk).update(first_name="Pat")  # who: everything
    with CaptureQueriesContext(connection) as everything:
        work.work(owner)
    assert _kept(owner)
    flag = Flag.objects.filter(use_case__owner=owner, status="open").first()
    Flag.objects.filter(pk=flag.pk).update(severity="low")
    with CaptureQueriesContext(connection) as flags_only:
        found = work.work(owner)
    assert listed(found) == listed(gathered(owner))
    assert found.counts == gathered(owner).counts
    assert f"{flag.reference} on" in str(listed(found))
    read = set().union(*(tables(q["sql"]) for q in flags_only.captured_queries))
    assert "monitoring_flag" in read
    assert not read & {"assessments_assessment", "compliance_evidence", "registry_promotionrequest"}
    assert len(flags_only.captured_queries) < len(everything.captured_queries) - 5
    assert _kept(owner, work.LIMIT)

    # The dashboard asks for five a source: the flags are gathered five deep, the rest read
    # back a hundred deep as kept; My work's page then gathers the flags again, and only them.
    Flag.objects.filter(pk=flag.pk).update(severity="high")
    assert listed(work.work(owner, limit=5)) == listed(gathered(owner, 5))
    assert _kept(owner, 5)
    assert _outdated(owner, work.LIMIT) == {"flags"}
    with CaptureQueriesContext(connection) as deeper:
        found = work.work(owner)
    assert listed(found) == listed(gathered(owner))
    assert found.counts == gathered(owner).counts
    read = set().union(*(tables(q["sql"]) for q in deeper.captured_queries))
    assert "monitoring_flag" in read and "assessments_assessment" not in read
    assert _kept(owner, work.LIMIT)


def test_what_a_request_read_of_the_person_before_the_log_is_read_again(world):
    """The person object (roles, units) is read at the start of the request, before the log:
    a role given in between must not be missed by a list then kept under the newer log."""
    person = UserFactory(units=[flagged_unit(world["product_owner"])])
    newcomer = SimpleLazyObject(lambda: person)  # as request.user is
    assert not work.work(newcomer).items
    assert access_for(newcomer).roles == frozenset()  # this request's copy, kept on the object
    elsewhere = type(person).objects.get(pk=person.pk)
    elsewhere.groups.add(Group.objects.get(name=Role.RISK_OFFICER))
    assert "approval" in {i.kind for i in work.work(newcomer).items}


def test_a_change_committed_while_gathering_is_not_kept_over(world, product_owner, monkeypatch):
    """The log is read before the sources: a change made while they run leaves the list kept
    under the older log, so the next read gathers afresh."""
    real = work.SOURCES[0]

    def changing(user, today, limit):
        UseCase.objects.filter(owner=product_owner).update(needs_reassessment=True)
        return real(user, today, limit)

    changing.__name__ = real.__name__  # the source it stands for

    monkeypatch.setattr(work, "SOURCES", [changing, *work.SOURCES[1:]])
    work.work(product_owner)
    monkeypatch.setattr(work, "SOURCES", [real, *work.SOURCES[1:]])
    assert not _kept(product_owner)
    assert listed(work.work(product_owner)) == listed(gathered(product_owner))


def test_a_flag_seen_again_or_a_sign_in_outdates_nothing(client, world, product_owner):
    """Columns no source reads, written often (every rules cycle, every sign-in), log no
    change; any other column of the same tables does."""
    work.work(product_owner)
    Flag.objects.update(last_seen_at=timezone.now())
    client.force_login(product_owner)  # sets last_login
    assert _kept(product_owner)
    # Someone changes their password, or an email address: no list shows either.
    someone = type(product_owner).objects.exclude(pk=product_owner.pk).first()
    someone.set_password("a new passphrase for the test")
    someone.email = "moved@example.com"
    someone.save(update_fields=["password", "email"])
    assert _kept(product_owner)
    Flag.objects.update(severity="low")
    assert not _kept(product_owner)
    work.work(product_owner)
    type(product_owner).objects.filter(pk=product_owner.pk).update(first_name="Renamed")
    assert not _kept(product_owner)


def test_without_the_triggers_nothing_is_kept(world, product_owner, monkeypatch):
    """A table without its trigger would leave kept lists outdated unseen: then My work is
    gathered on every request, as on SQLite, and lists just the same."""
    monkeypatch.setattr(work_store, "_installed", {})
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TRIGGER {work_store.TRIGGER} ON "monitoring_flag"')
    assert not work_store.keeps()
    before = WorkChange.objects.count()
    assert listed(work.work(product_owner)) == listed(gathered(product_owner))
    assert not WorkSnapshot.objects.filter(person=product_owner).exists()
    assert WorkChange.objects.count() == before
    monkeypatch.setattr(work_store, "_installed", {})  # asked afresh by the next test


def test_the_sql_reader_finds_columns_through_aliases():
    """The check on unread columns reads the table of each column, aliased or not."""
    sql = (
        'SELECT "monitoring_flag"."id", U0."last_seen_at", T5."updated_at" FROM "monitoring_flag" '
        'INNER JOIN "registry_usecase" T5 ON (T5."id" = "monitoring_flag"."use_case_id") '
        'WHERE EXISTS(SELECT 1 FROM "assessments_assessment" U0 WHERE U0."id" = 1)'
    )
    assert columns(sql) == {
        ("monitoring_flag", "id"),
        ("assessments_assessment", "last_seen_at"),
        ("registry_usecase", "updated_at"),
        ("registry_usecase", "id"),
        ("monitoring_flag", "use_case_id"),
        ("assessments_assessment", "id"),
    }
    assert unread_columns_read([sql], {"registry_usecase": ("updated_at",)}) == {
        ("registry_usecase", "updated_at")
    }
    assert not unread_columns_read([sql], {"monitoring_flag": ("last_seen_at",)})


def test_answering_an_assessment_outdates_nothing_unless_it_adds_a_contributor(
    world, product_owner, dpo
):
    """An autosave comes every few seconds while someone types: it writes only the answers
    and what is worked out from them, which no kept list or panel shows. A first answer from
    someone else makes them a contributor, which My work reads (they may not review it)."""
    mine = Assessment.objects.filter(status=Status.DRAFT, author=product_owner).first()
    expected = gathered(product_owner)
    work.work(product_owner)
    panels.panels(product_owner, timezone.localdate())
    changes = WorkChange.objects.count()
    saved = assessment_save_answers(
        actor=product_owner,
        assessment=mine,
        answers={"aims": "Spot fraud before the payment settles."},
        base_revision=mine.revision,
        autosave=True,
    )
    assert saved.answers["aims"] == "Spot fraud before the payment settles."
    assert WorkChange.objects.count() == changes
    assert _kept(product_owner)
    assert not work_store.read_panels(product_owner, timezone.localdate()).outdated(panels.READS)
    assert listed(work.work(product_owner)) == listed(expected) == listed(gathered(product_owner))

    # The DPO's first answer: a contributor now, and the log says so.
    work.work(dpo)
    assessment_save_answers(
        actor=dpo, assessment=saved, answers={"scale": "few"}, base_revision=saved.revision
    )
    assert WorkChange.objects.count() == changes + 1
    assert not _kept(dpo)
    assert dpo.pk in Assessment.objects.get(pk=mine.pk).contributor_ids
    assert listed(work.work(dpo)) == listed(gathered(dpo))


def test_each_items_link_is_its_records_own_page(world):
    """An item's link (built once a list, not reversed item by item) is its record's own page:
    an assessment's or a use case's (get_absolute_url), a sign-off's page for a sign-off."""
    pages = {
        **{a.reference: a.get_absolute_url() for a in Assessment.objects.all()},
        **{u.reference: u.get_absolute_url() for u in UseCase.objects.all()},
    }
    checked = set()
    for person in world.values():
        for item in gathered(person).items:
            if item.kind not in ("review", "sign", "changes", "draft", "reassess"):
                continue
            record = item.title.split()[0]
            if item.kind == "sign":
                pk = Assessment.objects.get(reference=record).pk
                assert item.link == reverse("assessments:sign-off", args=[pk])
            else:
                assert item.link == pages[record]
            checked.add(item.kind)
    assert checked == {"review", "sign", "changes", "draft", "reassess"}
