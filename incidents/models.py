"""Runbooks, incidents with their append-only timelines, the kill switch's pollers and webhooks.

A runbook says, per use case, who disables the AI and how, how to roll back, what runs
meanwhile and who tells whom. An incident records what went wrong, its timeline (entries are
never changed or deleted: the model, and triggers in PostgreSQL and SQLite, refuse it), its
regulatory clocks and its post-incident review. Deployed systems poll the kill switch with a
token of their own (KillSwitchToken); every change goes out as a signed webhook
(WebhookEndpoint, Delivery).
"""

from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from portal.limits import LONG_TEXT, SHORT_TEXT, BoundedTextField
from portal.links import link


class Runbook(models.Model):
    """What to do when a use case's AI misbehaves. One per use case; every edit is a version."""

    use_case = models.OneToOneField(
        "registry.UseCase", on_delete=models.CASCADE, related_name="runbook"
    )
    disable_who = BoundedTextField(
        "who may disable it",
        max_length=LONG_TEXT,
        help_text="Roles or people allowed to switch the AI off.",
    )
    disable_how = BoundedTextField(
        "how to disable it",
        max_length=LONG_TEXT,
        help_text="The kill switch, a feature flag, a config change…",
    )
    rollback_how = BoundedTextField(
        "how to roll back",
        max_length=LONG_TEXT,
        help_text="How to return to the previous model version.",
    )
    fallback = BoundedTextField(
        "fallback while disabled",
        max_length=LONG_TEXT,
        help_text="What users get while the AI is off.",
    )
    communicate_users = BoundedTextField("who tells users", max_length=LONG_TEXT, blank=True)
    communicate_dpo = BoundedTextField(
        "who tells the data protection officer", max_length=LONG_TEXT, blank=True
    )
    communicate_regulators = BoundedTextField(
        "who tells regulators", max_length=LONG_TEXT, blank=True
    )
    # [{"name": ..., "role": ..., "email": ..., "phone": ...}, ...] in escalation order.
    contacts = models.JSONField(
        "contacts in escalation order", default=list, blank=True, help_text="First called first."
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    reviewed_at = models.DateTimeField(
        help_text="When the runbook was last written or confirmed as still right."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["use_case"]

    def __str__(self) -> str:
        return f"Runbook of {self.use_case.reference} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:runbook", args=[self.use_case_id])

    @property
    def review_due(self):
        return self.reviewed_at + timedelta(days=30 * settings.RUNBOOK_VALID_MONTHS)


class Severity(models.TextChoices):
    SEV1 = "sev1", "SEV1"
    SEV2 = "sev2", "SEV2"
    SEV3 = "sev3", "SEV3"
    SEV4 = "sev4", "SEV4"


SEVERITY_DEFINITIONS: dict[str, str] = {
    Severity.SEV1: "Critical: people are being harmed or could be, or the AI makes decisions "
    "it must not make; widespread or regulatory impact. Act now, around the clock.",
    Severity.SEV2: "Major: many users get wrong or unfair results, or personal data may be "
    "exposed; a serious incident or breach is possible. Act within hours.",
    Severity.SEV3: "Minor: degraded quality for some users, with a workaround; no harm or "
    "breach expected. Act within a working day.",
    Severity.SEV4: "Low: a cosmetic or isolated problem, or a near miss to learn from. Plan a fix.",
}
# A post-incident review is required before these are closed.
REVIEW_REQUIRED = {Severity.SEV1, Severity.SEV2}


class Status(models.TextChoices):
    OPEN = "open", "Open"
    TRIAGED = "triaged", "Triaged"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class DetectedBy(models.TextChoices):
    MONITORING = "monitoring", "Monitoring flag"
    USER_REPORT = "user_report", "User report"
    STAFF = "staff", "Staff"


class SeriousHarm(models.TextChoices):
    """What kind of serious incident (EU AI Act Article 3(49)) it is, for Article 73's clock."""

    NONE = "", "Not a serious incident"
    GENERAL = "general", "Serious incident (Art. 3(49)): report within 15 days"
    DEATH = "death", "A person died: report within 10 days (Art. 73(4))"
    WIDESPREAD = (
        "widespread",
        "Widespread infringement or serious disruption of critical infrastructure: "
        "report within 2 days (Art. 73(3))",
    )


class Incident(models.Model):
    reference = models.CharField(max_length=12, unique=True, editable=False)
    title = models.CharField(max_length=200)
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)
    use_case = models.ForeignKey(
        "registry.UseCase", on_delete=models.PROTECT, related_name="incidents"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incidents",
    )
    detected_by = models.CharField(max_length=20, choices=DetectedBy.choices)
    flag = models.ForeignKey(
        "monitoring.Flag",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incidents",
        help_text="The monitoring flag it was opened from.",
    )
    severity = models.CharField(max_length=4, choices=Severity.choices)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.OPEN, editable=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_incidents"
    )
    aware_at = models.DateTimeField(
        "became aware at", help_text="When the firm became aware: the regulatory clocks start."
    )
    serious_harm = models.CharField(
        "serious incident (EU AI Act)",
        max_length=12,
        choices=SeriousHarm.choices,
        default=SeriousHarm.NONE,
        blank=True,
    )
    personal_data_breach = models.BooleanField(
        default=False, help_text="Personal data was breached (UK and EU GDPR Article 33)."
    )
    regulator_reported_at = models.DateTimeField(
        "reported to the market surveillance authority at", null=True, blank=True
    )
    dpa_reported_at = models.DateTimeField(
        "reported to the data protection authority at", null=True, blank=True
    )
    # The post-incident review.
    review_cause = BoundedTextField("cause", max_length=LONG_TEXT, blank=True)
    review_impact = BoundedTextField("impact", max_length=LONG_TEXT, blank=True)
    review_changes = BoundedTextField("what changed", max_length=LONG_TEXT, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when a monitoring rule opened it.",
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-opened_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "use_case"]),
            # The open incidents in the dashboard's order (most severe, then newest): walked
            # from the first and left after the ten the person sees, rather than every
            # incident read and sorted on each dashboard after a change (2.4 ms to 0.1 at
            # 500 open).
            models.Index(
                fields=["severity", "-opened_at"],
                condition=~models.Q(status="closed"),
                name="incidents_open_by_severity",
            ),
            # A person's open incidents, oldest first (My work, on every request).
            models.Index(
                fields=["owner", "opened_at", "id"],
                condition=~models.Q(status="closed"),
                name="incidents_open_by_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return link("incidents:incident-detail", self.reference)

    @property
    def review_written(self) -> bool:
        return all(
            (text or "").strip()
            for text in (self.review_cause, self.review_impact, self.review_changes)
        )


class EntryKind(models.TextChoices):
    NOTE = "note", "Note"
    STATUS = "status", "Status change"
    SEVERITY = "severity", "Severity change"
    ACTION = "action", "Action"
    NOTICE = "notice", "Notification"
    REVIEW = "review", "Post-incident review"


class TimelineEntry(models.Model):
    """One line of an incident's timeline. Append-only, refused at every level.

    Saving an existing entry, deleting one, and a queryset's update() or delete() raise
    ``TimelineEntry.Refused`` here; below the ORM, triggers refuse UPDATE and DELETE on both
    PostgreSQL and SQLite (migration 0002), so raw SQL cannot change the record either.
    """

    MESSAGE = "An incident timeline entry is never changed or deleted"

    class Refused(DatabaseError):
        """A change or deletion of a timeline entry (a DatabaseError, as the trigger's is)."""

    class AppendOnlyQuerySet(models.QuerySet):
        # Nested so the guard stays with the model. Model.save uses _update() for an UPDATE,
        # which save() below refuses first; bulk_update() goes through update().
        def update(self, **kwargs):
            raise TimelineEntry.Refused(TimelineEntry.MESSAGE)

        def delete(self):
            raise TimelineEntry.Refused(TimelineEntry.MESSAGE)

    id = models.BigAutoField(primary_key=True)
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="timeline")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=EntryKind.choices)
    text = BoundedTextField(max_length=LONG_TEXT)
    data = models.JSONField(default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.incident.reference} {self.at:%Y-%m-%d %H:%M} {self.text[:40]}"

    def save(self, *args, **kwargs) -> None:
        # Only an insert: a row already in the database is never written again.
        if not self._state.adding:
            raise TimelineEntry.Refused(TimelineEntry.MESSAGE)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TimelineEntry.Refused(TimelineEntry.MESSAGE)


class DeadlineNotice(models.Model):
    """A deadline reminder sent (near, or overdue): once each per incident, deadline and due
    time. The due time is part of the "once" so a deadline that moves (awareness re-dated, the
    kind of serious harm changed) is reminded of again at its new time."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notices")
    deadline = models.CharField(max_length=20)  # "ai_act" or "gdpr"
    stage = models.CharField(max_length=10)  # "near" or "overdue"
    due_at = models.DateTimeField()  # the deadline as it stood when the reminder went
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "deadline", "stage", "due_at"],
                name="one_notice_per_deadline_stage",
            )
        ]

    def __str__(self) -> str:
        return f"{self.incident.reference} {self.deadline} {self.stage}"


class KillSwitchToken(models.Model):
    """A deployed system's token to poll one use case's kill switch (read-only)."""

    use_case = models.ForeignKey(
        "registry.UseCase", on_delete=models.CASCADE, related_name="kill_switch_tokens"
    )
    name = models.CharField(max_length=120, help_text="The deployed system that polls.")
    token_prefix = models.CharField(max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["use_case", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"


class WebhookEndpoint(models.Model):
    """Where incident and kill-switch events are posted, signed per Standard Webhooks."""

    name = models.CharField(max_length=120)
    url = models.CharField("URL", max_length=500)
    # "whsec_" + base64 of the key bytes, as Standard Webhooks prescribes; shown once.
    secret_encrypted = BoundedTextField(max_length=SHORT_TEXT, editable=False)
    business_unit = models.ForeignKey(
        "registry.BusinessUnit",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhooks",
        help_text="Only this unit's events; empty for every unit.",
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["secret_encrypted"])

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One event to one endpoint, retried with backoff until the endpoint acknowledges it."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=40, unique=True)  # the webhook-id header
    event = models.CharField(max_length=60)
    # What the event is about ("incident:INC-0001", "use_case:UC-0001"), and its place among
    # that subject's events: one endpoint gets them in this order, each after the last.
    subject = models.CharField(max_length=80, blank=True)
    sequence = models.PositiveBigIntegerField(default=0)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = BoundedTextField(max_length=SHORT_TEXT, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["delivered_at", "next_attempt_at"]),
            models.Index(fields=["endpoint", "subject", "sequence"]),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint} ({self.message_id})"
