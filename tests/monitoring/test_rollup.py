"""Hourly rollups: a trigger keeps them for every insert, and long charts read them."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from monitoring.models import MetricRollup, MetricSample
from monitoring.selectors import series_many
from monitoring.services.samples import Sample, samples_write
from tests.factories import DeploymentFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the rollup trigger is PostgreSQL's; SQLite charts read the samples")


def _rollup(deployment) -> dict:
    return {
        (r.metric, r.feature, r.hour): (r.count, pytest.approx(r.total), r.low, r.high)
        for r in MetricRollup.objects.filter(deployment=deployment)
    }


def _from_samples(deployment) -> dict:
    hours = defaultdict(list)
    for s in MetricSample.objects.filter(deployment=deployment):
        hours[(s.metric, s.feature, s.at.replace(minute=0, second=0, microsecond=0))].append(
            s.value
        )
    return {key: (len(v), pytest.approx(sum(v)), min(v), max(v)) for key, v in hours.items()}


def test_every_insert_keeps_the_hours_and_a_repeated_window_counts_once():
    deployment = DeploymentFactory()
    rng = random.Random(3)
    batch = [Sample("error_rate", T0 + timedelta(minutes=m), rng.random()) for m in range(300)]
    samples_write(deployment_id=deployment.pk, samples=batch)
    samples_write(deployment_id=deployment.pk, samples=batch[100:] + batch[:10])  # all repeats
    # Rows written by the ORM, not the service, are counted too.
    MetricSample.objects.bulk_create(
        MetricSample(deployment=deployment, metric="cost", feature="", at=T0, value=v)
        for v in [2.5]
    )
    assert _rollup(deployment) == _from_samples(deployment)
    hour = MetricRollup.objects.get(deployment=deployment, metric="error_rate", hour=T0)
    assert hour.count == 60


def test_a_long_chart_from_the_rollups_matches_the_samples():
    deployment = DeploymentFactory()
    rng = random.Random(5)
    minutes = 6 * 24 * 60
    samples_write(
        deployment_id=deployment.pk,
        samples=[
            Sample("latency_ms", T0 + timedelta(minutes=m), 300 + 100 * rng.random())
            for m in range(minutes)
        ],
    )
    start, end = T0, T0 + timedelta(minutes=minutes)
    # 144 hours in 72 points: two-hour buckets, each two whole rollup hours.
    points = series_many([deployment.pk], start, end, points=72)[(deployment.pk, "latency_ms", "")]
    assert len(points) == 72
    by_bucket = defaultdict(list)
    for s in MetricSample.objects.filter(deployment=deployment):
        by_bucket[start + (s.at - start) // timedelta(hours=2) * timedelta(hours=2)].append(s.value)
    for p in points:
        values = by_bucket[p.at]
        assert p.value == pytest.approx(sum(values) / len(values))
        assert (p.low, p.high) == (min(values), max(values))
