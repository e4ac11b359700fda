from django.conf import settings
from django.contrib.auth.models import Group
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from portal.limits import LONG_TEXT, MACHINE_TEXT, SHORT_TEXT, BoundedTextField


class Role(models.TextChoices):
    """The built-in roles. Each is a Django group of the same name (created by a migration)."""

    ADMIN = "admin", "Admin"
    RISK_OFFICER = "risk_officer", "Risk officer"
    PRODUCT_OWNER = "product_owner", "Product owner"
    LEADERSHIP = "leadership", "Leadership"
    DPO = "dpo", "Data protection officer"
    AUDITOR = "auditor", "Auditor"


class ReviewerGroup(models.Model):
    """A reviewer group a firm adds for itself (legal, security, ...).

    Members read what their business units hold, like every member of a unit; later
    issues route assessment reviews to these groups.
    """

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="reviewer_group")
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)

    class Meta:
        ordering = ["group__name"]

    def __str__(self) -> str:
        return self.group.name


class Sequence(models.Model):
    """Counters behind human reference numbers (UC-0001); rows are locked while used."""

    name = models.CharField(max_length=40, primary_key=True)
    last_value = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.last_value}"


# The ledger: every governed change, chained by hashes (portal/ledger/). --------------------
class LedgerEntry(models.Model):
    """One recorded change: a history row, a sign-off, a timeline entry, a gate decision, a
    permission change or an erasure's tombstone. Written in the same transaction as the
    change itself; never updated (a database trigger refuses it) except that an erasure may
    blank ``payload`` while ``payload_sha256`` stays, so the chain still verifies.
    """

    kind = models.CharField(max_length=20)
    source = models.CharField(max_length=100, help_text="The table of the row it records.")
    source_id = models.CharField(max_length=64)
    subject = models.CharField(
        max_length=120,
        blank=True,
        help_text='The governed record it concerns: "registry.usecase:5".',
    )
    use_case_id = models.BigIntegerField(null=True, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField()
    payload = BoundedTextField(
        max_length=MACHINE_TEXT, help_text="The row as canonical JSON (blank once erased)."
    )
    payload_sha256 = models.CharField(max_length=64)

    class Meta:
        indexes = [
            models.Index(fields=["source", "source_id"]),
            models.Index(fields=["subject"]),
            models.Index(fields=["use_case_id", "at"]),
            models.Index(fields=["at"]),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.source}#{self.source_id}"


class LedgerLink(models.Model):
    """An entry's place in the chain: its position, the hash before it and its own hash."""

    seq = models.BigIntegerField(primary_key=True)
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="link")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"#{self.seq} {self.hash[:12]}"


class LedgerCheckpoint(models.Model):
    """The chain's hash at a position, kept every LEDGER_CHECKPOINT_EVERY entries: a value to
    publish or hand to an auditor, after which rewriting the chain before it shows."""

    seq = models.BigIntegerField(primary_key=True)
    hash = models.CharField(max_length=64)
    made_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} {self.hash[:12]}"


class ErasurePermit(models.Model):
    """Lets one transaction delete rows of one append-only table: written and removed by
    ``manage.py history_erase`` only, around the deletion it records in the ledger. The
    triggers that refuse UPDATE and DELETE let a statement through while its table has one."""

    table_name = models.CharField(max_length=100)
    reason = BoundedTextField(max_length=SHORT_TEXT)

    def __str__(self) -> str:
        return self.table_name


# Side effects, written with the change that causes them (portal/outbox.py). ----------------
class OutboxMessage(models.Model):
    """One side effect to carry out after a change commits: a Celery task by name with its
    arguments (emails, webhook deliveries, pulls). Written in the change's own transaction,
    handed to the broker after commit and marked done by the worker that ran it, so a broker
    that is down delays it and loses nothing."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, encoder=DjangoJSONEncoder)
    kwargs = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(
        default=timezone.now, help_text="Not handed to the broker before this (retry backoff)."
    )
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatches = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True, help_text="A worker began it.")
    failures = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, max_length=2000)

    class Meta:
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                name="outbox_pending",
                condition=models.Q(done_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"


class IdempotentRequest(models.Model):
    """An API create sent with an ``Idempotency-Key``: the answer it got, which a retry with
    the same key (by the same person) gets again instead of a second record."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request body.")
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_request_per_key"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class AttemptCount(models.Model):
    """Attempts under a limit on guessing (portal/throttle.py): one row per limit and person,
    counted by one atomic statement, so that guesses sent in parallel cannot read the same
    count and all pass."""

    key = models.CharField(max_length=100, unique=True, help_text="The limit and a hash of who.")
    started = models.FloatField(
        db_index=True, help_text="When the window began (seconds since the epoch)."
    )
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class Heartbeat(models.Model):
    """When a background process last showed it is alive: the worker (it ran the heartbeat
    task) and beat (it ticked). /readyz reads these."""

    name = models.CharField(max_length=40, primary_key=True)
    at = models.DateTimeField()
    detail = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"


# Notifications: what the portal told a person, in the app and by email (portal/notify.py). ---
class EmailChoice(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately, one email each"
    DAILY = "daily", "Once a day, one digest email"
    OFF = "off", "Never: only in Steward"


class NotificationPreference(models.Model):
    """How a person wants the portal's notifications by email. No row: immediately."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="notification_preference",
    )
    email = models.CharField(
        max_length=10, choices=EmailChoice.choices, default=EmailChoice.IMMEDIATE
    )
    # The local day the last digest went out, so a second run that day sends nothing.
    digested_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.email}"


class Notification(models.Model):
    """One thing the portal told one person (what an email said), listed in the app with its
    read state whether or not it was emailed.

    No history (django-simple-history): a notification is a copy of a message about a
    governed record, whose own change is in that record's history and the ledger; reading it
    is personal and changes nothing anyone governs, so keeping versions of it would only grow
    the ledger with per-person clicks.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    subject = models.CharField(max_length=300)
    body = BoundedTextField(max_length=MACHINE_TEXT)
    url = models.CharField(
        max_length=500, blank=True, help_text="A path in the portal the notification is about."
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Sent by email, on its own or in a digest; stays empty for people who chose no email.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notification_inbox"),
            models.Index(
                fields=["recipient"],
                name="notification_unread",
                condition=models.Q(read_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.subject}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
