"""The history browser: record pages, comparisons, CSV exports, the audit log and the API."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.serializers import Serializer
from rest_framework.test import APIClient

from portal.history.changes import PREVIOUS, build_versions, compare, with_previous
from portal.history.selectors import (
    RecordVersions,
    VersionPaginator,
    iter_versions,
    page_versions,
)
from portal.history.tracked import HISTORY_REGISTRY
from portal.history_api import (
    HistoryFieldChangeSerializer,
    HistoryVersionSerializer,
    HistoryVersionSummarySerializer,
    VersionPagination,
)
from registry import services
from registry.models import DecisionImpact, HumanOversight, Lifecycle, UseCase
from tests.factories import DataSourceFactory, UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def _label(user) -> str:
    return user.get_full_name() or user.username


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def _versions(use_case) -> list:
    return list(use_case.history.order_by("-history_date", "-history_id"))


@pytest.fixture
def second_owner(retail):
    return UserFactory(username="sam.second", units=[retail])


@pytest.fixture
def sources(retail, product_owner):
    return [
        DataSourceFactory(business_unit=retail, owner=product_owner, name=f"Loans ledger {n}")
        for n in range(3)
    ]


@pytest.fixture
def use_case(retail, product_owner, risk_officer, second_owner, sources):
    """A use case registered, then edited by two people through the services."""
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
            "data_sources": sources[:1],
        },
    )
    services.use_case_update(
        actor=product_owner,
        use_case=uc,
        data={"title": "Complaint triage v2", "owner": second_owner},
        reason="New owner after the reorganisation",
    )
    services.use_case_transition(actor=risk_officer, use_case=uc, action="start_pilot")
    services.use_case_update(
        actor=risk_officer,
        use_case=uc,
        data={"data_sources": sources[1:], "people_affected": ["staff", "customers"]},
        reason="Customers now see the output",
    )
    return UseCase.objects.get(pk=uc.pk)


def _history_url(use_case) -> str:
    return reverse("history", args=["usecase", use_case.pk])


def _add_versions(use_case, actor, n: int) -> None:
    for i in range(n):
        services.use_case_update(
            actor=actor,
            use_case=use_case,
            # Not the purpose: a material change, it would add the system's flag versions too.
            data={"title": f"Complaint triage, edit {i}"},
            reason=f"Edit {i}",
        )


# The record history page ---------------------------------------------------------------------
def test_history_lists_every_version_newest_first(client, use_case, product_owner):
    client.force_login(product_owner)
    response = client.get(_history_url(use_case))
    assert response.status_code == 200
    shown = [v.history_id for v in response.context["versions"]]
    assert shown == [h.history_id for h in _versions(use_case)]


def test_history_shows_field_changes_with_readable_labels(
    client, use_case, product_owner, second_owner
):
    client.force_login(product_owner)
    response = client.get(_history_url(use_case))
    versions = response.context["versions"]
    edit = next(v for v in versions if v.reason == "New owner after the reorganisation")
    changes = {c.field: c for c in edit.changes}
    assert set(changes) == {"title", "owner"}
    assert changes["owner"].old == _label(product_owner)
    assert changes["owner"].new == _label(second_owner)
    assert changes["title"].new == "Complaint triage v2"
    assert edit.user_label == _label(product_owner)
    html = response.content.decode()
    assert _label(second_owner) in html
    assert "New owner after the reorganisation" in html


def test_history_shows_choice_labels_and_the_transition_user(client, use_case, risk_officer):
    client.force_login(risk_officer)
    versions = client.get(_history_url(use_case)).context["versions"]
    pilot = next(v for v in versions if any(c.field == "lifecycle" for c in v.changes))
    change = next(c for c in pilot.changes if c.field == "lifecycle")
    assert change.old == Lifecycle.PROPOSED.label
    assert change.new == Lifecycle.PILOT.label
    assert pilot.user_label == _label(risk_officer)
    assert Lifecycle.PILOT.label in pilot.reason


def test_history_shows_data_sources_added_and_removed(client, use_case, risk_officer, sources):
    client.force_login(risk_officer)
    versions = client.get(_history_url(use_case)).context["versions"]
    m2m = [c for v in versions for c in v.changes if c.field == "data_sources"]
    added = {item for c in m2m for item in c.added}
    removed = {item for c in m2m for item in c.removed}
    assert {str(s) for s in sources} <= added
    assert str(sources[0]) in removed
    reasons = {v.reason for v in versions if any(c.field == "data_sources" for c in v.changes)}
    assert "Customers now see the output" in reasons


def test_history_shows_people_affected_as_labels(client, use_case, risk_officer):
    client.force_login(risk_officer)
    versions = client.get(_history_url(use_case)).context["versions"]
    change = next(c for v in versions for c in v.changes if c.field == "people_affected" and c.old)
    assert "Customers" in change.new
    assert "customers" not in change.new


def test_history_of_a_system_change_says_system(client, use_case, risk_officer):
    services.use_case_flag_for_reassessment(actor=None, use_case=use_case, reason="Review due")
    client.force_login(risk_officer)
    newest = client.get(_history_url(use_case)).context["versions"][0]
    assert newest.user_label == "System"


def test_history_page_has_no_inline_script_or_style(client, use_case, product_owner):
    client.force_login(product_owner)
    html = client.get(_history_url(use_case)).content.decode()
    assert "<script>" not in html.replace(" ", "")
    assert "style=" not in html
    assert "<caption>" in html
    assert 'scope="col"' in html


def test_data_source_and_business_unit_history(
    client, use_case, sources, admin_user, product_owner, retail
):
    services.data_source_update(
        actor=admin_user, data_source=sources[0], data={"classification": "restricted"}
    )
    # Two members, then one: the unit's last version shows the other one removed.
    services.business_unit_update(
        actor=admin_user, unit=retail, data={"members": [admin_user, product_owner]}
    )
    services.business_unit_update(actor=admin_user, unit=retail, data={"members": [admin_user]})
    client.force_login(admin_user)
    ds = client.get(reverse("history", args=["datasource", sources[0].pk])).context["versions"]
    change = next(c for c in ds[0].changes if c.field == "classification")
    assert change.new == "Restricted"
    bu = client.get(reverse("history", args=["businessunit", retail.pk])).context["versions"]
    members = next(c for c in bu[0].changes if c.field == "members")
    assert len(members.removed) == 1 and not members.added


def test_history_paginates_and_diffs_across_the_page_break(client, use_case, product_owner):
    _add_versions(use_case, product_owner, 50)
    client.force_login(product_owner)
    first = client.get(_history_url(use_case))
    second = client.get(_history_url(use_case), {"page": 2})
    shown = [v for page in (first, second) for v in page.context["versions"]]
    assert len(first.context["versions"]) == 50
    assert [v.history_id for v in shown] == [h.history_id for h in _versions(use_case)]
    # The top of page 2 still knows the version before it (on no page yet).
    top = second.context["versions"][0]
    assert top.previous_id == second.context["versions"][1].history_id
    assert shown[-1].change_type_label == "Created"
    # The bottom of page 1 is compared with the top of page 2.
    assert first.context["versions"][-1].previous_id == top.history_id
    # A page past the end, or not a number, shows the last page or the first.
    past = client.get(_history_url(use_case), {"page": 99})
    assert [v.history_id for v in past.context["versions"]] == [
        v.history_id for v in second.context["versions"]
    ]
    assert client.get(_history_url(use_case), {"page": "x"}).context["page"].number == 1


def test_each_version_is_compared_with_the_one_before_it_on_every_page_and_chunk(
    api, use_case, product_owner, monkeypatch
):
    """A record's versions know the version before them from the row after them, read with
    the page: the same as a subquery per row finds (with_previous), including rows written at
    the same moment, on pages whose last version's predecessor is on the next page, and in
    the export's chunks."""
    _add_versions(use_case, product_owner, 6)
    entry = HISTORY_REGISTRY["usecase"]
    # Two versions at the same moment: the tie is broken by history_id, as with_previous does.
    use_case.refresh_from_db()
    use_case._history_date = timezone.now()
    for title in ("Same moment, first", "Same moment, second"):
        use_case.title = title
        use_case.save()
    del use_case._history_date
    _add_versions(use_case, product_owner, 1)
    expected = {
        row.history_id: getattr(row, PREVIOUS)
        for row in with_previous(entry, use_case.history.all())
    }
    assert sum(1 for p in expected.values() if p is None) == 1  # the created version only
    paginator = VersionPaginator(RecordVersions(entry, use_case.pk), 3)
    paged = [
        version
        for number in paginator.page_range
        for version in page_versions(entry, paginator.page(number))
    ]
    assert {v.history_id: v.previous_id for v in paged} == expected

    api.force_authenticate(product_owner)
    url = reverse("api-history", args=["usecase", use_case.pk])
    monkeypatch.setattr(VersionPagination, "page_size", 3)
    pages = [api.get(url).json()]
    while pages[-1]["next"]:
        pages.append(api.get(pages[-1]["next"]).json())
    assert len(pages) >= 3
    listed = [v for page in pages for v in page["results"]]
    assert [v["history_id"] for v in listed] == [h.history_id for h in _versions(use_case)]
    # The oldest version on page 1 is diffed against the newest on page 2: its title changed.
    last_of_first = pages[0]["results"][-1]
    change = next(c for c in last_of_first["changes"] if c["field"] == "title")
    older = use_case.history.get(history_id=expected[last_of_first["history_id"]])
    assert change["old"] == older.title

    chunked = list(iter_versions(entry, use_case.pk, chunk=2))
    assert {v.history_id: v.previous_id for v in chunked} == expected


def test_audit_log_shows_an_invalid_filter_as_an_error(client, use_case, auditor):
    client.force_login(auditor)
    response = client.get(
        reverse("audit-log"), {"date_from": "2030-01-02", "date_to": "2030-01-01"}
    )
    assert response.status_code == 200
    assert "date_to" in response.context["form"].errors


def test_unknown_model_is_404(client, product_owner):
    client.force_login(product_owner)
    assert client.get(reverse("history", args=["nothing", 1])).status_code == 404


# Change reasons ------------------------------------------------------------------------------
def test_a_long_transition_reason_is_kept_whole_in_the_history(risk_officer, retail):
    use_case = UseCaseFactory(business_unit=retail, lifecycle=Lifecycle.PRODUCTION)
    reason = "Customers under 25 were declined far more often than before; " * 10
    services.use_case_transition(
        actor=risk_officer, use_case=use_case, action="suspend", reason=reason
    )
    assert reason.strip() in use_case.history.first().history_change_reason


# Permissions ---------------------------------------------------------------------------------
def test_auditor_without_a_unit_reads_any_record_history(client, use_case, auditor):
    client.force_login(auditor)
    assert client.get(_history_url(use_case)).status_code == 200
    export = client.get(reverse("history-export", args=["usecase", use_case.pk]))
    assert export.status_code == 200


@pytest.mark.parametrize(
    "name", ["history", "history-export", "history-compare", "api-history", "api-history-compare"]
)
def test_outsider_gets_404_on_another_units_history(client, use_case, outsider, name):
    client.force_login(outsider)
    response = client.get(reverse(name, args=["usecase", use_case.pk]))
    assert response.status_code == 404


def test_missing_record_is_404_like_a_forbidden_one(client, product_owner):
    client.force_login(product_owner)
    assert client.get(reverse("history", args=["usecase", 987654])).status_code == 404


def test_anonymous_is_sent_to_sign_in(client, use_case):
    response = client.get(_history_url(use_case))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


# Compare -------------------------------------------------------------------------------------
def test_compare_shows_exactly_the_fields_that_differ(client, use_case, product_owner):
    client.force_login(product_owner)
    history = _versions(use_case)
    oldest, newest = history[-1], history[0]
    url = reverse("history-compare", args=["usecase", use_case.pk])
    response = client.get(url, {"a": newest.history_id, "b": oldest.history_id})
    assert response.status_code == 200
    expected = {
        f.name
        for f in UseCase._meta.fields
        if f.name not in ("id", "created_at", "updated_at")
        and getattr(oldest, f.attname) != getattr(newest, f.attname)
    }
    old_sources = set(oldest.data_sources.values_list("datasource_id", flat=True))
    new_sources = set(newest.data_sources.values_list("datasource_id", flat=True))
    if old_sources != new_sources:
        expected.add("data_sources")
    shown = {c.field for c in response.context["changes"]}
    assert shown == expected
    # Oldest on the left, whatever order they were picked in.
    assert response.context["older"].history_id == oldest.history_id
    html = response.content.decode()
    assert 'class="diff-old"' in html
    assert 'class="diff-new"' in html


def test_compare_of_neighbours_matches_the_history_entry(client, use_case, product_owner):
    client.force_login(product_owner)
    versions = client.get(_history_url(use_case)).context["versions"]
    newer, older = versions[1], versions[2]
    url = reverse("history-compare", args=["usecase", use_case.pk])
    response = client.get(url, {"a": older.history_id, "b": newer.history_id})
    assert response.context["changes"] == newer.changes


def test_compare_rejects_a_version_of_another_record(client, use_case, product_owner, retail):
    other = services.use_case_register(
        actor=product_owner,
        data={
            "title": "Other",
            "purpose": "Other purpose.",
            "business_unit": retail,
            "owner": product_owner,
            "people_affected": ["staff"],
            "decision_impact": DecisionImpact.ASSISTS,
            "human_oversight": HumanOversight.BEFORE_ACTION,
        },
    )
    client.force_login(product_owner)
    url = reverse("history-compare", args=["usecase", use_case.pk])
    response = client.get(
        url, {"a": _versions(use_case)[0].history_id, "b": _versions(other)[0].history_id}
    )
    assert response.status_code == 400
    assert "changes" not in response.context


def test_history_page_preselects_a_comparison(client, use_case, product_owner):
    client.force_login(product_owner)
    html = client.get(_history_url(use_case)).content.decode()
    assert html.count(" checked") == 2
    assert 'for="a-' in html and 'for="b-' in html


# CSV export ----------------------------------------------------------------------------------
def test_record_csv_has_a_row_per_changed_field(client, use_case, product_owner):
    client.force_login(product_owner)
    page_versions = client.get(_history_url(use_case)).context["versions"]
    response = client.get(reverse("history-export", args=["usecase", use_case.pk]))
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    expected = [
        (str(v.history_id), v.user_label, v.change_type_label, v.reason, c.label, c.old, c.new)
        for v in page_versions
        for c in v.changes or [None]
        if c is not None
    ]
    got = [
        (r["version"], r["user"], r["change"], r["reason"], r["field"], r["old"], r["new"])
        for r in rows
        if r["field"]
    ]
    assert got == expected
    assert {r["version"] for r in rows} == {str(v.history_id) for v in page_versions}


# Audit log -----------------------------------------------------------------------------------
def test_auditor_reads_the_audit_log_across_models(client, use_case, sources, auditor):
    client.force_login(auditor)
    response = client.get(reverse("audit-log"))
    assert response.status_code == 200
    keys = {v.model_key for v in response.context["versions"]}
    assert {"usecase", "datasource"} <= keys

    # Every registered model's history, the built-in assessment templates' included.
    total = sum(entry.history_model.objects.count() for entry in HISTORY_REGISTRY.values())
    assert total > UseCase.history.count() + sources[0].__class__.history.count()
    assert response.context["page"].paginator.count == total


def test_audit_log_filters_by_model_and_user(client, use_case, auditor, risk_officer):
    client.force_login(auditor)
    response = client.get(reverse("audit-log"), {"model": "usecase", "user": risk_officer.pk})
    versions = response.context["versions"]
    expected = UseCase.history.filter(history_user=risk_officer).count()
    assert len(versions) == expected > 0
    assert {v.model_key for v in versions} == {"usecase"}
    assert {v.user_label for v in versions} == {_label(risk_officer)}


def test_audit_log_filters_by_date(client, use_case, auditor):
    client.force_login(auditor)
    newest = UseCase.history.latest("history_date").history_date
    day = timezone.localtime(newest).date()
    later = day + dt.timedelta(days=1)
    assert client.get(reverse("audit-log"), {"date_from": later}).context["versions"] == []
    on_day = client.get(reverse("audit-log"), {"date_from": day, "date_to": day})
    assert on_day.context["page"].paginator.count > 0


def test_audit_log_paginates(client, use_case, auditor, product_owner):
    _add_versions(use_case, product_owner, 55)
    client.force_login(auditor)
    first = client.get(reverse("audit-log"))
    second = client.get(reverse("audit-log"), {"page": 2})
    assert len(first.context["versions"]) == 50
    ids_1 = {(v.model_key, v.history_id) for v in first.context["versions"]}
    ids_2 = {(v.model_key, v.history_id) for v in second.context["versions"]}
    assert ids_2 and not ids_1 & ids_2


def test_audit_log_export_applies_filters(client, use_case, auditor, risk_officer):
    client.force_login(auditor)
    response = client.get(
        reverse("audit-log-export"), {"model": "usecase", "user": risk_officer.pk}
    )
    rows = _csv(response)
    versions = {r["version"] for r in rows}
    expected = set(
        map(
            str,
            UseCase.history.filter(history_user=risk_officer).values_list("history_id", flat=True),
        )
    )
    assert versions == expected
    assert {r["user"] for r in rows} == {_label(risk_officer)}
    assert {r["record_id"] for r in rows} == {str(use_case.pk)}


@pytest.mark.parametrize("name", ["audit-log", "audit-log-export"])
def test_product_owner_gets_403_on_the_audit_log(client, product_owner, name):
    client.force_login(product_owner)
    assert client.get(reverse(name)).status_code == 403


def test_admin_reads_the_audit_log(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("audit-log")).status_code == 200


# API -----------------------------------------------------------------------------------------
@pytest.fixture
def api():
    return APIClient()


def test_api_lists_versions_with_changes(api, use_case, product_owner):
    api.force_authenticate(product_owner)
    response = api.get(reverse("api-history", args=["usecase", use_case.pk]))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == use_case.history.count()
    ids = [v["history_id"] for v in body["results"]]
    assert ids == [h.history_id for h in _versions(use_case)]
    owner_change = next(
        c for v in body["results"] for c in v["changes"] if c["field"] == "owner" and c["old"]
    )
    assert owner_change["old"] == _label(product_owner)


def test_api_paginates_versions(api, use_case, product_owner):
    _add_versions(use_case, product_owner, 50)
    api.force_authenticate(product_owner)
    body = api.get(reverse("api-history", args=["usecase", use_case.pk])).json()
    assert body["count"] == use_case.history.count()
    assert len(body["results"]) == 50
    assert body["next"]


def test_api_pages_carry_their_count_and_a_page_past_the_end_is_a_404(api, use_case, product_owner):
    _add_versions(use_case, product_owner, 50)
    api.force_authenticate(product_owner)
    url = reverse("api-history", args=["usecase", use_case.pk])
    total = use_case.history.count()
    with CaptureQueriesContext(connection) as ctx:
        second = api.get(url, {"page": 2}).json()
    assert second["count"] == total
    assert [v["history_id"] for v in second["results"]] == [
        h.history_id for h in _versions(use_case)[50:]
    ]
    assert not any("COUNT(*) AS" in q["sql"] for q in ctx.captured_queries)
    assert api.get(url, {"page": "last"}).json()["count"] == total
    assert api.get(url, {"page": 3}).status_code == 404
    assert api.get(url, {"page": 0}).status_code == 404
    assert api.get(url, {"page": "x"}).status_code == 404


def test_api_compare(api, use_case, product_owner):
    api.force_authenticate(product_owner)
    history = _versions(use_case)
    url = reverse("api-history-compare", args=["usecase", use_case.pk])
    response = api.get(url, {"a": history[0].history_id, "b": history[-1].history_id})
    assert response.status_code == 200
    body = response.json()
    assert body["older"]["history_id"] == history[-1].history_id
    assert body["newer"]["history_id"] == history[0].history_id
    assert "title" in {c["field"] for c in body["changes"]}
    assert "created_at" not in {c["field"] for c in body["changes"]}


def test_api_compare_needs_two_versions_of_the_record(api, use_case, product_owner):
    api.force_authenticate(product_owner)
    url = reverse("api-history-compare", args=["usecase", use_case.pk])
    assert api.get(url).status_code == 400
    assert api.get(url, {"a": "x", "b": 1}).status_code == 400
    assert api.get(url, {"a": 10**9, "b": 10**9 + 1}).status_code == 404


def test_api_renders_versions_by_hand_as_drf_would(use_case, settings):
    """The history serializers render by hand (for speed): key for key, in the same order,
    what DRF's generic rendering of the declared fields gives, list changes included."""
    settings.TIME_ZONE = "Europe/London"
    entry = HISTORY_REGISTRY["usecase"]
    rows = list(with_previous(entry, use_case.history.all()).order_by("-history_id"))
    versions = build_versions(entry, rows)
    _older, _newer, changes = compare(entry, rows[-1], rows[0])
    assert any(c.many for c in changes)  # a list of data sources changed too

    def generic(serializer_class, obj):
        if serializer_class is HistoryVersionSerializer:
            summary = Serializer.to_representation(HistoryVersionSummarySerializer(), obj)
            return {
                **summary,
                "changes": [generic(HistoryFieldChangeSerializer, c) for c in obj.changes],
            }
        return Serializer.to_representation(serializer_class(), obj)

    for version in versions:
        for serializer_class in (HistoryVersionSerializer, HistoryVersionSummarySerializer):
            fast = serializer_class(version).data
            assert list(fast.items()) == list(generic(serializer_class, version).items())
    for change in changes:
        fast = HistoryFieldChangeSerializer(change).data
        assert list(fast.items()) == list(generic(HistoryFieldChangeSerializer, change).items())


def test_api_auditor_reads_and_outsider_does_not(api, use_case, auditor, outsider):
    url = reverse("api-history", args=["usecase", use_case.pk])
    api.force_authenticate(auditor)
    assert api.get(url).status_code == 200
    api.force_authenticate(outsider)
    assert api.get(url).status_code == 404


# Performance ---------------------------------------------------------------------------------
def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_history_page_query_count_does_not_grow_with_versions(
    client, retail, product_owner, second_owner, sources
):
    uc = services.use_case_register(
        actor=product_owner,
        data={
            "title": "Fraud scoring",
            "purpose": "Scores payments.",
            "business_unit": retail,
            "owner": product_owner,
            "people_affected": ["staff"],
            "decision_impact": DecisionImpact.ASSISTS,
            "human_oversight": HumanOversight.BEFORE_ACTION,
            "data_sources": sources[:1],
        },
    )
    services.use_case_update(
        actor=product_owner, use_case=uc, data={"owner": second_owner}, reason="Handover"
    )
    _add_versions(uc, product_owner, 5 - uc.history.count())
    assert uc.history.count() == 5
    client.force_login(product_owner)
    url = _history_url(uc)
    with_5 = _count_queries(client, url)
    _add_versions(uc, product_owner, 35)
    assert uc.history.count() == 40
    assert _count_queries(client, url) == with_5
    # Past a page: the first page's last version is compared with the second page's first,
    # read with the page; a page asked for by number is read with its count, not counted
    # first. The second page shows what the five did (the creation, the handover).
    _add_versions(uc, product_owner, 25)
    first = _count_queries(client, url)
    assert first <= with_5
    assert _count_queries(client, f"{url}?page=1") == first
    assert _count_queries(client, f"{url}?page=2") == with_5


def test_a_page_number_past_any_history_is_the_last_page_or_a_404(
    client, api, use_case, product_owner
):
    huge = "9" * 20
    client.force_login(product_owner)
    page = client.get(_history_url(use_case), {"page": huge})
    assert page.status_code == 200
    assert page.context["page"].number == page.context["page"].paginator.num_pages
    api.force_authenticate(product_owner)
    url = reverse("api-history", args=["usecase", use_case.pk])
    assert api.get(url, {"page": huge}).status_code == 404
    assert api.get(url, {"page": str(2**62)}).status_code == 404


def test_audit_log_query_count_does_not_grow_with_changes(client, use_case, auditor, product_owner):
    client.force_login(auditor)
    url = reverse("audit-log")
    _add_versions(use_case, product_owner, 60)  # more than a page: earlier versions off-page
    some = _count_queries(client, url)
    _add_versions(use_case, product_owner, 100)
    # Bounded by the kinds of record on the page, never by how many changes it lists.
    assert _count_queries(client, url) == some
