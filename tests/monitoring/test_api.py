"""Monitoring's REST API: the persona matrix, write-only credentials, the token shown once,
samples, rules, flags, budgets, costs, query counts and the OpenAPI schema."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from monitoring.models import Budget, FlagStatus, MetricSource, Rule
from tests.factories import MetricSourceFactory
from tests.monitoring.ui_helpers import (
    PERSONAS,
    expect,
    own_rule,
    raise_flag,
    retail_deployment,
    token_client,
    write_series,
)

pytestmark = pytest.mark.django_db

SECRET = "api-secret-never-returned"
MANAGERS = {"admin", "risk_officer", "product_owner"}


@pytest.fixture
def deployment(retail, product_owner):
    return retail_deployment(retail, product_owner)


@pytest.fixture
def flagged(deployment):
    write_series(deployment, "error_rate", [0.01, 0.09, 0.08])
    rule = own_rule(deployment.use_case)
    return deployment, rule, raise_flag(rule, deployment)


# The matrix ----------------------------------------------------------------------------------
READ = expect(200, set(PERSONAS))
CREATE_SOURCE = expect(201, MANAGERS, outsider=400)  # the outsider cannot name the deployment
CHANGE_SOURCE = expect(200, MANAGERS)
RESOLVE = expect(200, {"admin", "risk_officer", "dpo"})
ADD_RULE = expect(201, {"admin", "risk_officer"}, outsider=403)
SET_BUDGET = expect(200, MANAGERS)


@pytest.mark.parametrize("persona", PERSONAS)
def test_api_permission_matrix(personas, persona, flagged):
    deployment, rule, flag = flagged
    uc = deployment.use_case
    # 10.x is refused by the puller before any connection: the test answers at once.
    pulled = MetricSourceFactory(deployment=deployment, url="http://10.1.2.3/stats")
    pushed = MetricSourceFactory(deployment=deployment, kind="push", url="", config={})
    api = token_client(personas[persona])
    got = {
        "source": api.get(f"/api/v1/metric-sources/{pulled.pk}/").status_code,
        "create_source": api.post(
            "/api/v1/metric-sources/",
            {"deployment": deployment.pk, "name": "Pushed", "kind": "push"},
            format="json",
        ).status_code,
        "change_source": api.patch(
            f"/api/v1/metric-sources/{pushed.pk}/", {"name": "Renamed"}, format="json"
        ).status_code,
        "test": api.post(f"/api/v1/metric-sources/{pulled.pk}/test/").status_code,
        "rotate": api.post(f"/api/v1/metric-sources/{pushed.pk}/rotate-token/").status_code,
        "flag": api.get(f"/api/v1/flags/{flag.reference}/").status_code,
        "costs": api.get(f"/api/v1/costs/?use_case={uc.reference}").status_code,
        "budget": api.put(
            f"/api/v1/budgets/{uc.pk}/", {"monthly_amount": "500.00"}, format="json"
        ).status_code,
        "add_rule": api.post(
            "/api/v1/rules/",
            {
                "name": f"Latency {persona}",
                "metric": "latency_ms",
                "aggregation": "p95",
                "window_minutes": 30,
                "comparison": "gt",
                "threshold": 800,
                "use_case": None,
            },
            format="json",
        ).status_code,
        "resolve": api.post(
            f"/api/v1/flags/{flag.reference}/resolve/", {"reason": "Retrained."}, format="json"
        ).status_code,
    }
    assert got == {
        "source": READ[persona],
        "create_source": CREATE_SOURCE[persona],
        "change_source": CHANGE_SOURCE[persona],
        "test": CHANGE_SOURCE[persona],
        "rotate": CHANGE_SOURCE[persona],
        "flag": READ[persona],
        "costs": READ[persona],
        "budget": SET_BUDGET[persona],
        "add_rule": ADD_RULE[persona],
        "resolve": RESOLVE[persona],
    }
    # Lists hold only what the person may see.
    sources = api.get("/api/v1/metric-sources/").json()["results"]
    samples = api.get(f"/api/v1/metric-samples/?deployment={deployment.pk}").json()["results"]
    flags = api.get("/api/v1/flags/").json()["results"]
    sees = persona != "outsider"
    assert bool(sources) == bool(samples) == bool(flags) == sees


def test_anonymous_gets_401():
    for url in ("/api/v1/metric-sources/", "/api/v1/flags/", "/api/v1/rules/"):
        assert APIClient().get(url).status_code == 401


# Sources -------------------------------------------------------------------------------------
def test_credentials_are_write_only_and_null_keeps_them(product_owner, deployment):
    api = token_client(product_owner)
    created = api.post(
        "/api/v1/metric-sources/",
        {
            "deployment": deployment.pk,
            "name": "Stats",
            "kind": "http_json",
            "url": "http://metrics.example.com/stats",
            "config": {"metrics": {"error_rate": "errors.rate"}},
            "credentials": {"bearer_token": SECRET},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert SECRET not in created.content.decode()
    assert "credentials" not in body and body["has_credentials"] is True
    assert body["token"] is None
    url = f"/api/v1/metric-sources/{body['id']}/"
    assert SECRET not in api.get(url).content.decode()
    kept = api.patch(url, {"name": "Stats 2", "credentials": None}, format="json")
    assert kept.status_code == 200 and kept.json()["has_credentials"] is True
    cleared = api.patch(url, {"credentials": {}}, format="json")
    assert cleared.json()["has_credentials"] is False


def test_push_token_comes_once_in_the_create_answer(product_owner, deployment):
    api = token_client(product_owner)
    created = api.post(
        "/api/v1/metric-sources/",
        {"deployment": deployment.pk, "name": "App", "kind": "push"},
        format="json",
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("stw_") and created["Cache-Control"] == "no-store"
    again = api.get(f"/api/v1/metric-sources/{created.json()['id']}/").json()
    assert "token" not in again and again["token_hint"] == f"{token[:8]}…"
    pushed = APIClient()
    pushed.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    now = timezone.now().isoformat()
    body = {"samples": [{"metric": "error_rate", "at": now, "value": 0.1}]}
    assert pushed.post("/api/v1/push/samples/", body, format="json").status_code == 201


def test_bad_source_is_400_with_field_errors(product_owner, deployment):
    api = token_client(product_owner)
    response = api.post(
        "/api/v1/metric-sources/",
        {"deployment": deployment.pk, "name": "Bad", "kind": "prometheus", "url": ""},
        format="json",
    )
    assert response.status_code == 400 and "url" in response.json()
    assert not MetricSource.objects.exists()


def test_test_connection_reports_the_error_and_writes_nothing(product_owner, deployment):
    source = MetricSourceFactory(deployment=deployment, url="http://10.1.2.3/stats")
    answer = token_client(product_owner).post(f"/api/v1/metric-sources/{source.pk}/test/")
    assert answer.status_code == 200
    assert answer.json()["ok"] is False and answer.json()["error"]
    assert deployment.metric_samples.count() == 0


# Samples -------------------------------------------------------------------------------------
def test_samples_filter_by_series_and_time_and_page_by_cursor(auditor, deployment):
    end = timezone.now().replace(microsecond=0)
    write_series(deployment, "error_rate", [0.1] * 30, end=end)
    write_series(deployment, "drift.psi", [0.2] * 5, feature="income", end=end)
    api = token_client(auditor)
    base = f"/api/v1/metric-samples/?deployment={deployment.pk}"
    page = api.get(base + "&metric=error_rate&page_size=10").json()
    assert len(page["results"]) == 10 and page["next"]
    assert {r["metric"] for r in page["results"]} == {"error_rate"}
    start = (end - timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
    recent = api.get(base + f"&metric=drift.psi&feature=income&start={start}").json()
    assert len(recent["results"]) == 5
    second = api.get(page["next"]).json()
    assert {r["id"] for r in second["results"]}.isdisjoint({r["id"] for r in page["results"]})


def test_samples_list_query_count_is_constant(auditor, deployment):
    api = token_client(auditor)
    url = f"/api/v1/metric-samples/?deployment={deployment.pk}"
    write_series(deployment, "error_rate", [0.1] * 5)
    api.get(url)
    with CaptureQueriesContext(connection) as small:
        api.get(url)
    write_series(deployment, "latency_ms", [1.0] * 400)
    with CaptureQueriesContext(connection) as large:
        api.get(url)
    assert len(small) == len(large)


# Rules, flags, budgets, costs ----------------------------------------------------------------
def test_shipped_rule_changes_only_its_threshold(admin_user):
    rule = Rule.objects.exclude(builtin="").first()
    api = token_client(admin_user)
    ok = api.patch(f"/api/v1/rules/{rule.pk}/", {"threshold": 0.3}, format="json")
    assert ok.status_code == 200 and ok.json()["threshold"] == 0.3
    refused = api.patch(f"/api/v1/rules/{rule.pk}/", {"metric": "quality"}, format="json")
    assert refused.status_code == 400 and "metric" in refused.json()


def test_resolve_needs_a_reason_and_works_by_id_too(risk_officer, flagged):
    _, _, flag = flagged
    api = token_client(risk_officer)
    assert api.post(f"/api/v1/flags/{flag.pk}/resolve/", {}, format="json").status_code == 400
    answer = api.post(f"/api/v1/flags/{flag.pk}/resolve/", {"reason": "Fixed."}, format="json")
    assert answer.status_code == 200
    assert answer.json()["status"] == FlagStatus.RESOLVED
    assert answer.json()["resolved_by_name"]
    again = api.post(f"/api/v1/flags/{flag.pk}/resolve/", {"reason": "Again."}, format="json")
    assert again.status_code == 400


def test_flags_filter_by_status_and_use_case(risk_officer, flagged):
    deployment, _, flag = flagged
    api = token_client(risk_officer)
    found = api.get(f"/api/v1/flags/?status=open&use_case={deployment.use_case.reference}")
    assert [f["reference"] for f in found.json()["results"]] == [flag.reference]
    assert api.get("/api/v1/flags/?status=resolved").json()["results"] == []


def test_budget_set_read_and_removed(product_owner, deployment):
    api = token_client(product_owner)
    uc = deployment.use_case
    write_series(deployment, "cost", [2.5, 2.5])
    answer = api.put(f"/api/v1/budgets/{uc.reference}/", {"monthly_amount": "20"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["monthly_amount"] == "20.00"
    assert answer.json()["spent_this_month"] == 5.0
    assert api.get("/api/v1/budgets/").json()["results"][0]["use_case"] == uc.pk
    bad = api.put(f"/api/v1/budgets/{uc.pk}/", {"monthly_amount": "-1"}, format="json")
    assert bad.status_code == 400
    gone = api.put(f"/api/v1/budgets/{uc.pk}/", {"monthly_amount": None}, format="json")
    assert gone.status_code == 204 and not Budget.objects.exists()
    assert api.get(f"/api/v1/budgets/{uc.pk}/").status_code == 404


def test_costs_per_day_and_month(auditor, deployment):
    write_series(deployment, "cost", [1.0, 2.0, 3.0])
    api = token_client(auditor)
    days = api.get(f"/api/v1/costs/?use_case={deployment.use_case.pk}&period=day").json()
    assert sum(r["cost"] for r in days) == 6.0
    month = api.get(f"/api/v1/costs/?deployment={deployment.pk}&period=month").json()
    assert month[0]["cost"] == 6.0 and month[0]["deployment_id"] == deployment.pk
    assert api.get("/api/v1/costs/").status_code == 400
    assert (
        api.get(f"/api/v1/costs/?use_case={deployment.use_case.pk}&period=week").status_code == 400
    )


def test_schema_generates_without_warnings(db):
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    assert messages == []
    assert "/api/v1/push/samples/" in schema["paths"]
    push = schema["paths"]["/api/v1/push/samples/"]["post"]
    assert push["security"] == [{"pushToken": []}]


def test_changing_only_the_url_of_a_source_with_credentials_is_400(product_owner, deployment):
    api = token_client(product_owner)
    created = api.post(
        "/api/v1/metric-sources/",
        {
            "deployment": deployment.pk,
            "name": "Stats",
            "kind": "http_json",
            "url": "http://metrics.example.com/stats",
            "config": {"metrics": {"error_rate": "errors.rate"}},
            "credentials": {"bearer_token": SECRET},
        },
        format="json",
    )
    url = f"/api/v1/metric-sources/{created.json()['id']}/"

    moved = api.patch(url, {"url": "http://collector.attacker.net/stats"}, format="json")

    assert moved.status_code == 400
    assert "credentials" in moved.json()
    assert "collector.attacker.net" in str(moved.json()["credentials"])
    assert MetricSource.objects.get().url == "http://metrics.example.com/stats"
