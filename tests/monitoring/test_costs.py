"""Costs per day and month, and monthly budgets whose alerts go out once each."""

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from monitoring.models import Budget, BudgetAlert
from monitoring.services.costs import (
    budget_set,
    budgets_check,
    costs_by_period,
    month_spend,
    month_spend_by_unit,
)
from monitoring.services.samples import Sample, samples_write
from registry.models import UseCase
from tests.factories import DeploymentFactory


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def spend(deployment, at: datetime, cost: float, tokens: float = 0) -> None:
    samples = [Sample("cost", at, float(cost))]
    if tokens:
        samples.append(Sample("tokens", at, float(tokens)))
    samples_write(deployment_id=deployment.pk, samples=samples)


@pytest.fixture
def deployment(retail, product_owner):
    return DeploymentFactory(use_case__business_unit=retail, use_case__owner=product_owner)


@pytest.fixture
def use_case(deployment):
    return deployment.use_case


# Costs per period -----------------------------------------------------------------------------
@pytest.fixture
def across_a_month_end(deployment, settings):
    """Two deployments of one use case around midnight, 31 March 2026 in London (BST, UTC+1)."""
    settings.TIME_ZONE = "Europe/London"
    other = DeploymentFactory(use_case=deployment.use_case, environment="staging")
    spend(deployment, utc(2026, 3, 31, 12, 0), 1.0, tokens=100)
    spend(deployment, utc(2026, 3, 31, 22, 30), 2.0, tokens=200)  # 23:30 London: 31 March
    spend(deployment, utc(2026, 3, 31, 23, 30), 4.0, tokens=400)  # 00:30 London: 1 April
    spend(other, utc(2026, 4, 1, 9, 0), 8.0, tokens=800)
    return deployment, other


def test_costs_per_day_follow_the_portal_time_zone(across_a_month_end):
    deployment, other = across_a_month_end

    rows = costs_by_period(use_case=deployment.use_case, period="day")

    uc = deployment.use_case_id
    assert rows == [
        {"period": date(2026, 3, 31), "use_case_id": uc, "tokens": 300.0, "cost": 3.0},
        {"period": date(2026, 4, 1), "use_case_id": uc, "tokens": 1200.0, "cost": 12.0},
    ]


def test_costs_per_month_per_deployment(across_a_month_end):
    deployment, other = across_a_month_end

    assert costs_by_period(deployment=deployment, period="month") == [
        {"period": date(2026, 3, 1), "deployment_id": deployment.pk, "tokens": 300.0, "cost": 3.0},
        {"period": date(2026, 4, 1), "deployment_id": deployment.pk, "tokens": 400.0, "cost": 4.0},
    ]
    by_deployment = costs_by_period(use_case=deployment.use_case, period="month", by="deployment")
    assert [(r["period"].month, r["deployment_id"], r["cost"]) for r in by_deployment] == [
        (3, deployment.pk, 3.0),
        (4, deployment.pk, 4.0),
        (4, other.pk, 8.0),
    ]


def test_days_are_the_zone_of_the_settings(across_a_month_end, settings):
    deployment, _ = across_a_month_end
    settings.TIME_ZONE = "UTC"
    rows = costs_by_period(deployment=deployment, period="day")
    assert [(r["period"], r["cost"]) for r in rows] == [(date(2026, 3, 31), 7.0)]


def test_costs_between_dates_include_both_days(across_a_month_end, django_assert_num_queries):
    deployment, _ = across_a_month_end
    with django_assert_num_queries(1):
        rows = costs_by_period(
            use_case=deployment.use_case, period="day", start=date(2026, 4, 1), end=date(2026, 4, 1)
        )
    assert [(r["period"], r["cost"]) for r in rows] == [(date(2026, 4, 1), 12.0)]
    rows = costs_by_period(
        use_case=deployment.use_case, start=utc(2026, 3, 31, 22, 0), end=utc(2026, 3, 31, 23, 0)
    )
    assert [r["cost"] for r in rows] == [2.0]


def test_month_spend_sums_a_use_case_calendar_month(across_a_month_end, django_assert_num_queries):
    deployment, _ = across_a_month_end
    idle = DeploymentFactory().use_case
    with django_assert_num_queries(1):
        march = month_spend(use_case_ids=[deployment.use_case_id, idle.pk], month=date(2026, 3, 9))
    assert march == {deployment.use_case_id: 3.0, idle.pk: 0.0}
    assert month_spend(month=date(2026, 4, 30)) == {deployment.use_case_id: 12.0}


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York", "Asia/Kolkata"])
def test_month_spend_by_unit_counts_the_samples_of_the_local_month(
    across_a_month_end, retail, zone, settings, django_assert_num_queries
):
    """Per unit, the firm's calendar month and nothing either side of it, whether it is summed
    from the hourly rollups (PostgreSQL, a zone a whole number of hours from UTC) or from the
    samples (SQLite, or a month that starts within an hour, as in India at UTC+5:30)."""
    deployment, other = across_a_month_end
    settings.TIME_ZONE = zone
    local = ZoneInfo(zone)
    # At the first and the last minute of March, and a minute either side of it.
    spend(deployment, datetime(2026, 3, 1, 0, 0, tzinfo=local), 16.0)
    spend(other, datetime(2026, 3, 31, 23, 59, tzinfo=local), 32.0)
    spend(deployment, datetime(2026, 2, 28, 23, 59, tzinfo=local), 64.0)
    spend(other, datetime(2026, 4, 1, 0, 0, tzinfo=local), 128.0)
    in_march = [
        (at, cost)
        for at, cost in (
            (utc(2026, 3, 31, 12, 0), 1.0),
            (utc(2026, 3, 31, 22, 30), 2.0),
            (utc(2026, 3, 31, 23, 30), 4.0),
            (utc(2026, 4, 1, 9, 0), 8.0),
        )
        if at.astimezone(local).month == 3
    ]
    expected = 16.0 + 32.0 + sum(cost for _, cost in in_march)
    with django_assert_num_queries(1) as read:
        found = month_spend_by_unit(use_cases=None, month=date(2026, 3, 15))
    assert found == pytest.approx({retail.pk: expected})
    from_rollups = connection.vendor == "postgresql" and zone != "Asia/Kolkata"
    assert ("monitoring_metricrollup" in read.captured_queries[0]["sql"]) == from_rollups
    mine = UseCase.objects.filter(pk=deployment.use_case_id)
    assert month_spend_by_unit(use_cases=mine, month=date(2026, 3, 1)) == pytest.approx(
        {retail.pk: expected}
    )
    assert month_spend_by_unit(use_cases=UseCase.objects.none(), month=date(2026, 3, 1)) == {}
    # Per use case from the same rows (budgets, the rules, the use case's page).
    assert month_spend(month=date(2026, 3, 31)) == pytest.approx({deployment.use_case_id: expected})


# Budgets --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("product_owner", True),
        ("risk_officer", True),
        ("admin", True),
        ("auditor", False),
        ("leadership", False),
        ("outsider", False),
    ],
)
def test_who_may_set_a_budget(personas, use_case, persona, allowed):
    if allowed:
        budget = budget_set(actor=personas[persona], use_case=use_case, monthly_amount="1500")
        assert budget.monthly_amount == Decimal("1500.00")
    else:
        with pytest.raises(PermissionDenied):
            budget_set(actor=personas[persona], use_case=use_case, monthly_amount="1500")
        assert not Budget.objects.exists()


def test_setting_and_removing_a_budget_is_recorded_with_a_reason(product_owner, use_case):
    budget_set(actor=product_owner, use_case=use_case, monthly_amount=Decimal("100"))
    budget = budget_set(actor=product_owner, use_case=use_case, monthly_amount="250.50")
    assert budget.monthly_amount == Decimal("250.50")
    assert budget.set_by == product_owner
    reasons = [h.history_change_reason for h in budget.history.order_by("history_id")]
    assert reasons == [
        "Budget set to 100.00 GBP a month",
        "Budget changed from 100.00 to 250.50 GBP a month",
    ]

    assert budget_set(actor=product_owner, use_case=use_case, monthly_amount="") is None
    assert not Budget.objects.exists()
    removed = Budget.history.latest("history_id")
    assert (removed.history_type, removed.history_change_reason) == ("-", "Budget removed")
    assert removed.history_user == product_owner


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-1", "cannot be negative"),
        ("10.005", "at most two decimal places"),
        ("ten", "Enter an amount"),
        ("NaN", "Enter an amount"),
        ("99999999999", "at most"),
    ],
)
def test_bad_budgets_are_refused(product_owner, use_case, amount, message):
    with pytest.raises(ValidationError, match=message) as caught:
        budget_set(actor=product_owner, use_case=use_case, monthly_amount=amount)
    assert list(caught.value.message_dict) == ["monthly_amount"]


@pytest.fixture
def budget(use_case, product_owner):
    return budget_set(actor=product_owner, use_case=use_case, monthly_amount="100")


def check(now, capture) -> int:
    """Run the budget check and deliver what it queued on commit."""
    with capture(execute=True):
        return budgets_check(now=now)


def test_each_threshold_alerts_once_a_month(
    budget, deployment, django_capture_on_commit_callbacks, settings
):
    settings.TIME_ZONE = "Europe/London"
    now = utc(2026, 3, 20, 12)
    mail.outbox.clear()
    sent = []
    for day, cost in ((2, 40.0), (3, 15.0), (4, 25.0), (5, 15.0), (6, 10.0)):
        spend(deployment, utc(2026, 3, day, 9), cost)
        # Run twice: the second run must find nothing new.
        sent.append(
            (
                check(now, django_capture_on_commit_callbacks),
                check(now, django_capture_on_commit_callbacks),
            )
        )

    # 40% (nothing), 55% (50), 80% (75), 95% (90), 105% (100).
    assert sent == [(0, 0), (1, 0), (1, 0), (1, 0), (1, 0)]
    assert len(mail.outbox) == 4
    assert [m.subject.split("used ")[1][:6] for m in mail.outbox] == [
        "55.0% ",
        "80.0% ",
        "95.0% ",
        "105.0%",
    ]
    alerts = BudgetAlert.objects.filter(use_case=budget.use_case)
    assert sorted(a.threshold for a in alerts) == [50, 75, 90, 100]
    assert {a.month for a in alerts} == {date(2026, 3, 1)}

    # A new month starts fresh: April's spend alerts again.
    april = utc(2026, 4, 10, 12)
    assert check(april, django_capture_on_commit_callbacks) == 0
    spend(deployment, utc(2026, 4, 2, 9), 60.0)
    assert check(april, django_capture_on_commit_callbacks) == 1
    assert check(april, django_capture_on_commit_callbacks) == 0
    assert BudgetAlert.objects.filter(month=date(2026, 4, 1)).get().threshold == 50
    assert len(mail.outbox) == 5


def test_passing_several_thresholds_at_once_sends_one_email_naming_the_highest(
    budget, deployment, product_owner, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://steward.example.com"
    settings.COST_CURRENCY = "EUR"
    mail.outbox.clear()
    spend(deployment, utc(2026, 3, 2, 9), 80.0)

    assert check(utc(2026, 3, 20, 12), django_capture_on_commit_callbacks) == 1

    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 75]
    (message,) = mail.outbox
    uc = budget.use_case
    assert message.to == [product_owner.email]
    assert message.subject == (
        f"[Steward] {uc.reference} has used 80.0% of its March 2026 AI budget"
    )
    assert f"{uc.reference} {uc.title}" in message.body
    assert "80.00 EUR" in message.body
    assert "100.00 EUR" in message.body
    assert "80.0%, past the 75% alert" in message.body
    assert f"https://steward.example.com{uc.get_absolute_url()}" in message.body
    # Nothing more for 50 or 75 later this month.
    assert check(utc(2026, 3, 21, 12), django_capture_on_commit_callbacks) == 0


def test_spend_in_the_next_local_month_does_not_count(
    budget, deployment, django_capture_on_commit_callbacks, settings
):
    settings.TIME_ZONE = "Europe/London"
    spend(deployment, utc(2026, 3, 31, 23, 30), 80.0)  # 00:30 on 1 April in London
    assert check(utc(2026, 3, 31, 22, 0), django_capture_on_commit_callbacks) == 0
    assert check(utc(2026, 4, 1, 8, 0), django_capture_on_commit_callbacks) == 1


def test_no_budget_or_a_zero_budget_never_alerts(
    use_case, deployment, product_owner, django_capture_on_commit_callbacks
):
    spend(deployment, utc(2026, 3, 2, 9), 500.0)
    assert check(utc(2026, 3, 20), django_capture_on_commit_callbacks) == 0
    budget_set(actor=product_owner, use_case=use_case, monthly_amount="0")
    assert check(utc(2026, 3, 20), django_capture_on_commit_callbacks) == 0
    assert not BudgetAlert.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_checks_send_each_alert_once(retail, product_owner):
    """Four checks at once, each in its own thread and database connection.

    Each may read "nothing sent yet" before any has written; the unique constraint on
    (use case, month, threshold) then lets one insert win and the others skip quietly.
    """
    deployment = DeploymentFactory(use_case__business_unit=retail, use_case__owner=product_owner)
    budget_set(actor=product_owner, use_case=deployment.use_case, monthly_amount="100")
    spend(deployment, utc(2026, 3, 2, 9), 95.0)
    mail.outbox.clear()
    start = threading.Barrier(4)
    results: list[int] = []

    def run() -> None:
        try:
            start.wait()
            results.append(budgets_check(now=utc(2026, 3, 20)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [0, 0, 0, 1]
    assert len(mail.outbox) == 1
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 75, 90]
