"""AI models, their versions and deployments, model cards and data-policy exceptions."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from portal.limits import LOG_TEXT, LONG_TEXT, SHORT_TEXT, BoundedTextField
from registry.models.usecases import (
    BusinessUnit,
    DataSource,
    Destination,
    Lifecycle,
    RiskTier,
    UseCase,
)


class HostingPattern(models.TextChoices):
    API_FIRST = "api_first", "API-first (a provider's API)"
    HOSTED_OPEN = "hosted_open", "Hosted open model"
    FINE_TUNED = "fine_tuned", "Fine-tuned"
    IN_HOUSE = "in_house", "In-house"


# Where data sent to a model goes, unless the model says otherwise: a provider's API is
# outside the firm; an open model the firm hosts, or one it trained, runs in its VPC.
DEFAULT_DESTINATION: dict[str, str] = {
    HostingPattern.API_FIRST: Destination.EXTERNAL_API,
    HostingPattern.HOSTED_OPEN: Destination.PRIVATE_VPC,
    HostingPattern.FINE_TUNED: Destination.PRIVATE_VPC,
    HostingPattern.IN_HOUSE: Destination.PRIVATE_VPC,
}


class ApprovalStatus(models.TextChoices):
    UNDER_EVALUATION = "under_evaluation", "Under evaluation"
    APPROVED = "approved", "Approved"
    BANNED = "banned", "Banned"


class AIModel(models.Model):
    reference = models.CharField(max_length=12, unique=True, editable=False)
    name = models.CharField(max_length=200)
    provider = models.CharField(max_length=120, help_text="Who built it, e.g. OpenAI, Meta, us.")
    hosting_pattern = models.CharField(max_length=20, choices=HostingPattern.choices)
    data_destination = models.CharField(
        "data sent to it goes to",
        max_length=20,
        choices=Destination.choices,
        help_text="Where prompts and inputs travel: a provider's API is external; a model "
        "the firm hosts runs in its VPC or on premises.",
    )
    vendor = models.CharField(max_length=120, blank=True, help_text="Who the firm buys it from.")
    licence = models.CharField(max_length=120, blank=True, help_text="e.g. Apache-2.0, commercial.")
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.PROTECT, related_name="ai_models"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_ai_models"
    )
    risk_tier = models.CharField(
        max_length=20, choices=RiskTier.choices, default=RiskTier.UNSCREENED
    )
    approval_status = models.CharField(
        max_length=20,
        choices=ApprovalStatus.choices,
        default=ApprovalStatus.UNDER_EVALUATION,
        editable=False,
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)
    approval_note = BoundedTextField(max_length=SHORT_TEXT, blank=True, editable=False)
    external_ref = models.CharField(
        max_length=300, blank=True, help_text="Its name in another registry, e.g. MLflow."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "AI model"
        indexes = [models.Index(fields=["approval_status"])]

    def __str__(self) -> str:
        return f"{self.reference} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("registry:model-detail", args=[self.pk])

    def clean(self) -> None:
        # A provider's API is outside the firm whatever anyone types: the data policy reads
        # this field, so it must not be declared nearer than the hosting pattern allows.
        if (
            self.hosting_pattern == HostingPattern.API_FIRST
            and self.data_destination  # empty: the service fills in the pattern's default
            and self.data_destination != Destination.EXTERNAL_API
        ):
            raise ValidationError(
                {"data_destination": "An API-first model sends data to an external API."}
            )


class ReleaseStage(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    SHADOW = "shadow", "Shadow"
    CANARY = "canary", "Canary"
    PARTIAL = "partial", "Partial"
    PRODUCTION = "production", "Production"
    RETIRED = "retired", "Retired"


class ModelVersion(models.Model):
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=60)
    artefact = models.CharField(
        "artefact or endpoint", max_length=500, blank=True, help_text="A URI, image or endpoint."
    )
    training_data = models.JSONField(
        "training-data references", default=list, blank=True, help_text="Datasets or URIs."
    )
    evaluation = models.JSONField(
        "evaluation results", default=dict, blank=True, help_text="Metric name → value."
    )
    # Moved only by a promotion request (registry/services/releases.py), never by an edit.
    stage = models.CharField(
        max_length=20,
        choices=ReleaseStage.choices,
        default=ReleaseStage.CANDIDATE,
        editable=False,
    )
    stage_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    external_ref = models.CharField(max_length=300, blank=True)
    # Set by a monitoring flag on the version; cleared when its flags are resolved.
    needs_reassessment = models.BooleanField(default=False, editable=False)
    reassessment_reasons = BoundedTextField(max_length=LOG_TEXT, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["model", "-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="model_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.model.name} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("registry:model-version-detail", args=[self.pk])


# The sections of Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019): key, title,
# what to write. Facts the registry holds (owner, provider, versions, deployments, tier) are
# added to every card by itself and are not typed here.
MODEL_CARD_SECTIONS = [
    (
        "model_details",
        "Model details",
        "Who developed it, when, the model type and version, "
        "training algorithms, paper or resource, citation, licence, where to send questions.",
    ),
    ("intended_use", "Intended use", "Primary intended uses and users."),
    ("out_of_scope", "Out-of-scope uses", "Uses it was not built or evaluated for."),
    (
        "factors",
        "Factors",
        "Relevant groups, instrumentation and environments; which were evaluated.",
    ),
    ("metrics", "Metrics", "Performance measures, decision thresholds, variation approaches."),
    ("evaluation_data", "Evaluation data", "Datasets, why they were chosen, preprocessing."),
    ("training_data", "Training data", "As much as can be said about the training data."),
    (
        "quantitative_analyses",
        "Quantitative analyses",
        "Results overall and across groups (unitary and intersectional).",
    ),
    (
        "ethical_considerations",
        "Ethical considerations",
        "Sensitive data, risks to people and their mitigations, fraught use cases.",
    ),
    (
        "caveats",
        "Caveats and recommendations",
        "Concerns not covered above; recommended further testing.",
    ),
]
# A section counts as written once it says this much.
CARD_SECTION_MIN_CHARS = 40


class ModelCard(models.Model):
    """The model card of one model version; every edit is a version in its history."""

    model_version = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, related_name="card"
    )
    sections = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Model card of {self.model_version}"

    @property
    def missing(self) -> list[str]:
        """Titles of the sections not written yet."""
        return [
            title
            for key, title, _ in MODEL_CARD_SECTIONS
            if len(str(self.sections.get(key) or "").strip()) < CARD_SECTION_MIN_CHARS
        ]

    @property
    def completeness(self) -> int:
        """Percent of the sections written."""
        total = len(MODEL_CARD_SECTIONS)
        return round(100 * (total - len(self.missing)) / total)


class Environment(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class Deployment(models.Model):
    """A model version serving a use case in an environment, with a share of its traffic."""

    use_case = models.ForeignKey(UseCase, on_delete=models.PROTECT, related_name="deployments")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="deployments"
    )
    previous_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        help_text="What it served before the last change: what a rollback goes back to.",
    )
    environment = models.CharField(max_length=20, choices=Environment.choices)
    traffic_share = models.PositiveSmallIntegerField(
        "traffic share (%)",
        default=100,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    active = models.BooleanField(default=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["use_case", "environment", "-traffic_share", "pk"]

    def __str__(self) -> str:
        return f"{self.model_version} → {self.use_case.reference} ({self.environment})"

    @property
    def model(self) -> AIModel:
        return self.model_version.model


class ModelApproval(models.Model):
    """A model approved for one use case, by whom and when."""

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="model_approvals")
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="use_case_approvals")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    approved_at = models.DateTimeField(auto_now_add=True)
    note = BoundedTextField(max_length=SHORT_TEXT, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["use_case", "model"]
        constraints = [
            models.UniqueConstraint(fields=["use_case", "model"], name="one_approval_per_pair")
        ]

    def __str__(self) -> str:
        return f"{self.model} approved for {self.use_case.reference}"


class DataPolicyException(models.Model):
    """A recorded exception: this data may go to this model for this use case, until a date."""

    use_case = models.ForeignKey(
        UseCase, on_delete=models.CASCADE, related_name="data_policy_exceptions"
    )
    data_source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="+")
    justification = BoundedTextField(max_length=SHORT_TEXT)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    approved_at = models.DateTimeField(auto_now_add=True)
    expires_on = models.DateField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-expires_on"]

    def __str__(self) -> str:
        return f"{self.data_source.reference} → {self.model} until {self.expires_on}"

    def clean(self) -> None:
        if (
            self.data_source_id
            and self.use_case_id
            and not self.use_case.data_sources.filter(pk=self.data_source_id).exists()
        ):
            raise ValidationError({"data_source": "The use case does not use that source."})


class GateCheck(models.Model):
    """Each answer of the go-live gate: who asked, for what, and what it said."""

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="gate_checks")
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    asked_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=20, help_text="page, api, transition or deployment")
    passed = models.BooleanField()
    checks = models.JSONField()

    class Meta:
        ordering = ["-asked_at", "-pk"]
        indexes = [models.Index(fields=["use_case", "-asked_at"])]

    def __str__(self) -> str:
        return f"{self.use_case_id} {'pass' if self.passed else 'fail'} at {self.asked_at}"


class GoLiveKind(models.TextChoices):
    USE_CASE = "use_case", "Use case into production"
    DEPLOYMENT = "deployment", "Deployment into production"


# What moved, in words: the lifecycle moves into production, and the deployment changes.
GO_LIVE_ACTIONS = {
    "go_live": "Moved to production",
    "resume": "Resumed in production",
    "deploy": "Deployed to production",
    "change": "Version changed in production",
    "rollback": "Rolled back in production",
}


class GoLiveRecord(models.Model):
    """One move into production, kept whole for the auditor: who moved what, when, and what
    the gate said at that moment, every check with the evidence it rested on (signed-off
    assessments and their hashes, model approvals, the runbook version).

    Written by the registry's services in the move's own transaction, and never changed:
    the ledger keeps the table append-only (registry/hooks.py), so everything is known
    before the row is inserted.
    """

    use_case = models.ForeignKey(
        UseCase, on_delete=models.PROTECT, related_name="go_live_records", editable=False
    )
    kind = models.CharField(max_length=20, choices=GoLiveKind.choices, editable=False)
    action = models.CharField(
        max_length=20,
        editable=False,
        help_text="go_live, resume, deploy, change or rollback (GO_LIVE_ACTIONS)",
    )
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        help_text="Empty when the system moved it.",
    )
    moved_at = models.DateTimeField(editable=False)
    lifecycle_from = models.CharField(
        max_length=20, choices=Lifecycle.choices, blank=True, editable=False
    )
    lifecycle_to = models.CharField(
        max_length=20, choices=Lifecycle.choices, blank=True, editable=False
    )
    deployment = models.ForeignKey(
        Deployment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="go_live_records",
        editable=False,
    )
    environment = models.CharField(
        max_length=20, choices=Environment.choices, blank=True, editable=False
    )
    model_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        help_text="The version that went into production.",
    )
    previous_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        help_text="The version it replaced, if any.",
    )
    traffic_share = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    gate_check = models.ForeignKey(
        GateCheck,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        help_text="The gate's logged answer that let the move through.",
    )
    passed = models.BooleanField(editable=False)
    checks = models.JSONField(editable=False, help_text="Every check of the gate, with evidence.")
    reason = BoundedTextField(max_length=LONG_TEXT, blank=True, editable=False)

    class Meta:
        ordering = ["-moved_at", "-pk"]
        indexes = [models.Index(fields=["use_case", "-moved_at"])]

    def __str__(self) -> str:
        return f"Go-live of {self.use_case_id} ({self.kind}) at {self.moved_at}"

    def get_absolute_url(self) -> str:
        return reverse("registry:go-live-record", args=[self.pk])

    @property
    def action_label(self) -> str:
        return GO_LIVE_ACTIONS.get(self.action, self.action)
