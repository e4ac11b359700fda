"""A real Prometheus (Debian's package) scrapes an exporter this test runs; a source pulls it."""

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from monitoring.models import MetricSample
from monitoring.services.pull import source_pull
from tests.factories import DeploymentFactory, MetricSourceFactory
from tests.monitoring.servers import TestServer, closed_port
from tests.readiness import tail, wait_for

# One Prometheus (module-scoped) for the module: one pytest-xdist worker runs all its tests.
pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.xdist_group("prometheus")]

EXPOSITION = """\
# HELP model_error_rate Share of requests that failed.
# TYPE model_error_rate gauge
model_error_rate{feature=""} 0.042
# HELP model_drift_psi Population Stability Index per feature.
# TYPE model_drift_psi gauge
model_drift_psi{feature="age"} 0.31
model_drift_psi{feature="income"} 0.07
# HELP model_latency_ms Latency per region.
# TYPE model_latency_ms gauge
model_latency_ms{region="eu"} 120
model_latency_ms{region="us"} 95
"""


@dataclass(frozen=True)
class Prometheus:
    url: str
    exporter: TestServer


def _query(url: str, query: str) -> list:
    with urllib.request.urlopen(
        f"{url}/api/v1/query?{urlencode({'query': query})}", timeout=2
    ) as r:
        return json.load(r)["data"]["result"]


@pytest.fixture(scope="module")
def prometheus(unavailable, tmp_path_factory) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        unavailable("Prometheus is not installed (apt-get install prometheus)")
    with TestServer() as exporter:
        exporter.answer(
            "/metrics",
            body=EXPOSITION,
            headers={"Content-Type": "text/plain; version=0.0.4"},
        )
        home = tmp_path_factory.mktemp("prometheus")
        config = home / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: model\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{exporter.port}']\n"
        )
        port = closed_port()
        url = f"http://127.0.0.1:{port}"
        log = home / "prometheus.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={home / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            # A few scrapes of every series, so a range query has points to read.
            scrapes = "count_over_time(model_drift_psi[1m])"

            def scraped_three_times() -> bool:
                counts = _query(url, scrapes)
                return len(counts) == 2 and all(float(c["value"][1]) >= 3 for c in counts)

            wait_for(
                scraped_three_times,
                what=f"Prometheus at {url} to answer {scrapes!r} with 3 or more for both series",
                exited=process.poll,
                output=lambda: tail(log),
            )
            yield Prometheus(url, exporter)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(autouse=True)
def _allow_loopback(settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]


def _source(prometheus, queries):
    return MetricSourceFactory(
        deployment=DeploymentFactory(),
        kind="prometheus",
        url=prometheus.url,
        config={"queries": queries, "step_seconds": 1},
    )


def test_a_prometheus_source_reads_what_the_exporter_served(prometheus):
    source = _source(prometheus, {"error_rate": "model_error_rate", "drift.psi": "model_drift_psi"})

    outcome = source_pull(source_id=source.pk)

    assert outcome.status == "ok", outcome.error
    assert outcome.read == outcome.written >= 3  # each series, at least once
    served = {
        (metric, feature): {value}
        for metric, feature, value in [
            ("error_rate", "", 0.042),
            ("drift.psi", "age", 0.31),
            ("drift.psi", "income", 0.07),
        ]
    }
    read: dict[tuple[str, str], set[float]] = {}
    for metric, feature, value in MetricSample.objects.filter(source=source).values_list(
        "metric", "feature", "value"
    ):
        read.setdefault((metric, feature), set()).add(value)
    assert read == served
    source.refresh_from_db()
    assert source.failures_in_row == 0
    assert source.pulled_until is not None
    # One point per second on the step grid.
    instants = sorted(
        MetricSample.objects.filter(source=source, metric="error_rate").values_list("at", flat=True)
    )
    assert all(at.microsecond == 0 for at in instants)
    assert all((b - a).total_seconds() == 1 for a, b in zip(instants, instants[1:], strict=False))


def test_pulling_prometheus_again_adds_only_the_new_points(prometheus):
    source = _source(prometheus, {"error_rate": "model_error_rate"})
    first = source_pull(source_id=source.pk)
    source.refresh_from_db()
    # New points: a scrape at least one step (1 s) after the first pull's window ended.
    after = source.pulled_until.timestamp() + 1
    newest = "timestamp(model_error_rate)"
    wait_for(
        lambda: any(float(s["value"][1]) >= after for s in _query(prometheus.url, newest)),
        what=f"Prometheus at {prometheus.url} to answer {newest!r} with {after:.0f} or later",
    )

    second = source_pull(source_id=source.pk)

    assert second.status == "ok", second.error
    # The window starts where the last one ended: that instant is read again, not written again.
    assert 1 <= second.written < second.read
    count = MetricSample.objects.filter(source=source).count()
    assert count == first.written + second.written
    assert count == len(
        set(MetricSample.objects.filter(source=source).values_list("at", flat=True))
    )


def test_series_without_a_feature_label_are_told_apart_by_their_labels(prometheus):
    source = _source(prometheus, {"latency_ms": "model_latency_ms"})

    assert source_pull(source_id=source.pk).status == "ok"

    values = dict(
        MetricSample.objects.filter(source=source).values_list("feature", "value").distinct()
    )
    assert values == {"eu": 120.0, "us": 95.0}


def test_a_bad_query_shows_prometheus_own_explanation(prometheus):
    source = _source(prometheus, {"error_rate": "model_error_rate{"})

    outcome = source_pull(source_id=source.pk)

    assert outcome.status == "failed"
    assert outcome.error.startswith("HTTP 400 from ")
    assert "parse error" in outcome.error
    assert not MetricSample.objects.filter(source=source).exists()
