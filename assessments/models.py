import hashlib
import json

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from assessments import engine
from portal.limits import LONG_TEXT, MACHINE_TEXT, SHORT_TEXT, BoundedTextField
from portal.links import link
from portal.models import Role
from portal.workflow import Transition
from registry.models import RiskTier, UseCase


class Kind(models.TextChoices):
    SCREENING = "screening", "AI risk screening"
    DPIA = "dpia", "Data protection impact assessment"
    IMPACT = "impact", "AI impact assessment"
    MODEL_REVIEW = "model_review", "Model risk review"
    OTHER = "other", "Other assessment"


def canonical_json(value) -> str:
    """One spelling of a JSON value, so equal content always hashes the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AssessmentTemplate(models.Model):
    """One version of a template file. Once an assessment uses it, it never changes."""

    key = models.CharField(max_length=80)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)
    definition = models.JSONField()
    sha256 = models.CharField(max_length=64, editable=False)
    builtin = models.BooleanField(default=False, help_text="Shipped with Steward.")
    active = models.BooleanField(
        default=True, help_text="Offered for new assessments (older versions are not)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="template_key_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    def get_absolute_url(self) -> str:
        return reverse("assessments:template-detail", args=[self.pk])

    @property
    def question_count(self) -> int:
        return len(engine.questions(self.definition))


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    SIGNED_OFF = "signed_off", "Signed off"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


# Waiting for someone's decision: a reviewer's (submitted, in review) or a signer's (approved).
WAITING_FOR_DECISION = (Status.SUBMITTED, Status.IN_REVIEW, Status.APPROVED)


def waiting_since() -> models.Case:
    """Since when an assessment waiting for a decision has waited: since it was approved (for
    its sign-off), else since it was submitted (for its review). The dashboard lists those
    waiting longest (``selectors.stuck``), walking the index on it."""
    return models.Case(
        models.When(status=Status.APPROVED, then=models.F("approved_at")),
        default=models.F("submitted_at"),
    )


EDITABLE = frozenset({Status.DRAFT, Status.CHANGES_REQUESTED})
# Open: work still to do on it; a use case has at most one open assessment of each kind.
OPEN = frozenset(
    {Status.DRAFT, Status.SUBMITTED, Status.IN_REVIEW, Status.CHANGES_REQUESTED, Status.APPROVED}
)


TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(
        "Submit for review",
        frozenset({Status.DRAFT, Status.CHANGES_REQUESTED}),
        Status.SUBMITTED,
        "assessments.submit_assessment",
    ),
    "start_review": Transition(
        "Start review", frozenset({Status.SUBMITTED}), Status.IN_REVIEW, "assessments.review"
    ),
    "request_changes": Transition(
        "Request changes",
        frozenset({Status.IN_REVIEW}),
        Status.CHANGES_REQUESTED,
        "assessments.review",
        reason_required=True,
        style="warning",
    ),
    # Each routed reviewer approves; the last approval moves the assessment to approved.
    "approve": Transition(
        "Approve", frozenset({Status.IN_REVIEW}), Status.APPROVED, "assessments.review"
    ),
    "reject": Transition(
        "Reject",
        frozenset({Status.IN_REVIEW, Status.APPROVED}),
        Status.REJECTED,
        "assessments.reject",
        reason_required=True,
        style="danger",
    ),
    "sign_off": Transition(
        "Sign off", frozenset({Status.APPROVED}), Status.SIGNED_OFF, "assessments.sign_off"
    ),
    # The author takes it back (a review nobody can do, a mistake found): the round's
    # reviews are dropped and a resubmission routes it afresh.
    "withdraw": Transition(
        "Withdraw to draft",
        frozenset({Status.SUBMITTED, Status.IN_REVIEW}),
        Status.DRAFT,
        "assessments.withdraw",
        reason_required=True,
        style="secondary",
    ),
}


class Assessment(models.Model):
    reference = models.CharField(max_length=12, unique=True, editable=False)
    template = models.ForeignKey(
        AssessmentTemplate, on_delete=models.PROTECT, related_name="assessments"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, editable=False)
    use_case = models.ForeignKey(UseCase, on_delete=models.PROTECT, related_name="assessments")
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="1 for the first of its kind on the use case."
    )
    previous = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="next_versions",
        help_text="The signed-off version this re-assessment started from.",
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="authored_assessments"
    )
    answers = models.JSONField(default=dict, blank=True)
    # Everyone who wrote answers; none of them may review or sign what they wrote.
    contributor_ids = models.JSONField(default=list, blank=True, editable=False)
    # What the engine made of the answers: scores, adjustments, outcome and its reasons.
    result = models.JSONField(default=dict, blank=True, editable=False)
    result_value = models.CharField(max_length=40, blank=True, editable=False)
    # Bumped by every save of the answers; a save from an older revision is refused.
    revision = models.PositiveIntegerField(default=1, editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)
    valid_until = models.DateField(null=True, blank=True, editable=False)
    overdue_flagged_on = models.DateField(null=True, blank=True, editable=False)
    tier_override = models.CharField(
        max_length=20, choices=RiskTier.choices, blank=True, editable=False
    )
    tier_override_reason = BoundedTextField(max_length=SHORT_TEXT, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["status"]),
            models.Index(fields=["use_case", "kind", "version"]),
            models.Index(fields=["valid_until"]),
            # The assessments waiting longest for a decision, in order: the dashboard reads
            # the first ten the person sees (selectors.stuck) by walking it, where it sorted
            # every waiting assessment the person sees (some thousands) on every request.
            models.Index(
                waiting_since(),
                models.F("id"),
                name="assessments_waiting_since",
                condition=models.Q(status__in=WAITING_FOR_DECISION),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.get_kind_display()} v{self.version}"

    def get_absolute_url(self) -> str:
        return link("assessments:detail", self.pk)

    @property
    def definition(self) -> dict:
        return self.template.definition

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE

    @property
    def result_label(self) -> str:
        return (self.result or {}).get("label", "")

    @property
    def reasons(self) -> list[dict]:
        return (self.result or {}).get("reasons", [])


class RoutingRule(models.Model):
    """Who must review or approve which assessments: data a firm changes in the admin.

    A rule matches when every condition it sets holds (an empty list means any). Each
    matching rule adds its reviewer with its reason, so an assessment shows why each
    person was asked.
    """

    class Stage(models.TextChoices):
        REVIEW = "review", "Review"
        APPROVE = "approve", "Approve and sign off"

    name = models.CharField(max_length=120)
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.REVIEW)
    kinds = models.JSONField(default=list, blank=True, help_text="Assessment kinds; empty = all.")
    tiers = models.JSONField(
        default=list, blank=True, help_text="Use-case risk tiers (or the screening's); empty = any."
    )
    levels = models.JSONField(
        default=list, blank=True, help_text="Assessment results; empty = any."
    )
    personal_data = models.BooleanField(
        default=False, help_text="Only when the use case processes personal data."
    )
    special_category = models.BooleanField(
        default=False, help_text="Only when it uses special-category personal data."
    )
    role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text="A reviewer group (e.g. legal) instead of a role.",
    )
    reason = models.CharField(max_length=300, help_text="Shown on the assessment.")
    active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=100)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def reviewer_label(self) -> str:
        if self.group is not None:
            return self.group.name.replace("_", " ").capitalize()
        return Role(self.role).label if self.role else "?"

    def clean(self) -> None:
        if bool(self.role) == bool(self.group_id):
            raise ValidationError("Route to a role or to a reviewer group (one of them).")
        for field, allowed in (
            ("kinds", Kind.values),
            ("tiers", RiskTier.values),
        ):
            value = getattr(self, field)
            if not isinstance(value, list) or any(v not in allowed for v in value):
                raise ValidationError({field: f"Give a list from: {', '.join(allowed)}."})


class ReviewAssignment(models.Model):
    """One reviewer (a role or a reviewer group) asked to review or approve, and why."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        REJECTED = "rejected", "Rejected"
        SIGNED_OFF = "signed_off", "Signed off"

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="reviews")
    stage = models.CharField(max_length=10, choices=RoutingRule.Stage.choices)
    role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT)
    reasons = models.JSONField(default=list)
    # Named when exactly one person fits; otherwise anyone who fits may act, and is recorded.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=20, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = BoundedTextField(max_length=SHORT_TEXT, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["stage", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "stage", "role", "group"], name="one_assignment_per_reviewer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()}: {self.reviewer_label}"

    @property
    def reviewer_label(self) -> str:
        if self.group is not None:
            return self.group.name.replace("_", " ").capitalize()
        return Role(self.role).label if self.role else "?"

    @property
    def reviewer_name(self) -> str:
        """The role or group, and the person when one is named or has decided."""
        person = self.decided_by or self.assignee
        if person is None:
            return self.reviewer_label
        return f"{self.reviewer_label}: {person.get_full_name() or person.username}"


class Comment(models.Model):
    """A reviewer's comment on one question, and the author's answers in its thread."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="comments")
    question_key = models.CharField(max_length=64, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    body = BoundedTextField(max_length=LONG_TEXT)
    resolved = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Comment on {self.question_key or 'the assessment'}"


class ImmutableError(Exception):
    pass


class SignOff(models.Model):
    """What was signed, by whom, when: written once and never changed.

    ``content`` is the canonical JSON of exactly what was signed; ``sha256`` is its hash,
    so anyone can recompute it and see that nothing has changed since.
    """

    assessment = models.OneToOneField(
        Assessment, on_delete=models.PROTECT, related_name="sign_off_record"
    )
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    signed_at = models.DateTimeField()
    statement = BoundedTextField(max_length=LONG_TEXT)
    content = BoundedTextField(max_length=MACHINE_TEXT)
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"Sign-off of {self.assessment_id} by {self.signed_by_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableError("A sign-off is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError("A sign-off is never deleted.")

    @property
    def content_intact(self) -> bool:
        return sha256_of(self.content) == self.sha256


class EvidenceFile(models.Model):
    """A file attached to an evidence question; answers refer to it by id."""

    assessment = models.ForeignKey(
        Assessment, on_delete=models.PROTECT, related_name="evidence_files"
    )
    file = models.FileField(upload_to="evidence/%Y/%m/")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120, blank=True)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.filename
