"""What deployed systems report, the rules that watch it, and the flags the rules raise.

Sources and samples hang off a deployment (registry.Deployment). A rule's breach raises a
flag on the use case or the model version; so do non-metric causes (a material change, the
nightly gate check, a template's new version); budgets and their alerts are per use case.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from portal.limits import LONG_TEXT, SHORT_TEXT, BoundedTextField
from registry.changes import VALUE_CHOICES, ChangeKind

METRIC_NAME = RegexValidator(
    r"^[a-z][a-z0-9_.]{0,63}$",
    "A metric name is lower-case letters, digits, '_' and '.', starting with a letter "
    "(at most 64 characters).",
)


class Metric(models.TextChoices):
    """The metrics the portal knows by name. Sources may report others under their own names."""

    DRIFT = "drift", "Drift score (reported by the system)"
    PSI = "drift.psi", "Population Stability Index"
    KS = "drift.ks", "Kolmogorov-Smirnov statistic"
    KS_P = "drift.ks_p", "Kolmogorov-Smirnov p-value"
    JS = "drift.js", "Jensen-Shannon distance"
    CHI2 = "drift.chi2", "Chi-square statistic"
    CHI2_P = "drift.chi2_p", "Chi-square p-value"
    QUALITY = "quality", "Quality (e.g. accuracy)"
    ERROR_RATE = "error_rate", "Error rate"
    LATENCY = "latency_ms", "Latency (ms)"
    CORRECTION_RATE = "correction_rate", "Human correction rate"
    TOKENS = "tokens", "Tokens"
    COST = "cost", "Cost"
    # Computed per use case from its month's cost and its budget, not reported.
    BUDGET_USED = "budget_used_pct", "Budget used this month (%)"


class SourceKind(models.TextChoices):
    PROMETHEUS = "prometheus", "Prometheus (PromQL)"
    HTTP_JSON = "http_json", "HTTP endpoint returning JSON"
    MLFLOW = "mlflow", "MLflow run metrics"
    PUSH = "push", "Pushed by the system (API token)"


class MetricSource(models.Model):
    """Where a deployment's metrics come from.

    Health fields (``last_*``, ``failures_in_row``, ``next_due_at``, ``claimed_until``,
    ``pulled_until``) are written with ``QuerySet.update`` so that every minute's pull does
    not add a history version; the history records what people changed.
    """

    deployment = models.ForeignKey(
        "registry.Deployment", on_delete=models.PROTECT, related_name="metric_sources"
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    url = models.CharField(
        "URL",
        max_length=500,
        blank=True,
        help_text="Prometheus or MLflow base URL, or the JSON endpoint itself.",
    )
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text="What to read: PromQL queries, JSON paths or MLflow run and metric keys.",
    )
    credentials_encrypted = BoundedTextField(max_length=LONG_TEXT, blank=True, editable=False)
    credentials_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    token_prefix = models.CharField(max_length=16, blank=True, editable=False)
    token_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    interval_seconds = models.PositiveIntegerField(
        "pull every (seconds)", default=60, validators=[MinValueValidator(60)]
    )
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Scheduling and health.
    next_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    pulled_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = BoundedTextField(max_length=SHORT_TEXT, blank=True, editable=False)
    last_sample_count = models.PositiveIntegerField(default=0, editable=False)
    failures_in_row = models.PositiveIntegerField(default=0, editable=False)

    history = HistoricalRecords(
        excluded_fields=[
            "next_due_at",
            "claimed_until",
            "pulled_until",
            "last_attempt_at",
            "last_success_at",
            "last_error_at",
            "last_error",
            "last_sample_count",
            "failures_in_row",
            "credentials_encrypted",
            "token_hash",
        ]
    )

    class Meta:
        ordering = ["deployment", "name", "pk"]
        indexes = [models.Index(fields=["enabled", "next_due_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_encrypted)

    @property
    def healthy(self) -> bool | None:
        """None until the first pull; then whether the last attempt worked."""
        if self.kind == SourceKind.PUSH:
            return None
        if self.last_success_at is None and self.last_error_at is None:
            return None
        return self.failures_in_row == 0


class MetricSample(models.Model):
    """One value of one metric of one deployment at one instant.

    ``feature`` names the input or label a drift figure is about ('' when the metric is for
    the whole deployment). A series instant holds one value: a second report of it is ignored,
    so pulling the same window twice adds nothing.
    """

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the series constraint's index starts with the deployment.
    deployment = models.ForeignKey(
        "registry.Deployment",
        on_delete=models.CASCADE,
        related_name="metric_samples",
        db_index=False,
    )
    metric = models.CharField(max_length=64, validators=[METRIC_NAME])
    feature = models.CharField(max_length=120, blank=True, default="")
    at = models.DateTimeField()
    value = models.FloatField()
    source = models.ForeignKey(
        MetricSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="samples"
    )

    class Meta:
        ordering = ["deployment", "metric", "feature", "at"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "metric", "feature", "at"],
                name="one_sample_per_series_instant",
            )
        ]
        indexes = [
            # The rules' windows across deployments.
            models.Index(fields=["metric", "at"], name="sample_metric_at"),
            # A deployment's samples newest first (the samples API).
            models.Index(fields=["deployment", "-at"], name="sample_deployment_at"),
        ]

    def __str__(self) -> str:
        feature = f"[{self.feature}]" if self.feature else ""
        return f"{self.metric}{feature}={self.value} at {self.at:%Y-%m-%d %H:%M}"


class MetricRollup(models.Model):
    """An hour of one series: how many samples, their sum, min and max.

    Kept by a PostgreSQL statement trigger on every insert into MetricSample (migration
    0004), whichever way the rows arrive, so charts over months read hours instead of
    minutes. The embedded SQLite default has no trigger and charts read the samples.
    """

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(
        "registry.Deployment", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    metric = models.CharField(max_length=64)
    feature = models.CharField(max_length=120, blank=True, default="")
    hour = models.DateTimeField()
    count = models.BigIntegerField()
    total = models.FloatField()
    low = models.FloatField()
    high = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "metric", "feature", "hour"], name="one_rollup_per_hour"
            )
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.hour:%Y-%m-%d %H}h: {self.count} samples"


class DistributionKind(models.TextChoices):
    NUMERIC = "numeric", "Numeric"
    CATEGORICAL = "categorical", "Categorical"


class ReferenceDistribution(models.Model):
    """The distribution a feature or score had when the deployment was assessed.

    Later pushes of the current distribution are compared with it; the latest of them is kept
    in ``current`` (same shape as ``data``) at ``current_at``. ``data`` holds what was
    pushed, normalised: ``{"values": [...]}`` for raw values, ``{"edges": [...], "counts":
    [...]}`` for binned numbers, ``{"counts": {"category": n}}`` for categories.
    """

    deployment = models.ForeignKey(
        "registry.Deployment", on_delete=models.CASCADE, related_name="reference_distributions"
    )
    feature = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=DistributionKind.choices)
    data = models.JSONField()
    # The latest current distribution compared with it, kept so that the deployment page can
    # draw reference against current (the figures themselves are samples).
    current = models.JSONField(null=True, blank=True, editable=False)
    current_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["deployment", "feature"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "feature"], name="one_reference_per_feature"
            )
        ]

    def __str__(self) -> str:
        return f"reference of {self.feature} ({self.get_kind_display()})"


class Budget(models.Model):
    """A use case's monthly spend limit on AI (in ``settings.COST_CURRENCY``)."""

    use_case = models.OneToOneField(
        "registry.UseCase", on_delete=models.CASCADE, related_name="budget"
    )
    monthly_amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.monthly_amount} a month for {self.use_case.reference}"


class BudgetAlert(models.Model):
    """One alert sent: a use case's month crossed a share of its budget. Sent once each."""

    THRESHOLDS = (50, 75, 90, 100)

    use_case = models.ForeignKey(
        "registry.UseCase", on_delete=models.CASCADE, related_name="budget_alerts"
    )
    month = models.DateField(help_text="The first day of the month.")
    threshold = models.PositiveSmallIntegerField()
    spent = models.DecimalField(max_digits=14, decimal_places=2)
    budget = models.DecimalField(max_digits=12, decimal_places=2)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "use_case", "threshold"]
        constraints = [
            models.UniqueConstraint(
                fields=["use_case", "month", "threshold"], name="one_alert_per_threshold_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.use_case.reference} {self.month:%Y-%m} passed {self.threshold}%"


class Aggregation(models.TextChoices):
    LAST = "last", "Last value"
    MEAN = "mean", "Mean"
    MAX = "max", "Maximum"
    P95 = "p95", "95th percentile"


class Comparison(models.TextChoices):
    GT = "gt", ">"
    GTE = "gte", "≥"
    LT = "lt", "<"
    LTE = "lte", "≤"

    def holds(self, value: float, threshold: float) -> bool:
        return {
            "gt": value > threshold,
            "gte": value >= threshold,
            "lt": value < threshold,
            "lte": value <= threshold,
        }[self.value]


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class RuleAction(models.TextChoices):
    FLAG = "flag", "Flag for re-assessment"
    REASSESS = "reassess", "Flag and start a re-assessment draft"
    INCIDENT = "incident", "Flag and open an incident"


class RuleSubject(models.TextChoices):
    USE_CASE = "use_case", "Use case"
    MODEL_VERSION = "model_version", "Model version"


class Rule(models.Model):
    """When a metric's aggregate over a window crosses a threshold, raise a flag."""

    name = models.CharField(max_length=120)
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)
    metric = models.CharField(max_length=64, validators=[METRIC_NAME])
    feature = models.CharField(
        max_length=120, blank=True, help_text="Only this feature's series; blank for every one."
    )
    aggregation = models.CharField(max_length=10, choices=Aggregation.choices)
    window_minutes = models.PositiveIntegerField(
        "window (minutes)", validators=[MinValueValidator(1)]
    )
    comparison = models.CharField(max_length=5, choices=Comparison.choices)
    threshold = models.FloatField()
    min_samples = models.PositiveIntegerField(
        "minimum samples", default=1, validators=[MinValueValidator(1)]
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    action = models.CharField(max_length=20, choices=RuleAction.choices, default=RuleAction.FLAG)
    subject = models.CharField(
        max_length=20, choices=RuleSubject.choices, default=RuleSubject.USE_CASE
    )
    use_case = models.ForeignKey(
        "registry.UseCase",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="monitoring_rules",
        help_text="Only this use case's deployments; blank for every deployment.",
    )
    enabled = models.BooleanField(default=True)
    builtin = models.SlugField(
        max_length=60, blank=True, editable=False, help_text="Set on the rules the portal ships."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["builtin"], condition=~Q(builtin=""), name="one_rule_per_builtin_key"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def condition(self) -> str:
        feature = f"[{self.feature}]" if self.feature else ""
        return (
            f"{self.get_aggregation_display().lower()} of {self.metric}{feature} over "
            f"{self.window_minutes} min {self.get_comparison_display()} {self.threshold:g}"
        )


class FlagStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


CAUSE_NAME = RegexValidator(
    r"^[a-z][a-z0-9_.:-]{0,79}$",
    "A cause is lower-case letters, digits and '_', '.', ':', '-', starting with a letter "
    "(at most 80 characters), e.g. 'material_change:decision_impact'.",
)


# How a cause's family (the part before ':') reads on pages; an unknown family reads as its
# own words.
CAUSE_LABELS = {
    "material_change": "Material change",
    "gate": "Live but failing the go-live gate",
    "template_change": "Assessment template changed",
    "obligation": "Obligation",
}


class Flag(models.Model):
    """A reason to re-assess a use case or a model version, open until someone resolves it.

    Two kinds share the table, the pages and the API: a metric rule's breach (``rule`` set,
    ``cause`` empty) and a non-metric cause (``rule`` empty, ``cause`` a key such as
    ``material_change:decision_impact`` or ``gate:runbook``, ``reason`` the line a person
    reads), raised by ``monitoring.services.flags.raise_cause_flag``. Either way one flag is
    open per rule, or per cause, and subject.
    """

    reference = models.CharField(max_length=12, unique=True, editable=False)
    rule = models.ForeignKey(
        Rule, on_delete=models.PROTECT, related_name="flags", null=True, blank=True
    )
    cause = models.CharField(
        max_length=80,
        blank=True,
        default="",
        validators=[CAUSE_NAME],
        help_text="What raised it when no metric rule did; empty for a rule's breach.",
    )
    reason = BoundedTextField(
        max_length=SHORT_TEXT, blank=True, help_text="Why, in one line (a non-metric cause)."
    )
    subject = models.CharField(max_length=20, choices=RuleSubject.choices)
    # "use_case:12" or "model_version:7": one open flag per rule (or cause) and subject.
    subject_key = models.CharField(max_length=40, editable=False)
    use_case = models.ForeignKey("registry.UseCase", on_delete=models.PROTECT, related_name="flags")
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="flags",
    )
    deployment = models.ForeignKey(
        "registry.Deployment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=10, choices=FlagStatus.choices, default=FlagStatus.OPEN)
    evidence = models.JSONField(
        default=dict, help_text="The metric, window, aggregate, threshold and the values seen."
    )
    raised_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="The last evaluation that still found the breach."
    )
    reassessment = models.ForeignKey(
        "assessments.Assessment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The re-assessment draft the flag started.",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    resolution = BoundedTextField(max_length=SHORT_TEXT, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-raised_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject_key"],
                condition=Q(status="open"),
                name="one_open_flag_per_rule_and_subject",
            ),
            models.UniqueConstraint(
                fields=["cause", "subject_key"],
                condition=Q(status="open", rule__isnull=True),
                name="one_open_flag_per_cause_and_subject",
            ),
            # A flag was raised by a rule or for a cause, never by both or by nothing.
            models.CheckConstraint(
                condition=(Q(rule__isnull=False) & Q(cause=""))
                | (Q(rule__isnull=True) & ~Q(cause="")),
                name="flag_has_rule_or_cause",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "use_case"]),
            models.Index(fields=["cause", "status"], name="flag_cause_status"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def title(self) -> str:
        """What a list shows: the rule's name, or the cause's reason."""
        if self.rule_id is not None and self.rule is not None:
            return self.rule.name
        return self.reason or self.cause

    @property
    def is_metric(self) -> bool:
        return self.rule_id is not None

    @property
    def cause_label(self) -> str:
        family = self.cause.split(":", 1)[0]
        return CAUSE_LABELS.get(family, family.replace("_", " ").capitalize())

    @property
    def is_open(self) -> bool:
        return self.status == FlagStatus.OPEN


class ChangeCondition(models.TextChoices):
    ANY = "any", "Any change"
    INCREASE = "increase", "Goes up (riskier value, or something added)"
    BECOMES = "becomes", "Becomes a value"


class MaterialChangeRule(models.Model):
    """A change to the register that calls for re-assessment (EU AI Act Art. 3(23), 43(4)).

    When the registry announces a change (registry/changes.py) of this rule's kind that meets
    its condition, every use case the change touches gets a flag (cause
    ``material_change:<key>``) with the change as its reason: field, old value, new value and
    who; a re-assessment draft starts when ``start_draft`` is set. Steward ships a set (data
    migration 0008); a firm switches them off, tunes them or adds its own.
    """

    name = models.CharField(max_length=120)
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)
    change = models.CharField(
        "change watched", max_length=40, choices=ChangeKind.choices, help_text="Which field."
    )
    condition = models.CharField(
        max_length=10, choices=ChangeCondition.choices, default=ChangeCondition.ANY
    )
    value = models.CharField(
        max_length=40,
        blank=True,
        help_text="For 'becomes': the value (automatic, production, true...).",
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.HIGH)
    start_draft = models.BooleanField(
        "start a re-assessment draft",
        default=False,
        help_text="Also start a draft from the last signed-off assessment.",
    )
    enabled = models.BooleanField(default=True)
    builtin = models.SlugField(
        max_length=60, blank=True, editable=False, help_text="Set on the rules the portal ships."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["builtin"],
                condition=~Q(builtin=""),
                name="one_material_rule_per_builtin_key",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def cause(self) -> str:
        """The flag cause this rule raises: one open flag per rule and use case."""
        return f"material_change:{self.builtin or f'rule-{self.pk}'}"

    @property
    def condition_text(self) -> str:
        if self.condition == ChangeCondition.BECOMES:
            labels = dict(VALUE_CHOICES.get(self.change, []))
            return f"becomes {labels.get(self.value, self.value)}"
        return self.get_condition_display().lower()

    def clean(self) -> None:
        if self.condition == ChangeCondition.BECOMES:
            allowed = [v for v, _ in VALUE_CHOICES.get(self.change, [])]
            if not allowed:
                raise ValidationError(
                    {"condition": "This change has no values to name: choose any change."}
                )
            if self.value not in allowed:
                raise ValidationError({"value": f"Choose one of: {', '.join(allowed)}."})
        elif self.value:
            self.value = ""

    def matches(self, change) -> bool:
        """Whether a registry Change meets this rule."""
        if not self.enabled or change.kind != self.change:
            return False
        if self.condition == ChangeCondition.INCREASE:
            return change.went_up()
        if self.condition == ChangeCondition.BECOMES:
            return change.became(self.value)
        return change.old != change.new
