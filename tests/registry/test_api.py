"""The register's REST API: auth, the persona x action matrix, validation, filters, paging."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.middleware.csrf import get_token
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from guardian.shortcuts import assign_perm
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.serializers import Serializer
from rest_framework.test import APIClient

from portal.access import can
from registry import services
from registry.api.use_cases import (
    DATA_SOURCE_SHOWN,
    DATA_SOURCE_UNSHOWN,
    OWNER_UNSHOWN,
    USE_CASE_SHOWN,
    USE_CASE_UNSHOWN,
    UseCaseViewSet,
)
from registry.models import (
    LIFECYCLE_TRANSITIONS,
    BusinessUnit,
    Classification,
    DataSource,
    DecisionImpact,
    Destination,
    HumanOversight,
    Lifecycle,
    PeopleAffected,
    RiskTier,
    UseCase,
)
from registry.selectors import data_sources_visible_to, use_cases_visible_to
from registry.serializers.use_cases import UseCaseDetailSerializer, UseCaseSerializer
from tests.factories import (
    DataSourceFactory,
    PilotUseCaseFactory,
    RetiredUseCaseFactory,
    UseCaseFactory,
    UserFactory,
    ready_for_production,
)

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]

# Who holds each rule over a Retail record. The outsider (a product owner in Corporate) sees
# nothing of Retail's, so every record action of theirs answers 404 whatever the rule.
HOLDERS = {
    "registry.add_usecase": {"admin", "risk_officer", "product_owner", "outsider"},
    "registry.change_usecase": {"admin", "risk_officer", "product_owner"},
    "registry.suspend_usecase": {"admin", "risk_officer", "product_owner", "dpo"},
    "registry.flag_usecase": {"admin", "risk_officer", "dpo"},
    "registry.kill_switch_usecase": {"admin", "risk_officer", "product_owner", "dpo"},
    "registry.add_datasource": {"admin", "risk_officer", "product_owner", "dpo", "outsider"},
    "registry.change_datasource": {"admin", "risk_officer", "product_owner", "dpo"},
    "registry.add_businessunit": {"admin"},
    "registry.change_businessunit": {"admin"},
}


def expected_status(persona: str, rule: str, success: int = 200) -> int:
    if persona == "outsider":
        return 404
    return success if persona in HOLDERS[rule] else 403


# Fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Every factory user gets a password; the real hasher would make this module crawl.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def token_client(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def as_persona(personas):
    def make(name: str) -> APIClient:
        return token_client(personas[name])

    return make


@pytest.fixture
def use_case(retail, product_owner):
    return UseCaseFactory(business_unit=retail, owner=product_owner)


@pytest.fixture
def corporate_use_case(corporate, outsider):
    return UseCaseFactory(business_unit=corporate, owner=outsider)


@pytest.fixture
def retail_source(retail, product_owner):
    return DataSourceFactory(business_unit=retail, owner=product_owner)


def use_case_url(pk: int, name: str = "detail", **kwargs) -> str:
    return reverse(f"api-use-case-{name}", kwargs={"pk": pk, **kwargs})


def transition_url(pk: int, action: str) -> str:
    return use_case_url(pk, "transition", transition=action)


def new_use_case_data(unit, owner, **overrides) -> dict:
    data = {
        "title": "Invoice triage",
        "purpose": "Sorts incoming supplier invoices for the accounts team.",
        "business_unit": unit.pk,
        "owner": owner.pk,
        "people_affected": [PeopleAffected.STAFF],
        "decision_impact": DecisionImpact.ASSISTS,
        "human_oversight": HumanOversight.BEFORE_ACTION,
    }
    data.update(overrides)
    return data


def new_data_source_data(unit, owner, **overrides) -> dict:
    data = {
        "name": "Supplier invoices",
        "business_unit": unit.pk,
        "owner": owner.pk,
        "classification": Classification.CONFIDENTIAL,
        "personal_data": False,
        "allowed_destination": Destination.PRIVATE_VPC,
        "retention_days": 2190,
    }
    data.update(overrides)
    return data


def listed_ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# Authentication ------------------------------------------------------------------------------
def test_token_auth_reads_the_register(product_owner, use_case):
    response = token_client(product_owner).get(reverse("api-use-case-list"))

    assert use_case.pk in listed_ids(response)


def test_bad_token_is_refused(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get(reverse("api-use-case-list"))

    # 401 or 403 depending on which authentication class settings list first.
    assert response.status_code in {401, 403}
    assert "token" in response.json()["detail"].lower()


@pytest.mark.parametrize("url_name", ["api-use-case-list", "api-data-source-list"])
def test_anonymous_caller_gets_nothing(db, use_case, url_name):
    response = APIClient().get(reverse(url_name))

    assert response.status_code in {401, 403}
    assert "results" not in response.json()


def test_session_auth_reads_the_register(client, product_owner, password, use_case):
    assert client.login(username=product_owner.username, password=password)

    response = client.get(reverse("api-use-case-list"))

    assert use_case.pk in listed_ids(response)


def test_session_write_needs_the_csrf_token(product_owner, retail):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(product_owner)
    data = new_use_case_data(retail, product_owner)

    refused = client.post(reverse("api-use-case-list"), data, format="json")
    assert refused.status_code == 403
    assert not UseCase.objects.exists()

    csrf_request = RequestFactory().get("/")
    token = get_token(csrf_request)
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf_request.META["CSRF_COOKIE"]
    accepted = client.post(
        reverse("api-use-case-list"), data, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 201, accepted.content


def test_token_write_is_recorded_against_the_token_holder(product_owner, retail):
    response = token_client(product_owner).post(
        reverse("api-use-case-list"), new_use_case_data(retail, product_owner), format="json"
    )

    assert response.status_code == 201, response.content
    record = UseCase.objects.get(pk=response.json()["id"]).history.latest()
    assert record.history_user == product_owner
    assert record.history_change_reason == "Registered"


# Reading -------------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_list_holds_only_what_the_persona_may_see(
    as_persona, personas, persona, use_case, corporate_use_case
):
    user = personas[persona]
    ids = listed_ids(as_persona(persona).get(reverse("api-use-case-list")))

    for record in (use_case, corporate_use_case):
        assert (record.pk in ids) == can(user, "registry.view_usecase", record)
    if persona == "outsider":
        assert use_case.pk not in ids
    else:
        assert use_case.pk in ids


@pytest.mark.parametrize("persona", PERSONAS)
def test_retrieve_answers_404_outside_ones_unit(as_persona, persona, use_case):
    response = as_persona(persona).get(use_case_url(use_case.pk))

    if persona == "outsider":
        assert response.status_code == 404
    else:
        assert response.status_code == 200
        assert response.json()["reference"] == use_case.reference


@pytest.mark.parametrize("persona", ["product_owner", "auditor"])
def test_reads_after_an_edit_show_it_though_their_queries_are_built_once(
    as_persona, persona, use_case, product_owner
):
    """The list, a read of one and the history read through querysets built once per process
    (registry.api.use_cases, registry.selectors, portal.history.selectors): each request
    narrows a copy of them, so no read sees rows an earlier one read."""
    client = as_persona(persona)
    history = reverse("api-history", args=["usecase", use_case.pk])
    for edit in ("First title", "Second title"):
        services.use_case_update(
            actor=product_owner, use_case=use_case, data={"title": edit}, reason="Renamed"
        )
        assert client.get(use_case_url(use_case.pk)).json()["title"] == edit
        listed = client.get(reverse("api-use-case-list")).json()["results"]
        assert [r["title"] for r in listed if r["id"] == use_case.pk] == [edit]
        newest = client.get(history).json()["results"][0]
        assert [c["new"] for c in newest["changes"] if c["field"] == "title"] == [edit]


def test_missing_and_forbidden_use_cases_answer_alike(as_persona, use_case):
    client = as_persona("outsider")
    missing_pk = UseCase.objects.order_by("-pk").first().pk + 1000

    forbidden = client.get(use_case_url(use_case.pk))
    missing = client.get(use_case_url(missing_pk))

    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json() == missing.json()


def test_detail_represents_the_use_case(as_persona, use_case, retail_source, product_owner):
    use_case.data_sources.set([retail_source])

    body = as_persona("risk_officer").get(use_case_url(use_case.pk)).json()

    assert body["id"] == use_case.pk
    assert body["reference"] == use_case.reference
    assert body["title"] == use_case.title
    assert body["business_unit"] == use_case.business_unit_id
    assert body["business_unit_name"] == use_case.business_unit.name
    assert body["owner"] == product_owner.pk
    assert body["owner_name"] == product_owner.get_full_name()
    assert body["lifecycle"] == use_case.lifecycle
    assert body["risk_tier"] == use_case.risk_tier
    assert body["people_affected"] == use_case.people_affected
    assert body["data_sources"] == [retail_source.pk]
    assert body["url"].endswith(use_case_url(use_case.pk))
    for field in ("needs_reassessment", "kill_switch_engaged", "reassessment_reasons"):
        assert body[field] == getattr(use_case, field)
    assert "change_reason" not in body


@pytest.mark.parametrize("persona", ["product_owner", "auditor"])
def test_the_hand_written_representation_is_what_drf_would_give(
    personas, persona, use_case, retail_source, settings
):
    """UseCaseSerializer renders a row by hand (for speed): field for field, in the same
    order, it must be what DRF's generic rendering of the declared fields gives, for a row
    read by the API's queryset (source ids in the row) and for one fresh from a service."""
    settings.TIME_ZONE = "Europe/London"  # an offset that is not +00:00 in summer
    use_case.data_sources.set([retail_source])
    use_case.next_review_date = None
    use_case.save()
    # Owned by someone known by username alone (no first or last name).
    unnamed = UserFactory(first_name="", last_name="", units=[use_case.business_unit])
    other = UseCaseFactory(business_unit=use_case.business_unit, data_sources=[], owner=unnamed)
    request = Request(RequestFactory().get("/api/v1/use-cases/"))
    request.user = personas[persona]
    view = UseCaseViewSet(request=request, action="list", kwargs={}, format_kwarg=None)
    context = {"request": request, "view": view, "format": None}
    rows = [*view.get_queryset().filter(pk__in=[use_case.pk, other.pk]), use_case, other]
    rows[-1].flags_raised = [{"use_case": other.pk, "reference": other.reference}]

    for serializer_class in (UseCaseSerializer, UseCaseDetailSerializer):
        for row in rows:
            fast = serializer_class(row, context=context).data
            generic = Serializer.to_representation(serializer_class(context=context), row)
            assert list(fast.items()) == list(generic.items())
    # The list's rows (read with their names as columns) name the unit and the owner.
    page = UseCaseSerializer(rows[:2], many=True, context=context).data
    listed = {row["id"]: row for row in page}
    assert listed[other.pk]["owner_name"] == unnamed.username
    assert listed[use_case.pk]["owner_name"] == use_case.owner.get_full_name()
    assert listed[use_case.pk]["business_unit_name"] == use_case.business_unit.name


def test_hand_written_times_are_in_the_time_zone_active_for_the_response(use_case, product_owner):
    # The hand-written representation reads the time zone once per serializer: the one
    # active when it renders, as DRF's fields would.
    request = Request(RequestFactory().get("/api/v1/use-cases/"))
    request.user = product_owner
    context = {"request": request, "format": None}
    for zone, offset in (("Asia/Tokyo", "+09:00"), ("America/Sao_Paulo", "-03:00")):
        with timezone.override(zone):
            fast = UseCaseSerializer(use_case, context=context).data
            generic = Serializer.to_representation(UseCaseSerializer(context=context), use_case)
        assert fast["created_at"] == generic["created_at"]
        assert fast["updated_at"].endswith(offset)


@pytest.mark.parametrize("persona", PERSONAS[:-1])
@pytest.mark.parametrize("factory", [UseCaseFactory, PilotUseCaseFactory])
def test_available_transitions_are_the_moves_the_person_can_make(
    as_persona, personas, persona, factory, retail
):
    client = as_persona(persona)
    shown = factory(business_unit=retail)
    listed = {
        t["action"] for t in client.get(use_case_url(shown.pk)).json()["available_transitions"]
    }

    for action in LIFECYCLE_TRANSITIONS:
        fresh = factory(business_unit=retail)
        if LIFECYCLE_TRANSITIONS[action].target == "production":
            ready_for_production(fresh, personas["admin"])  # the go-live gate holds
        response = client.post(transition_url(fresh.pk, action), {"reason": "Because"})
        assert (response.status_code == 200) == (action in listed), (action, response.content)


# Writing: the persona matrix -----------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_create_use_case_matrix(as_persona, personas, persona, retail):
    owner = personas["product_owner"]

    response = as_persona(persona).post(
        reverse("api-use-case-list"), new_use_case_data(retail, owner), format="json"
    )

    if persona == "outsider":
        # May register use cases, but only in their own unit.
        assert response.status_code == 400
        assert "business_unit" in response.json()
        assert not UseCase.objects.exists()
    elif persona in HOLDERS["registry.add_usecase"]:
        assert response.status_code == 201, response.content
        created = UseCase.objects.get(pk=response.json()["id"])
        assert created.business_unit == retail
        assert created.lifecycle == Lifecycle.PROPOSED
        assert response["Location"].endswith(use_case_url(created.pk))
    else:
        assert response.status_code == 403
        assert not UseCase.objects.exists()


def test_product_owner_cannot_create_in_another_unit(as_persona, product_owner, corporate):
    response = as_persona("product_owner").post(
        reverse("api-use-case-list"), new_use_case_data(corporate, product_owner), format="json"
    )

    assert response.status_code == 400
    assert "business_unit" in response.json()
    assert not UseCase.objects.filter(business_unit=corporate).exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_update_use_case_matrix(as_persona, persona, use_case):
    before = use_case.title

    response = as_persona(persona).patch(
        use_case_url(use_case.pk), {"title": "Renamed by the API"}, format="json"
    )

    assert response.status_code == expected_status(persona, "registry.change_usecase")
    use_case.refresh_from_db()
    if response.status_code == 200:
        assert use_case.title == response.json()["title"] == "Renamed by the API"
        assert use_case.history.latest().history_change_reason == "Edited title"
    else:
        assert use_case.title == before


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", list(LIFECYCLE_TRANSITIONS))
def test_transition_matrix(as_persona, personas, persona, action, retail):
    transition = LIFECYCLE_TRANSITIONS[action]
    source = sorted(transition.source)[0]
    record = UseCaseFactory(business_unit=retail, lifecycle=source)
    if LIFECYCLE_TRANSITIONS[action].target == "production":
        ready_for_production(record, personas["admin"])  # the go-live gate holds

    response = as_persona(persona).post(
        transition_url(record.pk, action), {"reason": "Quarterly review"}, format="json"
    )

    assert response.status_code == expected_status(persona, transition.rule), response.content
    record.refresh_from_db()
    if response.status_code == 200:
        assert record.lifecycle == response.json()["lifecycle"] == transition.target
        latest = record.history.latest()
        assert latest.history_user == personas[persona]
        assert "Quarterly review" in latest.history_change_reason
    else:
        assert record.lifecycle == source


@pytest.mark.parametrize(
    ("action", "source"),
    [(a, s) for a, t in LIFECYCLE_TRANSITIONS.items() for s in sorted(t.source)],
)
def test_every_move_in_the_table_works_from_each_source(
    as_persona, personas, retail, action, source
):
    record = UseCaseFactory(business_unit=retail, lifecycle=source)
    if LIFECYCLE_TRANSITIONS[action].target == "production":
        ready_for_production(record, personas["admin"])  # the go-live gate holds

    response = as_persona("admin").post(
        transition_url(record.pk, action), {"reason": "Board decision"}, format="json"
    )

    assert response.status_code == 200, response.content
    record.refresh_from_db()
    assert record.lifecycle == LIFECYCLE_TRANSITIONS[action].target


@pytest.mark.parametrize(
    ("action", "state"),
    [(a, s) for a, t in LIFECYCLE_TRANSITIONS.items() for s in Lifecycle if s not in t.source],
)
def test_a_move_from_the_wrong_state_is_a_400(as_persona, retail, action, state):
    record = UseCaseFactory(business_unit=retail, lifecycle=state)

    response = as_persona("admin").post(
        transition_url(record.pk, action), {"reason": "Try anyway"}, format="json"
    )

    # Nobody may change a retired use case; any other wrong state is bad input.
    if state == Lifecycle.RETIRED:
        assert response.status_code == 403
    else:
        assert response.status_code == 400
        assert "action" in response.json()
    record.refresh_from_db()
    assert record.lifecycle == state


def test_a_move_that_needs_a_reason_refuses_none(as_persona, retail):
    action = next(a for a, t in LIFECYCLE_TRANSITIONS.items() if t.reason_required)
    record = UseCaseFactory(
        business_unit=retail, lifecycle=sorted(LIFECYCLE_TRANSITIONS[action].source)[0]
    )

    response = as_persona("admin").post(transition_url(record.pk, action), {}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()


def test_an_unknown_move_is_404(as_persona, use_case):
    response = as_persona("admin").post(transition_url(use_case.pk, "launch_rocket"), {})

    assert response.status_code == 404


@pytest.mark.parametrize("persona", PERSONAS)
def test_flag_matrix(as_persona, persona, use_case):
    response = as_persona(persona).post(
        use_case_url(use_case.pk, "flag"), {"reason": "Model vendor changed"}, format="json"
    )

    assert response.status_code == expected_status(persona, "registry.flag_usecase")
    use_case.refresh_from_db()
    assert use_case.needs_reassessment == (response.status_code == 200)
    if response.status_code == 200:
        assert response.json()["needs_reassessment"] is True
        assert "Model vendor changed" in use_case.reassessment_reasons


@pytest.mark.parametrize("persona", PERSONAS)
def test_clear_flag_matrix(as_persona, persona, retail):
    record = UseCaseFactory(
        business_unit=retail, needs_reassessment=True, reassessment_reasons="2025-01-01: drift"
    )

    response = as_persona(persona).post(
        use_case_url(record.pk, "clear-flag"), {"reason": "Re-assessed"}, format="json"
    )

    assert response.status_code == expected_status(persona, "registry.flag_usecase")
    record.refresh_from_db()
    assert record.needs_reassessment == (response.status_code != 200)


def test_flag_without_a_reason_is_a_400(as_persona, use_case):
    response = as_persona("risk_officer").post(use_case_url(use_case.pk, "flag"), {})

    assert response.status_code == 400
    assert "reason" in response.json()


@pytest.mark.parametrize("persona", PERSONAS)
def test_kill_switch_matrix(as_persona, persona, retail):
    record = PilotUseCaseFactory(business_unit=retail)

    response = as_persona(persona).post(
        use_case_url(record.pk, "kill-switch"),
        {"engaged": True, "reason": "Wrong answers to customers"},
        format="json",
    )

    assert response.status_code == expected_status(persona, "registry.kill_switch_usecase")
    record.refresh_from_db()
    assert record.kill_switch_engaged == (response.status_code == 200)


def test_kill_switch_goes_off_and_back_on(as_persona, retail):
    record = PilotUseCaseFactory(business_unit=retail)
    client = as_persona("dpo")
    url = use_case_url(record.pk, "kill-switch")

    engaged = client.post(url, {"engaged": True, "reason": "Incident"}, format="json")
    released = client.post(url, {"engaged": False, "reason": "Fixed"}, format="json")

    assert engaged.json()["kill_switch_engaged"] is True
    assert released.json()["kill_switch_engaged"] is False
    reasons = [h.history_change_reason for h in record.history.order_by("history_id")]
    assert any("Incident" in (r or "") for r in reasons)
    assert any("Fixed" in (r or "") for r in reasons)


def test_kill_switch_needs_to_be_told_which_way(as_persona, use_case):
    response = as_persona("admin").post(
        use_case_url(use_case.pk, "kill-switch"), {"reason": "Incident"}, format="json"
    )

    assert response.status_code == 400
    assert "engaged" in response.json()


def test_auditor_cannot_write_anything(as_persona, use_case, retail, retail_source, personas):
    client = as_persona("auditor")
    owner = personas["product_owner"]
    flagged = UseCaseFactory(business_unit=retail, needs_reassessment=True)
    calls = [
        ("post", reverse("api-use-case-list"), new_use_case_data(retail, owner)),
        ("put", use_case_url(use_case.pk), new_use_case_data(retail, owner)),
        ("patch", use_case_url(use_case.pk), {"title": "Audited"}),
        *[("post", transition_url(use_case.pk, a), {"reason": "x"}) for a in LIFECYCLE_TRANSITIONS],
        ("post", use_case_url(use_case.pk, "flag"), {"reason": "x"}),
        ("post", use_case_url(flagged.pk, "clear-flag"), {"reason": "x"}),
        ("post", use_case_url(use_case.pk, "kill-switch"), {"engaged": True, "reason": "x"}),
        ("post", reverse("api-data-source-list"), new_data_source_data(retail, owner)),
        ("patch", reverse("api-data-source-detail", args=[retail_source.pk]), {"name": "x"}),
        ("post", reverse("api-business-unit-list"), {"name": "Audit", "code": "AUDIT"}),
        ("patch", reverse("api-business-unit-detail", args=[retail.pk]), {"name": "x"}),
    ]

    for method, url, data in calls:
        response = getattr(client, method)(url, data, format="json")
        assert response.status_code == 403, (method, url, response.content)
    assert UseCase.objects.count() == 2
    assert not BusinessUnit.objects.filter(code="AUDIT").exists()


@pytest.mark.parametrize(
    "url_name", ["api-use-case-detail", "api-data-source-detail", "api-business-unit-detail"]
)
def test_nothing_is_deleted_over_the_api(as_persona, use_case, retail_source, url_name):
    pk = {
        "api-use-case-detail": use_case.pk,
        "api-data-source-detail": retail_source.pk,
        "api-business-unit-detail": use_case.business_unit_id,
    }[url_name]

    response = as_persona("admin").delete(reverse(url_name, args=[pk]))

    assert response.status_code == 405
    assert UseCase.objects.filter(pk=use_case.pk).exists()
    assert DataSource.objects.filter(pk=retail_source.pk).exists()


def test_retired_use_case_cannot_be_edited(as_persona, retail):
    record = RetiredUseCaseFactory(business_unit=retail)

    response = as_persona("admin").patch(use_case_url(record.pk), {"title": "Back"}, format="json")

    assert response.status_code == 403


# Writing: validation -------------------------------------------------------------------------
def post_use_case(as_persona, data, persona="product_owner"):
    return as_persona(persona).post(reverse("api-use-case-list"), data, format="json")


def test_missing_title_is_a_field_error(as_persona, retail, product_owner):
    data = new_use_case_data(retail, product_owner)
    del data["title"]

    response = post_use_case(as_persona, data)

    assert response.status_code == 400
    assert "title" in response.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("decision_impact", "vibes"),
        ("human_oversight", "sometimes"),
        ("people_affected", ["staff", "aliens"]),
        ("people_affected", []),
        ("people_affected", "staff"),
    ],
)
def test_bad_choices_are_field_errors(as_persona, retail, product_owner, field, value):
    response = post_use_case(as_persona, new_use_case_data(retail, product_owner, **{field: value}))

    assert response.status_code == 400
    assert field in response.json()
    assert not UseCase.objects.exists()


def test_owner_must_belong_to_the_unit(as_persona, retail, outsider):
    response = post_use_case(as_persona, new_use_case_data(retail, outsider))

    assert response.status_code == 400
    assert "owner" in response.json()


def test_automatic_decisions_about_customers_need_oversight(as_persona, retail, product_owner):
    data = new_use_case_data(
        retail,
        product_owner,
        decision_impact=DecisionImpact.AUTOMATIC,
        human_oversight=HumanOversight.NONE,
        people_affected=[PeopleAffected.CUSTOMERS],
    )

    response = post_use_case(as_persona, data)

    assert response.status_code == 400
    assert "human_oversight" in response.json()


def test_review_date_cannot_be_in_the_past(as_persona, retail, product_owner):
    yesterday = timezone.localdate() - timedelta(days=1)
    data = new_use_case_data(retail, product_owner, next_review_date=yesterday.isoformat())

    response = post_use_case(as_persona, data)

    assert response.status_code == 400
    assert "next_review_date" in response.json()


def test_data_sources_of_another_unit_are_refused(as_persona, retail, product_owner, corporate):
    foreign = DataSourceFactory(business_unit=corporate)

    as_admin = post_use_case(
        as_persona, new_use_case_data(retail, product_owner, data_sources=[foreign.pk]), "admin"
    )
    as_owner = post_use_case(
        as_persona, new_use_case_data(retail, product_owner, data_sources=[foreign.pk])
    )

    assert as_admin.status_code == as_owner.status_code == 400
    assert "data_sources" in as_admin.json()
    assert "data_sources" in as_owner.json()


def test_moving_a_use_case_rechecks_its_data_sources(
    as_persona, use_case, retail_source, corporate, outsider
):
    use_case.data_sources.set([retail_source])

    response = as_persona("admin").patch(
        use_case_url(use_case.pk),
        {"business_unit": corporate.pk, "owner": outsider.pk},
        format="json",
    )

    assert response.status_code == 400
    assert "data_sources" in response.json()
    use_case.refresh_from_db()
    assert use_case.business_unit_id == retail_source.business_unit_id


def test_a_per_record_grant_lets_an_outsider_read_but_not_edit(as_persona, outsider, use_case):
    assign_perm("registry.view_usecase", outsider, use_case)
    client = as_persona("outsider")

    assert use_case.pk in listed_ids(client.get(reverse("api-use-case-list")))
    assert client.get(use_case_url(use_case.pk)).status_code == 200
    response = client.patch(use_case_url(use_case.pk), {"title": "Mine now"}, format="json")
    assert response.status_code == 403


def test_read_only_fields_are_ignored_on_create(as_persona, retail, product_owner, retail_source):
    data = new_use_case_data(
        retail,
        product_owner,
        data_sources=[retail_source.pk],
        reference="UC-9999",
        lifecycle=Lifecycle.PRODUCTION,
        risk_tier=RiskTier.MINIMAL,
        kill_switch_engaged=True,
        needs_reassessment=True,
    )

    response = post_use_case(as_persona, data)

    assert response.status_code == 201, response.content
    created = UseCase.objects.get(pk=response.json()["id"])
    assert created.reference != "UC-9999"
    assert created.lifecycle == Lifecycle.PROPOSED
    assert created.risk_tier == RiskTier.UNSCREENED
    assert not created.kill_switch_engaged
    assert not created.needs_reassessment
    assert list(created.data_sources.all()) == [retail_source]


def test_full_update_with_put_keeps_the_change_reason(as_persona, use_case, product_owner):
    data = new_use_case_data(
        use_case.business_unit,
        product_owner,
        title="  Triage   of invoices ",
        people_affected=[PeopleAffected.STAFF, PeopleAffected.CUSTOMERS],
        change_reason="Now also answers customers",
    )

    response = as_persona("product_owner").put(use_case_url(use_case.pk), data, format="json")

    assert response.status_code == 200, response.content
    use_case.refresh_from_db()
    assert use_case.title == "Triage of invoices"
    assert use_case.people_affected == [PeopleAffected.STAFF, PeopleAffected.CUSTOMERS]
    assert use_case.history.latest().history_change_reason == "Now also answers customers"


# Data sources and business units -------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_create_data_source_matrix(as_persona, personas, persona, retail):
    response = as_persona(persona).post(
        reverse("api-data-source-list"),
        new_data_source_data(retail, personas["product_owner"]),
        format="json",
    )

    if persona == "outsider":
        assert response.status_code == 400
        assert "business_unit" in response.json()
    else:
        assert response.status_code == expected_status(persona, "registry.add_datasource", 201)
    assert DataSource.objects.exists() == (response.status_code == 201)


@pytest.mark.parametrize("persona", PERSONAS)
def test_update_data_source_matrix(as_persona, persona, retail_source):
    response = as_persona(persona).patch(
        reverse("api-data-source-detail", args=[retail_source.pk]),
        {"retention_notes": "Six years after closure"},
        format="json",
    )

    assert response.status_code == expected_status(persona, "registry.change_datasource")
    retail_source.refresh_from_db()
    assert (retail_source.retention_notes == "Six years after closure") == (
        response.status_code == 200
    )


def test_data_source_rules_from_the_model_are_field_errors(as_persona, retail, product_owner):
    data = new_data_source_data(
        retail,
        product_owner,
        classification=Classification.SPECIAL_CATEGORY,
        personal_data=False,
        retention_days=None,
    )

    response = as_persona("dpo").post(reverse("api-data-source-list"), data, format="json")

    assert response.status_code == 400
    assert {"personal_data", "retention_days"} <= set(response.json())


def test_data_source_list_hides_other_units(as_persona, retail_source, corporate):
    foreign = DataSourceFactory(business_unit=corporate)

    ids = listed_ids(as_persona("product_owner").get(reverse("api-data-source-list")))

    assert retail_source.pk in ids
    assert foreign.pk not in ids
    detail = reverse("api-data-source-detail", args=[foreign.pk])
    assert as_persona("product_owner").get(detail).status_code == 404


@pytest.mark.parametrize("persona", PERSONAS)
def test_business_unit_matrix(as_persona, personas, persona, retail, corporate):
    client = as_persona(persona)

    listed = listed_ids(client.get(reverse("api-business-unit-list")))
    created = client.post(
        reverse("api-business-unit-list"),
        {"name": "Wealth", "code": "WEALTH", "members": [personas["risk_officer"].pk]},
        format="json",
    )
    renamed = client.patch(
        reverse("api-business-unit-detail", args=[retail.pk]),
        {"description": "High-street banking"},
        format="json",
    )

    # Every signed-in person sees every unit, so refusals here are 403s, even for outsiders.
    assert {retail.pk, corporate.pk} <= listed
    can_add = persona in HOLDERS["registry.add_businessunit"]
    can_change = persona in HOLDERS["registry.change_businessunit"]
    assert created.status_code == (201 if can_add else 403)
    assert renamed.status_code == (200 if can_change else 403)
    if persona == "admin":
        wealth = BusinessUnit.objects.get(code="WEALTH")
        assert list(wealth.members.all()) == [personas["risk_officer"]]
    else:
        assert not BusinessUnit.objects.filter(code="WEALTH").exists()


def test_duplicate_business_unit_code_is_a_field_error(as_persona, retail):
    response = as_persona("admin").post(
        reverse("api-business-unit-list"), {"name": "Another", "code": retail.code}, format="json"
    )

    assert response.status_code == 400
    assert "code" in response.json()


# Filters, ordering, paging, query counts -----------------------------------------------------
def list_ids(client, **params) -> list[int]:
    response = client.get(reverse("api-use-case-list"), params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def register(retail, corporate, product_owner, risk_officer, outsider):
    """A small mixed register: two units, several states, tiers and owners."""
    return {
        "pilot_high": PilotUseCaseFactory(
            business_unit=retail,
            owner=product_owner,
            risk_tier=RiskTier.HIGH,
            title="Mortgage affordability assistant",
        ),
        "proposed_flagged": UseCaseFactory(
            business_unit=retail,
            owner=risk_officer,
            needs_reassessment=True,
            title="Complaint summariser",
            purpose="Summarises customer complaints for handlers.",
        ),
        "corporate": UseCaseFactory(
            business_unit=corporate, owner=outsider, risk_tier=RiskTier.LIMITED, title="Bond KYC"
        ),
    }


def expected_ids(register, predicate) -> set[int]:
    return {uc.pk for uc in register.values() if predicate(uc)}


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"lifecycle": Lifecycle.PILOT}, lambda uc: uc.lifecycle == Lifecycle.PILOT),
        ({"tier": RiskTier.HIGH}, lambda uc: uc.risk_tier == RiskTier.HIGH),
        ({"needs_reassessment": "yes"}, lambda uc: uc.needs_reassessment),
        ({"needs_reassessment": "true"}, lambda uc: uc.needs_reassessment),
        ({"needs_reassessment": "no"}, lambda uc: not uc.needs_reassessment),
        ({"q": "complaints"}, lambda uc: "complaints" in uc.purpose.lower()),
        ({"search": "mortgage"}, lambda uc: "mortgage" in uc.title.lower()),
    ],
)
def test_filters_match_the_register_page(as_persona, register, params, predicate):
    ids = set(list_ids(as_persona("admin"), **params))

    assert ids == expected_ids(register, predicate)
    assert ids  # each filter picks something out of the sample register


def test_filter_by_unit_and_owner(as_persona, register, corporate, risk_officer):
    client = as_persona("admin")

    assert set(list_ids(client, unit=corporate.pk)) == expected_ids(
        register, lambda uc: uc.business_unit_id == corporate.pk
    )
    assert set(list_ids(client, owner=risk_officer.pk)) == expected_ids(
        register, lambda uc: uc.owner_id == risk_officer.pk
    )


def test_search_by_exact_reference(as_persona, register):
    target = register["corporate"]

    assert list_ids(as_persona("admin"), q=target.reference.lower()) == [target.pk]


def test_filters_never_reveal_another_units_records(as_persona, register, retail):
    assert list_ids(as_persona("outsider"), unit=retail.pk) == []
    assert list_ids(as_persona("outsider"), q=register["pilot_high"].reference) == []


@pytest.mark.parametrize("key", ["title", "-title", "unit", "-unit", "tier", "reference"])
def test_ordering_uses_the_page_sort_keys(as_persona, register, key):
    field = {"title": "title", "unit": "business_unit__name", "tier": "risk_tier"}.get(
        key.lstrip("-"), "reference"
    )
    expected = list(
        UseCase.objects.filter(pk__in=[uc.pk for uc in register.values()])
        .order_by(f"-{field}" if key.startswith("-") else field, "pk")
        .values_list("pk", flat=True)
    )

    assert list_ids(as_persona("admin"), ordering=key) == expected


@pytest.mark.parametrize(
    "params", [{"lifecycle": "launched"}, {"tier": "scary"}, {"unit": "999999"}, {"ordering": "x"}]
)
def test_bad_filter_values_are_a_400(as_persona, register, params):
    response = as_persona("admin").get(reverse("api-use-case-list"), params)

    assert response.status_code == 400
    assert set(params) & set(response.json())


def test_list_is_paginated(as_persona, retail, product_owner):
    page_size = settings.REST_FRAMEWORK["PAGE_SIZE"]
    created = UseCaseFactory.create_batch(page_size + 3, business_unit=retail, owner=product_owner)
    client = as_persona("product_owner")

    first = client.get(reverse("api-use-case-list")).json()
    second = client.get(first["next"]).json()

    assert first["count"] == len(created)
    assert len(first["results"]) == page_size
    assert first["previous"] is None
    assert len(second["results"]) == len(created) - page_size
    assert second["next"] is None
    seen = [row["id"] for row in first["results"] + second["results"]]
    assert sorted(seen) == sorted(uc.pk for uc in created)


def test_list_query_count_does_not_grow_with_rows(as_persona, retail, product_owner):
    sources = DataSourceFactory.create_batch(2, business_unit=retail, owner=product_owner)
    client = as_persona("product_owner")
    url = reverse("api-use-case-list")

    def queries_for(n_rows: int) -> int:
        missing = n_rows - UseCase.objects.count()
        UseCaseFactory.create_batch(
            missing, business_unit=retail, owner=product_owner, data_sources=sources
        )
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        assert response.json()["count"] == n_rows
        assert all(row["data_sources"] for row in response.json()["results"])
        # Only what a row shows is read: its unit's and owner's names, never the owner's
        # row (password hash included); and the count is of use cases alone, joined to no
        # owner or unit.
        register = [q["sql"] for q in ctx.captured_queries if '"registry_usecase"' in q["sql"]]
        count, page = register
        assert "COUNT(*)" in count
        assert 'JOIN "auth_user" ' not in count and 'JOIN "registry_businessunit"' not in count
        assert '"password"' not in page and '"listed_owner"' in page
        return len(ctx.captured_queries)

    # Once first: a fresh process reads the use case's content type once (the per-record
    # grants name it), whatever the rows.
    assert client.get(url).status_code == 200
    assert queries_for(10) == queries_for(60)


@pytest.mark.parametrize("persona", ["product_owner", "auditor"])
def test_register_api_reads_every_column_but_the_unshown(personas, persona):
    # The API names the columns it loads (only(), cheaper to compile): exactly the query the
    # list of columns it leaves out (defer()) makes, so no field a row shows goes missing.
    user = personas[persona]
    use_cases = use_cases_visible_to(user)
    sources = data_sources_visible_to(user)

    shown = str(use_cases.only(*USE_CASE_SHOWN).query)
    assert shown == str(use_cases.defer(*OWNER_UNSHOWN, *USE_CASE_UNSHOWN).query)
    assert str(sources.only(*DATA_SOURCE_SHOWN).query) == str(
        sources.defer(*DATA_SOURCE_UNSHOWN).query
    )
    assert '"auth_user"."password"' not in shown
    assert '"auth_user"."username"' in shown


# OpenAPI ------------------------------------------------------------------------------------
def test_schema_lists_the_register_paths(as_persona):
    response = as_persona("auditor").get(reverse("api-schema"), {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/v1/use-cases/",
        "/api/v1/use-cases/{id}/",
        "/api/v1/use-cases/{id}/transitions/{transition}/",
        "/api/v1/use-cases/{id}/flag/",
        "/api/v1/use-cases/{id}/clear-flag/",
        "/api/v1/use-cases/{id}/kill-switch/",
        "/api/v1/data-sources/",
        "/api/v1/data-sources/{id}/",
        "/api/v1/business-units/",
        "/api/v1/business-units/{id}/",
    ]:
        assert path in paths
    assert "delete" not in paths["/api/v1/use-cases/{id}/"]


def test_schema_generates_without_warnings_for_the_register(db):
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        SchemaGenerator().get_schema(request=None, public=True)

    ours = ("registry/", "UseCase", "DataSource", "BusinessUnit")
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    assert [m for m in messages if any(name in m for name in ours)] == []
