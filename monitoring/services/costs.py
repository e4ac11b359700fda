"""What AI costs, per deployment and use case, and the monthly budget that watches it.

Cost arrives as samples like any other metric: ``cost`` (money in ``settings.COST_CURRENCY``
spent since the previous sample) and ``tokens`` (tokens used since the previous sample), per
deployment. Periods (days, months) are calendar periods in the portal's ``TIME_ZONE``, so a
sample at 23:30 UTC on 31 March is April's in a zone ahead of UTC and March's in London.

Budgets: each use case may have a monthly amount. ``budgets_check`` (Celery beat) compares
each month's spend so far with it and emails the owner when it passes 50, 75, 90 and 100%
(``BudgetAlert.THRESHOLDS``). Each threshold alerts once per use case and calendar month:
the BudgetAlert row is the record that it was sent, and its unique constraint keeps two
concurrent checks from both sending. When one check finds several thresholds passed at once
(spend jumped from 40% to 80%), it records every one of them and sends one email naming the
highest, so the owner gets one message and later checks send nothing for the lower ones.
A new month starts with no alerts.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import DateField, Q, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from monitoring.models import Budget, BudgetAlert, Metric, MetricRollup, MetricSample
from portal.access import require
from portal.notify import email
from portal.records import delete_with_history, save_with_history

PERIODS = ("day", "month")
CENT = Decimal("0.01")
# Budget.monthly_amount has 12 digits, 2 of them decimals.
MAX_BUDGET = Decimal("9999999999.99")


def firm_zone() -> ZoneInfo:
    # The project's zone, not the one a request may have activated: a day is the firm's day.
    return ZoneInfo(settings.TIME_ZONE)


def month_of(now: datetime) -> date:
    """The first day of the firm's calendar month that ``now`` falls in."""
    return timezone.localtime(now, firm_zone()).date().replace(day=1)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=firm_zone())


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def _bound(value, *, end: bool) -> datetime:
    """A datetime as given; a date as its local midnight (the next day's for an end: inclusive)."""
    if isinstance(value, datetime):
        return value
    return _local_midnight(value + timedelta(days=1) if end else value)


# Reading costs ------------------------------------------------------------------------------
def costs_by_period(
    *, use_case=None, deployment=None, period: str = "day", start=None, end=None, by=None
) -> list[dict]:
    """Tokens and cost summed per period, in one query.

    Rows ``{"period": date, "deployment_id" | "use_case_id": int, "tokens": float,
    "cost": float}`` ordered by period, then id; a period's date is its first day. Rows are
    per deployment when a deployment is given (or ``by="deployment"``), otherwise per use
    case. ``start`` and ``end`` are datetimes (from start inclusive, to end exclusive) or
    dates (whole local days, both inclusive). Periods with no samples have no row.
    """
    if period not in PERIODS:
        raise ValueError(f"period is one of {PERIODS}, not {period!r}")
    by = by or ("deployment" if deployment is not None else "use_case")
    if by not in ("deployment", "use_case"):
        raise ValueError(f"by is 'deployment' or 'use_case', not {by!r}")
    samples = MetricSample.objects.filter(metric__in=[Metric.COST, Metric.TOKENS])
    if deployment is not None:
        samples = samples.filter(deployment=deployment)
    if use_case is not None:
        samples = samples.filter(deployment__use_case=use_case)
    if start is not None:
        samples = samples.filter(at__gte=_bound(start, end=False))
    if end is not None:
        samples = samples.filter(at__lt=_bound(end, end=True))
    key = "deployment_id" if by == "deployment" else "deployment__use_case_id"
    rows = (
        samples.annotate(
            period=Trunc("at", period, output_field=DateField(), tzinfo=firm_zone()),
        )
        .values("period", key)
        .annotate(
            tokens=Sum("value", filter=Q(metric=Metric.TOKENS), default=0.0),
            cost=Sum("value", filter=Q(metric=Metric.COST), default=0.0),
        )
        .order_by("period", key)
    )
    name = "deployment_id" if by == "deployment" else "use_case_id"
    return [
        {"period": r["period"], name: r[key], "tokens": r["tokens"], "cost": r["cost"]}
        for r in rows
    ]


def _month_cost(month: date | None):
    """One calendar month's cost (the current one by default; ``month`` is any day of it) as
    rows with a ``deployment`` and the sum to take of them.

    On PostgreSQL the hourly rollups (``MetricRollup``, kept by a trigger on every sample
    written, each hour's exact sum), when the month starts and ends on the hour in UTC (it
    does in every zone a whole number of hours from UTC): a month of a thousand systems is a
    few hundred thousand hours rather than millions of samples (the portfolio and the KPI API
    sum it on every request: 167 ms at 1,000,000 samples, issue 19; budgets and the rules
    each cycle). Elsewhere, and for a month that starts within an hour, the samples."""
    first = _month_start(month or timezone.localdate(timezone=firm_zone()))
    start, end = _local_midnight(first), _local_midnight(_next_month(first))
    if connection.vendor == "postgresql" and _on_the_hour(start) and _on_the_hour(end):
        hours = MetricRollup.objects.filter(metric=Metric.COST, hour__gte=start, hour__lt=end)
        return hours, Sum("total")
    samples = MetricSample.objects.filter(metric=Metric.COST, at__gte=start, at__lt=end)
    return samples, Sum("value")


def _on_the_hour(moment: datetime) -> bool:
    """Whether ``moment`` starts an hour in UTC, as the rollups' hours do."""
    utc = moment.astimezone(UTC)
    return utc == utc.replace(minute=0, second=0, microsecond=0)


def month_spend(*, use_case_ids=None, month: date | None = None) -> dict[int, float]:
    """Cost per use case over one calendar month (the current one by default), in one query.

    ``month`` is any day of the month. Every use case asked for has an entry (0.0 when it
    spent nothing); without ``use_case_ids``, every use case that spent something.
    """
    rows, summed = _month_cost(month)
    spend: dict[int, float] = {}
    if use_case_ids is not None:
        use_case_ids = list(use_case_ids)
        if not use_case_ids:
            return {}
        rows = rows.filter(deployment__use_case_id__in=use_case_ids)
        spend = dict.fromkeys(use_case_ids, 0.0)
    totals = (
        rows.values("deployment__use_case_id")
        .annotate(total=summed)
        .order_by("deployment__use_case_id")
    )
    for row in totals:
        spend[row["deployment__use_case_id"]] = row["total"]
    return spend


def month_spend_by_unit(*, use_cases, month: date | None = None) -> dict[int, float]:
    """Cost per business unit over one calendar month, for the use cases of ``use_cases`` (a
    queryset, read as a subquery: the ids never travel to Python; None: every use case), in
    one query."""
    rows, summed = _month_cost(month)
    if use_cases is not None:
        rows = rows.filter(deployment__use_case__in=use_cases.values("pk"))
    totals = rows.values("deployment__use_case__business_unit_id").annotate(total=summed).order_by()
    return {r["deployment__use_case__business_unit_id"]: r["total"] for r in totals}


# Budgets ------------------------------------------------------------------------------------
def _parse_amount(raw) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise ValidationError({"monthly_amount": "Enter an amount such as 1500 or 1500.50."})
    try:
        amount = Decimal(str(raw).strip().replace(",", "")) if not isinstance(raw, Decimal) else raw
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise ValidationError({"monthly_amount": "Enter an amount such as 1500 or 1500.50."})
    if amount < 0:
        raise ValidationError({"monthly_amount": "A budget cannot be negative."})
    if amount != amount.quantize(CENT):
        raise ValidationError({"monthly_amount": "Give at most two decimal places."})
    if amount > MAX_BUDGET:
        raise ValidationError({"monthly_amount": f"A budget is at most {MAX_BUDGET:,}."})
    return amount.quantize(CENT)


@transaction.atomic
def budget_set(*, actor, use_case, monthly_amount) -> Budget | None:
    """Set the use case's monthly budget; None or "" removes it. Returns the budget (or None).

    A budget of 0 is kept but never alerts (nothing to measure spend against).
    """
    require(actor, "monitoring.set_budget", use_case)
    amount = _parse_amount(monthly_amount)
    currency = settings.COST_CURRENCY
    budget = Budget.objects.select_for_update().filter(use_case=use_case).first()
    if amount is None:
        if budget is not None:
            delete_with_history(budget, actor=actor, reason="Budget removed")
        return None
    if budget is None:
        budget = Budget(use_case=use_case)
        reason = f"Budget set to {amount:,} {currency} a month"
    elif budget.monthly_amount == amount:
        return budget
    else:
        reason = f"Budget changed from {budget.monthly_amount:,} to {amount:,} {currency} a month"
    budget.monthly_amount = amount
    budget.set_by = actor
    save_with_history(budget, actor=actor, reason=reason)
    return budget


def _alert_email(budget: Budget, month: date, spent: Decimal, percent: Decimal, passed: int):
    use_case = budget.use_case
    currency = settings.COST_CURRENCY
    link = settings.SITE_URL.rstrip("/") + use_case.get_absolute_url()
    subject = f"{use_case.reference} has used {percent:.1f}% of its {month:%B %Y} AI budget"
    body = (
        f"{use_case.reference} {use_case.title} has spent {spent:,.2f} {currency} of its "
        f"monthly budget of {budget.monthly_amount:,.2f} {currency} in {month:%B %Y}: "
        f"{percent:.1f}%, past the {passed}% alert.\n\n"
        f"See its costs and change the budget: {link}\n\n"
        f"Alerts are sent at {', '.join(f'{t}%' for t in BudgetAlert.THRESHOLDS)} of the "
        "budget, each once a month. You receive them as the use case's owner.\n"
    )
    email([use_case.owner], subject, body, url=link)


def budgets_check(*, now: datetime | None = None) -> int:
    """Alert the owners of use cases whose month-to-date spend passed a budget threshold.

    Returns how many emails were sent (one per use case that passed a new threshold). Each
    use case is handled in its own transaction, so its alert rows and its email commit
    together and one use case's trouble does not hold back the others.
    """
    month = month_of(now or timezone.now())
    budgets = list(Budget.objects.filter(monthly_amount__gt=0).select_related("use_case__owner"))
    if not budgets:
        return 0
    ids = [b.use_case_id for b in budgets]
    spend = month_spend(use_case_ids=ids, month=month)
    alerted = set(
        BudgetAlert.objects.filter(month=month, use_case_id__in=ids).values_list(
            "use_case_id", "threshold"
        )
    )
    sent = 0
    for budget in budgets:
        spent = Decimal(repr(spend[budget.use_case_id])).quantize(CENT)
        percent = spent / budget.monthly_amount * 100
        due = [
            t
            for t in BudgetAlert.THRESHOLDS
            if percent >= t and (budget.use_case_id, t) not in alerted
        ]
        if not due:
            continue
        with transaction.atomic():
            recorded = []
            for threshold in due:
                try:
                    # A savepoint: a concurrent check that recorded it first wins, quietly.
                    with transaction.atomic():
                        BudgetAlert.objects.create(
                            use_case_id=budget.use_case_id,
                            month=month,
                            threshold=threshold,
                            spent=spent,
                            budget=budget.monthly_amount,
                        )
                except IntegrityError:
                    continue
                recorded.append(threshold)
            if recorded:
                _alert_email(budget, month, spent, percent, max(recorded))
                sent += 1
    return sent
