"""What the dashboard keeps: a monthly snapshot of the governance KPIs (dashboard/kpis.py)
for the firm and for each business unit, so every KPI has a trend."""

from django.db import models
from django.db.models import Q

from registry.models import BusinessUnit


class SnapshotSource(models.TextChoices):
    SCHEDULE = "schedule", "Scheduled"
    ON_DEMAND = "on_demand", "On demand"
    BACKFILL = "backfill", "Backfilled from history"


class KpiSnapshot(models.Model):
    """The KPIs of one month, for the firm (no unit) or one business unit.

    Figures are computed, not typed: a later snapshot of the same month replaces the
    figures (the scheduled job refreshes the current month each day, so a month's snapshot
    ends as it stood on its last day). ``figures`` is exactly what ``kpis.compute`` returns.
    """

    month = models.DateField(help_text="The first day of the month described.")
    business_unit = models.ForeignKey(
        BusinessUnit, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    figures = models.JSONField()
    taken_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=SnapshotSource.choices)

    class Meta:
        ordering = ["month", "business_unit_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["month", "business_unit"],
                name="kpi_snapshot_one_per_unit_month",
                condition=Q(business_unit__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["month"],
                name="kpi_snapshot_one_firm_month",
                condition=Q(business_unit__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"KPIs {self.month:%Y-%m} {self.business_unit_id or 'firm'}"
