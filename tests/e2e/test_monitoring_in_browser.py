"""Monitoring as a person sees it in Chromium (issue 18): the breach is the first chart on
screen, a point under the pointer says its value, a single sample is a marker big enough to
see with its value written beside it, and the drift table draws both distributions; nothing
is loaded from anywhere but the portal."""

import random
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from monitoring.services.drift import distribution_push
from tests.e2e.journey_helpers import sign_in
from tests.monitoring.ui_helpers import own_rule, retail_deployment, write_series

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def deployment(retail, product_owner):
    """Dense error rate breaching its rule, a single drift figure, latency and cost."""
    deployment = retail_deployment(retail, product_owner)
    # Every half hour for two and a half days: more points than get a dot each.
    half_hour = timedelta(minutes=30)
    write_series(deployment, "cost", [3.0 + (i % 5) * 0.1 for i in range(120)], step=half_hour)
    write_series(
        deployment, "latency_ms", [400.0 + (i % 9) * 10 for i in range(120)], step=half_hour
    )
    write_series(deployment, "error_rate", [0.01] * 100 + [0.2] * 20, step=half_hour)
    write_series(
        deployment,
        "drift.ks_p",
        [3.943e-203],
        feature="transaction_amount",
        end=timezone.now() - timedelta(days=2),
    )
    own_rule(deployment.use_case)  # error rate above 5 %
    rng = random.Random(7)
    distribution_push(
        deployment=deployment,
        feature="merchant_category",
        kind="categorical",
        reference=rng.choices(["grocery", "travel", "online"], k=500),
        current=rng.choices(["grocery", "travel", "online"], weights=[1, 1, 6], k=500),
    )
    return deployment


def test_a_person_reads_the_monitoring_page(
    deployment, risk_officer, password, live_server, page_log, page: Page
):
    sign_in(page, risk_officer, password)
    page.goto(f"/monitoring/deployments/{deployment.pk}/")
    figures = page.locator("figure.series-chart")
    expect(figures.first).to_be_visible()

    # The breach is the first chart, titled in words with its threshold.
    first = figures.first
    expect(first.locator(".series-label")).to_have_text("Error rate")
    expect(first).to_contain_text("Breaching")
    expect(first).to_contain_text("Threshold: mean above 5 % (Error rate too high)")
    expect(first).to_contain_text("Latest 20 %")
    # Titles are words; the raw key is only the small print under them.
    expect(page.locator(".series-label", has_text="drift.")).to_have_count(0)

    # Under the pointer, a point of the dense line says its value.
    chart = first.locator("svg.chart")
    chart.scroll_into_view_if_needed()
    target = chart.locator("g.hover circle").last
    box = target.bounding_box()
    assert box
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    said = page.evaluate(
        "([x, y]) => { const el = document.elementFromPoint(x, y);"
        " const c = el && el.closest('circle');"
        " return c && c.querySelector('title') ? c.querySelector('title').textContent : null; }",
        [x, y],
    )
    assert said and said.startswith("20 % at "), said

    # One drift figure: a marker one can see, with its value beside it.
    single = page.locator(
        "figure.series-chart",
        has=page.locator(".series-label", has_text="Kolmogorov-Smirnov p-value"),
    )
    expect(single).to_have_count(1)
    marker = single.locator("circle.single")
    expect(marker).to_be_visible()
    size = marker.bounding_box()
    assert size and size["width"] >= 8 and size["height"] >= 8
    expect(single.locator("svg text.value")).to_have_text("p < 0.001")

    # The drift table: the feature, its verdict and both distributions drawn.
    row = page.locator("table.drift-table tr[data-feature='merchant_category']")
    expect(row).to_contain_text("merchant category")
    expect(row).to_contain_text("Drifted")
    expect(row.locator("svg.histogram rect.reference")).to_have_count(3)
    bar = row.locator("svg.histogram rect.current").last.bounding_box()
    assert bar and bar["height"] > 0
    expect(page.locator(".drift-summary")).to_have_text("Drift detected in 1 of 1 feature (100 %).")

    host = urlparse(live_server.url).netloc
    assert {urlparse(u).netloc for u in page_log.requests} == {host}
    assert not page_log.errors


AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"


def test_the_monitoring_page_with_its_drift_table_passes_axe(
    deployment, risk_officer, password, browser, live_server
):
    """The charts, their captions and the drift table with its histograms: WCAG 2.1 AA."""
    assert AXE.exists(), "axe-core is not installed: run make setup (npm ci)"
    # bypass_csp: the injected axe script is inline, which the portal's policy forbids.
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    try:
        page = context.new_page()
        sign_in(page, risk_officer, password)
        page.goto(f"/monitoring/deployments/{deployment.pk}/")
        expect(page.locator("table.drift-table")).to_be_visible()
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(
            "() => axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']})"
            ".then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' ')))"
        )
        assert not violations, violations
    finally:
        context.close()
