"""A person's history, and the invitations that let a person set their first password.

The user model is Django's own; its history is kept here (``simple_history.register``), so
that who gave whom which role, and who deactivated whom, is recorded like any governed record:
each version says who and why, and the ledger chains it. The password hash and the time of the
last sign-in are left out: a hash has no place in an append-only log, and a version per
sign-in would bury the changes that matter.
"""

from datetime import timedelta

import simple_history
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

User = get_user_model()

# Fields of the user left out of its history (see the module's docstring).
UNTRACKED_USER_FIELDS = ["password", "last_login"]

simple_history.register(
    User,
    app="people",
    m2m_fields=["groups"],
    excluded_fields=UNTRACKED_USER_FIELDS,
)

# How long an invitation's link works; a new invitation can be sent at any time.
INVITATION_VALID_FOR = timedelta(days=7)


class InvitationState(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Invitation(models.Model):
    """One email with a one-time link to set a password. Sending a new one withdraws the
    earlier ones still pending, so only the newest link works."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-sent_at", "-pk"]
        indexes = [models.Index(fields=["person", "-sent_at"])]

    def __str__(self) -> str:
        return f"Invitation of {self.person} sent {self.sent_at:%Y-%m-%d %H:%M}"

    def state(self, now=None) -> InvitationState:
        if self.accepted_at:
            return InvitationState.ACCEPTED
        if self.withdrawn_at:
            return InvitationState.WITHDRAWN
        if (now or timezone.now()) >= self.expires_at:
            return InvitationState.EXPIRED
        return InvitationState.PENDING
