"""Monitoring for people (issue 18, item 5): series named in words with their units, what
breaches first, the last sample as reported (not a bucket's average) with the number of
samples, one sample drawn as a marker with its value, hover values, a per-feature drift
table in the manner of Evidently's data drift report, and a PDF that gives thresholds and
says when the AI is switched off."""

import io
import random
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from monitoring import catalogue, charts
from monitoring.models import ReferenceDistribution
from monitoring.services.drift import distribution_push
from registry.models import UseCase
from tests.monitoring.ui_helpers import (
    own_rule,
    raise_flag,
    retail_deployment,
    token_client,
    write_series,
)

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def deployment(retail, product_owner):
    return retail_deployment(retail, product_owner)


def page(client, user, deployment, query=""):
    client.force_login(user)
    return client.get(reverse("monitoring:deployment-detail", args=[deployment.pk]) + query)


# The catalogue -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "feature", "label"),
    [
        ("drift.psi", "transaction_amount", "Input drift — transaction amount (PSI)"),
        (
            "drift.ks_p",
            "transaction_amount",
            "Input drift — transaction amount (Kolmogorov-Smirnov p-value)",
        ),
        ("error_rate", "", "Error rate"),
        ("latency_ms", "", "Response time"),
        # A source's own metric is never hidden: it reads as its key.
        ("queue_depth", "", "queue_depth"),
        ("queue.depth", "eu", "queue.depth[eu]"),
    ],
)
def test_series_read_as_words_and_unknown_keys_as_themselves(metric, feature, label):
    assert catalogue.describe(metric, feature) == label


@pytest.mark.parametrize(
    ("metric", "value", "text"),
    [
        ("error_rate", 0.012, "1.2 %"),
        ("latency_ms", 412.4, "412 ms"),
        ("drift.ks_p", 3.943e-203, "p < 0.001"),
        ("drift.ks_p", 0.42, "p = 0.420"),
        ("drift.psi", 0.31234, "0.312"),
        ("tokens", 52000.0, "52,000"),
        ("budget_used_pct", 80.0, "80 %"),
    ],
)
def test_values_are_written_with_their_units(metric, value, text):
    assert catalogue.format_value(metric, value) == text


# The deployment page -------------------------------------------------------------------------
def test_charts_are_titled_in_words_not_raw_keys(client, risk_officer, deployment):
    write_series(deployment, "drift.ks_p", [3.943e-203], feature="transaction_amount")
    html = page(client, risk_officer, deployment).content.decode()
    captions = re.findall(r'<span class="fw-semibold series-label">(.*?)</span>', html)
    assert captions == ["Input drift — transaction amount (Kolmogorov-Smirnov p-value)"]
    assert "3.943e-203" not in html
    assert "p &lt; 0.001" in html


def test_breaching_series_come_first(client, risk_officer, deployment):
    """Alphabetically the breach was last; a breach is what a person comes to see."""
    for metric in ("correction_rate", "cost", "drift.js", "latency_ms", "quality", "tokens"):
        write_series(deployment, metric, [1.0, 2.0])
    write_series(deployment, "error_rate", [0.01, 0.2])
    own_rule(deployment.use_case)  # error rate above 5 %
    response = page(client, risk_officer, deployment)
    order = [c.key for c in response.context["series_charts"]]
    assert order[0] == "error_rate"
    assert response.context["series_charts"][0].breaching
    # The rest by the name people read.
    labels = [c.label for c in response.context["series_charts"][1:]]
    assert labels == sorted(labels, key=str.lower)
    html = response.content.decode()
    assert html.index("Error rate") < html.index("Cost")
    assert "Breaching" in html


def test_latest_is_the_last_sample_reported_with_the_sample_count(client, risk_officer, deployment):
    """Over a year the buckets are hours wide: the last point is an average of 0.01 and 0.09,
    but the system last reported 0.09."""
    end = timezone.now().replace(microsecond=0)
    write_series(deployment, "error_rate", [0.01, 0.09], end=end)
    response = page(client, risk_officer, deployment, "?range=1y")
    (chart,) = response.context["series_charts"]
    assert chart.latest == pytest.approx(0.09)
    assert chart.latest_at == end
    assert chart.count == 2
    html = response.content.decode()
    assert 'Latest <strong class="text-body">9 %</strong>' in html
    assert "2 samples in this period" in html
    desc = ET.fromstring(str(chart.svg)).find(f"{SVG}desc").text
    assert desc.startswith("Latest 9 % at") and "2 samples in this period" in desc


def test_thresholds_are_written_beside_the_chart(client, risk_officer, deployment):
    write_series(deployment, "error_rate", [0.01, 0.02])
    own_rule(deployment.use_case)
    html = page(client, risk_officer, deployment).content.decode()
    assert "Threshold: mean above 5 % (Error rate too high)" in html


# The charts ----------------------------------------------------------------------------------
def test_a_single_sample_is_a_marker_with_its_value_written_beside_it():
    svg = charts.line_chart(
        [charts.Point(T0, 0.31)],
        title="drift",
        value_format=lambda v: catalogue.format_value("drift.psi", v),
        start=T0 - timedelta(days=1),
        end=T0 + timedelta(days=1),
    )
    root = ET.fromstring(str(svg))
    (marker,) = root.findall(f"{SVG}circle")
    assert "single" in marker.get("class")
    assert float(marker.get("r")) >= 5
    assert marker.find(f"{SVG}title").text.startswith("0.31 at 2026-11-01 00:00 UTC")
    assert [t.text for t in root.findall(f"{SVG}text[@class='value']")] == ["0.31"]


@pytest.mark.parametrize("count", [5, 300])
def test_every_point_says_its_value_on_hover(count):
    points = [
        charts.Point(T0 + timedelta(minutes=i), 0.01 * (i % 7), 0.0, 0.06, count=60)
        for i in range(count)
    ]
    root = ET.fromstring(
        str(charts.line_chart(points, title="x", value_format=lambda v: f"{v:.2f} u"))
    )
    titles = [c.find(f"{SVG}title") for c in root.iter(f"{SVG}circle")]
    assert len(titles) == count
    assert (
        titles[3].text
        == "0.03 u at 2026-11-01 00:03 UTC (average; min 0.00 u, max 0.06 u, 60 samples)"
    )


def test_histogram_draws_reference_and_current_side_by_side():
    root = ET.fromstring(
        str(charts.histogram(["a", "b"], [0.75, 0.25], [0.25, 0.75], title="merchant"))
    )
    refs = root.findall(f"{SVG}rect[@class='reference']")
    curs = root.findall(f"{SVG}rect[@class='current']")
    assert len(refs) == len(curs) == 2
    assert float(refs[0].get("height")) == pytest.approx(3 * float(curs[0].get("height")), rel=0.01)
    assert refs[0].find(f"{SVG}title").text == "a: reference 75.0%"


# The drift table -----------------------------------------------------------------------------
@pytest.fixture
def drifting(deployment):
    """Two features: amounts shifted (drift), categories the same (none)."""
    rng = random.Random(3)
    now = timezone.now()
    distribution_push(
        deployment=deployment,
        feature="transaction_amount",
        kind="numeric",
        reference=[rng.gauss(60, 25) for _ in range(1_000)],
        current=[rng.gauss(95, 35) for _ in range(1_000)],
        at=now - timedelta(minutes=5),
    )
    categories = ["grocery", "travel", "online", "fuel"]
    distribution_push(
        deployment=deployment,
        feature="merchant_category",
        kind="categorical",
        reference=rng.choices(categories, k=1_000),
        current=rng.choices(categories, k=1_000),
        at=now - timedelta(minutes=5),
    )
    return deployment


def test_drift_table_gives_each_feature_its_test_score_threshold_and_verdict(
    client, risk_officer, drifting
):
    response = page(client, risk_officer, drifting)
    table = response.context["drift"]
    assert (table["drifted"], table["total"]) == (1, 2)
    first, second = table["rows"]
    assert (first.feature, first.test, first.drifted) == ("transaction_amount", "PSI", True)
    assert first.score > 0.25 and first.threshold == 0.25  # the shipped drift rule's
    assert "Input drift (PSI above 0.25)" in first.threshold_source
    assert (second.feature, second.drifted) == ("merchant_category", False)
    html = response.content.decode()
    assert "Drift detected in 1 of 2 features (50 %)." in html
    section = html[html.index('id="h-drift"') :]
    assert section.index("transaction amount") < section.index("merchant category")
    assert "Kolmogorov-Smirnov p-value: p &lt; 0.001" in section
    histograms = [
        ET.fromstring(m) for m in re.findall(r'<svg [^>]*class="histogram".*?</svg>', section, re.S)
    ]
    assert len(histograms) == 2
    categories = histograms[1].findall(f"{SVG}rect[@class='current']")
    assert len(categories) == 4  # one bar a category, each side


def test_the_latest_current_distribution_is_kept_and_an_older_push_does_not_replace_it(
    drifting,
):
    reference = ReferenceDistribution.objects.get(deployment=drifting, feature="merchant_category")
    newest = reference.current_at
    distribution_push(
        deployment=drifting,
        feature="merchant_category",
        kind="categorical",
        current=["fuel"],
        at=newest - timedelta(days=1),
    )
    reference.refresh_from_db()
    assert reference.current_at == newest
    assert reference.current["counts"] != {"fuel": 1}


def test_deployment_page_queries_do_not_grow_with_features(client, risk_officer, drifting):
    client.force_login(risk_officer)
    url = reverse("monitoring:deployment-detail", args=[drifting.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as two:
        client.get(url)
    for i in range(4):
        distribution_push(
            deployment=drifting,
            feature=f"extra_{i}",
            kind="numeric",
            reference=[1.0, 2.0, 3.0],
            current=[2.0, 3.0, 4.0],
        )
    with CaptureQueriesContext(connection) as six:
        response = client.get(url)
    assert response.context["drift"]["total"] == 6
    assert len(six) == len(two) <= 22


# The PDF -------------------------------------------------------------------------------------
def test_report_gives_thresholds_and_says_the_ai_is_switched_off(client, leadership, deployment):
    write_series(deployment, "error_rate", [0.01, 0.2])
    write_series(deployment, "latency_ms", [120.0, 180.0])
    own_rule(deployment.use_case)
    UseCase.objects.filter(pk=deployment.use_case_id).update(
        kill_switch_engaged=True, kill_switch_changed_at=timezone.now()
    )
    client.force_login(leadership)
    response = client.get(reverse("monitoring:report", args=[deployment.use_case_id]))
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    flat = " ".join(text.split())
    assert "The AI is switched off" in flat
    assert "Threshold: mean above 5 % (Error rate too high)" in flat
    assert "No rule watches it" in flat  # latency
    # The breach first.
    assert flat.index("Error rate") < flat.index("Response time")


def test_report_says_the_ai_is_on_when_the_switch_is_released(client, leadership, deployment):
    write_series(deployment, "error_rate", [0.01])
    client.force_login(leadership)
    response = client.get(reverse("monitoring:report", args=[deployment.use_case_id]))
    flat = " ".join(PdfReader(io.BytesIO(response.content)).pages[0].extract_text().split())
    assert "The AI is switched on" in flat


# The API -------------------------------------------------------------------------------------
def test_samples_api_gives_each_sample_its_label_and_unit(risk_officer, deployment):
    write_series(deployment, "drift.psi", [0.3], feature="transaction_amount")
    write_series(deployment, "error_rate", [0.01])
    answer = token_client(risk_officer).get(
        "/api/v1/metric-samples/", {"deployment": deployment.pk}
    )
    assert answer.status_code == 200
    got = {(r["metric"], r["label"], r["unit"]) for r in answer.json()["results"]}
    assert got == {
        ("drift.psi", "Input drift — transaction amount (PSI)", ""),
        ("error_rate", "Error rate", "ratio"),
    }


def test_report_stays_one_page_with_six_charts_thresholds_and_the_switch_off(
    client, leadership, deployment
):
    for metric in ("error_rate", "quality", "latency_ms", "cost", "drift"):
        write_series(deployment, metric, [0.1, 0.2, 0.3])
    for feature in ("income", "age", "region"):
        write_series(deployment, "drift.psi", [0.1, 0.4], feature=feature)
    own_rule(deployment.use_case)
    own_rule(deployment.use_case, name="Drift", metric="drift.psi", threshold=0.25)
    UseCase.objects.filter(pk=deployment.use_case_id).update(kill_switch_engaged=True)
    client.force_login(leadership)
    response = client.get(reverse("monitoring:report", args=[deployment.use_case_id]))
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1
    flat = " ".join(reader.pages[0].extract_text().split())
    assert "The AI is switched off" in flat
    assert "2 more series on the deployment pages" in flat


# Flags and rules -----------------------------------------------------------------------------
def test_flag_page_and_rule_list_name_the_metric_in_words(client, risk_officer, deployment):
    write_series(deployment, "error_rate", [0.01, 0.09])
    rule = own_rule(deployment.use_case)
    flag = raise_flag(rule, deployment)
    client.force_login(risk_officer)
    html = client.get(reverse("monitoring:flag-detail", args=[flag.reference])).content.decode()
    assert "<dt>Metric</dt><dd>Error rate <code" in html
    assert "<strong>9 %</strong> against threshold 5 %" in html
    assert "Error rate around " + flag.reference in html  # the chart's title
    rules = client.get(reverse("monitoring:rule-list")).content.decode()
    assert "<td>Error rate<div><code>" in rules


def test_value_axis_is_labelled_in_the_metric_unit(client, risk_officer, deployment):
    write_series(deployment, "error_rate", [0.0, 0.2])
    (chart,) = page(client, risk_officer, deployment).context["series_charts"]
    root = ET.fromstring(str(chart.svg))
    ticks = [t.text for t in root.find(f"{SVG}g[@class='labels']").findall(f"{SVG}text")][:3]
    assert ticks == ["0 %", "10.5 %", "21 %"]


def test_report_says_how_many_features_drifted(client, leadership, drifting):
    write_series(drifting, "error_rate", [0.01])
    client.force_login(leadership)
    response = client.get(reverse("monitoring:report", args=[drifting.use_case_id]))
    flat = " ".join(PdfReader(io.BytesIO(response.content)).pages[0].extract_text().split())
    assert "drift detected in 1 of 2 features (transaction amount)." in flat
