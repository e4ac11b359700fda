"""The portfolio page and GET /api/v1/kpis/: who sees what (a roles matrix with refusals),
filters, links to the lists behind the numbers, query counts; and the monthly snapshots with
their backfill and trend."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dashboard import snapshots
from dashboard.models import KpiSnapshot, SnapshotSource
from registry.models import GateCheck, RiskTier
from tests.factories import ProductionUseCaseFactory, UseCaseFactory

pytestmark = pytest.mark.django_db

PAGE = "/portfolio/"
API = "/api/v1/kpis/"


@pytest.fixture
def firm(retail, corporate, product_owner):
    mine = ProductionUseCaseFactory(
        business_unit=retail, owner=product_owner, risk_tier=RiskTier.HIGH
    )
    GateCheck.objects.create(use_case=mine, source="page", passed=False, checks=[])
    UseCaseFactory(business_unit=retail, risk_tier=RiskTier.MINIMAL)
    hidden = ProductionUseCaseFactory(business_unit=corporate, title="Corporate secret")
    GateCheck.objects.create(use_case=hidden, source="page", passed=False, checks=[])
    return {"mine": mine, "hidden": hidden}


def api(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


# Who sees what -------------------------------------------------------------------------------
# Everyone in Retail sees Retail's two use cases; the auditor and admin... the admin belongs to
# Retail but reads everything, as does the auditor; the outsider sees Corporate's only.
SEES = {
    "admin": 3,
    "risk_officer": 2,
    "product_owner": 2,
    "leadership": 2,
    "dpo": 2,
    "auditor": 3,
    "outsider": 1,
}


@pytest.mark.parametrize("who", sorted(SEES))
def test_the_page_shows_each_persona_only_what_they_may_see(who, personas, firm, client):
    client.force_login(personas[who])
    response = client.get(PAGE)
    assert response.status_code == 200
    assert response.context["figures"]["tiers"]["total"] == SEES[who]
    body = response.content.decode()
    assert ("Corporate secret" in body) == (SEES[who] != 2)  # in the failing-gate list


@pytest.mark.parametrize("who", sorted(SEES))
def test_the_api_gives_each_persona_the_same_figures_as_the_page(who, personas, firm, client):
    response = api(personas[who]).get(API)
    assert response.status_code == 200
    body = response.json()
    assert body["tiers"]["total"] == SEES[who]
    client.force_login(personas[who])
    page = client.get(PAGE).context["figures"]
    assert body["gate"] == page["gate"]
    assert body["flags"] == page["flags"]
    assert set(body["definitions"]) == {k for k in page if k != "period"}


def test_anonymous_is_sent_to_sign_in_and_the_api_refuses(client, firm):
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert api(None).get(API).status_code == 401


def test_a_unit_hidden_from_the_viewer_adds_nothing(product_owner, corporate, firm):
    body = api(product_owner).get(API, {"unit": corporate.pk}).json()
    assert body["tiers"]["total"] == 0
    assert body["live_failing_gate"] == []


def test_bad_filters_are_a_400_with_field_errors(product_owner, firm):
    response = api(product_owner).get(API, {"unit": "x", "start": "2026-13-01", "period": "7y"})
    assert response.status_code == 400
    assert set(response.json()) >= {"unit", "start", "period"}


def test_the_page_keeps_bad_filters_and_says_why(product_owner, client, firm):
    client.force_login(product_owner)
    today = timezone.localdate()
    response = client.get(
        PAGE, {"start": today.isoformat(), "end": (today - timedelta(days=3)).isoformat()}
    )
    assert response.status_code == 200
    assert "The end comes after the start." in response.content.decode()
    assert f'value="{today.isoformat()}"' in response.content.decode()


def test_numbers_link_to_the_filtered_lists_behind_them(leadership, client, firm, retail):
    client.force_login(leadership)
    body = client.get(PAGE, {"unit": retail.pk}).content.decode()
    assert f"/register/use-cases/?unit={retail.pk}&amp;tier=high" in body
    assert f"/register/use-cases/?unit={retail.pk}&amp;lifecycle=production" in body
    assert "/monitoring/flags/?status=open&amp;severity=high" in body
    assert firm["mine"].get_absolute_url() in body  # live, failing the gate


def test_the_page_draws_its_charts_on_the_server(leadership, client, firm):
    snapshots.take_snapshots()
    client.force_login(leadership)
    body = client.get(PAGE).content.decode()
    assert body.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') >= 4
    assert "<script" not in body.split("<main", 1)[-1].split("</main>")[0]


def test_page_and_api_query_counts_stay_flat(
    leadership, client, firm, retail, django_assert_max_num_queries
):
    for _ in range(20):
        ProductionUseCaseFactory(business_unit=retail)
    snapshots.take_snapshots()
    client.force_login(leadership)
    with django_assert_max_num_queries(40):
        assert client.get(PAGE).status_code == 200
    with django_assert_max_num_queries(40):
        assert api(leadership).get(API).status_code == 200


# Snapshots -----------------------------------------------------------------------------------
def test_snapshots_keep_the_firm_and_each_unit_for_the_month(firm, retail, corporate):
    kept = snapshots.take_snapshots()
    assert kept == 3
    month = timezone.localdate().replace(day=1)
    firm_row = KpiSnapshot.objects.get(month=month, business_unit=None)
    assert firm_row.figures["tiers"]["total"] == 3
    assert KpiSnapshot.objects.get(month=month, business_unit=retail).figures["tiers"]["total"] == 2
    # Again the same month: replaced, not duplicated.
    snapshots.take_snapshots()
    assert KpiSnapshot.objects.filter(month=month).count() == 3


@pytest.mark.parametrize(
    "who, allowed", [("leadership", True), ("risk_officer", True), ("product_owner", False)]
)
def test_who_may_take_a_snapshot_on_demand(who, allowed, personas, client, firm):
    client.force_login(personas[who])
    response = client.post(reverse("portfolio-snapshot"))
    assert response.status_code == (302 if allowed else 403)
    assert KpiSnapshot.objects.filter(source=SnapshotSource.ON_DEMAND).exists() == allowed


def test_backfill_fills_past_months_from_history(firm, retail):
    # A use case whose first version is dated 75 days ago (history is append-only, so it is
    # written with that date rather than moved there).
    old = UseCaseFactory.build(business_unit=retail, title="Registered long ago")
    old._history_date = timezone.now() - timedelta(days=75)
    old.save()
    call_command("backfill_kpis", verbosity=0)
    current = timezone.localdate().replace(day=1)
    past = KpiSnapshot.objects.filter(month__lt=current, business_unit=None).order_by("month")
    assert past.count() >= 2
    first = past.first()
    assert first.source == SnapshotSource.BACKFILL
    assert first.figures["backfilled"] is True
    assert first.figures["tiers"]["total"] == 1  # only that one existed then
    # A month taken by the schedule is kept as it is.
    KpiSnapshot.objects.filter(pk=first.pk).update(source=SnapshotSource.SCHEDULE, figures={})
    call_command("backfill_kpis", verbosity=0)
    assert KpiSnapshot.objects.get(pk=first.pk).figures == {}


def test_the_trend_of_a_unit_member_is_their_units_only(firm, product_owner, auditor, outsider):
    snapshots.take_snapshots()
    assert snapshots.trend(auditor)[-1]["tiers.total"] == 3
    assert snapshots.trend(product_owner)[-1]["tiers.total"] == 2
    assert snapshots.trend(outsider)[-1]["tiers.total"] == 1
    assert snapshots.trend(product_owner, unit_id=outsider.business_units.get().pk) == []
