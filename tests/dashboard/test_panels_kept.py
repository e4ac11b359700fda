"""The dashboard's panels, kept (dashboard/panels.py): read back while nothing they show
changed, rendered afresh after any change however it was made, and the panels that move with
the clock read on every request."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments.models import Assessment, Status
from compliance.models import Applicability
from compliance.services.applicability import applicability_compute
from dashboard import panels, work_store
from dashboard.models import PanelSnapshot, WorkChange
from incidents.models import Incident
from monitoring.models import Flag
from monitoring.services.flags import raise_cause_flag
from registry.models import UseCase
from tests.assessments.builders import to_status
from tests.dashboard.sql import tables, unread_columns_read
from tests.factories import UseCaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shown(world, retail, product_owner, risk_officer, dpo, leadership):
    """The world, with something for every kept panel to show."""
    today = timezone.localdate()
    people = {"author": product_owner, "reviewers": [risk_officer, dpo], "approver": leadership}
    live = UseCaseFactory(
        business_unit=retail,
        owner=product_owner,
        lifecycle="production",
        risk_tier="high",
        needs_reassessment=True,
        reassessment_reasons="The model changed",
    )
    raise_cause_flag(
        use_case=live,
        cause="gate:assessment",
        severity="high",
        reason="Live but failing the go-live gate: no signed-off assessment",
        evidence={},
    )
    lapsed = to_status(
        Status.SIGNED_OFF,
        use_case=UseCaseFactory(business_unit=retail, owner=product_owner),
        **people,
    )
    Assessment.objects.filter(pk=lapsed.pk).update(valid_until=today - timedelta(days=2))
    applicability_compute(use_cases=[live], why="The test's screening")
    return world


def kept(person) -> dict | None:
    """The person's kept panels if every one is current, else None."""
    found = work_store.read_panels(person, timezone.localdate())
    return None if found.outdated(panels.READS) else found.panels


def outdated(person) -> set[str]:
    """The panels the next dashboard would render afresh."""
    return work_store.read_panels(person, timezone.localdate()).outdated(panels.READS)


def test_each_panel_reads_only_its_own_tables_all_watched(shown):
    """A kept panel is outdated by a change to a table it was read from, and only then
    (panels.PARTS, panels.READS): each panel's SQL as it is rendered, its parts read and its
    template filled, for every persona and a person read afresh, names only its tables or who
    the person is, all watched, and no column left out of the log."""
    today = timezone.localdate()
    read: dict[str, set[str]] = {}
    sql: list[str] = []
    for person in shown.values():
        for name in panels.PANELS:
            afresh = type(person).objects.get(pk=person.pk)
            with CaptureQueriesContext(connection) as captured:
                panels.render(afresh, today, [name])
            for query in captured.captured_queries:
                read.setdefault(name, set()).update(tables(query["sql"]))
                sql.append(query["sql"])
    assert {"compliance_applicability"} <= read["obligations"]
    assert {"incidents_incident"} <= read["incidents"]
    assert {"monitoring_flag"} <= read["gate"]
    not_its_own = {
        name: t - {*panels.READS[name], *work_store.EVERYONE_READS} for name, t in read.items()
    }
    assert not any(not_its_own.values()), not_its_own
    declared = {t for part in panels.PARTS.values() for t in part.tables}
    assert not ({*declared, *work_store.EVERYONE_READS} - {*work_store.WATCHED, work_store.MIGRATE})
    assert not unread_columns_read(sql, work_store.UNREAD_COLUMNS)
    # Every part is shown by a panel.
    assert {p for panel in panels.PANELS.values() for p in panel.parts} == set(panels.PARTS)


def test_the_world_gives_every_kept_panel_something_to_show(shown, product_owner):
    shown_now = panels.context(product_owner, timezone.localdate())
    empty = [name for name, value in shown_now.items() if not value]
    assert not empty, empty
    assert shown_now["compliance"].applicable


def test_kept_panels_read_back_as_rendered_for_every_person(shown):
    today = timezone.localdate()
    for name, person in shown.items():
        expected = panels.render(person, today)
        assert panels.panels(person, today) == expected, name  # rendered and kept
        assert kept(person) == expected, name
        assert panels.panels(person, today) == expected, name  # read back


def _page(client, person) -> str:
    client.force_login(person)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    return response.content.decode()


def _section(page: str, heading: str) -> str:
    """The part of the page under one panel's heading."""
    return page.split(f'id="{heading}"')[1].split("</section>")[0]


def test_any_change_to_what_a_panel_shows_is_shown_at_once(client, shown, product_owner):
    """A bulk update, raw SQL, a delete: the next dashboard renders the panels afresh."""
    owner = product_owner
    page = _page(client, owner)
    assert kept(owner)
    incident = Incident.objects.get(title="Wrong blocks")
    assert incident.reference in _section(page, "h-incidents")

    # A bulk update (no signal, no save): the incident is closed. Only its panel is
    # rendered again.
    Incident.objects.filter(pk=incident.pk).update(status="closed")
    assert outdated(owner) == {"incidents"}
    assert incident.reference not in _section(_page(client, owner), "h-incidents")

    # Raw SQL: an obligation met.
    before = re.search(r"(\d+)% of applicable obligations met", _page(client, owner))
    assert before and before.group(1) != "100"
    assert kept(owner)  # what the page showed was kept, and is outdated below
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_applicability SET status = 'met'")
    assert outdated(owner) == {"obligations"}
    assert "100% of applicable obligations met" in _page(client, owner)

    # A delete: the gate's flag is gone.
    gate = Flag.objects.get(cause="gate:assessment")
    assert gate.reference in _section(_page(client, owner), "h-failing-gate")
    assert kept(owner)
    Flag.objects.filter(pk=gate.pk).delete()
    assert outdated(owner) == {"gate"}
    assert gate.reference not in _section(_page(client, owner), "h-failing-gate")

    # A use case re-assessed: it leaves the list, and the count.
    marked = UseCase.objects.filter(needs_reassessment=True).count()
    assert marked
    assert f'<span class="display-6">{marked}</span><span>need re-assessment</span>' in (
        _page(client, owner)
    )
    assert kept(owner)
    UseCase.objects.update(needs_reassessment=False)
    assert outdated(owner) == set(panels.PANELS)  # every panel reads use cases
    page = _page(client, owner)
    assert '<span class="display-6">0</span><span>need re-assessment</span>' in page
    assert "Nothing is waiting for re-assessment." in page
    assert {"incidents_incident", "compliance_applicability", "monitoring_flag"} <= set(
        WorkChange.objects.values_list("table", flat=True)
    )


def test_what_moves_with_the_clock_is_read_on_every_request(
    client, shown, retail, product_owner, risk_officer, dpo, leadership, monkeypatch
):
    """An assessment becomes stuck by the hour, with no table changed: the stuck panel is
    read each time, while the kept panels stay kept."""
    waiting = to_status(
        Status.IN_REVIEW,
        use_case=UseCaseFactory(business_unit=retail, owner=product_owner),
        author=product_owner,
        reviewers=[risk_officer, dpo],
        approver=leadership,
    )
    almost = timezone.now() - timedelta(days=settings.ASSESSMENT_STUCK_DAYS) + timedelta(hours=1)
    Assessment.objects.filter(pk=waiting.pk).update(submitted_at=almost)
    page = _page(client, product_owner)
    assert waiting.reference not in _section(page, "h-stuck")
    changes = WorkChange.objects.count()
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(hours=2))
    page = _page(client, product_owner)
    assert WorkChange.objects.count() == changes  # nothing changed but the clock
    assert waiting.reference in _section(page, "h-stuck")


def _content(response) -> str:
    """The page's own content (without the header, whose CSRF token changes each time)."""
    return response.content.decode().split('id="h-my-work"')[1].split("</main>")[0]


def test_a_kept_dashboard_saves_the_panels_queries(client, shown, risk_officer):
    client.force_login(risk_officer)
    client.get(reverse("dashboard"))  # the session's first request: warmed up
    # A change to who someone is: every panel is rendered afresh.
    type(risk_officer).objects.filter(pk=risk_officer.pk).update(first_name="Rita")
    with CaptureQueriesContext(connection) as rendering:
        rendered = client.get(reverse("dashboard"))
    with CaptureQueriesContext(connection) as again:
        read_back = client.get(reverse("dashboard"))
    assert rendered.status_code == read_back.status_code == 200
    assert PanelSnapshot.objects.filter(person=risk_officer).exists()
    # Kept: two reads (My work's, the panels') where the sources and panels ran two dozen.
    assert len(again.captured_queries) <= len(rendering.captured_queries) - 18
    assert _content(read_back) == _content(rendered)


def test_a_flag_raised_renders_again_only_the_gate(client, shown, product_owner):
    """A change to one table renders again only the panels that read it: the others are read
    back as kept, and the page is what rendering everything gives."""
    owner = product_owner
    today = timezone.localdate()
    _page(client, owner)
    type(owner).objects.filter(pk=owner.pk).update(first_name="Pat")  # who: everything
    with CaptureQueriesContext(connection) as everything:
        panels.panels(owner, today)
    gate = Flag.objects.get(cause="gate:assessment")
    Flag.objects.filter(pk=gate.pk).update(reason="Live but failing the go-live gate: moved")
    with CaptureQueriesContext(connection) as gate_only:
        found = panels.panels(owner, today)
    assert found == panels.render(owner, today)
    assert "moved" in found["gate"]
    read = set().union(*(tables(q["sql"]) for q in gate_only.captured_queries))
    assert "monitoring_flag" in read
    assert not read & {"compliance_applicability", "incidents_incident", "assessments_assessment"}
    assert len(gate_only.captured_queries) < len(everything.captured_queries) - 5
    assert kept(owner)


def test_panels_kept_yesterday_are_rendered_afresh_today(shown, product_owner):
    """Overdue counts from today: a panel kept today is not used tomorrow."""
    today = timezone.localdate()
    panels.panels(product_owner, today)
    assert set(work_store.read_panels(product_owner, today).panels) == set(panels.PANELS)
    assert kept(product_owner)
    assert not work_store.read_panels(product_owner, today + timedelta(days=1)).panels


def test_without_the_triggers_the_panels_are_rendered_each_time(shown, product_owner, monkeypatch):
    today = timezone.localdate()
    monkeypatch.setattr(work_store, "_installed", {})
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TRIGGER {work_store.TRIGGER} ON "incidents_incident"')
    assert not work_store.keeps()
    assert panels.panels(product_owner, today) == panels.render(product_owner, today)
    assert not PanelSnapshot.objects.exists()
    monkeypatch.setattr(work_store, "_installed", {})  # asked afresh by the next test


def test_applicability_rows_counted_are_the_persons_own(shown, outsider, product_owner):
    """Kept per person: someone in another unit sees none of this unit's obligations."""
    assert Applicability.objects.exists()
    today = timezone.localdate()
    mine = panels.panels(product_owner, today)["obligations"]
    theirs = panels.panels(outsider, today)["obligations"]
    assert "of applicable obligations met" in mine
    assert "No obligation applies yet" in theirs
