"""Every change to people: invite, edit roles and units, deactivate, reactivate, accept an
invitation. Pages, API and tests call these; each checks the rule, writes one history version
with who and why (the person's, and each business unit whose members change) and sends email
through the outbox once the change commits.
"""

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import signing
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from people.models import INVITATION_VALID_FOR, Invitation, InvitationState
from people.selectors import (
    ADMIN_GROUP,
    active_admins,
    assignable_groups,
    has_password,
    is_admin_person,
)
from portal import notify
from portal.access import require
from portal.records import save_with_history
from registry.models import BusinessUnit

User = get_user_model()

INVITATION_SALT = "people.invitation"
NAME_FIELDS = ("first_name", "last_name", "email")


def _label(person) -> str:
    return person.get_full_name() or person.get_username()


def _need_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why: it is kept in the history."})
    return reason


def _check_email(email: str, person=None) -> str:
    email = User.objects.normalize_email((email or "").strip()).lower()
    if not email:
        raise ValidationError({"email": "An email address is needed to send the invitation."})
    taken = User.objects.filter(email__iexact=email)
    if person is not None:
        taken = taken.exclude(pk=person.pk)
    if taken.exists():
        raise ValidationError({"email": "Someone already has this email address."})
    return email


def _check_groups(groups: Iterable[Group]) -> list[Group]:
    groups = list(groups)
    allowed = set(assignable_groups().values_list("pk", flat=True))
    wrong = [g.name for g in groups if g.pk not in allowed]
    if wrong:
        raise ValidationError({"roles": f"Not a role or reviewer group: {', '.join(wrong)}."})
    return groups


def _lock_admins() -> list[int]:
    """Lock every active admin's row: two admins demoting or deactivating each other at once
    cannot both pass the "someone else is still an admin" check."""
    return list(
        User.objects.select_for_update(of=("self",))
        .filter(pk__in=active_admins().values("pk"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _refuse_last_admin(person, what: str) -> None:
    admins = _lock_admins()
    if person.pk in admins and not [pk for pk in admins if pk != person.pk]:
        raise ValidationError(
            {
                NON_FIELD_ERRORS: f"{_label(person)} is the last active admin: {what} would "
                "leave no one able to manage people. Make someone else an admin first."
            }
        )


def _set_units(*, actor, person, units: Iterable[BusinessUnit], reason: str) -> list[str]:
    """Make ``person`` a member of exactly ``units``; each unit that changes keeps a version
    saying who added or removed them and why. Returns what changed, for the person's own
    version."""
    wanted = {u.pk for u in units}
    current = set(person.business_units.values_list("pk", flat=True))
    changed = []
    for unit in BusinessUnit.objects.select_for_update().filter(pk__in=wanted ^ current):
        members = set(unit.members.values_list("pk", flat=True))
        if unit.pk in wanted:
            members.add(person.pk)
            what = f"{_label(person)} added"
            changed.append(f"+{unit.code}")
        else:
            members.discard(person.pk)
            what = f"{_label(person)} removed"
            changed.append(f"-{unit.code}")
        save_with_history(
            unit, actor=actor, reason=f"{what}: {reason}", m2m={"members": sorted(members)}
        )
    return sorted(changed)


def _groups_diff(before: set[str], after: set[str]) -> list[str]:
    return [f"+{n}" for n in sorted(after - before)] + [f"-{n}" for n in sorted(before - after)]


# Invitations ---------------------------------------------------------------------------------
def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(invitation.pk, salt=INVITATION_SALT)


def invitation_link(invitation: Invitation) -> str:
    path = reverse("people:join", args=[invitation_token(invitation)])
    return settings.SITE_URL.rstrip("/") + path


class InvitationRefused(Exception):
    """A link that cannot be used, with the message to show."""

    def __init__(self, message: str, state: str):
        super().__init__(message)
        self.message = message
        self.state = state


def invitation_from_token(token: str) -> Invitation:
    """The invitation a link stands for, or InvitationRefused saying why it no longer works."""
    try:
        pk = signing.loads(token, salt=INVITATION_SALT)
        invitation = Invitation.objects.select_related("person").get(pk=pk)
    except (signing.BadSignature, Invitation.DoesNotExist, TypeError, ValueError):
        raise InvitationRefused(
            "This invitation link is not valid. Check that you copied the whole link from "
            "the email, or ask an admin to send a new invitation.",
            "invalid",
        ) from None
    state = invitation.state()
    if state == InvitationState.ACCEPTED or has_password(invitation.person):
        raise InvitationRefused(
            "This invitation link has already been used to set a password. Sign in, or use "
            "“Forgot your password?” on the sign-in page if you do not remember it.",
            "used",
        )
    if not invitation.person.is_active:
        raise InvitationRefused(
            "This account has been deactivated. Ask an admin if you need access.", "inactive"
        )
    if state == InvitationState.WITHDRAWN:
        raise InvitationRefused(
            "A newer invitation has been sent to you: use the link in the most recent email.",
            "withdrawn",
        )
    if state == InvitationState.EXPIRED:
        expired = timezone.localtime(invitation.expires_at)
        raise InvitationRefused(
            f"This invitation link expired on {expired:%d %B %Y at %H:%M}. Ask an admin to "
            "send you a new one.",
            "expired",
        )
    return invitation


def _send_invitation(*, actor, person, again: bool) -> Invitation:
    now = timezone.now()
    for earlier in Invitation.objects.select_for_update().filter(
        person=person, accepted_at__isnull=True, withdrawn_at__isnull=True
    ):
        earlier.withdrawn_at = now
        save_with_history(earlier, actor=actor, reason="Withdrawn: a new invitation was sent")
    invitation = Invitation(
        person=person, invited_by=actor, sent_at=now, expires_at=now + INVITATION_VALID_FOR
    )
    save_with_history(invitation, actor=actor, reason="Sent again" if again else "Sent")
    expires = timezone.localtime(invitation.expires_at)
    notify.email(
        [person],
        f"You are invited to {settings.SITE_NAME}",
        f"Hello {_label(person)},\n\n"
        f"{_label(actor)} has invited you to {settings.SITE_NAME}, where your firm governs "
        "the AI it uses.\n\n"
        f"Your user name: {person.get_username()}\n\n"
        f"Choose your password here (the link works once, until {expires:%d %B %Y %H:%M}):\n"
        f"{invitation_link(invitation)}\n\n"
        "If you did not expect this email, you can ignore it.\n",
    )
    return invitation


@transaction.atomic
def person_invite(
    *,
    actor,
    email: str,
    first_name: str = "",
    last_name: str = "",
    username: str = "",
    roles: Iterable[Group] = (),
    units: Iterable[BusinessUnit] = (),
    reason: str = "",
):
    """Create a person without a password and email them a link to set one."""
    require(actor, "people.manage")
    email = _check_email(email)
    username = (username or "").strip() or email
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "This user name is taken."})
    groups = _check_groups(roles)
    person = User(username=username, email=email, first_name=first_name, last_name=last_name)
    person.set_unusable_password()
    person.full_clean(exclude=["password"])
    why = (reason or "").strip() or "new person"
    roles_text = ", ".join(sorted(g.name for g in groups)) or "no role"
    save_with_history(
        person,
        actor=actor,
        reason=f"Invited by {_label(actor)} ({roles_text}): {why}",
        m2m={"groups": groups},
    )
    _set_units(actor=actor, person=person, units=units, reason=why)
    _send_invitation(actor=actor, person=person, again=False)
    return person


@transaction.atomic
def invitation_resend(*, actor, person) -> Invitation:
    """A new link for someone who has not set a password yet; earlier links stop working."""
    require(actor, "people.manage")
    person = User.objects.select_for_update().get(pk=person.pk)
    if not person.is_active:
        raise ValidationError(
            {NON_FIELD_ERRORS: f"{_label(person)} is deactivated: reactivate them first."}
        )
    if has_password(person):
        raise ValidationError(
            {
                NON_FIELD_ERRORS: f"{_label(person)} has already set a password: they can "
                "reset it with “Forgot your password?” on the sign-in page."
            }
        )
    if not person.email:
        raise ValidationError({"email": f"{_label(person)} has no email address: add one first."})
    again = person.invitations.exists()
    return _send_invitation(actor=actor, person=person, again=again)


@transaction.atomic
def invitation_accept(*, invitation: Invitation, password: str):
    """Set the first password through an invitation's link; the link is used up."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    person = User.objects.select_for_update().get(pk=invitation.person_id)
    invitation.person = person
    # Checked again under the lock: two submissions of one link set one password.
    invitation_from_token(invitation_token(invitation))
    invitation.accepted_at = timezone.now()
    save_with_history(invitation, actor=person, reason="Accepted")
    person.set_password(password)
    save_with_history(person, actor=person, reason="Set a password from the invitation")
    return person


# Roles, units, names -------------------------------------------------------------------------
@transaction.atomic
def person_update(
    *,
    actor,
    person,
    reason: str,
    roles: Iterable[Group] | None = None,
    units: Iterable[BusinessUnit] | None = None,
    **fields,
):
    """Change a person's name, email, roles (groups) and business units, with a reason.

    Only roles and reviewer groups are changed; any other group the person is in stays.
    """
    require(actor, "people.manage")
    unknown = set(fields) - set(NAME_FIELDS)
    if unknown:
        raise TypeError(f"Not a person's field here: {', '.join(sorted(unknown))}")
    person = User.objects.select_for_update().get(pk=person.pk)
    changed: list[str] = []
    if "email" in fields and (fields["email"] or "").strip().lower() != person.email.lower():
        fields["email"] = _check_email(fields["email"], person)
    for name, value in fields.items():
        if getattr(person, name) != value:
            setattr(person, name, value)
            changed.append(name)

    m2m = None
    if roles is not None:
        offered = set(assignable_groups())
        kept = [g for g in person.groups.all() if g not in offered]
        new_groups = set(kept) | set(_check_groups(roles))
        before = set(person.groups.values_list("name", flat=True))
        after = {g.name for g in new_groups}
        if before != after:
            if ADMIN_GROUP in before - after and not person.is_superuser:
                _refuse_last_admin(person, "taking away their admin role")
            m2m = {"groups": sorted(new_groups, key=lambda g: g.pk)}
            changed.append("roles " + " ".join(_groups_diff(before, after)))

    wanted_units = list(units) if units is not None else None
    unit_change = wanted_units is not None and {u.pk for u in wanted_units} != set(
        person.business_units.values_list("pk", flat=True)
    )
    if not changed and not unit_change:
        return person
    why = _need_reason(reason)
    if wanted_units is not None and unit_change:
        changed.append(
            "units "
            + " ".join(_set_units(actor=actor, person=person, units=wanted_units, reason=why))
        )
    person.full_clean(exclude=["password"])
    save_with_history(person, actor=actor, reason=f"Changed {'; '.join(changed)}: {why}", m2m=m2m)
    return person


@transaction.atomic
def person_deactivate(*, actor, person, reason: str):
    """Stop a person signing in (their sessions and API tokens stop working); kept in the
    records they touched. Never yourself, never the last active admin."""
    require(actor, "people.manage")
    why = _need_reason(reason)
    if person.pk == actor.pk:
        raise ValidationError(
            {NON_FIELD_ERRORS: "You cannot deactivate yourself: ask another admin."}
        )
    if is_admin_person(person):
        _refuse_last_admin(person, "deactivating them")
    person = User.objects.select_for_update().get(pk=person.pk)
    if not person.is_active:
        raise ValidationError({NON_FIELD_ERRORS: f"{_label(person)} is already deactivated."})
    now = timezone.now()
    for pending in Invitation.objects.select_for_update().filter(
        person=person, accepted_at__isnull=True, withdrawn_at__isnull=True
    ):
        pending.withdrawn_at = now
        save_with_history(pending, actor=actor, reason="Withdrawn: the person was deactivated")
    person.is_active = False
    save_with_history(person, actor=actor, reason=f"Deactivated: {why}")
    return person


@transaction.atomic
def person_reactivate(*, actor, person, reason: str):
    require(actor, "people.manage")
    why = _need_reason(reason)
    person = User.objects.select_for_update().get(pk=person.pk)
    if person.is_active:
        raise ValidationError({NON_FIELD_ERRORS: f"{_label(person)} is already active."})
    person.is_active = True
    save_with_history(person, actor=actor, reason=f"Reactivated: {why}")
    return person
