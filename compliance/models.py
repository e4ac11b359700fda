"""Frameworks as versioned data, the controls a firm runs, the evidence that they run, and what
each use case must do (its applicability), with the risk officer's accepted exceptions.

A framework file (compliance/frameworks/*.json) is imported as one ``Framework`` version with
its ``Obligation`` items; once any applicability, control or evidence refers to a version it
never changes (a new file is a new version). The crosswalk is a framework file of its own kind
whose links join items of the others, so a control mapped to one item carries its evidence to
the items linked to it.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from portal.limits import LONG_TEXT, MACHINE_TEXT, SHORT_TEXT, BoundedTextField
from registry.models import UseCase


class FrameworkKind(models.TextChoices):
    FRAMEWORK = "framework", "Framework"
    CROSSWALK = "crosswalk", "Crosswalk"


class Scope(models.TextChoices):
    USE_CASE = "use_case", "Each use case (computed from its screening)"
    ORGANISATION = "organisation", "The firm as a whole"


class Framework(models.Model):
    """One version of a framework file. Once used, it never changes."""

    key = models.CharField(max_length=80)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=FrameworkKind.choices)
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.ORGANISATION)
    title = models.CharField(max_length=200)
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)
    source = BoundedTextField(max_length=LONG_TEXT, blank=True)
    definition = models.JSONField()
    sha256 = models.CharField(max_length=64, editable=False)
    builtin = models.BooleanField(default=False, help_text="Shipped with Steward.")
    active = models.BooleanField(
        default=True, help_text="The version in force (older versions of the key are not)."
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
            models.UniqueConstraint(fields=["key", "version"], name="framework_key_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    def get_absolute_url(self) -> str:
        return reverse("compliance:framework-detail", args=[self.pk])


class Obligation(models.Model):
    """One item of a framework version: an article's duty, a subcategory, an Annex A control."""

    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="obligations")
    key = models.CharField(max_length=80)
    ref = models.CharField(max_length=80, help_text="How it is cited, e.g. Art. 26(6).")
    title = models.CharField(max_length=300)
    text = BoundedTextField(max_length=LONG_TEXT, blank=True)
    group = models.CharField(max_length=80, blank=True)
    group_title = models.CharField(max_length=300, blank=True)
    order = models.PositiveIntegerField(default=0)
    # When it applies to a use case (EU AI Act): roles, tiers and facts (compliance/engine.py).
    applies_when = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["framework", "order"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "key"], name="obligation_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"


class Exclusion(models.Model):
    """The firm's decision that an item of a firm-wide framework (an ISO/IEC 42001 Annex A
    control, a NIST AI RMF subcategory) does not apply to it, with the justification its
    Statement of Applicability gives. Removing it makes the item apply again; both are
    history. Items of use-case frameworks are never excluded by hand: their applicability is
    computed from each use case's screening."""

    obligation = models.OneToOneField(
        Obligation, on_delete=models.PROTECT, related_name="exclusion"
    )
    reason = BoundedTextField(max_length=SHORT_TEXT)
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    excluded_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["obligation"]

    def __str__(self) -> str:
        return f"{self.obligation.ref} excluded"


class CrosswalkLink(models.Model):
    """Two items that ask for the same work, from a crosswalk version."""

    crosswalk = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="links")
    source = models.ForeignKey(Obligation, on_delete=models.PROTECT, related_name="links_out")
    target = models.ForeignKey(Obligation, on_delete=models.PROTECT, related_name="links_in")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["crosswalk", "source", "target"], name="crosswalk_link_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_id} ~ {self.target_id}"


class ControlKind(models.TextChoices):
    POLICY = "policy", "Policy"
    PROCEDURE = "procedure", "Procedure"
    TEST = "test", "Test"
    TRAINING = "training", "Training"


class Frequency(models.TextChoices):
    """How often a control runs: its evidence must be no older than this to count."""

    ONCE = "once", "Once"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMIANNUAL = "semiannual", "Every six months"
    ANNUAL = "annual", "Annually"


FREQUENCY_DAYS: dict[str, int | None] = {
    Frequency.ONCE: None,
    Frequency.MONTHLY: 31,
    Frequency.QUARTERLY: 92,
    Frequency.SEMIANNUAL: 183,
    Frequency.ANNUAL: 366,
}


class Control(models.Model):
    """Something the firm runs (a policy, a procedure, a test, a training) that meets obligations.

    It meets the items it is mapped to and, through the crosswalk, the items linked to them.
    With no use cases it covers every use case (firm-wide); with some, only those.
    """

    reference = models.CharField(max_length=12, unique=True, editable=False)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=ControlKind.choices)
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_controls"
    )
    frequency = models.CharField(max_length=20, choices=Frequency.choices, default=Frequency.ANNUAL)
    obligations = models.ManyToManyField(Obligation, related_name="controls", blank=True)
    use_cases = models.ManyToManyField(UseCase, related_name="controls", blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[obligations, use_cases])

    class Meta:
        ordering = ["reference"]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("compliance:control-detail", args=[self.pk])


class Evidence(models.Model):
    """A file or link that shows a control runs or an obligation is met, attached once.

    ``effective_on`` is when it took effect (a training held, a policy approved), not when it
    was uploaded; past ``expires_on`` it no longer counts.
    """

    reference = models.CharField(max_length=12, unique=True, editable=False)
    title = models.CharField(max_length=200)
    description = BoundedTextField(max_length=SHORT_TEXT, blank=True)
    file = models.FileField(upload_to="compliance/%Y/%m/", blank=True)
    filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    effective_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attested_evidence"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    controls = models.ManyToManyField(Control, related_name="evidence", blank=True)
    obligations = models.ManyToManyField(Obligation, related_name="evidence", blank=True)
    use_cases = models.ManyToManyField(UseCase, related_name="compliance_evidence", blank=True)
    # The day the owner was told it is about to expire, so they are told once.
    expiry_notified_on = models.DateField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[controls, obligations, use_cases])

    class Meta:
        ordering = ["-effective_on", "-pk"]
        verbose_name_plural = "evidence"
        indexes = [models.Index(fields=["expires_on"])]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("compliance:evidence-detail", args=[self.pk])


class Status(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_PROGRESS = "in_progress", "In progress"
    MET = "met", "Met"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    OVERDUE = "overdue", "Overdue"


class Applicability(models.Model):
    """Whether one obligation applies to one use case, why, and how far it is met.

    Computed, never typed (compliance/services/applicability.py); every change is a history
    version whose reason says why (a screening signed off, the tier or lifecycle changed).
    """

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="applicabilities")
    obligation = models.ForeignKey(
        Obligation, on_delete=models.PROTECT, related_name="applicabilities"
    )
    applicable = models.BooleanField()
    reason = BoundedTextField(max_length=SHORT_TEXT)
    status = models.CharField(max_length=20, choices=Status.choices)
    status_detail = models.CharField(max_length=500, blank=True)
    applies_since = models.DateField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["use_case", "obligation__order"]
        verbose_name_plural = "applicabilities"
        constraints = [
            models.UniqueConstraint(
                fields=["use_case", "obligation"], name="one_applicability_per_obligation"
            )
        ]
        indexes = [
            models.Index(fields=["status"]),
            # Coverage counts only the applicable rows (about one in fifteen): read from this
            # index alone, without visiting the table (compliance.selectors.coverage).
            models.Index(
                fields=["use_case", "obligation"],
                include=["id", "status"],
                condition=models.Q(applicable=True),
                name="applicability_applicable",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.obligation.ref} for {self.use_case.reference}"


class ObligationException(models.Model):
    """A named risk officer's acceptance that an applicable obligation is not (yet) met.

    It holds until ``expires_on``; an expired one no longer counts at the go-live gate and flags
    the use case.
    """

    applicability = models.ForeignKey(
        Applicability, on_delete=models.CASCADE, related_name="exceptions"
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField(auto_now_add=True)
    reason = BoundedTextField(max_length=SHORT_TEXT)
    expires_on = models.DateField()
    expiry_flagged_on = models.DateField(null=True, blank=True, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-accepted_at"]
        indexes = [models.Index(fields=["expires_on"])]

    def __str__(self) -> str:
        return f"Exception to {self.applicability} until {self.expires_on}"


class SignedStatement(models.Model):
    """A Statement of Applicability as it was signed: its rows frozen, who signed and when,
    and the SHA-256 of exactly what was signed (signed as assessments are: the signer enters
    their password again). Written once, never changed or deleted; a new signature is a new
    row, so the statements signed over time stay side by side."""

    reference = models.CharField(max_length=12, unique=True, editable=False)
    framework = models.ForeignKey(
        Framework, null=True, blank=True, on_delete=models.PROTECT, related_name="statements"
    )
    use_case = models.ForeignKey(
        UseCase, null=True, blank=True, on_delete=models.PROTECT, related_name="statements"
    )
    title = models.CharField(max_length=400)
    subject = models.CharField(max_length=400)
    as_of = models.DateField()
    rows = models.JSONField(help_text="The statement's rows as signed.")
    basis = models.JSONField(
        null=True, blank=True, help_text="The signed screening a use case's statement rests on."
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField()
    note = BoundedTextField(max_length=SHORT_TEXT, blank=True)
    content = BoundedTextField(max_length=MACHINE_TEXT, help_text="Canonical JSON signed.")
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-signed_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(framework__isnull=True) ^ models.Q(use_case__isnull=True),
                name="signed_statement_of_one_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableStatement("A signed statement is never changed.")
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("compliance:statement", args=[self.pk])

    def delete(self, *args, **kwargs):
        raise ImmutableStatement("A signed statement is never deleted.")


class ImmutableStatement(Exception):
    """Raised on an attempt to change or delete a signed statement."""
