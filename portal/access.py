"""What a signed-in person is: their roles and business units, read once per request."""

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import rules
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import PermissionDenied
from django.db import connections, router
from django.db.models import CharField, F, IntegerField, Model, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.shortcuts import get_object_or_404

from portal.models import Role

_CACHE_ATTR = "_steward_access"
M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Access:
    roles: frozenset[str]
    unit_ids: frozenset[int]
    superuser: bool = False
    # Whether they are a member of every business unit, when the request's lookup of the
    # person read it too (None: not read; registry.selectors.sees_every_use_case asks).
    every_unit: bool | None = None

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


def forget_access(user) -> None:
    """Drop the person's access kept for this request: the next ``access_for`` reads it
    again (My work does, after reading its change log: dashboard/work_store.py). By
    attribute, so that through ``request.user`` (a lazy object) the person's own goes."""
    with contextlib.suppress(AttributeError):
        delattr(user, _CACHE_ATTR)


def access_for(user) -> Access:
    if user is None or not user.is_authenticated or not user.is_active:
        return NOBODY
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        roles, units = roles_and_units(user)
        cached = Access(roles=roles, unit_ids=units, superuser=user.is_superuser)
        setattr(user, _CACHE_ATTR, cached)
    return cached


# Where with_access() puts a person's group names and unit ids on their row.
_ROLES = "steward_role_names"
_UNITS = "steward_unit_ids"


def _access_arrays(person: str) -> tuple[str, str]:
    """The SQL of a person's group names and business unit ids as two arrays; ``person`` is
    the SQL of their id."""
    user_model = get_user_model()
    in_groups = user_model.groups.through._meta.db_table
    in_units = user_model.business_units.through._meta.db_table
    roles = (
        f'ARRAY(SELECT g."name" FROM "{Group._meta.db_table}" g INNER JOIN "{in_groups}" ug '
        f'ON (ug."group_id" = g."id") WHERE ug."user_id" = {person})'
    )
    units = f'ARRAY(SELECT m."businessunit_id" FROM "{in_units}" m WHERE m."user_id" = {person})'
    return roles, units


def with_access(users: QuerySet, user_field: str = "pk") -> QuerySet:
    """``users`` (or rows pointing at a user through ``user_field``, e.g. a token's
    ``user``) with the person's group names and business unit ids read in the same query.

    Every request needs them (access_for); asked when the user is looked up, they cost no
    round trip of their own. ``prime`` then puts them where access_for finds them.
    """
    if connections[users.db].vendor != "postgresql":
        return users  # ARRAY is PostgreSQL's; elsewhere access_for asks apart, as it did
    # Written as SQL: built with the ORM (two ArraySubquery), they took longer to build than
    # the query they save took to run.
    meta = users.model._meta
    field = meta.pk if user_field == "pk" else meta.get_field(user_field)
    roles, units = _access_arrays(f'"{meta.db_table}"."{field.column}"')
    return users.annotate(
        **{
            _ROLES: RawSQL(roles, (), output_field=ArrayField(CharField())),
            _UNITS: RawSQL(units, (), output_field=ArrayField(IntegerField())),
        }
    )


def _in_every_unit(person: str) -> str:
    """The SQL of whether the person (``person``: the SQL of their id) is a member of every
    business unit: no unit without them."""
    units = get_user_model().business_units
    members, unit_table = units.through._meta.db_table, units.rel.related_model._meta.db_table
    return (
        f'NOT EXISTS (SELECT 1 FROM "{unit_table}" b WHERE NOT EXISTS (SELECT 1 FROM '
        f'"{members}" m WHERE m."businessunit_id" = b."id" AND m."user_id" = {person}))'
    )


@functools.cache
def _person_query(db_alias: str) -> tuple[str, tuple[str, ...]]:
    """One person's row by id with their group names and unit ids (as ``with_access``), and
    whether they are in every unit (which the dashboard, My work and the portfolio ask of
    everyone, a statement of its own otherwise), as written SQL, and the attribute names of
    the row's columns. Made once per process from the model's fields: it holds no one's data,
    only the statement."""
    meta = get_user_model()._meta
    fields = meta.concrete_fields
    table = f'"{meta.db_table}"'
    person = f'{table}."{meta.pk.column}"'
    roles, units = _access_arrays(person)
    columns = ", ".join(f'{table}."{f.column}"' for f in fields)
    sql = (
        f"SELECT {columns}, {roles}, {units}, {_in_every_unit(person)} "
        f"FROM {table} WHERE {person} = %s"
    )
    return sql, tuple(f.attname for f in fields)


def _read_person(db_alias: str, pk):
    """One person's row with their group names, unit ids and whether they are in every unit
    (``_person_query``): the attribute names, the fields' values, the roles, the units and
    that; None if there is no such person. Written SQL: compiling the ORM's query for this one
    row took longer than running it, on every request (issue 19)."""
    sql, names = _person_query(db_alias)
    with connections[db_alias].cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    n = len(names)
    return names, row[:n], row[n], row[n + 1], bool(row[n + 1]) and row[n + 2]


# Where _read_person's answer to "in every unit" is kept on the person's row until prime().
_EVERY = "steward_in_every_unit"


def prime(user, row=None) -> None:
    """Keep what ``with_access`` (or the request's lookup) read on ``row`` (by default the
    user) as the person's access for this request, so access_for asks nothing more."""
    row = user if row is None else row
    roles, units = getattr(row, _ROLES, None), getattr(row, _UNITS, None)
    if roles is None or units is None:
        return
    access = Access(
        roles=frozenset(roles),
        unit_ids=frozenset(units),
        superuser=user.is_superuser,
        every_unit=getattr(row, _EVERY, None),
    )
    setattr(user, _CACHE_ATTR, access)


class AccessBackend(ModelBackend):
    """Django's ModelBackend, whose per-request lookup of the signed-in person (from the
    session) reads their roles and units in the same query."""

    def get_user(self, user_id):
        model = get_user_model()
        db_alias = router.db_for_read(model)
        connection = connections[db_alias]
        if connection.vendor != "postgresql":
            try:
                user = model._default_manager.get(pk=user_id)
            except model.DoesNotExist:
                return None
        else:
            found = _read_person(db_alias, model._meta.pk.get_prep_value(user_id))
            if found is None:
                return None
            names, fields, roles, units, every_unit = found
            user = model.from_db(db_alias, names, fields)
            setattr(user, _ROLES, roles)
            setattr(user, _UNITS, units)
            setattr(user, _EVERY, every_unit)
        if not self.user_can_authenticate(user):
            return None
        prime(user)
        return user


def read_again(user) -> None:
    """The person's account flags (active, superuser) and their roles and units read afresh,
    in place of what the request read of them: one statement on PostgreSQL (the request's own
    lookup, ``AccessBackend.get_user``), where reading the flags and then the access took two.
    For a reader that must not act on what was read of the person before it read something
    else (My work, after its change log: dashboard/work.py)."""
    model = get_user_model()
    db_alias = router.db_for_read(model)
    connection = connections[db_alias]
    forget_access(user)
    if connection.vendor != "postgresql":
        user.refresh_from_db(fields=["is_active", "is_superuser"])
        return
    found = _read_person(db_alias, user.pk)
    if found is None:
        raise model.DoesNotExist(f"No person {user.pk} any more.")
    names, fields, roles, units, every_unit = found
    fresh = dict(zip(names, fields, strict=True))
    user.is_active, user.is_superuser = fresh["is_active"], fresh["is_superuser"]
    setattr(user, _ROLES, roles)
    setattr(user, _UNITS, units)
    setattr(user, _EVERY, every_unit)
    prime(user)


def roles_and_units(user) -> tuple[frozenset[str], frozenset[int]]:
    """The person's group names and business unit ids, in one query (every request asks)."""
    text = CharField()
    roles = (
        user.groups.order_by()
        .annotate(kind=Value("role", output_field=text), value=F("name"))
        .values_list("kind", "value")
    )
    units = (
        user.business_units.order_by()
        .annotate(kind=Value("unit", output_field=text), value=Cast("pk", output_field=text))
        .values_list("kind", "value")
    )
    rows = list(roles.union(units, all=True))
    return (
        frozenset(value for kind, value in rows if kind == "role"),
        frozenset(int(value) for kind, value in rows if kind == "unit"),
    )


def can(user, perm: str, obj=None) -> bool:
    """Ask the named rule, and only the rule.

    ``user.has_perm`` lets a Django superuser do anything and lets model permissions granted
    in the Django admin answer too; Steward's rules (retired records are closed, auditors
    change nothing) must hold for everyone, so pages, API and services ask here.
    """
    return user is not None and user.is_active and rules.has_perm(perm, user, obj)


def require(user, perm: str, obj=None) -> None:
    """Refuse (PermissionDenied, a 403) unless the named rule allows it."""
    if not can(user, perm, obj):
        raise PermissionDenied(f"You may not do this ({perm}).")


def get_visible_or_404(
    visible: QuerySet[M],
    user,
    perm: str | None = None,
    *,
    on: Callable[[M], Model] | None = None,
    **lookup,
) -> M:
    """Fetch and check in one call, as every page and action does.

    ``visible`` is a selector's queryset, already holding only what the person may see, so a
    missing record and a forbidden one both answer 404 and nothing leaks that it exists. If
    ``perm`` is given, the person must also pass that rule on the record (or on what ``on``
    returns of it, e.g. a deployment's use case), or it is a 403.
    """
    obj = get_object_or_404(visible, **lookup)
    if perm is not None:
        require(user, perm, on(obj) if on else obj)
    return obj
