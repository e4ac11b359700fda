"""The push API: deployed systems post samples and distributions with their source's token,
and may write to their own deployment only."""

from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monitoring.models import MetricSample, MetricSource
from monitoring.services.sources import source_create, source_rotate_token
from tests.monitoring.ui_helpers import retail_deployment

pytestmark = pytest.mark.django_db

URL = "/api/v1/push/samples/"


@pytest.fixture
def deployment(retail, product_owner):
    return retail_deployment(retail, product_owner)


@pytest.fixture
def token(product_owner, deployment):
    _, raw = source_create(actor=product_owner, deployment=deployment, name="App", kind="push")
    return raw


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def batch(n: int = 3) -> dict:
    now = int(timezone.now().timestamp()) - 600
    return {
        "samples": [
            {"metric": "error_rate", "at": now + 60 * i, "value": 0.01 * i} for i in range(n)
        ]
        + [{"metric": "drift.psi", "feature": "income", "at": "2026-01-01T00:00:00Z", "value": 0.3}]
    }


def iso_batch(n: int) -> dict:
    """n samples a minute apart, stamped in ISO 8601 text (the shape checked in bulk)."""
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=n + 10)
    return {
        "samples": [
            {"metric": "latency_ms", "at": (start + timedelta(minutes=i)).isoformat(), "value": i}
            for i in range(n)
        ]
    }


def test_push_route_is_the_documented_one():
    assert reverse("api-push-samples") == URL


def test_good_batch_is_written_to_the_tokens_deployment(token, deployment):
    response = bearer(token).post(URL, batch(3), format="json")
    assert response.status_code == 201
    assert response.json() == {"received": 4, "new": 4}
    assert MetricSample.objects.filter(deployment=deployment).count() == 4
    source = MetricSource.objects.get(deployment=deployment)
    assert set(MetricSample.objects.values_list("source", flat=True)) == {source.pk}
    assert source.last_success_at is not None and source.last_sample_count == 4


def test_same_batch_twice_adds_nothing(token):
    client = bearer(token)
    assert client.post(URL, batch(3), format="json").json()["new"] == 4
    again = client.post(URL, batch(3), format="json")
    assert again.status_code == 200
    assert again.json() == {"received": 4, "new": 0}
    assert MetricSample.objects.count() == 4


def test_bad_batch_names_each_bad_sample_and_writes_nothing(token):
    body = batch(2)
    body["samples"][1] = {"metric": "Error Rate", "at": "yesterday", "value": "high"}
    body["samples"].append({"metric": "quality"})
    response = bearer(token).post(URL, body, format="json")
    assert response.status_code == 400
    errors = response.json()["samples"]
    assert set(errors) == {"1", "3"}
    assert set(errors["1"]) == {"metric", "at", "value"}
    assert set(errors["3"]) == {"at", "value"}
    assert MetricSample.objects.count() == 0


def test_a_large_batch_is_stored_at_the_instants_and_values_sent(token, deployment):
    body = iso_batch(5_000)
    body["samples"][7]["value"] = 0.1  # ints and floats alike
    response = bearer(token).post(URL, body, format="json")
    assert response.status_code == 201
    assert response.json() == {"received": 5_000, "new": 5_000}
    stored = dict(MetricSample.objects.filter(deployment=deployment).values_list("at", "value"))
    assert stored == {datetime.fromisoformat(s["at"]): s["value"] for s in body["samples"]}


def test_each_way_of_writing_a_time_means_the_instant_python_reads(token, deployment):
    times = [
        "2026-11-01T10:00:00Z",
        "2026-11-01T10:00:00.5+05:30",
        "2026-11-01T10:00:00-09:45",
        "2026-11-01T10:00:00.123456+00:00",
        "2026-11-01T10:00:00.1234567Z",  # past microseconds: cut, as Python reads it
        "2026-11-01 10:00:00+15:59",
        " 2026-11-01T10:00:00+01:00 ",
    ]
    samples = [{"metric": f"m{i}", "at": at, "value": 1} for i, at in enumerate(times)]
    response = bearer(token).post(URL, {"samples": samples}, format="json")
    assert response.status_code == 201, response.content
    stored = dict(MetricSample.objects.filter(deployment=deployment).values_list("metric", "at"))
    assert stored == {f"m{i}": datetime.fromisoformat(at.strip()) for i, at in enumerate(times)}


def test_a_bad_time_in_sample_3_of_5000_is_named_and_nothing_is_written(token):
    body = iso_batch(5_000)
    body["samples"][3]["at"] = "2026-02-30T10:00:00Z"
    body["samples"][4_999]["value"] = "high"
    response = bearer(token).post(URL, body, format="json")
    assert response.status_code == 400
    errors = response.json()["samples"]
    assert set(errors) == {"3", "4999"}
    assert errors["3"] == {"at": ["'2026-02-30T10:00:00Z' is not an ISO 8601 time."]}
    assert errors["4999"] == {"value": ["'high' is not a number."]}
    assert MetricSample.objects.count() == 0


def test_an_offset_postgresql_cannot_read_is_named(token):
    body = iso_batch(3)
    body["samples"][1]["at"] = "2026-11-01T10:00:00+20:00"
    response = bearer(token).post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "samples": {"1": {"at": ["Give an offset from UTC between -15:59 and +15:59."]}}
    }
    assert MetricSample.objects.count() == 0


def test_a_retried_batch_adds_only_the_samples_not_yet_stored(token, deployment):
    body = iso_batch(1_000)
    client = bearer(token)
    first = client.post(URL, {"samples": body["samples"][:600]}, format="json")
    assert first.json() == {"received": 600, "new": 600}
    retry = client.post(URL, body, format="json")
    assert retry.status_code == 201 and retry.json() == {"received": 1_000, "new": 400}
    again = client.post(URL, body, format="json")
    assert again.status_code == 200 and again.json() == {"received": 1_000, "new": 0}
    stored = dict(MetricSample.objects.filter(deployment=deployment).values_list("at", "value"))
    assert stored == {datetime.fromisoformat(s["at"]): s["value"] for s in body["samples"]}


def test_features_are_stored_as_sent_tabs_backslashes_and_line_breaks_too(token, deployment):
    features = ["age", "in\tcome", "a\\b", "two\nlines", "c\rr", " padded ", ""]
    samples = [
        {"metric": "drift.psi", "feature": f, "at": "2026-11-01T10:00:00Z", "value": i}
        for i, f in enumerate(features)
    ]
    response = bearer(token).post(URL, {"samples": samples}, format="json")
    assert response.json() == {"received": 7, "new": 7}
    stored = dict(
        MetricSample.objects.filter(deployment=deployment).values_list("feature", "value")
    )
    assert stored == {f.strip(): i for i, f in enumerate(features)}


def test_a_body_without_samples_is_refused(token):
    assert bearer(token).post(URL, {"rows": []}, format="json").status_code == 400
    response = bearer(token).post(URL, {"samples": "nope"}, format="json")
    assert response.status_code == 400 and "samples" in response.json()


@pytest.mark.parametrize("header", [None, "Bearer stw_wrong", "Bearer", "Token abc", "Bearer a b"])
def test_missing_or_wrong_token_is_401(header, token):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post(URL, batch(1), format="json")
    assert response.status_code == 401
    assert MetricSample.objects.count() == 0


def test_a_person_signed_in_or_with_an_api_token_cannot_push(client, product_owner, token):
    client.force_login(product_owner)
    assert client.post(URL, batch(1), content_type="application/json").status_code == 401
    api_token, _ = Token.objects.get_or_create(user=product_owner)
    person = APIClient()
    person.credentials(HTTP_AUTHORIZATION=f"Token {api_token.key}")
    assert person.post(URL, batch(1), format="json").status_code == 401
    assert MetricSample.objects.count() == 0


def test_a_token_cannot_write_to_another_deployment(token, deployment, retail, product_owner):
    other = retail_deployment(retail, product_owner)
    body = {**batch(1), "deployment": other.pk}
    assert bearer(token).post(URL, body, format="json").status_code == 403
    body = batch(1)
    body["samples"][0]["deployment"] = other.pk
    assert bearer(token).post(URL, body, format="json").status_code == 403
    body["samples"][0]["deployment"] = [deployment.pk]  # not a number: refused, not a 500
    assert bearer(token).post(URL, body, format="json").status_code == 403
    assert MetricSample.objects.count() == 0
    # What it sends lands on its own deployment, whatever else it holds.
    assert bearer(token).post(URL, batch(1), format="json").status_code == 201
    assert set(MetricSample.objects.values_list("deployment", flat=True)) == {deployment.pk}


def test_a_disabled_sources_token_is_refused(token, deployment):
    MetricSource.objects.filter(deployment=deployment).update(enabled=False)
    assert bearer(token).post(URL, batch(1), format="json").status_code == 401


def test_a_rotated_token_stops_working(token, deployment, product_owner):
    new = source_rotate_token(
        actor=product_owner, source=MetricSource.objects.get(deployment=deployment)
    )
    assert bearer(token).post(URL, batch(1), format="json").status_code == 401
    assert bearer(new).post(URL, batch(1), format="json").status_code == 201


def test_distribution_push_writes_drift_figures(token, deployment):
    body = {
        "feature": "income",
        "kind": "numeric",
        "reference": [float(i % 50) for i in range(500)],
        "current": [float(i % 50) + 20 for i in range(500)],
    }
    response = bearer(token).post("/api/v1/push/distributions/", body, format="json")
    assert response.status_code == 201, response.content
    figures = response.json()["figures"]
    assert figures["drift.psi"] > 0.25
    stored = set(
        MetricSample.objects.filter(deployment=deployment, feature="income").values_list(
            "metric", flat=True
        )
    )
    assert {"drift.psi", "drift.ks", "drift.js"} <= stored


def test_a_distribution_stamped_in_epoch_seconds_is_stored_at_that_instant(token, deployment):
    at = int(timezone.now().timestamp()) - 3600
    body = {
        "feature": "region",
        "kind": "categorical",
        "reference": ["north"] * 60 + ["south"] * 40,
        "current": ["north"] * 30 + ["south"] * 70,
        "at": at,
    }
    response = bearer(token).post("/api/v1/push/distributions/", body, format="json")
    assert response.status_code == 201, response.content
    psi = MetricSample.objects.get(deployment=deployment, feature="region", metric="drift.psi")
    assert psi.at.timestamp() == at
    source = MetricSource.objects.get(deployment=deployment, kind="push")
    assert source.last_success_at is not None and source.last_sample_count == len(
        response.json()["figures"]
    )


def test_bad_distribution_is_400_with_field_errors(token):
    response = bearer(token).post(
        "/api/v1/push/distributions/",
        {"feature": "income", "kind": "numeric", "current": []},
        format="json",
    )
    assert response.status_code == 400
    assert MetricSample.objects.count() == 0


def test_distributions_need_the_token_too():
    response = APIClient().post(
        "/api/v1/push/distributions/",
        {"feature": "x", "kind": "numeric", "current": [1]},
        format="json",
    )
    assert response.status_code == 401
