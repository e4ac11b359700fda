"""`manage.py bench --only monitoring` runs end to end on a small scale and prints its figures."""

import pytest
from django.contrib.auth import get_user_model

from devtools.bench import monitoring as bench
from devtools.bench import register as registry_bench
from monitoring.models import MetricSample

# Slow: the pull figures come from an HTTP server the benchmark starts.
pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_the_monitoring_benchmark_runs_and_prints_each_figure(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    registry_bench.seed(60)
    registry_bench.seed_models(20)
    users = get_user_model().objects
    figures = bench.run(
        actor=users.get(username="bench.admin"),
        viewer=users.get(username=registry_bench.AUDITOR),
        samples=2_000,
        deployments=120,
        year_minutes=3 * 24 * 60,
    )
    labels = [f.label for f in figures]
    assert labels[:5] == [
        "ingest through the push API",
        "floor: COPY of the same rows into the same table",
        "push API, ratio to the floor",
        "push API, ratio to COPY without the source column",
        "ingest through pulls (HTTP JSON)",
    ]
    assert all(f.value > 0 for f in figures)
    by_label = {f.label: f for f in figures}
    # The floor's rows were timed, then taken out again: only the pushed ones stay.
    assert "2,000 samples (2,000 new)" in by_label["ingest through the push API"].note
    assert not MetricSample.objects.filter(metric__in=["floor_copy", "floor_source"]).exists()
    # The floor says what it is, and the ratio what it is held to.
    floor = by_label["floor: COPY of the same rows into the same table"].note
    assert "already parsed" in floor and "no JSON parsing" in floor and "source" in floor
    assert "goal: at least 0.8x" in by_label["push API, ratio to the floor"].note
    first = next(f for label, f in by_label.items() if "first cycle" in label)
    assert "flags_raised 0" not in first.note  # the seeded breaches raised flags
    assert any("deployment page" in label for label in labels)
