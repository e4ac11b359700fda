"""What a signed-in person is: their roles and business units, read once per request."""

from dataclasses import dataclass

from portal.models import Role

_CACHE_ATTR = "_steward_access"


@dataclass(frozen=True)
class Access:
    roles: frozenset[str]
    unit_ids: frozenset[int]
    superuser: bool = False

    def has_role(self, *roles: str) -> bool:
        # A superuser counts as an admin (below), not as every role: that would make them an
        # auditor too, and auditors may change nothing.
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return self.superuser or Role.ADMIN in self.roles

    @property
    def reads_everything(self) -> bool:
        """Admins and auditors read every unit's records."""
        return self.is_admin or Role.AUDITOR in self.roles


NOBODY = Access(roles=frozenset(), unit_ids=frozenset())


def access_for(user) -> Access:
    if user is None or not user.is_authenticated or not user.is_active:
        return NOBODY
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        cached = Access(
            roles=frozenset(user.groups.values_list("name", flat=True)),
            unit_ids=frozenset(user.business_units.values_list("pk", flat=True)),
            superuser=user.is_superuser,
        )
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget_access(user) -> None:
    """Drop the cached roles and units after changing them."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def can(user, perm: str, obj=None) -> bool:
    """Ask the named rule, and only the rule.

    ``user.has_perm`` lets a Django superuser do anything and lets model permissions granted
    in the Django admin answer too; Steward's rules (retired records are closed, auditors
    change nothing) must hold for everyone, so pages, API and services ask here.
    """
    import rules

    return user is not None and user.is_active and rules.has_perm(perm, user, obj)
