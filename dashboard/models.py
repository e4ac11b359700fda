"""What the dashboard keeps: a monthly snapshot of the governance KPIs (dashboard/kpis.py)
for the firm and for each business unit, so every KPI has a trend; the board packs; and each
person's My work as last gathered and dashboard panels as last rendered, with the log of
changes that outdates them (dashboard/work_store.py)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.urls import reverse
from simple_history.models import HistoricalRecords

from portal.limits import MACHINE_TEXT, SHORT_TEXT, BoundedTextField
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


class BoardPack(models.Model):
    """The board pack of a period: the KPIs frozen when it was made, rendered as a PDF of two
    to four A4 pages, and signed as assessments are (password re-entry; ``content`` is the
    canonical JSON of exactly what was signed and ``sha256`` its hash)."""

    reference = models.CharField(max_length=12, unique=True, editable=False)
    period_start = models.DateField()
    period_end = models.DateField()
    figures = models.JSONField(editable=False, help_text="kpis.compute as the pack was made.")
    extras = models.JSONField(
        default=dict, editable=False, help_text="Lists the pack shows: risks, flags, decisions."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True, editable=False)
    note = BoundedTextField(max_length=SHORT_TEXT, blank=True, editable=False)
    content = BoundedTextField(max_length=MACHINE_TEXT, blank=True, editable=False)
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-period_end", "-pk"]

    def __str__(self) -> str:
        return f"{self.reference} board pack {self.period_start} to {self.period_end}"

    def get_absolute_url(self) -> str:
        return reverse("board-pack", args=[self.pk])

    @property
    def is_signed(self) -> bool:
        return bool(self.sha256)


class WorkChange(models.Model):
    """One statement that changed a watched table (written by the triggers only)."""

    id = models.BigAutoField(primary_key=True)
    table = models.CharField(max_length=63)
    at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "dashboard_workchange"

    def __str__(self) -> str:
        return f"change {self.pk} to {self.table}"


class WorkSnapshot(models.Model):
    """A person's My work as last gathered: its items in the page's order, and its counts."""

    person = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    # The change log as read before gathering: its lowest id, and its rows for each table.
    changes_from = models.BigIntegerField()
    changes = models.JSONField()
    day = models.DateField()
    settings_key = models.CharField(max_length=200)
    # How many items each source (by name: dashboard/work.py's KEPT) was last gathered for: a
    # read asking for more gathers those sources afresh.
    depths = models.JSONField()
    items = models.JSONField()
    counts = models.JSONField()
    waiting = models.JSONField()
    gathered_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"My work of person {self.person_id} on {self.day}"


class PanelSnapshot(models.Model):
    """A person's dashboard panels that do not depend on the hour, as last rendered
    (dashboard/panels.py), kept under the same change log as My work."""

    person = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    # The change log as read before rendering: its lowest id, and its rows for each table.
    changes_from = models.BigIntegerField()
    changes = models.JSONField()
    day = models.DateField()
    settings_key = models.CharField(max_length=200)
    # Each panel's HTML by name.
    panels = models.JSONField()
    rendered_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"Dashboard panels of person {self.person_id} on {self.day}"
