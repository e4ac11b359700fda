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
