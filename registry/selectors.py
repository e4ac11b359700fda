"""Reads that depend on who asks. Each returns only what the person may see."""

import functools
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import (
    BooleanField,
    Count,
    Expression,
    F,
    Field,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from guardian.models import GroupObjectPermission, UserObjectPermission

from portal.access import access_for, get_visible_or_404
from portal.expressions import AroundKey
from portal.history.asof import rows_as_of, snapshot_prefetch
from portal.history.changes import PERSON_LABEL_FIELDS
from registry.models import (
    AIModel,
    BusinessUnit,
    DataSource,
    Deployment,
    GateCheck,
    GoLiveRecord,
    Lifecycle,
    ModelCard,
    ModelToken,
    ModelVersion,
    PromotionRequest,
    ReleasePolicy,
    UseCase,
)
from registry.models.releases import EvaluationFinding, EvaluationRecord, PromotionApproval

User = get_user_model()


def _granted(user, model, codenames: list[str], via: str = "") -> Q:
    """Records granted to the person, or to a group of theirs, one by one with guardian.

    guardian stores the record's key as text; casting the grant's key to an integer (rather
    than the record's key to text, as its shortcut does) lets PostgreSQL use the primary key.
    ``via`` tests the grant on a related record (``"use_case__"``).
    """
    # Asked a dozen times a page (every list and count the dashboard shows): built once per
    # person and request (the user object), as access_for is. It holds the query, not rows.
    memo = user.__dict__.setdefault("_steward_granted", {})
    key = (model._meta.label, tuple(codenames), via)
    if key not in memo:
        memo[key] = _granted_q(user, model, codenames, via)
    return memo[key]


def _granted_q(user, model, codenames: list[str], via: str) -> Q:
    by_user, by_group, params = _granted_sql(user, model, codenames)
    return Q(**{f"{via}pk__in": RawSQL(by_user, params)}) | Q(
        **{f"{via}pk__in": RawSQL(by_group, params)}
    )


def _granted_sql(user, model, codenames: list[str]) -> tuple[str, str, tuple]:
    """The two subqueries of ``_granted`` (grants to the person, to their groups) and their
    parameters (the same for both)."""
    # Written as SQL: the same two subqueries built with the ORM cost more to build than the
    # rest of a record's API read (issue 19), for every request of everyone without a
    # blanket read.
    marks = ", ".join(["%s"] * len(codenames))
    params = (user.pk, ContentType.objects.get_for_model(model).pk, *codenames)
    perm = f'INNER JOIN "{Permission._meta.db_table}" p ON (g."permission_id" = p."id")'
    which = f'p."content_type_id" = %s AND p."codename" IN ({marks})'
    by_user = (
        f'SELECT CAST(g."object_pk" AS bigint) FROM "{UserObjectPermission._meta.db_table}" g '
        f'{perm} WHERE g."user_id" = %s AND {which}'
    )
    by_group = (
        f'SELECT CAST(g."object_pk" AS bigint) FROM "{GroupObjectPermission._meta.db_table}" g '
        f'INNER JOIN "{User.groups.through._meta.db_table}" ug ON (g."group_id" = ug."group_id") '
        f'{perm} WHERE ug."user_id" = %s AND {which}'
    )
    return by_user, by_group, params


def visible_q(user, model) -> Q:
    """What ``_visible`` asks of a record, as the ORM builds it: the person's units, what they
    own, and what was granted to them one by one. The reference for ``_visible``'s written
    condition (tests/registry/test_visibility.py compares their SQL)."""
    return (
        Q(business_unit_id__in=access_for(user).unit_ids)
        | Q(owner=user)
        | _granted(user, model, GRANTS[model])
    )


class _Visible(Expression):
    """The condition of ``visible_q``, written as SQL around the record's own columns.

    The columns (unit, owner, key) stay ORM expressions, so the condition holds wherever
    Django puts the query, a subquery under another alias included; the rest is text.
    """

    output_field = BooleanField()
    conditional = True

    def __init__(self, units: tuple, owner_id, granted: tuple[str, ...], params: tuple):
        super().__init__()
        self.columns = [F("business_unit"), F("owner"), F("pk")]
        self.units, self.owner_id, self.granted, self.params = units, owner_id, granted, params

    def get_source_expressions(self):
        return self.columns

    def set_source_expressions(self, exprs):
        self.columns = list(exprs)

    def as_sql(self, compiler, connection):
        unit, owner, key = (compiler.compile(column)[0] for column in self.columns)
        alternatives, params = [], []
        if self.units:  # none: the ORM leaves the alternative out
            alternatives.append(f"{unit} IN ({', '.join(['%s'] * len(self.units))})")
            params += self.units
        alternatives.append(f"{owner} = %s")
        params.append(self.owner_id)
        for grants in self.granted:
            alternatives.append(f"{key} IN ({grants})")
            params += self.params
        # The parentheses the ORM puts around an OR.
        return "(" + " OR ".join(alternatives) + ")", tuple(params)


def _visible(user, qs: QuerySet) -> QuerySet:
    """The person's units, what they own, and what was granted to them one by one.

    The same condition as ``visible_q``, written out: built and compiled by the ORM (three
    alternatives, two of them subqueries) it cost a sixth of a record's API read, on every
    request of everyone who does not read everything (issue 19).
    """
    access = access_for(user)
    if access.reads_everything:
        return qs
    if not user.is_authenticated:
        return qs.none()
    by_user, by_group, params = _granted_sql(user, qs.model, GRANTS[qs.model])
    # The units in the order the ORM's IN (...) lists them.
    return qs.filter(_Visible(tuple(access.unit_ids), user.pk, (by_user, by_group), params))


USE_CASE_GRANTS = ["view_usecase", "change_usecase"]
# The per-record grants that let a person see a record of each kind _visible filters.
GRANTS = {UseCase: USE_CASE_GRANTS, DataSource: ["view_datasource", "change_datasource"]}


def use_cases_visible_to(user, among: QuerySet[UseCase] | None = None) -> QuerySet[UseCase]:
    """The use cases the person may see, with their unit and owner; or, given ``among`` (use
    cases read in some other shape, built once by the caller), those of them the person may
    see, as a new queryset."""
    qs = UseCase.objects.select_related("business_unit", "owner") if among is None else among
    if known_to_see_every_use_case(user):
        # ``among`` is shared: the caller gets a copy, theirs to evaluate.
        return qs if among is None else qs.all()
    return _visible(user, qs)  # a filtered copy


# What a use case's history (pages, CSV, API) reads of it: its name, the names of its unit
# and owner (the labels of most versions' values: changes.related_in_memory) and what the
# rule to view it asks (the unit and the owner). Not its purpose, dates or marks.
_READ_FOR_HISTORY = (
    "reference",
    "title",
    "business_unit",
    "business_unit__name",
    "owner",
    *(f"owner__{name}" for name in PERSON_LABEL_FIELDS),
)


@functools.cache
def _use_cases_read_for_history() -> QuerySet[UseCase]:
    # Built once; every request narrows a copy (use_cases_visible_to(..., among=)).
    return UseCase.objects.select_related("business_unit", "owner").only(*_READ_FOR_HISTORY)


def use_cases_for_history(user) -> QuerySet[UseCase]:
    """The use cases the person may see, read as their history shows them (the history
    registry's selector for use cases): 11 columns of 37, which took the record's read in
    the history API from 1.8 ms to 1.5 of about 5.8 (issue 19)."""
    return use_cases_visible_to(user, among=_use_cases_read_for_history())


# Where sees_every_use_case keeps its answer on the person's object, for the request.
_EVERY_UNIT = "_steward_every_unit"


def sees_every_use_case(user) -> bool:
    """Whether every use case is visible to the person: they read everything (admins,
    auditors), or they belong to every business unit (every use case is in one, and a unit's
    members see its use cases). A caller counting over everything the person sees may then
    leave the visibility filter out altogether. Read with the person when the request looked
    them up (portal.access), else one query, once per request.

    Pages that count over all the person sees (the dashboard, My work, the portfolio) ask it
    first; for the rest of that request the selectors then filter nothing for such a person
    (``known_to_see_every_use_case``). Other requests never ask, so pay no query for it."""
    access = access_for(user)
    if access.reads_everything:
        return True
    if not user.is_authenticated or not access.unit_ids:
        return False
    memo = user.__dict__
    if _EVERY_UNIT not in memo:
        if access.every_unit is not None:  # read with the person (portal.access), no query
            memo[_EVERY_UNIT] = access.every_unit
        else:
            memo[_EVERY_UNIT] = not BusinessUnit.objects.exclude(pk__in=access.unit_ids).exists()
    return memo[_EVERY_UNIT]


def forget_every_use_case(user) -> bool:
    """Drop what ``sees_every_use_case`` found this request; say whether it had been asked."""
    return user.__dict__.pop(_EVERY_UNIT, None) is not None


def known_to_see_every_use_case(user) -> bool:
    """True when the person reads everything, or ``sees_every_use_case`` already found this
    request that they are in every unit; never asks the database."""
    return access_for(user).reads_everything or known_in_every_unit(user)


# Where ``use_case_shown`` puts what it reads of a row's use case.
_SHOWN_AS = "shown_use_case_"


class _UseCaseColumn(AroundKey):
    """One column of each row's use case, by a subquery per row written as SQL around the
    row's own ``use_case_id`` (an ORM expression, so that it holds under any alias).

    The ORM's ``Subquery(UseCase.objects.filter(pk=OuterRef("use_case_id")).values(name)[:1])``
    is the same statement; built and compiled for each list, two of them cost half a
    millisecond, on each of the half-dozen lists the dashboard gathers after a change."""

    def __init__(self, column: str, output_field, key: str = "use_case_id"):
        super().__init__(output_field, key)
        self.column = column

    def around(self, key: str, connection) -> tuple[str, tuple]:
        column, table = connection.ops.quote_name(self.column), UseCase._meta.db_table
        return f'(SELECT u.{column} FROM "{table}" u WHERE u."id" = {key} LIMIT 1)', ()


def use_case_shown(qs: QuerySet, fields: tuple[str, ...]) -> QuerySet:
    """``qs`` (rows with a ``use_case``, or use cases) with the named fields of each row's use
    case read by a subquery per row rather than a join; ``give_use_cases_shown`` hands them to
    the rows.

    For a list of the first few rows of many: PostgreSQL asks such a subquery only of the
    rows left after the sort and the LIMIT (a few index lookups), where joined (select_related)
    every row was joined to the use cases first, by a hash of all of them (10,000). For a list
    of use cases, it reads the rows it sorts and counts from an index that holds what they are
    sorted and counted by (not what is shown), and what is shown of the first few only."""
    if not fields:
        return qs
    key = "pk" if qs.model is UseCase else "use_case_id"
    columns = {}
    for name in fields:
        field = UseCase._meta.get_field(name)
        assert isinstance(field, Field) and field.column  # a column of the use case's own
        columns[f"{_SHOWN_AS}{name}"] = _UseCaseColumn(field.column, field.clone(), key)
    return qs.annotate(**columns)


def give_use_cases_shown(rows: list, fields: tuple[str, ...], using: str) -> list:
    """Each of ``rows`` (read with ``use_case_shown(..., fields)``) with its ``use_case``: those
    fields read, the others deferred, as with select_related and only(). Use cases are given
    those fields of their own."""
    if not fields:
        return rows
    names = ["id", *(f.attname for f in UseCase._meta.concrete_fields if f.name in fields)]
    if rows and isinstance(rows[0], UseCase):
        for row in rows:
            for name in names[1:]:
                setattr(row, name, getattr(row, f"{_SHOWN_AS}{name}"))
        return rows
    for row in rows:
        values = [row.use_case_id, *(getattr(row, f"{_SHOWN_AS}{name}") for name in names[1:])]
        row.use_case = UseCase.from_db(using, names, values)
    return rows


def known_in_every_unit(user) -> bool:
    """True when ``sees_every_use_case`` already found this request that the person is a member
    of every business unit (every use case's unit is one of theirs); never asks the database."""
    return bool(user.__dict__.get(_EVERY_UNIT))


def of_visible_use_cases(user, qs: QuerySet, path: str = "use_case") -> QuerySet:
    """``qs`` narrowed to rows of use cases the person sees (through ``path``); whole when the
    person is known to see every use case (no semi-join with all of them)."""
    if known_to_see_every_use_case(user):
        return qs
    return qs.filter(**{f"{path}__in": use_cases_visible_to(user).values("pk")})


def of_visible_use_cases_by_row(user, qs: QuerySet) -> QuerySet:
    """``qs`` (rows with a ``use_case``) narrowed as ``of_visible_use_cases`` does, each row's
    use case asked by a subquery of its own (its key's index, which also holds its unit and
    owner: ``registry_usecase_joined``) rather than a semi-join with every use case the
    person sees.

    For a short list over a large register: the open incidents, the reporting clocks not
    met. Asked as a semi-join (or a join), PostgreSQL scanned every use case to hash the third
    a product owner sees (2.5 ms) before it looked at the 50 rows; asked row by row, 50 index
    lookups. A subquery with a LIMIT is not pulled up into a join, so it stays row by row.
    Not for a table as large as the register: there the semi-join's one scan is cheaper."""
    if known_to_see_every_use_case(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    visible = use_cases_visible_to(user).select_related(None).filter(pk=OuterRef("use_case_id"))
    return qs.alias(_seen_use_case=Subquery(visible.values("pk")[:1])).filter(
        _seen_use_case__isnull=False
    )


def use_case_visible_q(user, via: str) -> Q:
    """What ``use_cases_visible_to`` asks of a use case, asked of a related one (``via``, e.g.
    ``"use_case__"``) for someone who does not read everything.

    ``use_case__in=use_cases_visible_to(user)`` inside an OR makes PostgreSQL list every use
    case the person sees before it looks at one row (a third of 100,000 for a product owner);
    the same conditions on the joined use case row cost nothing of the kind.
    """
    access = access_for(user)
    if not user.is_authenticated:
        return Q(pk__in=[])
    return (
        Q(**{f"{via}business_unit_id__in": access.unit_ids})
        | Q(**{f"{via}owner": user})
        | _granted(user, UseCase, USE_CASE_GRANTS, via=via)
    )


# Where a version from use_cases_as_of(with_sources=True) keeps its links to data sources then.
SOURCES_THEN = "data_source_links_then"


def use_cases_as_of(user, moment: datetime, *, with_sources: bool = False) -> QuerySet:
    """The use cases the person may see, as they stood at ``moment``: historical rows.

    One query over the history table whatever the register's size. Each row has the use
    case's fields as they were (its id in ``id``; the row's own ``pk`` is its history_id), so
    the register's filters and sorts apply to the values of the time. Who may see a use case
    is decided on the use case as it is now, as on its history page.
    """
    # Who reads everything needs no filter; for the others, the visible use cases are chosen
    # before their versions are grouped (cheaper than after).
    among = None if access_for(user).reads_everything else use_cases_visible_to(user)
    qs = rows_as_of(
        UseCase, moment, among=None if among is None else among.order_by().values("pk")
    ).select_related("business_unit", "owner")
    if with_sources:
        qs = qs.prefetch_related(snapshot_prefetch(UseCase, "data_sources", to_attr=SOURCES_THEN))
    return qs


def data_sources_visible_to(user) -> QuerySet[DataSource]:
    qs = DataSource.objects.select_related("business_unit", "owner")
    return _visible(user, qs)


def business_units_visible_to(user) -> QuerySet[BusinessUnit]:
    if not user.is_authenticated:
        return BusinessUnit.objects.none()
    return BusinessUnit.objects.all()


def units_user_can_register_in(user) -> QuerySet[BusinessUnit]:
    """Where a person may add use cases and data sources: their own units (admins: all)."""
    access = access_for(user)
    if access.is_admin:
        return BusinessUnit.objects.all()
    return BusinessUnit.objects.filter(pk__in=access.unit_ids)


def possible_owners(business_units: QuerySet[BusinessUnit] | None = None) -> QuerySet:
    qs = User.objects.filter(is_active=True, business_units__isnull=False)
    if business_units is not None:
        qs = qs.filter(business_units__in=business_units)
    return qs.distinct().order_by("first_name", "last_name", "username")


def use_case_counts(user) -> dict:
    """Counts for the dashboard: by lifecycle, by unit, and what needs attention, from one
    grouped query (a pass over the use cases the person sees, where three passes were)."""
    rows = (
        use_cases_visible_to(user)
        .order_by()
        .values("business_unit_id", "business_unit__name", "lifecycle")
        .annotate(
            n=Count("pk"),
            needs_reassessment=Count("pk", filter=Q(needs_reassessment=True)),
            kill_switch=Count("pk", filter=Q(kill_switch_engaged=True)),
            unscreened=Count("pk", filter=Q(risk_tier="unscreened") & ~Q(lifecycle="retired")),
        )
    )
    by_lifecycle: dict[str, int] = {}
    by_unit: dict[int, dict] = {}
    attention = {"needs_reassessment": 0, "kill_switch": 0, "unscreened": 0, "total": 0}
    for row in sorted(rows, key=lambda r: (r["business_unit__name"], r["business_unit_id"])):
        unit = by_unit.setdefault(
            row["business_unit_id"],
            {"id": row["business_unit_id"], "name": row["business_unit__name"], "total": 0},
        )
        unit[row["lifecycle"]] = row["n"]
        unit["total"] += row["n"]
        by_lifecycle[row["lifecycle"]] = by_lifecycle.get(row["lifecycle"], 0) + row["n"]
        attention["total"] += row["n"]
        for key in ("needs_reassessment", "kill_switch", "unscreened"):
            attention[key] += row[key]
    for unit in by_unit.values():
        # The unit's row of the table: a count per lifecycle, in the order of the columns
        # (None where the unit has none), so the page does not search the unit for each one.
        unit["cells"] = [unit.get(value) for value, _label in Lifecycle.choices]
    return {"by_lifecycle": by_lifecycle, "by_unit": list(by_unit.values()), **attention}


def ai_models_visible_to(user) -> QuerySet[AIModel]:
    """The model catalogue is the firm's (registry.view_aimodel): everyone signed in reads it."""
    if not user.is_authenticated:
        return AIModel.objects.none()
    return AIModel.objects.select_related("business_unit", "owner", "approved_by")


def model_versions_visible_to(user) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(model__in=ai_models_visible_to(user)).select_related("model")


def model_cards_visible_to(user) -> QuerySet[ModelCard]:
    return ModelCard.objects.filter(model_version__in=model_versions_visible_to(user))


# Releases: firm-wide, as the catalogue is; a model's tokens only to who manages them.
def promotions_visible_to(user) -> QuerySet[PromotionRequest]:
    return PromotionRequest.objects.filter(
        model_version__in=model_versions_visible_to(user)
    ).select_related("model_version__model", "requested_by")


def promotion_approvals_visible_to(user) -> QuerySet[PromotionApproval]:
    return PromotionApproval.objects.filter(request__in=promotions_visible_to(user))


def evaluations_visible_to(user) -> QuerySet[EvaluationRecord]:
    return EvaluationRecord.objects.filter(
        model_version__in=model_versions_visible_to(user)
    ).select_related("model_version__model", "ran_by")


def findings_visible_to(user) -> QuerySet[EvaluationFinding]:
    return EvaluationFinding.objects.filter(model_version__in=model_versions_visible_to(user))


def release_policies_visible_to(user) -> QuerySet[ReleasePolicy]:
    if not user.is_authenticated:
        return ReleasePolicy.objects.none()
    return ReleasePolicy.objects.all()


def model_tokens_visible_to(user) -> QuerySet[ModelToken]:
    """Who may manage a model's tokens sees them (never the secret); auditors and admins all."""
    access = access_for(user)
    if access.reads_everything:
        return ModelToken.objects.select_related("model", "created_by")
    if not user.is_authenticated:
        return ModelToken.objects.none()
    mine = Q(model__owner=user)
    if access.has_role("risk_officer", "product_owner"):
        mine |= Q(model__business_unit_id__in=access.unit_ids)
    return ModelToken.objects.filter(mine).select_related("model", "created_by")


def deployments_visible_to(user) -> QuerySet[Deployment]:
    """Deployments of the use cases the person sees."""
    return Deployment.objects.filter(
        use_case__in=use_cases_visible_to(user).values("pk")
    ).select_related("use_case", "model_version__model")


def go_live_records_visible_to(user) -> QuerySet[GoLiveRecord]:
    """Go-live records of the use cases the person sees: whoever reads a use case reads how
    it went into production."""
    return go_live_records_of(
        GoLiveRecord.objects.filter(use_case__in=use_cases_visible_to(user).values("pk"))
    )


def go_live_records_of(qs: QuerySet[GoLiveRecord]) -> QuerySet[GoLiveRecord]:
    """What a go-live record's page and lists show, read in one join."""
    return qs.select_related(
        "use_case__business_unit",
        "moved_by",
        "model_version__model",
        "previous_version__model",
        "gate_check",
    )


def gate_decisions_of(use_case: UseCase) -> QuerySet[GateCheck]:
    """Every answer of the gate for a use case, newest first (the caller has read the use
    case, so may read these)."""
    return use_case.gate_checks.select_related("asked_by", "deployment__model_version__model")


# Fetch and check in one call (missing and forbidden both 404; visible but not allowed 403).
def access_use_case(user, pk: int, perm: str = "registry.view_usecase") -> UseCase:
    return get_visible_or_404(
        use_cases_visible_to(user), user, None if perm == "registry.view_usecase" else perm, pk=pk
    )


def access_data_source(user, pk: int, perm: str = "registry.view_datasource") -> DataSource:
    return get_visible_or_404(
        data_sources_visible_to(user),
        user,
        None if perm == "registry.view_datasource" else perm,
        pk=pk,
    )


def access_model(user, pk: int, perm: str = "registry.view_aimodel") -> AIModel:
    return get_visible_or_404(
        ai_models_visible_to(user), user, None if perm == "registry.view_aimodel" else perm, pk=pk
    )


def access_version(user, pk: int, perm: str = "registry.view_aimodel") -> ModelVersion:
    visible = model_versions_visible_to(user).select_related(
        "model__business_unit", "model__owner", "model__approved_by"
    )
    return get_visible_or_404(
        visible,
        user,
        None if perm == "registry.view_aimodel" else perm,
        on=lambda version: version.model,
        pk=pk,
    )


def access_deployment(user, pk: int, perm: str = "registry.deploy_usecase") -> Deployment:
    return get_visible_or_404(
        deployments_visible_to(user), user, perm, on=lambda d: d.use_case, pk=pk
    )


def access_go_live_record(user, pk: int) -> GoLiveRecord:
    return get_visible_or_404(go_live_records_visible_to(user), user, pk=pk)
