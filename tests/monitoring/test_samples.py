from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from monitoring.models import MetricSample
from monitoring.services.samples import InvalidSamples, Sample, parse_samples, samples_write
from tests.factories import DeploymentFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_writing_the_same_window_twice_adds_nothing():
    deployment = DeploymentFactory()
    batch = [Sample("error_rate", T0 + timedelta(minutes=i), i / 100) for i in range(50)]
    with transaction.atomic():
        assert samples_write(deployment_id=deployment.pk, samples=batch) == 50
    overlapping = batch[25:] + [Sample("error_rate", T0 + timedelta(minutes=50), 0.5)]
    assert samples_write(deployment_id=deployment.pk, samples=overlapping) == 1
    assert MetricSample.objects.filter(deployment=deployment).count() == 51
    first = MetricSample.objects.get(deployment=deployment, at=T0 + timedelta(minutes=3))
    assert first.value == pytest.approx(0.03)


def test_a_feature_is_a_series_of_its_own():
    deployment = DeploymentFactory()
    batch = [Sample("drift.psi", T0, 0.1, "age"), Sample("drift.psi", T0, 0.3, "income")]
    assert samples_write(deployment_id=deployment.pk, samples=batch) == 2


def test_a_bad_batch_names_each_bad_sample_and_its_field():
    rows = [
        {"metric": "error_rate", "at": "2026-11-01T12:00:00Z", "value": 0.1},
        {"metric": "Error Rate", "at": "yesterday", "value": "high"},
        {"metric": "cost", "at": 1_700_000_000, "value": float("nan")},
        {"metric": "cost", "at": "2026-11-01T12:00:00", "value": 1},
        {"metric": "cost", "at": "2999-01-01T00:00:00Z", "value": 1},
    ]
    with pytest.raises(InvalidSamples) as caught:
        parse_samples(rows)
    errors = caught.value.errors
    assert set(errors) == {"1", "2", "3", "4"}
    assert set(errors["1"]) == {"metric", "at", "value"}
    assert "finite" in errors["2"]["value"][0]
    assert "offset" in errors["3"]["at"][0]
    assert "future" in errors["4"]["at"][0]
