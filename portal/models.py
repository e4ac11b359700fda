from django.contrib.auth.models import Group
from django.db import models


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
    description = models.TextField(blank=True)

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
    payload = models.TextField(help_text="The row as canonical JSON (blank once erased).")
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
    reason = models.TextField()

    def __str__(self) -> str:
        return self.table_name
