"""rules_evaluate: the aggregates over a window, the comparisons, and what a breach raises."""

import random
from datetime import timedelta
from decimal import Decimal

import numpy
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import Budget, Flag, Rule
from monitoring.services.evaluation import (
    observe,
    observe_p95_in_python,
    percentile,
    rule_samples,
    rules_evaluate,
)
from monitoring.services.flags import describe_breach
from registry.models import Lifecycle
from tests.factories import DeploymentFactory, ModelVersionFactory, RuleFactory
from tests.monitoring.evaluation_helpers import MINUTE, NOW, record, switch_off_shipped_rules

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _only_the_tests_rules(db):
    switch_off_shipped_rules()


def value_of(rule, deployment):
    [o] = [o for o in observe(rule, now=NOW) if o.deployment_id == deployment.pk]
    return o.value


# Aggregations ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("last", 0.2), ("mean", (0.1 + 0.5 + 0.2) / 3), ("max", 0.5)],
)
def test_each_aggregation_reads_the_window(aggregation, expected):
    deployment = DeploymentFactory()
    record(deployment, "error_rate", [0.1, 0.5, 0.2])
    rule = RuleFactory(aggregation=aggregation, window_minutes=10)
    assert value_of(rule, deployment) == pytest.approx(expected)


def test_last_is_the_value_at_the_latest_instant_not_the_latest_written():
    deployment = DeploymentFactory()
    record(deployment, "error_rate", [0.9], end=NOW - MINUTE)
    record(deployment, "error_rate", [0.3], end=NOW - 5 * MINUTE)  # written later, older
    rule = RuleFactory(aggregation="last", window_minutes=10)
    assert value_of(rule, deployment) == pytest.approx(0.9)


def test_p95_agrees_with_numpy_percentile():
    rng = random.Random(7)
    values = [rng.uniform(0, 1) for _ in range(137)]
    deployment = DeploymentFactory()
    record(deployment, "latency_ms", values)
    rule = RuleFactory(metric="latency_ms", aggregation="p95", window_minutes=200)
    # On PostgreSQL this is percentile_cont in SQL; on SQLite it is computed in Python.
    assert value_of(rule, deployment) == pytest.approx(numpy.percentile(values, 95))
    assert percentile(values, 0.95) == pytest.approx(numpy.percentile(values, 95))


def test_p95_is_computed_per_deployment():
    a, b = DeploymentFactory(), DeploymentFactory()
    record(a, "latency_ms", range(100))
    record(b, "latency_ms", [5, 7])
    rule = RuleFactory(metric="latency_ms", aggregation="p95", window_minutes=200)
    assert value_of(rule, a) == pytest.approx(numpy.percentile(range(100), 95))
    assert value_of(rule, b) == pytest.approx(numpy.percentile([5, 7], 95))


# Comparisons ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("comparison", "threshold", "breach"),
    [
        ("gt", 0.5, False),
        ("gt", 0.4, True),
        ("gte", 0.5, True),
        ("gte", 0.6, False),
        ("lt", 0.5, False),
        ("lt", 0.6, True),
        ("lte", 0.5, True),
        ("lte", 0.4, False),
    ],
)
def test_each_comparison_decides_the_breach(comparison, threshold, breach):
    deployment = DeploymentFactory()
    record(deployment, "quality", [0.5])
    RuleFactory(metric="quality", aggregation="last", comparison=comparison, threshold=threshold)
    summary = rules_evaluate(now=NOW)
    assert summary.breaches == int(breach)
    assert Flag.objects.filter(deployment=deployment).exists() is breach


# What is counted ------------------------------------------------------------------------------
def test_fewer_samples_than_the_minimum_raise_nothing():
    deployment = DeploymentFactory()
    record(deployment, "error_rate", [0.9] * 4)
    RuleFactory(threshold=0.05, min_samples=5, window_minutes=10)
    assert rules_evaluate(now=NOW).flags_raised == 0
    record(deployment, "error_rate", [0.9], end=NOW - 4 * MINUTE - timedelta(seconds=30))
    assert rules_evaluate(now=NOW).flags_raised == 1


def test_samples_outside_the_window_are_ignored():
    deployment = DeploymentFactory()
    record(deployment, "error_rate", [0.01, 0.02])  # at NOW - 1 min and NOW
    record(deployment, "error_rate", [0.9], end=NOW - 10 * MINUTE)  # the window's open edge
    record(deployment, "error_rate", [0.9], end=NOW - 60 * MINUTE)
    record(deployment, "error_rate", [0.9], end=NOW + MINUTE)  # after the evaluation instant
    rule = RuleFactory(aggregation="max", threshold=0.05, window_minutes=10)
    assert value_of(rule, deployment) == pytest.approx(0.02)
    assert rules_evaluate(now=NOW).flags_raised == 0


def test_a_feature_rule_reads_only_that_feature():
    deployment = DeploymentFactory()
    record(deployment, "drift.psi", [0.4], feature="income")
    record(deployment, "drift.psi", [0.1], feature="age")
    age = RuleFactory(metric="drift.psi", feature="age", aggregation="max", threshold=0.25)
    any_feature = RuleFactory(metric="drift.psi", aggregation="max", threshold=0.25)
    rules_evaluate(now=NOW)
    assert not Flag.objects.filter(rule=age).exists()
    flag = Flag.objects.get(rule=any_feature)
    assert flag.evidence["value"] == pytest.approx(0.4)


# A rule with no feature watches each feature's series on its own ----------------------------
def test_last_is_each_features_own_latest_value():
    deployment = DeploymentFactory()
    record(deployment, "drift.psi", [0.9], feature="income", end=NOW - 2 * MINUTE)
    record(deployment, "drift.psi", [0.01], feature="age", end=NOW - MINUTE)  # later, other feature
    RuleFactory(metric="drift.psi", aggregation="last", threshold=0.25)
    assert rules_evaluate(now=NOW).flags_raised == 1
    evidence = Flag.objects.get().evidence
    assert evidence["feature"] == "income" and evidence["value"] == pytest.approx(0.9)
    assert [value for _, value in evidence["values"]] == [0.9]


def test_a_below_threshold_rule_sees_the_low_feature_at_a_shared_instant():
    deployment = DeploymentFactory()
    record(deployment, "quality", [0.9], feature="north")
    record(deployment, "quality", [0.1], feature="south")  # the same instant
    RuleFactory(metric="quality", aggregation="last", comparison="lt", threshold=0.5)
    assert rules_evaluate(now=NOW).flags_raised == 1
    evidence = Flag.objects.get().evidence
    assert evidence["feature"] == "south" and evidence["value"] == pytest.approx(0.1)


def test_mean_does_not_average_features_together():
    deployment = DeploymentFactory()
    record(deployment, "drift.psi", [0.4, 0.4], feature="income")
    record(deployment, "drift.psi", [0.0, 0.0], feature="age")
    rule = RuleFactory(metric="drift.psi", aggregation="mean", threshold=0.3)
    by_feature = {o.feature: o.value for o in observe(rule, now=NOW)}
    assert by_feature == {"income": pytest.approx(0.4), "age": pytest.approx(0.0)}
    rules_evaluate(now=NOW)
    evidence = Flag.objects.get(rule=rule).evidence
    assert evidence["feature"] == "income" and evidence["value"] == pytest.approx(0.4)
    assert evidence["samples"] == 2
    assert "mean drift.psi[income] over 60 min = 0.4 > 0.3" in describe_breach(rule, evidence)


def test_the_minimum_samples_count_per_feature():
    deployment = DeploymentFactory()
    record(deployment, "drift.psi", [0.9] * 3, feature="income")
    record(deployment, "drift.psi", [0.9] * 3, feature="age")  # six in all, three a series
    rule = RuleFactory(metric="drift.psi", aggregation="max", threshold=0.25, min_samples=5)
    assert observe(rule, now=NOW) == []
    assert rules_evaluate(now=NOW).flags_raised == 0


def test_p95_in_python_is_per_feature_too():
    # The SQLite path, run here over the same rows as PostgreSQL's percentile_cont.
    deployment = DeploymentFactory()
    record(deployment, "latency_ms", range(100), feature="eu")
    record(deployment, "latency_ms", [5, 7], feature="us")
    rule = RuleFactory(metric="latency_ms", aggregation="p95", window_minutes=200)
    in_python = observe_p95_in_python(rule, rule_samples(rule, now=NOW, deployment_ids=None))
    in_sql = observe(rule, now=NOW)
    expected = {
        "eu": pytest.approx(numpy.percentile(range(100), 95)),
        "us": pytest.approx(numpy.percentile([5, 7], 95)),
    }
    assert {o.feature: o.value for o in in_python} == expected
    assert {o.feature: o.value for o in in_sql} == expected


def test_a_rule_scoped_to_a_use_case_watches_only_its_deployments():
    mine, other = DeploymentFactory(), DeploymentFactory()
    record(mine, "error_rate", [0.9])
    record(other, "error_rate", [0.9])
    rule = RuleFactory(use_case=mine.use_case)
    rules_evaluate(now=NOW)
    assert list(Flag.objects.filter(rule=rule).values_list("use_case", flat=True)) == [
        mine.use_case_id
    ]


def test_a_disabled_rule_is_not_evaluated():
    deployment = DeploymentFactory()
    record(deployment, "error_rate", [0.9])
    RuleFactory(enabled=False)
    summary = rules_evaluate(now=NOW)
    assert summary.evaluated_rules == 0 and not Flag.objects.exists()


def test_retired_deployments_and_use_cases_are_not_watched():
    retired_deployment = DeploymentFactory(active=False)
    retired_use_case = DeploymentFactory(use_case__lifecycle=Lifecycle.RETIRED)
    live = DeploymentFactory()
    for deployment in (retired_deployment, retired_use_case, live):
        record(deployment, "error_rate", [0.9])
    rule = RuleFactory(aggregation="last")
    assert {o.deployment_id for o in observe(rule, now=NOW)} == {live.pk}
    summary = rules_evaluate(now=NOW)
    assert summary.evaluated_deployments == 1 and summary.flags_raised == 1


def test_deployment_ids_limit_the_evaluation():
    a, b = DeploymentFactory(), DeploymentFactory()
    record(a, "error_rate", [0.9])
    record(b, "error_rate", [0.9])
    RuleFactory()
    assert rules_evaluate(now=NOW, deployment_ids=[b.pk]).flags_raised == 1
    assert list(Flag.objects.values_list("deployment", flat=True)) == [b.pk]


def test_a_failing_rule_is_counted_and_the_others_still_run(caplog):
    deployment = DeploymentFactory()
    record(deployment, "error_rate", [0.9])
    broken = RuleFactory(name="A broken rule")
    Rule.objects.filter(pk=broken.pk).update(comparison="about")  # bad data, past full_clean
    working = RuleFactory(name="B working rule")
    summary = rules_evaluate(now=NOW)
    assert summary.errors == 1 and summary.flags_raised == 1
    assert Flag.objects.get().rule == working
    assert "A broken rule" in caplog.text


# Flags from breaches --------------------------------------------------------------------------
def test_repeated_evaluations_keep_one_open_flag_and_move_its_last_seen():
    deployment = DeploymentFactory()
    record(deployment, "error_rate", [0.9] * 11, end=NOW + 10 * MINUTE)  # NOW to NOW+10
    RuleFactory(aggregation="last")
    first = rules_evaluate(now=NOW)
    later = rules_evaluate(now=NOW + 10 * MINUTE)
    assert (first.flags_raised, first.flags_still_open) == (1, 0)
    assert (later.flags_raised, later.flags_still_open) == (0, 1)
    flag = Flag.objects.get()
    assert flag.last_seen_at == NOW + 10 * MINUTE
    # The metric recovers: the flag stays open for a person to resolve, "last seen" stands.
    record(deployment, "error_rate", [0.0], end=NOW + 11 * MINUTE)
    assert rules_evaluate(now=NOW + 11 * MINUTE).breaches == 0
    flag.refresh_from_db()
    assert flag.is_open and flag.last_seen_at == NOW + 10 * MINUTE


def test_two_breaching_deployments_of_one_use_case_raise_one_flag_on_the_worst():
    first = DeploymentFactory()
    second = DeploymentFactory(use_case=first.use_case)
    record(first, "error_rate", [0.3])
    record(second, "error_rate", [0.7])
    RuleFactory(aggregation="last")
    summary = rules_evaluate(now=NOW)
    assert (summary.breaches, summary.flags_raised) == (1, 1)
    flag = Flag.objects.get()
    assert flag.deployment == second and flag.subject_key == f"use_case:{first.use_case_id}"


def test_a_breach_records_its_evidence():
    deployment = DeploymentFactory()
    values = [0.01 * i for i in range(30)]
    record(deployment, "error_rate", values)
    RuleFactory(aggregation="mean", window_minutes=60, threshold=0.1, min_samples=5)
    rules_evaluate(now=NOW)
    evidence = Flag.objects.get().evidence
    assert evidence["metric"] == "error_rate" and evidence["aggregation"] == "mean"
    assert evidence["window_minutes"] == 60 and evidence["comparison"] == "gt"
    assert evidence["window_end"] == NOW.isoformat()
    assert evidence["window_start"] == (NOW - 60 * MINUTE).isoformat()
    assert evidence["value"] == pytest.approx(numpy.mean(values))
    assert evidence["samples"] == 30 and evidence["threshold"] == 0.1
    assert evidence["deployment"] == deployment.pk
    assert [v for _, v in evidence["values"]] == pytest.approx(values[-20:])
    assert evidence["values"][-1][0] == NOW.isoformat()


def test_a_breach_marks_the_use_case_for_reassessment_with_the_reason():
    deployment = DeploymentFactory()
    record(deployment, "error_rate", [0.081] * 5)
    RuleFactory(name="Error rate above 5%", window_minutes=15, threshold=0.05)
    rules_evaluate(now=NOW)
    flag = Flag.objects.get()
    use_case = deployment.use_case
    use_case.refresh_from_db()
    assert use_case.needs_reassessment
    assert (
        f"{flag.reference}: Error rate above 5%: mean error_rate over 15 min = 0.081 > 0.05"
        in use_case.reassessment_reasons
    )
    assert use_case.history.latest().history_change_reason.startswith("Flagged for re-assessment")


def test_a_model_version_breach_flags_the_version_and_every_use_case_it_serves():
    version = ModelVersionFactory()
    breaching = DeploymentFactory(model_version=version)
    also_served = DeploymentFactory(model_version=version)
    no_longer = DeploymentFactory(model_version=version, active=False)
    elsewhere = DeploymentFactory()
    record(breaching, "error_rate", [0.2] * 5)
    RuleFactory(subject="model_version", min_samples=5, window_minutes=15, threshold=0.05)
    rules_evaluate(now=NOW)
    flag = Flag.objects.get()
    assert flag.subject_key == f"model_version:{version.pk}"
    assert flag.model_version == version and flag.use_case == breaching.use_case
    version.refresh_from_db()
    assert version.needs_reassessment and flag.reference in version.reassessment_reasons
    assert version.history.latest().history_change_reason.startswith("Flagged for re-assessment")
    flagged = {
        d.use_case.pk
        for d in (breaching, also_served, no_longer, elsewhere)
        if type(d.use_case).objects.get(pk=d.use_case.pk).needs_reassessment
    }
    assert flagged == {breaching.use_case_id, also_served.use_case_id}


def test_the_owner_is_emailed_the_numbers_and_a_link(
    mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://steward.example.com"
    deployment = DeploymentFactory()
    record(deployment, "error_rate", [0.081] * 5)
    RuleFactory(name="Error rate above 5%", window_minutes=15, threshold=0.05)
    with django_capture_on_commit_callbacks(execute=True):
        rules_evaluate(now=NOW)
    flag = Flag.objects.get()
    [message] = mailoutbox
    assert message.to == [deployment.use_case.owner.email]
    assert flag.reference in message.subject
    assert "mean error_rate over 15 min = 0.081 > 0.05" in message.body
    assert "Samples in the window: 5" in message.body
    assert f"https://steward.example.com{deployment.use_case.get_absolute_url()}" in message.body


# The rules Steward ships ----------------------------------------------------------------------
def test_the_three_default_rules_exist_after_migrate():
    shipped = dict(Rule.objects.exclude(builtin="").values_list("builtin", "metric"))
    assert shipped == {
        "drift-psi": "drift.psi",
        "error-rate": "error_rate",
        "budget": "budget_used_pct",
    }


@pytest.mark.parametrize(("psi", "fires"), [(0.3, True), (0.2, False)])
def test_the_default_psi_rule_fires_above_a_quarter(psi, fires):
    Rule.objects.filter(builtin="drift-psi").update(enabled=True)
    deployment = DeploymentFactory()
    record(deployment, "drift.psi", [0.05, psi], feature="income")
    rules_evaluate(now=NOW)
    assert Flag.objects.filter(rule__builtin="drift-psi").exists() is fires


def test_a_rule_over_every_feature_names_the_feature_that_breached():
    Rule.objects.filter(builtin="drift-psi").update(enabled=True)
    deployment = DeploymentFactory()
    record(deployment, "drift.psi", [0.02, 0.03, 0.04], feature="age")
    record(deployment, "drift.psi", [0.05, 0.41, 0.06], feature="income")
    rules_evaluate(now=NOW)
    flag = Flag.objects.get(rule__builtin="drift-psi")
    assert flag.evidence["feature"] == "income"
    assert [value for _, value in flag.evidence["values"]] == [0.05, 0.41, 0.06]
    assert "max drift.psi[income] over 60 min = 0.41 > 0.25" in flag.use_case.reassessment_reasons


@pytest.mark.parametrize(("spent", "fires"), [("100.00", True), ("99.00", False)])
def test_the_default_budget_rule_fires_when_the_budget_is_spent(spent, fires):
    Rule.objects.filter(builtin="budget").update(enabled=True)
    deployment = DeploymentFactory()
    Budget.objects.create(use_case=deployment.use_case, monthly_amount=Decimal("100.00"))
    half = float(Decimal(spent) / 2)
    record(deployment, "cost", [half, half], end=NOW - 60 * MINUTE)
    summary = rules_evaluate(now=NOW)
    assert summary.errors == 0
    flags = Flag.objects.filter(rule__builtin="budget")
    assert flags.exists() is fires
    if fires:
        flag = flags.get()
        assert flag.deployment == deployment
        assert flag.evidence["value"] == pytest.approx(100.0) and flag.evidence["samples"] == 1


# Scale ---------------------------------------------------------------------------------------
def test_the_queries_of_an_evaluation_do_not_grow_with_the_deployments():
    RuleFactory(aggregation="mean", threshold=0.05)  # breached by every deployment
    RuleFactory(aggregation="last", threshold=0.05)
    RuleFactory(aggregation="p95", threshold=0.05)
    RuleFactory(aggregation="max", threshold=5)  # breached by none
    RuleFactory(subject="model_version", threshold=0.05)

    def add(n):
        for _ in range(n):
            record(DeploymentFactory(), "error_rate", [0.1, 0.2, 0.3])
        rules_evaluate(now=NOW)  # raises the new deployments' flags

    def steady_state_queries():
        with CaptureQueriesContext(connection) as queries:
            summary = rules_evaluate(now=NOW)
        assert summary.flags_raised == 0 and summary.errors == 0
        return len(queries), summary

    add(5)
    few, small = steady_state_queries()
    add(45)
    many, large = steady_state_queries()
    assert small.evaluated_deployments == 5 and large.evaluated_deployments == 50
    assert large.flags_still_open == 4 * 50
    assert many == few
