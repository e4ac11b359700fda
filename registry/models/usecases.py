from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from portal.limits import LOG_TEXT, LONG_TEXT, MACHINE_TEXT, BoundedTextField
from portal.links import link
from portal.workflow import Transition


class BusinessUnit(models.Model):
    name = models.CharField(max_length=120, unique=True)
    code = models.SlugField(
        max_length=20, unique=True, help_text="Short code used in imports, e.g. RETAIL."
    )
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="business_units", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[members])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:business-unit-detail", args=[self.pk])


class Classification(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"
    SPECIAL_CATEGORY = "special_category", "Special-category personal data"


class Destination(models.TextChoices):
    """The farthest the data may travel; each choice allows the ones below it."""

    EXTERNAL_API = "external_api", "External API"
    PRIVATE_VPC = "private_vpc", "Private VPC"
    ON_PREMISES = "on_premises", "On-premises only"


class DataSource(models.Model):
    reference = models.CharField(max_length=12, unique=True, editable=False)
    name = models.CharField(max_length=200)
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.PROTECT, related_name="data_sources"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_data_sources"
    )
    classification = models.CharField(max_length=20, choices=Classification.choices)
    personal_data = models.BooleanField(
        "contains personal data", default=False, help_text="Does it hold personal data?"
    )
    allowed_destination = models.CharField(
        "where the data may go",
        max_length=20,
        choices=Destination.choices,
        help_text="The farthest the data may travel: an external API, a private VPC, "
        "or on-premises only.",
    )
    retention_days = models.PositiveIntegerField(
        "retention (days)",
        null=True,
        blank=True,
        help_text="How long records are kept. Leave empty if set by the notes below.",
    )
    retention_notes = models.CharField(
        "retention rule", max_length=300, blank=True, help_text="e.g. 6 years after closure."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.reference} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("registry:data-source-detail", args=[self.pk])

    def clean(self) -> None:
        errors = {}
        if self.classification == Classification.SPECIAL_CATEGORY and not self.personal_data:
            errors["personal_data"] = "Special-category personal data is personal data: tick it."
        if self.retention_days is None and not self.retention_notes.strip():
            errors["retention_days"] = "Say how long the data is kept, in days or as a rule."
        # Here rather than in the form, so the API and the pages alike hold to it.
        if (
            self.owner_id
            and self.business_unit_id
            and not self.business_unit.members.filter(pk=self.owner_id).exists()
        ):
            errors["owner"] = f"The owner must be a member of {self.business_unit}."
        if errors:
            raise ValidationError(errors)


class Lifecycle(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    PILOT = "pilot", "Pilot"
    PRODUCTION = "production", "Production"
    SUSPENDED = "suspended", "Suspended"
    RETIRED = "retired", "Retired"


# Where the AI runs for real (unless the kill switch is engaged).
LIVE_LIFECYCLES = frozenset({Lifecycle.PILOT, Lifecycle.PRODUCTION})


LIFECYCLE_TRANSITIONS: dict[str, Transition] = {
    "start_pilot": Transition(
        "Start pilot", frozenset({Lifecycle.PROPOSED}), Lifecycle.PILOT, "registry.change_usecase"
    ),
    "go_live": Transition(
        "Move to production",
        frozenset({Lifecycle.PILOT}),
        Lifecycle.PRODUCTION,
        "registry.change_usecase",
    ),
    "suspend": Transition(
        "Suspend",
        frozenset({Lifecycle.PILOT, Lifecycle.PRODUCTION}),
        Lifecycle.SUSPENDED,
        "registry.suspend_usecase",
        reason_required=True,
        style="warning",
    ),
    "resume": Transition(
        "Resume in production",
        frozenset({Lifecycle.SUSPENDED}),
        Lifecycle.PRODUCTION,
        "registry.change_usecase",
        reason_required=True,
    ),
    "return_to_pilot": Transition(
        "Return to pilot",
        frozenset({Lifecycle.SUSPENDED}),
        Lifecycle.PILOT,
        "registry.change_usecase",
        reason_required=True,
        style="secondary",
    ),
    "retire": Transition(
        "Retire",
        frozenset({Lifecycle.PROPOSED, Lifecycle.PILOT, Lifecycle.PRODUCTION, Lifecycle.SUSPENDED}),
        Lifecycle.RETIRED,
        "registry.change_usecase",
        reason_required=True,
        style="danger",
    ),
}


class PeopleAffected(models.TextChoices):
    STAFF = "staff", "Internal staff"
    CUSTOMERS = "customers", "Customers"
    PUBLIC = "public", "Members of the public"


class DecisionImpact(models.TextChoices):
    INFORMATIONAL = "informational", "Informational only"
    ASSISTS = "assists", "Assists a person who decides"
    AUTOMATIC = "automatic", "Decides automatically"


class HumanOversight(models.TextChoices):
    NONE = "none", "None"
    SAMPLED = "sampled", "Sampled review"
    BEFORE_ACTION = "before_action", "Review before action"


class RiskTier(models.TextChoices):
    """EU AI Act tiers; "not screened" until the risk screening (assessments) sets one."""

    UNSCREENED = "unscreened", "Not screened"
    PROHIBITED = "prohibited", "Prohibited"
    HIGH = "high", "High risk"
    LIMITED = "limited", "Limited risk"
    MINIMAL = "minimal", "Minimal risk"
    # Art. 2 puts the system outside the Regulation (military, research, personal use, ...):
    # recorded as its own result so the register can tell it from minimal risk.
    OUTSIDE = "outside", "Outside the AI Act"


def validate_people_affected(value) -> None:
    allowed = set(PeopleAffected.values)
    if not isinstance(value, list) or not all(v in allowed for v in value):
        raise ValidationError(
            "Choose from: %(choices)s.", params={"choices": ", ".join(PeopleAffected.values)}
        )


class UseCase(models.Model):
    reference = models.CharField(max_length=12, unique=True, editable=False)
    title = models.CharField(max_length=200)
    purpose = BoundedTextField(
        max_length=LONG_TEXT, help_text="What the AI does, for whom, and why."
    )
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.PROTECT, related_name="use_cases"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_use_cases",
        help_text="The accountable product owner.",
        db_index=False,  # registry_usecase_owner_reviews below, which also holds each one's key
    )
    lifecycle = models.CharField(
        max_length=20, choices=Lifecycle.choices, default=Lifecycle.PROPOSED, editable=False
    )
    people_affected = models.JSONField(
        default=list, blank=True, validators=[validate_people_affected]
    )
    decision_impact = models.CharField(max_length=20, choices=DecisionImpact.choices)
    human_oversight = models.CharField(
        "human-in-the-loop rule", max_length=20, choices=HumanOversight.choices
    )
    data_sources = models.ManyToManyField(DataSource, related_name="use_cases", blank=True)
    risk_tier = models.CharField(
        max_length=20, choices=RiskTier.choices, default=RiskTier.UNSCREENED, editable=False
    )
    risk_tier_basis = BoundedTextField(
        max_length=LONG_TEXT,
        blank=True,
        editable=False,
        help_text="What the tier rests on: the screening's citations or an override's reason.",
    )
    next_review_date = models.DateField(null=True, blank=True)
    needs_reassessment = models.BooleanField(default=False, editable=False)
    reassessment_reasons = BoundedTextField(max_length=LOG_TEXT, blank=True, editable=False)
    kill_switch_engaged = models.BooleanField(
        default=False,
        editable=False,
        help_text="When engaged, the AI is switched off and the fallback runs.",
    )
    # When the switch last moved: what deployed systems polling it are told (incidents app).
    kill_switch_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[data_sources])

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["lifecycle"]),
            models.Index(fields=["risk_tier"]),
            # With what the dashboard's figures count (registry.selectors.use_case_counts) and
            # who sees each (unit, owner, key): the counts are read from this index alone, a
            # pass over 10,000 small entries rather than the register's wide rows (4.6 ms to
            # 2.8 for a product owner after a change, 4.9 to 3.2 for a risk officer).
            models.Index(
                fields=["business_unit", "lifecycle"],
                include=["risk_tier", "needs_reassessment", "kill_switch_engaged", "owner", "id"],
                name="registry_usecase_counted",
            ),
            models.Index(fields=["-updated_at"]),
            # What the other apps' lists join a use case for (its reference and title to
            # print; its unit, owner and lifecycle to filter on), so that PostgreSQL reads it
            # from this index rather than the table's wide rows: the dashboard joins every
            # use case several times (docs/benchmarks.md, "The dashboard's joins").
            models.Index(
                fields=["id"],
                include=["business_unit", "owner", "lifecycle", "reference", "title"],
                name="registry_usecase_joined",
            ),
            # The use cases a person owns, by key, with what My work asks of each for its
            # re-assessments (lifecycle, mark, review date): read from here alone (My work asks
            # for the set on every gathering: their flags, their expiring sign-offs, the use
            # cases whose review is due, counted in full), not from the table's rows, a third
            # of the register for a product owner (2.2 ms to 0.3 for the set; 2.9 to 1.1 for
            # the review dates, dashboard.work.reassessments).
            models.Index(
                fields=["owner", "id"],
                include=["lifecycle", "needs_reassessment", "next_review_date"],
                name="registry_usecase_owner_reviews",
            ),
            # The use cases marked as needing re-assessment (a few at a time), in the order
            # the dashboard lists them: read from here, not by a pass over the whole register
            # on each person's dashboard after a change (2.1 ms to 0.1 at 10,000).
            models.Index(
                fields=["next_review_date", "reference"],
                condition=models.Q(needs_reassessment=True),
                name="registry_usecase_to_reassess",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return link("registry:use-case-detail", self.pk)

    @property
    def ai_enabled(self) -> bool:
        """Whether the AI may run: the kill switch is released and the use case is live.
        Deployed systems poll this; a change to it is announced by ``signals.ai_switched``."""
        return not self.kill_switch_engaged and self.lifecycle in LIVE_LIFECYCLES

    def clean(self) -> None:
        errors = {}
        typed = self.title or ""
        self.title = " ".join(typed.split())
        if typed and not self.title:  # an empty title is already refused as required
            errors["title"] = "Give the use case a title."
        self.people_affected = list(dict.fromkeys(self.people_affected or []))
        if not self.people_affected:
            errors["people_affected"] = "Choose at least one group of people affected."
        if (
            self.owner_id
            and self.business_unit_id
            and not self.business_unit.members.filter(pk=self.owner_id).exists()
        ):
            errors["owner"] = f"The owner must be a member of {self.business_unit}."
        reaches_outside = {PeopleAffected.CUSTOMERS, PeopleAffected.PUBLIC} & set(
            self.people_affected or []
        )
        if (
            self.decision_impact == DecisionImpact.AUTOMATIC
            and self.human_oversight == HumanOversight.NONE
            and reaches_outside
        ):
            errors["human_oversight"] = (
                "An AI that decides automatically about customers or the public needs "
                "at least sampled human review."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def people_affected_labels(self) -> list[str]:
        labels = dict(PeopleAffected.choices)
        return [labels.get(v, v) for v in self.people_affected]


class RegisterImport(models.Model):
    """An uploaded register spreadsheet, kept between its preview and its import."""

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed"
        IMPORTED = "imported", "Imported"
        FAILED = "failed", "Failed"

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)
    filename = models.CharField(max_length=255)
    content = BoundedTextField(max_length=MACHINE_TEXT)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PREVIEWED)
    row_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    imported_at = models.DateTimeField(null=True, blank=True)
    imported_references = models.JSONField(default=list, blank=True)
    # The last check's findings, shown again without re-running the import.
    report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"
