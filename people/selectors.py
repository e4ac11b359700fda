"""Reads of people, filtered to who asks (admins and auditors see everyone, others no one)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Prefetch, Q, QuerySet

from people.models import Invitation, InvitationState
from portal.access import access_for, require
from portal.models import Role

User = get_user_model()

ADMIN_GROUP = str(Role.ADMIN)


class PersonStatus:
    ACTIVE = "active"
    INVITED = "invited"
    INVITATION_EXPIRED = "invitation_expired"
    NOT_INVITED = "not_invited"
    DEACTIVATED = "deactivated"

    LABELS = {
        ACTIVE: "Active",
        INVITED: "Invited",
        INVITATION_EXPIRED: "Invitation expired",
        NOT_INVITED: "No password yet",
        DEACTIVATED: "Deactivated",
    }
    CHOICES = list(LABELS.items())


def people_visible_to(user) -> QuerySet:
    if not access_for(user).reads_everything:
        return User.objects.none()
    return User.objects.all()


def with_details(qs: QuerySet) -> QuerySet:
    """What the people pages show of each person, in a fixed number of queries."""
    return qs.prefetch_related(
        "groups",
        "business_units",
        Prefetch(
            "invitations",
            queryset=Invitation.objects.order_by("-sent_at", "-pk"),
            to_attr="invitations_newest_first",
        ),
    )


def people_for_admin(user, *, q: str = "", status: str = "") -> list:
    """The people list: admins only (PermissionDenied otherwise), filtered and ordered."""
    require(user, "people.manage")
    qs = User.objects.all()
    if q:
        qs = qs.filter(
            Q(username__icontains=q)
            | Q(email__icontains=q)
            | Q(first_name__icontains=q)
            | Q(last_name__icontains=q)
        )
    if status == PersonStatus.DEACTIVATED:
        qs = qs.filter(is_active=False)
    elif status:
        qs = qs.filter(is_active=True)
    people = list(with_details(qs).order_by("-is_active", "first_name", "last_name", "username"))
    if status and status != PersonStatus.DEACTIVATED:
        # The others depend on the password and the newest invitation: filtered over the
        # prefetched rows (a firm's people are hundreds, not millions).
        people = [p for p in people if person_status(p) == status]
    return people


def access_person(user, pk: int):
    """One person, for an admin (403 for anyone else, 404 if there is no such person)."""
    require(user, "people.manage")
    return with_details(User.objects.all()).get(pk=pk)


def newest_invitation(person) -> Invitation | None:
    prefetched = getattr(person, "invitations_newest_first", None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return person.invitations.order_by("-sent_at", "-pk").first()


def has_password(person) -> bool:
    return person.has_usable_password() or person.last_login is not None


def person_status(person) -> str:
    if not person.is_active:
        return PersonStatus.DEACTIVATED
    if has_password(person):
        return PersonStatus.ACTIVE
    invitation = newest_invitation(person)
    if invitation is None or invitation.withdrawn_at:
        return PersonStatus.NOT_INVITED
    if invitation.state() == InvitationState.EXPIRED:
        return PersonStatus.INVITATION_EXPIRED
    return PersonStatus.INVITED


def assignable_groups() -> QuerySet[Group]:
    """The groups an admin gives on these pages: the roles and the reviewer groups."""
    return Group.objects.filter(Q(name__in=Role.values) | Q(reviewer_group__isnull=False)).order_by(
        "name"
    )


def group_label(group: Group) -> str:
    roles = dict(Role.choices)
    if group.name in roles:
        return str(roles[group.name])
    return f"Reviewer group: {group.name}"


def active_admins() -> QuerySet:
    return User.objects.filter(
        Q(is_superuser=True) | Q(groups__name=ADMIN_GROUP), is_active=True
    ).distinct()


def is_admin_person(person) -> bool:
    return person.is_superuser or person.groups.filter(name=ADMIN_GROUP).exists()
