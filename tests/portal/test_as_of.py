"""Records as they stood at a chosen moment: the as-of page, the register as of a day, the API.

The services stamp every version with the present, and history is append-only. For the
register as of a day, the ``register_story`` fixture writes its versions with the clock set to
the days the story needs (ten and five days ago); the as-of page tests read the date of each
version after writing it and ask for those moments.
"""

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import Severity
from incidents.services.incidents import incident_update
from portal.history.asof import end_of_day, parse_moment, rows_as_of
from registry import services
from registry.models import DecisionImpact, HumanOversight, Lifecycle, UseCase
from tests.assessments.builders import draft
from tests.factories import AIModelFactory, DataSourceFactory, UseCaseFactory
from tests.incidents.incident_helpers import open_incident

pytestmark = pytest.mark.django_db


def _as_of_url(key: str, pk: int) -> str:
    return reverse("history-as-of", args=[key, pk])


def _oldest_first(use_case) -> list:
    return list(use_case.history.order_by("history_date", "history_id"))


def _values(response) -> dict:
    return {v.field: v for v in response.context["values"]}


def _register(actor, unit, title: str, sources=()) -> UseCase:
    return services.use_case_register(
        actor=actor,
        data={
            "title": title,
            "purpose": f"{title}: what it does.",
            "business_unit": unit,
            "owner": actor,
            "people_affected": ["staff"],
            "decision_impact": DecisionImpact.ASSISTS,
            "human_oversight": HumanOversight.BEFORE_ACTION,
            "data_sources": list(sources),
        },
    )


@pytest.fixture
def sources(retail, product_owner):
    return [
        DataSourceFactory(business_unit=retail, owner=product_owner, name=f"Loans ledger {n}")
        for n in range(3)
    ]


@pytest.fixture
def use_case(product_owner, risk_officer, retail, sources):
    """Registered, renamed, piloted, then given other data sources: four versions by people.

    The new data sources match the shipped "Data source added" material-change rule, so the
    system writes a fifth: the use case flagged for re-assessment (by no one, the flag named).
    """
    uc = _register(product_owner, retail, "Complaint triage", sources[:1])
    services.use_case_update(
        actor=product_owner, use_case=uc, data={"title": "Complaint triage v2"}, reason="Renamed"
    )
    services.use_case_transition(actor=risk_officer, use_case=uc, action="start_pilot")
    services.use_case_update(
        actor=risk_officer,
        use_case=uc,
        data={"data_sources": sources[1:]},
        reason="New data for the pilot",
    )
    return UseCase.objects.get(pk=uc.pk)


# The as-of page ------------------------------------------------------------------------------
def test_as_of_page_shows_each_version_at_its_moment(client, use_case, product_owner, sources):
    client.force_login(product_owner)
    versions = _oldest_first(use_case)
    assert len(versions) == 5
    flagged = versions[-1]
    assert flagged.history_user_id is None and flagged.needs_reassessment
    assert flagged.history_change_reason.startswith("Flagged for re-assessment: FL-")
    expected = [
        ("Complaint triage", Lifecycle.PROPOSED.label, [sources[0]]),
        ("Complaint triage v2", Lifecycle.PROPOSED.label, [sources[0]]),
        ("Complaint triage v2", Lifecycle.PILOT.label, [sources[0]]),
        ("Complaint triage v2", Lifecycle.PILOT.label, sources[1:]),
        ("Complaint triage v2", Lifecycle.PILOT.label, sources[1:]),  # the system's flag
    ]
    for version, (title, lifecycle, linked) in zip(versions, expected, strict=True):
        response = client.get(
            _as_of_url("usecase", use_case.pk), {"at": version.history_date.isoformat()}
        )
        assert response.status_code == 200
        assert response.context["version"].history_id == version.history_id
        values = _values(response)
        assert values["title"].value == title
        assert values["lifecycle"].value == lifecycle
        assert list(values["data_sources"].items) == sorted(str(s) for s in linked)
        html = response.content.decode()
        assert title in html and lifecycle in html


def test_as_of_page_shows_who_when_and_why_and_labels(
    client, use_case, product_owner, risk_officer
):
    client.force_login(product_owner)
    renamed = _oldest_first(use_case)[1]
    response = client.get(
        _as_of_url("usecase", use_case.pk), {"at": renamed.history_date.isoformat()}
    )
    version = response.context["version"]
    assert version.reason == "Renamed"
    assert version.user_label == product_owner.get_full_name()
    values = _values(response)
    assert values["owner"].value == product_owner.get_full_name()
    assert values["business_unit"].value == str(use_case.business_unit)
    assert values["people_affected"].value == "Internal staff"
    assert values["decision_impact"].value == DecisionImpact.ASSISTS.label
    assert "id" not in values
    html = response.content.decode()
    assert "Renamed" in html
    assert product_owner.get_full_name() in html


def test_a_moment_between_versions_shows_the_older_one(client, use_case, product_owner):
    client.force_login(product_owner)
    first, second = _oldest_first(use_case)[:2]
    between = first.history_date + (second.history_date - first.history_date) / 2
    if between == second.history_date:  # written within the same microsecond
        between = first.history_date
    response = client.get(_as_of_url("usecase", use_case.pk), {"at": between.isoformat()})
    assert response.context["version"].history_id == first.history_id
    assert _values(response)["title"].value == "Complaint triage"


def test_before_creation_says_not_yet_with_404(client, use_case, product_owner):
    client.force_login(product_owner)
    created = _oldest_first(use_case)[0].history_date
    moment = created - dt.timedelta(microseconds=1)
    response = client.get(_as_of_url("usecase", use_case.pk), {"at": moment.isoformat()})
    assert response.status_code == 404
    assert "version" not in response.context
    assert "did not exist yet" in response.content.decode()
    assert response.context["created_at"] == created


def test_a_date_means_the_end_of_that_day(client, use_case, product_owner):
    client.force_login(product_owner)
    today = timezone.localdate()
    response = client.get(_as_of_url("usecase", use_case.pk), {"at": today.isoformat()})
    assert response.status_code == 200
    assert response.context["version"].history_id == _oldest_first(use_case)[-1].history_id
    assert response.context["moment"] == end_of_day(today)
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert client.get(_as_of_url("usecase", use_case.pk), {"at": yesterday}).status_code == 404


def test_a_naive_time_is_in_the_portal_time_zone(settings):
    moment = parse_moment("2024-07-01T12:00")
    assert moment.utcoffset() == dt.timedelta(hours=1)  # Europe/London in summer
    assert str(moment.tzinfo) == settings.TIME_ZONE
    assert end_of_day(dt.date(2024, 1, 5)).isoformat() == "2024-01-05T23:59:59.999999+00:00"


def test_a_future_date_shows_the_record_as_it_is(client, use_case, product_owner):
    client.force_login(product_owner)
    response = client.get(_as_of_url("usecase", use_case.pk), {"at": "2999-01-01"})
    assert response.status_code == 200
    assert _values(response)["title"].value == "Complaint triage v2"


@pytest.mark.parametrize(
    "at", ["garbage", "", "2024-02-30", "2024-13-01T10:00", "0001-01-01T00:00+05:00"]
)
def test_a_bad_moment_is_an_error_on_the_form_with_400(client, use_case, product_owner, at):
    client.force_login(product_owner)
    response = client.get(_as_of_url("usecase", use_case.pk), {"at": at})
    assert response.status_code == 400
    assert "at" in response.context["form"].errors
    assert 'id="id_at_errors"' in response.content.decode()


def test_without_a_moment_the_page_asks_for_one(client, use_case, product_owner):
    client.force_login(product_owner)
    response = client.get(_as_of_url("usecase", use_case.pk))
    assert response.status_code == 200
    assert 'name="at"' in response.content.decode()


def test_history_page_links_each_version_to_the_as_of_page(client, use_case, product_owner):
    client.force_login(product_owner)
    html = client.get(reverse("history", args=["usecase", use_case.pk])).content.decode()
    url = _as_of_url("usecase", use_case.pk)
    assert f'action="{url}"' in html  # the "View as of…" form
    for version in _oldest_first(use_case):
        local = timezone.localtime(version.history_date).isoformat()
        assert f'href="{url}?at={quote(local, safe="/")}"' in html
    assert html.count("as it stood then") == 5  # four by people, the flag's by the system


def test_the_history_link_reaches_the_version_of_its_row(client, use_case, product_owner):
    client.force_login(product_owner)
    version = _oldest_first(use_case)[1]
    local = timezone.localtime(version.history_date).isoformat()
    response = client.get(f"{_as_of_url('usecase', use_case.pk)}?at={quote(local, safe='/')}")
    assert response.context["version"].history_id == version.history_id


def test_use_case_page_links_to_the_as_of_page(client, use_case, product_owner):
    client.force_login(product_owner)
    html = client.get(use_case.get_absolute_url()).content.decode()
    assert f'href="{_as_of_url("usecase", use_case.pk)}"' in html


# Permissions ---------------------------------------------------------------------------------
def test_outsider_gets_404_on_another_units_as_of_page(client, use_case, outsider):
    client.force_login(outsider)
    response = client.get(_as_of_url("usecase", use_case.pk), {"at": "2999-01-01"})
    assert response.status_code == 404
    assert "Complaint triage" not in response.content.decode()


def test_auditor_reads_any_as_of_page(client, use_case, auditor):
    client.force_login(auditor)
    response = client.get(_as_of_url("usecase", use_case.pk), {"at": "2999-01-01"})
    assert response.status_code == 200


def test_anonymous_is_sent_to_sign_in(client, use_case):
    response = client.get(_as_of_url("usecase", use_case.pk), {"at": "2999-01-01"})
    assert response.status_code == 302


# Other governed records ----------------------------------------------------------------------
def test_assessment_as_of_page_opens(client, retail, product_owner):
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
    assessment = draft(use_case, product_owner)
    client.force_login(product_owner)
    response = client.get(_as_of_url("assessment", assessment.pk), {"at": "2999-01-01"})
    assert response.status_code == 200
    values = _values(response)
    assert values["status"].value == "Draft"
    assert values["use_case"].value == str(use_case)
    detail = client.get(reverse("assessments:detail", args=[assessment.pk])).content.decode()
    assert _as_of_url("assessment", assessment.pk) in detail


def test_incident_as_of_page_shows_the_severity_then(client, retail, product_owner):
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner, lifecycle="production")
    incident = open_incident(use_case, product_owner, severity=Severity.SEV3)
    opened = incident.history.latest("history_date", "history_id").history_date
    incident_update(actor=product_owner, incident=incident, severity=Severity.SEV1)
    client.force_login(product_owner)
    url = _as_of_url("incident", incident.pk)
    then = client.get(url, {"at": opened.isoformat()})
    assert then.status_code == 200
    assert _values(then)["severity"].value == "SEV3"
    now = client.get(url, {"at": "2999-01-01"})
    assert _values(now)["severity"].value == "SEV1"


def test_ai_model_as_of_page_opens(client, retail, product_owner):
    model = AIModelFactory(business_unit=retail, owner=product_owner, name="Fraud net")
    client.force_login(product_owner)
    response = client.get(_as_of_url("aimodel", model.pk), {"at": "2999-01-01"})
    assert response.status_code == 200
    assert _values(response)["name"].value == "Fraud net"


# The register as of a day --------------------------------------------------------------------
DAY1 = 10  # days ago
DAY2 = 5


def _day(days_ago: int) -> dt.date:
    return timezone.localdate() - dt.timedelta(days=days_ago)


@contextmanager
def _written_on(day: dt.date) -> Iterator[None]:
    """Write history as on ``day``: the clock reads noon of that day, a millisecond later at
    each reading. History is append-only, so versions are dated as they are written."""
    noon = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
    ticks = itertools.count()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: noon + dt.timedelta(milliseconds=next(ticks)))
        yield


@pytest.fixture
def register_story(retail, corporate, product_owner, risk_officer, outsider, sources):
    """Ten days ago: "Credit scoring" (proposed), "Chat assistant" and Corporate's
    "Corporate pricing" are registered. Five days ago: credit scoring is renamed, given other
    data sources and piloted. Today: "Fraud alerts" is registered."""
    with _written_on(_day(DAY1)):
        credit = _register(product_owner, retail, "Credit scoring", sources[:1])
        chat = _register(product_owner, retail, "Chat assistant")
        pricing = _register(outsider, corporate, "Corporate pricing")
    with _written_on(_day(DAY2)):
        services.use_case_update(
            actor=product_owner,
            use_case=credit,
            data={"title": "Credit scoring v2", "data_sources": sources[1:]},
            reason="Renamed",
        )
        services.use_case_transition(actor=risk_officer, use_case=credit, action="start_pilot")
    fraud = _register(product_owner, retail, "Fraud alerts")
    return {"credit": credit, "chat": chat, "pricing": pricing, "fraud": fraud}


def _rows(response) -> dict[str, tuple[str, str]]:
    return {
        uc.reference: (uc.title, uc.get_lifecycle_display()) for uc in response.context["use_cases"]
    }


def _list(client, **params):
    return client.get(reverse("registry:use-case-list"), params)


def test_register_as_of_a_day_shows_the_use_cases_as_they_stood(
    client, register_story, product_owner
):
    s = register_story
    client.force_login(product_owner)
    response = _list(client, as_of=_day(DAY1).isoformat())
    assert response.status_code == 200
    assert _rows(response) == {
        s["credit"].reference: ("Credit scoring", Lifecycle.PROPOSED.label),
        s["chat"].reference: ("Chat assistant", Lifecycle.PROPOSED.label),
    }
    html = response.content.decode()
    day = _day(DAY1)
    assert f"As of {day.day} {day:%B %Y}: the register as it stood then" in html
    at = _as_of_url("usecase", s["credit"].pk)
    assert f'href="{at}?at={day.isoformat()}"' in html

    later = _rows(_list(client, as_of=_day(DAY2).isoformat()))
    assert later[s["credit"].reference] == ("Credit scoring v2", Lifecycle.PILOT.label)
    assert s["fraud"].reference not in later
    today = _rows(_list(client, as_of=timezone.localdate().isoformat()))
    assert s["fraud"].reference in today


def test_the_day_before_anything_was_registered_is_empty(client, register_story, product_owner):
    client.force_login(product_owner)
    response = _list(client, as_of=_day(DAY1 + 1).isoformat())
    assert _rows(response) == {}


def test_register_as_of_filters_on_the_values_of_the_time(client, register_story, product_owner):
    s = register_story
    client.force_login(product_owner)
    day1 = _day(DAY1).isoformat()
    # Piloted only on day 2: not a pilot on day 1, though it is one today.
    assert _rows(_list(client, as_of=day1, lifecycle="pilot")) == {}
    assert s["credit"].reference in _rows(_list(client, lifecycle="pilot"))
    assert set(_rows(_list(client, as_of=_day(DAY2).isoformat(), lifecycle="proposed"))) == {
        s["chat"].reference
    }
    # Searched by the title of the time.
    assert set(_rows(_list(client, as_of=day1, q="Credit scoring v2"))) == set()
    assert set(_rows(_list(client, as_of=day1, q="credit"))) == {s["credit"].reference}
    assert set(_rows(_list(client, as_of=day1, q=s["chat"].reference))) == {s["chat"].reference}
    owned = _list(client, as_of=day1, owner=product_owner.pk, unit=s["credit"].business_unit_id)
    assert set(_rows(owned)) == {s["credit"].reference, s["chat"].reference}
    assert _rows(_list(client, as_of=day1, tier="high")) == {}
    # Sorted on the values of the time.
    titles = [uc.title for uc in _list(client, as_of=day1, sort="-title").context["use_cases"]]
    assert titles == ["Credit scoring", "Chat assistant"]
    refs = [
        uc.reference for uc in _list(client, as_of=day1, sort="-reference").context["use_cases"]
    ]
    assert refs == [s["chat"].reference, s["credit"].reference]


def test_register_as_of_csv_matches_the_list(client, register_story, product_owner, sources):
    s = register_story
    client.force_login(product_owner)
    params = {"as_of": _day(DAY1).isoformat(), "sort": "title"}
    listed = [uc.reference for uc in _list(client, **params).context["use_cases"]]
    response = client.get(reverse("registry:use-case-export"), params)
    assert response.status_code == 200
    assert _day(DAY1).isoformat() in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["reference"] for r in rows] == listed
    credit = next(r for r in rows if r["reference"] == s["credit"].reference)
    assert credit["title"] == "Credit scoring"
    assert credit["lifecycle"] == Lifecycle.PROPOSED
    assert credit["data_sources"] == sources[0].reference
    later = client.get(reverse("registry:use-case-export"), {"as_of": _day(DAY2).isoformat()})
    rows = list(csv.DictReader(io.StringIO(b"".join(later.streaming_content).decode())))
    credit = next(r for r in rows if r["reference"] == s["credit"].reference)
    assert credit["data_sources"] == ";".join(ds.reference for ds in sources[1:])
    assert credit["lifecycle"] == Lifecycle.PILOT


def test_register_as_of_shows_no_other_units_use_cases(client, register_story, outsider):
    s = register_story
    client.force_login(outsider)
    day1 = _day(DAY1).isoformat()
    assert set(_rows(_list(client, as_of=day1))) == {s["pricing"].reference}
    body = b"".join(
        client.get(reverse("registry:use-case-export"), {"as_of": day1}).streaming_content
    ).decode()
    assert s["credit"].reference not in body


def test_auditor_sees_every_unit_as_of_a_day(client, register_story, auditor):
    s = register_story
    client.force_login(auditor)
    shown = set(_rows(_list(client, as_of=_day(DAY1).isoformat())))
    assert shown == {s["credit"].reference, s["chat"].reference, s["pricing"].reference}


def test_register_htmx_partial_keeps_the_as_of_banner(client, register_story, product_owner):
    client.force_login(product_owner)
    response = client.get(
        reverse("registry:use-case-list"),
        {"as_of": _day(DAY1).isoformat()},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "the register as it stood then" in html
    assert "<html" not in html


def test_a_bad_as_of_day_is_shown_and_the_register_is_today(client, register_story, product_owner):
    client.force_login(product_owner)
    response = _list(client, as_of="garbage")
    assert response.status_code == 200
    assert "as_of" in response.context["form"].errors
    assert response.context["as_of"] is None
    assert register_story["fraud"].reference in _rows(response)


def test_deleted_records_are_left_out_of_the_table_as_of(retail, product_owner):
    kept = UseCaseFactory(business_unit=retail, owner=product_owner)
    gone = UseCaseFactory(business_unit=retail, owner=product_owner)
    gone_pk = gone.pk
    gone.delete()
    ids = set(rows_as_of(UseCase, timezone.now()).values_list("id", flat=True))
    assert kept.pk in ids
    assert gone_pk not in ids


def _count_queries(client, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert _list(client, **params).status_code == 200
    return len(ctx.captured_queries)


def test_register_as_of_query_count_does_not_grow_with_use_cases(
    client, retail, product_owner, django_assert_max_num_queries
):
    for n in range(2):
        UseCaseFactory(business_unit=retail, owner=product_owner, title=f"Early {n}")
    client.force_login(product_owner)
    params = {"as_of": timezone.localdate().isoformat(), "sort": "title"}
    few = _count_queries(client, params)
    for n in range(40):
        uc = UseCaseFactory(business_unit=retail, owner=product_owner, title=f"Later {n}")
        services.use_case_update(
            actor=product_owner, use_case=uc, data={"title": f"Later {n} v2"}, reason="Rename"
        )
    with django_assert_max_num_queries(few):
        response = _list(client, **params)
    assert response.context["page"].paginator.count == 42


# API -----------------------------------------------------------------------------------------
@pytest.fixture
def api():
    return APIClient()


def _api_url(key: str, pk: int) -> str:
    return reverse("api-history-as-of", args=[key, pk])


def test_api_returns_the_fields_as_they_stood(api, use_case, product_owner, sources):
    api.force_authenticate(product_owner)
    first = _oldest_first(use_case)[0]
    response = api.get(_api_url("usecase", use_case.pk), {"at": first.history_date.isoformat()})
    assert response.status_code == 200
    body = response.json()
    assert body["version"]["history_id"] == first.history_id
    assert body["version"]["change_type"] == "+"
    assert body["deleted"] is False
    fields = {f["field"]: f for f in body["fields"]}
    assert fields["title"]["value"] == "Complaint triage"
    assert fields["lifecycle"]["value"] == Lifecycle.PROPOSED.label
    assert fields["lifecycle"]["raw"] == Lifecycle.PROPOSED
    assert fields["data_sources"]["items"] == [str(sources[0])]
    assert fields["data_sources"]["raw"] == [sources[0].pk]
    assert fields["owner"]["raw"] == product_owner.pk


def test_api_as_of_errors(api, use_case, product_owner):
    api.force_authenticate(product_owner)
    url = _api_url("usecase", use_case.pk)
    assert api.get(url).status_code == 400
    bad = api.get(url, {"at": "garbage"})
    assert bad.status_code == 400
    assert "at" in bad.json()
    before = _oldest_first(use_case)[0].history_date - dt.timedelta(seconds=1)
    assert api.get(url, {"at": before.isoformat()}).status_code == 404
    assert api.get(url, {"at": "2999-01-01"}).status_code == 200


def test_api_as_of_outsider_gets_404_and_auditor_reads(api, use_case, outsider, auditor):
    url = _api_url("usecase", use_case.pk)
    api.force_authenticate(outsider)
    assert api.get(url, {"at": "2999-01-01"}).status_code == 404
    api.force_authenticate(auditor)
    assert api.get(url, {"at": "2999-01-01"}).status_code == 200
