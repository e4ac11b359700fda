"""Monitoring pages: who may see and do what, the deployment page's charts and sources,
write-only credentials, tokens shown once, test connection, flags, rules, budgets, the use
case card, query counts and the one-page PDF."""

import io
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from monitoring.models import Budget, Flag, FlagStatus, MetricSource, Rule
from monitoring.services.sources import source_create
from tests.factories import MetricSourceFactory
from tests.monitoring.servers import TestServer
from tests.monitoring.ui_helpers import (
    PERSONAS,
    expect,
    own_rule,
    raise_flag,
    retail_deployment,
    write_series,
)

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
SECRET = "s3cr3t-never-rendered"


@pytest.fixture
def deployment(retail, product_owner):
    return retail_deployment(retail, product_owner)


@pytest.fixture
def flagged(deployment):
    """A deployment with an error-rate series, its rule and an open flag."""
    write_series(deployment, "error_rate", [0.01, 0.02, 0.09, 0.08])
    rule = own_rule(deployment.use_case)
    flag = raise_flag(rule, deployment)
    return deployment, rule, flag


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg .*?</svg>", html, re.S)]


# Who may see and do what ---------------------------------------------------------------------
VIEW = expect(200, set(PERSONAS))
MANAGE = expect(200, {"admin", "risk_officer", "product_owner"})
RESOLVE = expect(302, {"admin", "risk_officer", "dpo"})
ADD_RULE = expect(200, {"admin", "risk_officer"}, outsider=403)
BUDGET = expect(200, {"admin", "risk_officer", "product_owner"})


@pytest.mark.parametrize("persona", PERSONAS)
def test_page_permission_matrix(client, personas, persona, flagged):
    deployment, rule, flag = flagged
    source = MetricSourceFactory(deployment=deployment)
    client.force_login(personas[persona])
    uc = deployment.use_case
    answers = {
        "deployment": client.get(reverse("monitoring:deployment-detail", args=[deployment.pk])),
        "report": client.get(reverse("monitoring:report", args=[uc.pk])),
        "flag": client.get(reverse("monitoring:flag-detail", args=[flag.reference])),
        "add_source": client.get(reverse("monitoring:source-create", args=[deployment.pk])),
        "edit_source": client.get(reverse("monitoring:source-edit", args=[source.pk])),
        "budget": client.get(reverse("monitoring:budget", args=[uc.pk])),
        "add_rule": client.get(reverse("monitoring:rule-create")),
        "rules": client.get(reverse("monitoring:rule-list")),
        "flags": client.get(reverse("monitoring:flag-list")),
    }
    got = {name: r.status_code for name, r in answers.items()}
    assert got == {
        "deployment": VIEW[persona],
        "report": VIEW[persona],
        "flag": VIEW[persona],
        "add_source": MANAGE[persona],
        "edit_source": MANAGE[persona],
        "budget": BUDGET[persona],
        "add_rule": ADD_RULE[persona],
        "rules": 200,
        "flags": 200,
    }
    # The flag list holds only what the person may see.
    assert (flag.reference in answers["flags"].content.decode()) == (persona != "outsider")
    resolve = client.post(
        reverse("monitoring:flag-resolve", args=[flag.reference]), {"reason": "Fixed the model."}
    )
    assert resolve.status_code == RESOLVE[persona]
    flag.refresh_from_db()
    assert (flag.status == FlagStatus.RESOLVED) == (RESOLVE[persona] == 302)


@pytest.mark.parametrize("persona", PERSONAS)
def test_test_connection_and_token_rotation_are_for_editors_only(
    client, personas, persona, deployment
):
    pulled = MetricSourceFactory(deployment=deployment, url="http://10.1.2.3/stats")
    pushed = MetricSourceFactory(deployment=deployment, kind="push", url="", config={})
    client.force_login(personas[persona])
    test = client.post(reverse("monitoring:source-test", args=[pulled.pk]))
    ask = client.get(reverse("monitoring:source-rotate", args=[pushed.pk]))
    rotate = client.post(reverse("monitoring:source-rotate", args=[pushed.pk]), {"confirm": "1"})
    assert test.status_code == MANAGE[persona]
    assert ask.status_code == MANAGE[persona]
    assert rotate.status_code == MANAGE[persona]


# The deployment page -------------------------------------------------------------------------
def test_deployment_page_draws_each_series_with_threshold_and_breach(client, risk_officer, flagged):
    deployment, rule, flag = flagged
    write_series(deployment, "drift.psi", [0.1, 0.2], feature="income")
    client.force_login(risk_officer)
    response = client.get(reverse("monitoring:deployment-detail", args=[deployment.pk]))
    assert response.status_code == 200
    assert response.context["range_key"] == "7d"
    charts = {c.key: c for c in response.context["series_charts"]}
    assert set(charts) == {"error_rate", "drift.psi[income]"}
    error_chart = ET.fromstring(str(charts["error_rate"].svg))
    assert error_chart.get("role") == "img"
    threshold = error_chart.find(f"{SVG}g[@class='threshold']")
    assert threshold.get("data-value") == "0.05"
    breaches = error_chart.findall(f"{SVG}circle[@class='breach']")
    assert len(breaches) == 1 and flag.reference in breaches[0].find(f"{SVG}title").text
    # The rule is on error_rate: the drift chart has neither.
    drift_chart = ET.fromstring(str(charts["drift.psi[income]"].svg))
    assert drift_chart.find(f"{SVG}g[@class='threshold']") is None
    html = response.content.decode()
    assert flag.reference in html  # the open flags
    assert len(svgs(html)) >= 3  # two series and the cost chart


def test_range_selector_changes_the_window_and_htmx_gets_only_the_charts(
    client, product_owner, deployment
):
    write_series(
        deployment,
        "latency_ms",
        [100, 120],
        end=timezone.now() - timedelta(days=10),
        step=timedelta(days=1),
    )
    client.force_login(product_owner)
    url = reverse("monitoring:deployment-detail", args=[deployment.pk])
    week = client.get(url).context["series_charts"]
    assert "No samples" in str(week[0].svg)
    month = client.get(url + "?range=30d")
    assert "Latest 120" in str(month.context["series_charts"][0].svg)
    partial = client.get(url + "?range=30d", HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert body.lstrip().startswith('<div id="charts"')
    assert "<html" not in body
    assert client.get(url + "?range=bogus").context["range_key"] == "7d"


def test_deployment_page_query_count_is_constant_in_samples_and_sources(
    client, risk_officer, deployment
):
    client.force_login(risk_officer)
    url = reverse("monitoring:deployment-detail", args=[deployment.pk])
    write_series(deployment, "error_rate", [0.01] * 10)
    MetricSourceFactory(deployment=deployment)
    client.get(url)  # warm caches (content types, the shipped rules)
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    for metric in ("quality", "latency_ms", "cost"):
        write_series(deployment, metric, [float(i) for i in range(2000)])
    MetricSourceFactory.create_batch(5, deployment=deployment)
    MetricSourceFactory(deployment=deployment, kind="push", url="", config={})
    with CaptureQueriesContext(connection) as large:
        response = client.get(url + "?range=1y")
    assert len(response.context["series_charts"]) == 4
    assert len(large) == len(small)
    assert len(large) <= 20


def test_deployment_page_downsamples_to_at_most_the_points_asked(client, risk_officer, deployment):
    write_series(deployment, "error_rate", [0.01 * (i % 7) for i in range(3000)])
    client.force_login(risk_officer)
    response = client.get(
        reverse("monitoring:deployment-detail", args=[deployment.pk]) + "?range=24h"
    )
    chart = ET.fromstring(str(response.context["series_charts"][0].svg))
    points = chart.find(f"{SVG}polyline[@class='series']").get("points").split()
    assert 100 < len(points) <= 401
    assert "max 6 %" in chart.find(f"{SVG}desc").text


def test_sources_show_their_health(client, product_owner, deployment):
    source = MetricSourceFactory(deployment=deployment, name="Stats endpoint")
    MetricSource.objects.filter(pk=source.pk).update(
        last_error_at=timezone.now(), last_error="HTTP 500 from the endpoint", failures_in_row=3
    )
    client.force_login(product_owner)
    html = client.get(
        reverse("monitoring:deployment-detail", args=[deployment.pk])
    ).content.decode()
    assert "Stats endpoint" in html
    assert "HTTP 500 from the endpoint" in html
    assert '<span class="badge text-bg-danger">3</span>' in html
    assert "Test connection" in html


# Sources: credentials and tokens -------------------------------------------------------------
def _source_post(**extra):
    data = {
        "name": "Stats endpoint",
        "kind": "http_json",
        "url": "http://metrics.example.com/stats",
        "config": '{"metrics": {"error_rate": "errors.rate"}}',
        "interval_seconds": "60",
        "enabled": "on",
    }
    return {**data, **extra}


def test_credentials_are_write_only_kept_when_blank_and_cleared_on_request(
    client, product_owner, deployment
):
    client.force_login(product_owner)
    response = client.post(
        reverse("monitoring:source-create", args=[deployment.pk]),
        _source_post(bearer_token=SECRET),
    )
    assert response.status_code == 302
    source = MetricSource.objects.get(deployment=deployment)
    assert source.has_credentials and SECRET not in source.credentials_encrypted
    edit_url = reverse("monitoring:source-edit", args=[source.pk])
    page = client.get(edit_url).content.decode()
    assert SECRET not in page
    assert 'type="password"' in page and "Leave blank to keep" in page
    # Blank keeps them.
    assert client.post(edit_url, _source_post(name="Renamed")).status_code == 302
    source.refresh_from_db()
    assert source.name == "Renamed" and source.has_credentials
    # "Clear" removes them.
    assert client.post(edit_url, _source_post(clear_credentials="on")).status_code == 302
    source.refresh_from_db()
    assert not source.has_credentials


def test_bad_source_input_shows_errors_next_to_fields_and_keeps_what_was_typed(
    client, product_owner, deployment
):
    client.force_login(product_owner)
    response = client.post(
        reverse("monitoring:source-create", args=[deployment.pk]),
        _source_post(name="Typed name", config="{not json", bearer_token=SECRET),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Not valid JSON" in html
    assert 'value="Typed name"' in html
    assert SECRET not in html  # not even echoed back on an error
    assert not MetricSource.objects.exists()


def test_push_token_is_shown_once_then_only_its_prefix(client, product_owner, deployment):
    client.force_login(product_owner)
    response = client.post(
        reverse("monitoring:source-create", args=[deployment.pk]),
        {"name": "Pushed by the app", "kind": "push", "interval_seconds": "60", "enabled": "on"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    token = re.search(r'value="(stw_[^"]+)"', response.content.decode()).group(1)
    assert len(token) > 30
    source = MetricSource.objects.get(deployment=deployment)
    page = client.get(
        reverse("monitoring:deployment-detail", args=[deployment.pk])
    ).content.decode()
    assert token not in page
    assert f"{token[:8]}…" in page
    # The button asks first: a POST without confirm=1 changes nothing.
    asked = client.post(reverse("monitoring:source-rotate", args=[source.pk]))
    assert "stops working at once" in asked.content.decode()
    assert "stw_" not in asked.content.decode()
    assert source.token_hash == MetricSource.objects.get(pk=source.pk).token_hash
    rotated = client.post(reverse("monitoring:source-rotate", args=[source.pk]), {"confirm": "1"})
    new_token = re.search(r'value="(stw_[^"]+)"', rotated.content.decode()).group(1)
    assert new_token != token
    assert "no longer works" in rotated.content.decode()


@pytest.fixture
def server(settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with TestServer() as running:
        yield running


@pytest.mark.slow
def test_test_connection_shows_what_would_be_read_and_writes_nothing(
    client, product_owner, deployment, server
):
    server.answer("/stats", json={"errors": {"rate": 0.042}})
    source, _ = source_create(
        actor=product_owner,
        deployment=deployment,
        name="Stats",
        kind="http_json",
        url=server.url("/stats"),
        config={"metrics": {"error_rate": "errors.rate"}},
    )
    client.force_login(product_owner)
    url = reverse("monitoring:source-test", args=[source.pk])
    partial = client.post(url, HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert "Connected" in html and "error_rate" in html and "0.042" in html
    assert "<html" not in html
    assert deployment.metric_samples.count() == 0
    # Without htmx, the same answer on a page of its own.
    assert "<html" in client.post(url).content.decode()


def test_test_connection_shows_the_error(client, product_owner, deployment):
    source = MetricSourceFactory(deployment=deployment, url="http://10.9.8.7/stats")
    client.force_login(product_owner)
    html = client.post(
        reverse("monitoring:source-test", args=[source.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "The test failed" in html


# Flags ---------------------------------------------------------------------------------------
def test_flag_page_shows_the_evidence_and_the_window_shaded(client, risk_officer, flagged):
    deployment, rule, flag = flagged
    client.force_login(risk_officer)
    response = client.get(reverse("monitoring:flag-detail", args=[flag.reference]))
    html = response.content.decode()
    assert "0.09" in html and "0.05" in html and "error_rate" in html
    chart = ET.fromstring(str(response.context["chart"]))
    assert chart.find(f"{SVG}rect[@class='window']") is not None
    assert chart.find(f"{SVG}circle[@class='breach']") is not None
    # Also found by id.
    assert client.get(reverse("monitoring:flag-detail", args=[flag.pk])).status_code == 200


def test_resolving_needs_a_reason_and_keeps_what_was_typed(client, risk_officer, flagged):
    _, _, flag = flagged
    client.force_login(risk_officer)
    url = reverse("monitoring:flag-resolve", args=[flag.reference])
    assert client.post(url, {"reason": "   "}).status_code == 400
    typed = "We retrained the model. " * 100  # too long: refused, and kept
    response = client.post(url, {"reason": typed})
    assert response.status_code == 400
    assert typed.strip() in response.content.decode()
    flag.refresh_from_db()
    assert flag.status == FlagStatus.OPEN
    assert client.post(url, {"reason": "Retrained."}).status_code == 302
    flag.refresh_from_db()
    assert flag.status == FlagStatus.RESOLVED and flag.resolved_by == risk_officer


def test_flag_list_filters_by_status_severity_and_use_case(client, risk_officer, flagged, retail):
    _, rule, flag = flagged
    other = retail_deployment(retail, risk_officer)
    low = raise_flag(own_rule(other.use_case, severity="low", name="Low one"), other)
    Rule.objects.filter(pk=rule.pk)  # both rules stay on
    client.force_login(risk_officer)
    url = reverse("monitoring:flag-list")

    def refs(query=""):
        page = client.get(url + query).context["page"]
        return {f.reference for f in page.object_list}

    assert refs() == {flag.reference, low.reference}
    assert refs("?status=open&severity=low") == {low.reference}
    assert refs(f"?status=&use_case={flag.use_case.reference}") == {flag.reference}
    Flag.objects.filter(pk=flag.pk).update(status=FlagStatus.RESOLVED)
    assert refs("?status=resolved") == {flag.reference}


# Rules and budgets ---------------------------------------------------------------------------
def test_risk_officer_adds_and_edits_a_rule_for_their_use_case(client, risk_officer, deployment):
    client.force_login(risk_officer)
    data = {
        "name": "Latency",
        "metric": "latency_ms",
        "aggregation": "p95",
        "window_minutes": "30",
        "comparison": "gt",
        "threshold": "800",
        "min_samples": "5",
        "severity": "medium",
        "action": "flag",
        "subject": "use_case",
        "use_case": str(deployment.use_case.pk),
        "enabled": "on",
    }
    assert client.post(reverse("monitoring:rule-create"), data).status_code == 302
    rule = Rule.objects.get(name="Latency")
    assert rule.use_case == deployment.use_case and rule.created_by == risk_officer
    bad = client.post(reverse("monitoring:rule-edit", args=[rule.pk]), {**data, "threshold": ""})
    assert bad.status_code == 400 and 'value="Latency"' in bad.content.decode()
    ok = client.post(reverse("monitoring:rule-edit", args=[rule.pk]), {**data, "threshold": "900"})
    assert ok.status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == 900
    assert "Latency" in client.get(reverse("monitoring:rule-list")).content.decode()


def test_budget_form_sets_the_budget_shown_on_the_use_case(client, product_owner, deployment):
    client.force_login(product_owner)
    uc = deployment.use_case
    write_series(deployment, "cost", [10.0, 15.0])
    assert (
        client.post(
            reverse("monitoring:budget", args=[uc.pk]), {"monthly_amount": "100"}
        ).status_code
        == 302
    )
    assert Budget.objects.get(use_case=uc).monthly_amount == 100
    html = client.get(uc.get_absolute_url()).content.decode()
    assert "<progress" in html and "25.0%" in html
    bad = client.post(reverse("monitoring:budget", args=[uc.pk]), {"monthly_amount": "-3"})
    assert bad.status_code == 400


# The use case page ---------------------------------------------------------------------------
def test_use_case_card_shows_trends_flags_and_links(client, dpo, flagged):
    deployment, _, flag = flagged
    client.force_login(dpo)
    response = client.get(deployment.use_case.get_absolute_url())
    html = response.content.decode()
    assert 'id="h-monitoring"' in html
    assert flag.reference in html
    assert reverse("monitoring:deployment-detail", args=[deployment.pk]) in html
    sparklines = [s for s in svgs(html) if s.get("class") == "sparkline"]
    assert sparklines and "Error rate" in sparklines[0].find(f"{SVG}title").text


def test_use_case_page_query_count_stays_bounded_with_monitoring(
    client, risk_officer, flagged, retail, django_assert_max_num_queries
):
    deployment, rule, _ = flagged
    for metric in ("latency_ms", "cost", "quality"):
        write_series(deployment, metric, [1.0] * 500)
    Budget.objects.create(use_case=deployment.use_case, monthly_amount=100)
    client.force_login(risk_officer)
    # The registry page's own bound (tests/registry/test_pages.py), one more for the gate's
    # read of the deployed version's evaluations and findings, plus the card's few queries:
    # deployments, series, open flags, budget, month's spend.
    with django_assert_max_num_queries(30 + 1 + 6):
        client.get(deployment.use_case.get_absolute_url())


# The PDF -------------------------------------------------------------------------------------
def test_report_is_one_page_with_flags_metrics_and_costs(client, leadership, flagged):
    deployment, _, flag = flagged
    write_series(deployment, "latency_ms", [120.0, 180.0, 150.0])
    write_series(deployment, "cost", [3.0, 4.0])
    Budget.objects.create(use_case=deployment.use_case, monthly_amount=50)
    client.force_login(leadership)
    response = client.get(reverse("monitoring:report", args=[deployment.use_case.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert flag.reference in text
    for metric in ("Error rate", "Response time", "Cost"):
        assert metric in text
    assert "14.0%" in text  # 7 of 50
