"""Releases of model versions: the policy per tier, promotion requests and their approvals,
evaluation records with their findings, and the tokens a training pipeline posts them with.

A version's stage moves only through a promotion request (registry/services/releases.py):
who asked, why, on what evidence, and who approved it, as the tier's policy says.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from portal.limits import LONG_TEXT, SHORT_TEXT, BoundedTextField
from registry.models.ai import AIModel, ModelVersion, ReleaseStage
from registry.models.usecases import RiskTier


class ApproverRole(models.TextChoices):
    RISK_OFFICER = "risk_officer", "A risk officer"
    OWNER = "owner", "The use-case owner"
    DPO = "dpo", "The data protection officer"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_ORDER: list[str] = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


class ReleasePolicy(models.Model):
    """What a release of a model version needs at one risk tier; a firm edits these."""

    tier = models.CharField(max_length=20, choices=RiskTier.choices, unique=True)
    approvers = models.JSONField(
        default=list,
        blank=True,
        help_text="Who must approve a promotion, each a different person and none of them the "
        "requester: any of risk_officer, owner, dpo.",
    )
    min_shadow_hours = models.PositiveIntegerField(
        default=0, help_text="Hours a version stays in shadow before it may move on."
    )
    min_canary_hours = models.PositiveIntegerField(
        default=0, help_text="Hours a version stays in canary before it may move on."
    )
    canary_max_traffic = models.PositiveSmallIntegerField(
        "canary traffic cap (%)",
        default=100,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="The largest share of traffic a canary version may serve.",
    )
    require_evaluation = models.BooleanField(
        default=False, help_text="An evaluation record is needed before canary and go-live."
    )
    require_fairness = models.BooleanField(
        default=False,
        help_text="A passing fairness evaluation on every protected group named below.",
    )
    protected_groups = models.JSONField(
        default=list,
        blank=True,
        help_text="The attributes fairness is evaluated on, e.g. sex, age, ethnicity.",
    )
    blocking_severity = models.CharField(
        max_length=20,
        choices=Severity.choices,
        blank=True,
        help_text="An open robustness or red-team finding this severe or worse blocks a "
        "release (empty: none blocks).",
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["tier"]
        verbose_name_plural = "release policies"

    def __str__(self) -> str:
        return f"Release policy: {self.get_tier_display()}"

    def blocks(self, severity: str) -> bool:
        if not self.blocking_severity:
            return False
        return SEVERITY_ORDER.index(severity) >= SEVERITY_ORDER.index(self.blocking_severity)


class PromotionKind(models.TextChoices):
    PROMOTE = "promote", "Promotion"
    ROLLBACK = "rollback", "Rollback"
    RETIRE = "retire", "Retirement"


class PromotionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    DONE = "done", "Done"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class PromotionRequest(models.Model):
    """A move of a version from one stage to another: who asked, why, on what evidence."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="promotions", editable=False
    )
    kind = models.CharField(max_length=20, choices=PromotionKind.choices, editable=False)
    from_stage = models.CharField(max_length=20, choices=ReleaseStage.choices, editable=False)
    to_stage = models.CharField(max_length=20, choices=ReleaseStage.choices, editable=False)
    traffic_share = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False, help_text="The canary's share of traffic (%)."
    )
    reason = BoundedTextField(max_length=SHORT_TEXT, editable=False)
    evidence = BoundedTextField(
        max_length=LONG_TEXT, blank=True, editable=False, help_text="Links, test runs, reports."
    )
    tier = models.CharField(max_length=20, choices=RiskTier.choices, editable=False)
    required_approvers = models.JSONField(default=list, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(
        max_length=20,
        choices=PromotionStatus.choices,
        default=PromotionStatus.PENDING,
        editable=False,
    )
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["status", "-requested_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version"],
                condition=models.Q(status="pending"),
                name="one_pending_promotion_per_version",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.model_version}: {self.get_from_stage_display()} → {self.get_to_stage_display()}"
        )

    def get_absolute_url(self) -> str:
        return reverse("registry:promotion-detail", args=[self.pk])

    @property
    def is_pending(self) -> bool:
        return self.status == PromotionStatus.PENDING


class Decision(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class PromotionApproval(models.Model):
    """One approver's answer to a promotion request, and the role they answered in."""

    request = models.ForeignKey(
        PromotionRequest, on_delete=models.PROTECT, related_name="approvals", editable=False
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    role = models.CharField(max_length=20, choices=ApproverRole.choices, editable=False)
    decision = models.CharField(max_length=20, choices=Decision.choices, editable=False)
    note = BoundedTextField(max_length=SHORT_TEXT, blank=True, editable=False)
    decided_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["decided_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="one_answer_per_approver")
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.approver} as {self.get_role_display()}"


class EvaluationSource(models.TextChoices):
    PERSON = "person", "Posted by a person"
    CI = "ci", "Posted by a pipeline (model token)"
    MLFLOW = "mlflow", "Imported from MLflow"


class EvaluationRecord(models.Model):
    """One evaluation of a version: metrics against thresholds, fairness per group, findings.

    ``metrics`` is a list of {name, value, threshold, direction (min|max), passed};
    ``fairness`` a list of {attribute, group, metric, value, gap, threshold, passed}, where
    the gap is the distance from the best group of the attribute and passes when it is at most
    the threshold. Findings are rows of their own (EvaluationFinding), since their status moves.
    """

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="evaluations", editable=False
    )
    name = models.CharField(max_length=200)
    dataset = models.CharField("data set evaluated on", max_length=300)
    metrics = models.JSONField(default=list, blank=True)
    fairness = models.JSONField(default=list, blank=True)
    notes = BoundedTextField(max_length=LONG_TEXT, blank=True)
    source = models.CharField(max_length=20, choices=EvaluationSource.choices, editable=False)
    ran_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    ran_by_label = models.CharField(
        max_length=200, blank=True, editable=False, help_text="A pipeline's token or MLflow."
    )
    ran_at = models.DateTimeField()
    external_ref = models.CharField(max_length=300, blank=True, editable=False)
    passed = models.BooleanField(editable=False, help_text="Every metric and group passed.")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-ran_at", "-pk"]
        indexes = [models.Index(fields=["model_version", "-ran_at"])]

    def __str__(self) -> str:
        return f"{self.name} of {self.model_version} on {self.dataset}"

    @property
    def failed_groups(self) -> list[dict]:
        return [row for row in self.fairness if not row.get("passed")]

    @property
    def failed_metrics(self) -> list[dict]:
        return [row for row in self.metrics if row.get("passed") is False]

    @property
    def ran_by_name(self) -> str:
        if self.ran_by is not None:
            return self.ran_by.get_full_name() or self.ran_by.username
        return self.ran_by_label


class FindingKind(models.TextChoices):
    ROBUSTNESS = "robustness", "Robustness"
    RED_TEAM = "red_team", "Red team"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    MITIGATED = "mitigated", "Mitigated"
    ACCEPTED = "accepted", "Risk accepted"
    CLOSED = "closed", "Closed"


class EvaluationFinding(models.Model):
    evaluation = models.ForeignKey(
        EvaluationRecord, on_delete=models.PROTECT, related_name="findings", editable=False
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="findings", editable=False
    )
    kind = models.CharField(max_length=20, choices=FindingKind.choices)
    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=20, choices=Severity.choices)
    status = models.CharField(
        max_length=20, choices=FindingStatus.choices, default=FindingStatus.OPEN
    )
    detail = BoundedTextField(max_length=LONG_TEXT, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["status", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} finding ({self.severity}): {self.title}"


class ModelToken(models.Model):
    """A bearer token that may post evaluations for the versions of one model, and nothing
    else. Only a hash is kept; the token is shown once, when it is made."""

    model = models.ForeignKey(
        AIModel, on_delete=models.PROTECT, related_name="tokens", editable=False
    )
    name = models.CharField(max_length=120, help_text="e.g. the training pipeline's name.")
    token_prefix = models.CharField(max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, editable=False, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["token_hash", "last_used_at"])

    class Meta:
        ordering = ["model", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…) for {self.model}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
