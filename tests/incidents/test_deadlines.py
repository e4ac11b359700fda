"""Regulatory clocks: EU AI Act Article 73 (15, 10 and 2 days) and GDPR Article 33 (72 hours),
counted in elapsed time from when the firm became aware, and the reminders they send."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from incidents.models import DeadlineNotice, EntryKind, Incident, Status
from incidents.services.deadlines import deadlines, deadlines_due
from incidents.services.incidents import incident_update
from incidents.services.reminders import remind_deadlines
from incidents.tasks import remind_deadlines as remind_task
from tests.factories import ProductionUseCaseFactory
from tests.incidents.incident_helpers import announced, open_incident

pytestmark = pytest.mark.django_db

AWARE = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
SECOND = timedelta(seconds=1)
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(autouse=True)
def _near_is_a_day(settings):
    settings.INCIDENT_DEADLINE_NEAR_HOURS = 24


def clocked(**fields) -> Incident:
    """An unsaved incident: the arithmetic reads only its own fields."""
    return Incident(aware_at=fields.pop("aware_at", AWARE), **fields)


def only(incident: Incident, now: datetime):
    [deadline] = deadlines(incident, now=now)
    return deadline


# The arithmetic ------------------------------------------------------------------------------
def test_no_clock_runs_for_an_incident_that_is_neither_serious_nor_a_breach():
    assert deadlines(clocked(), now=AWARE) == []


def test_a_personal_data_breach_is_due_72_hours_after_awareness():
    incident = clocked(personal_data_breach=True)
    due = AWARE + timedelta(hours=72)
    deadline = only(incident, AWARE)
    assert (deadline.key, deadline.due_at) == ("gdpr", due)
    assert "Art. 33" in deadline.basis
    assert only(incident, due - SECOND).state == "near"
    assert only(incident, due).state == "near"  # due at that instant: not yet late
    assert only(incident, due + SECOND).state == "overdue"


@pytest.mark.parametrize(
    ("harm", "days", "article"),
    [("general", 15, "73(2)"), ("death", 10, "73(4)"), ("widespread", 2, "73(3)")],
)
def test_a_serious_incident_is_due_in_the_days_article_73_gives(harm, days, article):
    incident = clocked(serious_harm=harm)
    due = AWARE + timedelta(days=days)
    deadline = only(incident, AWARE)
    assert (deadline.key, deadline.due_at) == ("ai_act", due)
    assert article in deadline.basis
    assert only(incident, due).state == "near"
    assert only(incident, due + SECOND).state == "overdue"


def test_a_deadline_is_near_within_the_configured_hours(settings):
    incident = clocked(serious_harm="general")
    due = AWARE + timedelta(days=15)
    assert only(incident, due - timedelta(hours=24)).state == "near"
    assert only(incident, due - timedelta(hours=24) - SECOND).state == "open"
    settings.INCIDENT_DEADLINE_NEAR_HOURS = 48
    assert only(incident, due - timedelta(hours=48)).state == "near"


def test_a_report_by_the_deadline_meets_it_and_one_after_meets_it_late():
    due = AWARE + timedelta(hours=72)
    on_time = only(clocked(personal_data_breach=True, dpa_reported_at=due), due + timedelta(days=9))
    assert (on_time.state, on_time.state_label) == ("met", "met")
    late = only(clocked(personal_data_breach=True, dpa_reported_at=due + SECOND), due)
    assert (late.state, late.state_label) == ("met_late", "met late")
    # Reporting to the regulator does not meet the data protection authority's clock.
    both = deadlines(
        clocked(serious_harm="death", personal_data_breach=True, regulator_reported_at=AWARE),
        now=due + SECOND,
    )
    assert [(d.key, d.state) for d in both] == [("ai_act", "met"), ("gdpr", "overdue")]


def test_the_clocks_go_forward_in_spring_and_72_hours_stay_72_hours():
    # The UK moved to summer time at 01:00 UTC on 30 March 2025: one local hour vanished.
    aware = datetime(2025, 3, 28, 12, 0, tzinfo=LONDON)  # GMT, 12:00 UTC
    deadline = only(clocked(aware_at=aware, personal_data_breach=True), aware)
    assert deadline.due_at - aware == timedelta(hours=72)
    assert deadline.due_at == datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
    assert deadline.due_at.astimezone(LONDON).hour == 13  # 13:00 BST on the wall clock


def test_the_clocks_go_back_in_autumn_and_72_hours_stay_72_hours():
    # Back to GMT at 01:00 UTC on 26 October 2025: one local hour happened twice.
    aware = datetime(2025, 10, 24, 12, 0, tzinfo=LONDON)  # BST, 11:00 UTC
    deadline = only(clocked(aware_at=aware, personal_data_breach=True), aware)
    assert deadline.due_at - aware == timedelta(hours=72)
    assert deadline.due_at.astimezone(LONDON).hour == 11  # 11:00 GMT on the wall clock


# The dashboard and the reminders -------------------------------------------------------------
def test_the_dashboard_lists_near_and_overdue_deadlines_to_those_who_see_them(
    use_case, product_owner, outsider, auditor
):
    now = timezone.now()
    overdue = open_incident(
        use_case, product_owner, personal_data_breach=True, aware_at=now - timedelta(hours=80)
    )
    near = open_incident(
        use_case, product_owner, serious_harm="widespread", aware_at=now - timedelta(hours=30)
    )
    open_incident(use_case, product_owner, serious_harm="general", aware_at=now)  # 15 days away
    due = deadlines_due(product_owner, now=now)
    assert [(item.incident, item.deadline.state) for item in due] == [
        (overdue, "overdue"),
        (near, "near"),
    ]
    assert deadlines_due(outsider, now=now) == []
    assert len(deadlines_due(auditor, now=now)) == 2
    assert len(deadlines_due(now=now)) == 2


def test_the_dashboards_first_ten_are_the_first_ten_of_them_all(use_case, product_owner):
    """deadlines_due(limit=n) reads only the incidents whose first clock not met is among the
    n soonest: the same n deadlines as the whole list's first n, in the same order, whatever
    the clocks (the AI Act's by kind of harm, GDPR's, both on one incident with the AI Act's
    first, one met, one far off, one incident closed), across the clocks going back."""
    now = datetime(2025, 10, 27, 9, 0, tzinfo=UTC)  # the day after the clocks went back
    day = timedelta(days=1)

    def made(ago: timedelta, **fields):
        return open_incident(use_case, product_owner, aware_at=now - ago, **fields)

    both = made(timedelta(hours=40), serious_harm="widespread", personal_data_breach=True)
    breach = made(timedelta(hours=70), personal_data_breach=True)
    general = made(15 * day - timedelta(hours=5), serious_harm="general")
    death = made(10 * day + timedelta(hours=1), serious_harm="death")
    closed = made(timedelta(hours=100), personal_data_breach=True)
    met = made(timedelta(hours=90), personal_data_breach=True, serious_harm="widespread")
    made(timedelta(hours=1), serious_harm="general")  # 15 days off: not yet due
    Incident.objects.filter(pk=closed.pk).update(status=Status.CLOSED)
    Incident.objects.filter(pk=met.pk).update(regulator_reported_at=now - timedelta(hours=50))
    everything = deadlines_due(product_owner, now=now)
    assert [(d.incident, d.deadline.key, d.deadline.state) for d in everything] == [
        (closed, "gdpr", "overdue"),  # due 28 hours ago
        (met, "gdpr", "overdue"),  # 18 hours ago; its AI Act report was made
        (death, "ai_act", "overdue"),  # an hour ago
        (breach, "gdpr", "near"),  # in 2 hours
        (general, "ai_act", "near"),  # in 5 hours
        (both, "ai_act", "near"),  # in 8 hours (its GDPR clock in 32: not yet near)
    ]
    for n in range(1, len(everything) + 3):
        first = deadlines_due(product_owner, now=now, limit=n)
        assert [(d.incident, d.deadline.key) for d in first] == [
            (d.incident, d.deadline.key) for d in everything[:n]
        ], n


def test_a_met_deadline_is_not_due(use_case, product_owner):
    now = timezone.now()
    incident = open_incident(
        use_case, product_owner, personal_data_breach=True, aware_at=now - timedelta(hours=80)
    )
    Incident.objects.filter(pk=incident.pk).update(dpa_reported_at=now - timedelta(hours=1))
    assert deadlines_due(now=now) == []


def test_a_clock_runs_until_its_report_is_recorded_even_once_the_incident_closed(
    use_case, product_owner, mailoutbox, django_capture_on_commit_callbacks
):
    now = timezone.now()
    incident = open_incident(
        use_case, product_owner, personal_data_breach=True, aware_at=now - timedelta(hours=80)
    )
    Incident.objects.filter(pk=incident.pk).update(status=Status.CLOSED)
    [due] = deadlines_due(now=now)
    assert (due.incident, due.deadline.key, due.deadline.state) == (incident, "gdpr", "overdue")
    assert [d.incident for d in deadlines_due(product_owner, now=now)] == [incident]
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_deadlines(now=now) == 1
    assert "OVERDUE" in mailoutbox[-1].body
    # Recorded (a closed incident takes its report times): the clock stops.
    Incident.objects.filter(pk=incident.pk).update(dpa_reported_at=now)
    assert deadlines_due(now=now) == []


def test_a_deadline_that_moves_is_reminded_of_again_at_its_new_time(
    use_case, product_owner, mailoutbox, django_capture_on_commit_callbacks
):
    now = timezone.now()
    incident = open_incident(
        use_case, product_owner, serious_harm="general", aware_at=now - timedelta(days=14)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_deadlines(now=now) == 1  # near: 15 days, one left
    # It turns out a person died: 10 days, so the deadline moves earlier and is overdue...
    incident_update(actor=product_owner, incident=incident, serious_harm="death")
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_deadlines(now=now) == 1
    assert "OVERDUE" in mailoutbox[-1].body
    # ...then the firm finds it became aware later: near again, at a new time, so told again.
    incident_update(
        actor=product_owner, incident=incident, aware_at=now - timedelta(days=9, hours=12)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_deadlines(now=now) == 1
        assert remind_deadlines(now=now) == 0
    assert "due by" in mailoutbox[-1].body
    incident.refresh_from_db()
    due = [d.due_at for d in deadlines(incident, now=now)]
    assert list(DeadlineNotice.objects.values_list("stage", "due_at").order_by("pk")) == [
        ("near", now - timedelta(days=14) + timedelta(days=15)),
        ("overdue", now - timedelta(days=14) + timedelta(days=10)),
        ("near", due[0]),
    ]


def test_a_reminder_goes_once_per_deadline_and_stage(
    use_case, product_owner, risk_officer, endpoint, mailoutbox, django_capture_on_commit_callbacks
):
    now = timezone.now()
    incident = open_incident(
        use_case,
        risk_officer,
        owner=risk_officer,
        personal_data_breach=True,
        aware_at=now - timedelta(hours=60),
    )
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_deadlines(now=now) == 1
        assert remind_deadlines(now=now + timedelta(hours=1)) == 0
    # The owner of the incident is told; the use case's owner is not, for a reminder.
    assert [m.to for m in mailoutbox] == [[risk_officer.email]]
    assert "due soon" in mailoutbox[0].subject
    [sent] = announced("incident.deadline_near")
    assert sent["reference"] == incident.reference
    assert (sent["deadline"]["key"], sent["deadline"]["state"]) == ("gdpr", "near")
    entry = incident.timeline.order_by("-pk").first()
    assert (entry.kind, entry.actor) == (EntryKind.NOTICE, None)
    assert entry.data == {
        "deadline": "gdpr",
        "stage": "near",
        "due_at": (incident.aware_at + timedelta(hours=72)).isoformat(),
    }

    # Past the deadline: one more, for the overdue stage.
    later = now + timedelta(hours=13)
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_deadlines(now=later) == 1
        assert remind_deadlines(now=later) == 0
    assert "OVERDUE" in mailoutbox[-1].body
    assert set(DeadlineNotice.objects.values_list("deadline", "stage")) == {
        ("gdpr", "near"),
        ("gdpr", "overdue"),
    }


def test_the_reminder_task_calls_the_service(use_case, product_owner):
    open_incident(
        use_case,
        product_owner,
        serious_harm="death",
        aware_at=timezone.now() - timedelta(days=11),
    )
    other = ProductionUseCaseFactory(business_unit=use_case.business_unit)
    open_incident(other, product_owner, title="Unrelated", aware_at=timezone.now())
    assert remind_task.delay().get() == 1
    assert DeadlineNotice.objects.get().stage == "overdue"
