"""The register over REST: use cases, data sources and business units.

Thin viewsets: querysets come from the selectors (so another unit's records answer 404),
permissions from the named rules (portal.api.RulePermission), and every write from the
services the pages call. Serializers only parse input and render records.
"""

import functools

from django.contrib.auth import get_user_model
from django.contrib.postgres.fields import ArrayField
from django.db import connections
from django.db.models import BigIntegerField, CharField, Model, Prefetch, QuerySet
from django.db.models.expressions import RawSQL
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, filters, mixins
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.settings import api_settings

from portal.api_views import RecordViewSet
from portal.workflow import Transition
from registry import services
from registry.filters import DataSourceFilter, UseCaseFilter
from registry.models import (
    LIFECYCLE_TRANSITIONS,
    BusinessUnit,
    DataSource,
    UseCase,
)
from registry.selectors import (
    business_units_visible_to,
    data_sources_visible_to,
    go_live_records_of,
    use_cases_visible_to,
)
from registry.serializers.go_live import GoLiveRecordSerializer
from registry.serializers.use_cases import LISTED_NAMES as USE_CASE_LISTED_NAMES
from registry.serializers.use_cases import SOURCE_IDS as USE_CASE_SOURCE_IDS
from registry.serializers.use_cases import (
    BusinessUnitSerializer,
    DataSourceSerializer,
    KillSwitchSerializer,
    ReasonSerializer,
    UseCaseDetailSerializer,
    UseCaseSerializer,
)

User = get_user_model()


class _RegisterViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, RecordViewSet):
    """List, read, create and edit through the services; no DELETE (records are kept)."""

    def filter_queryset(self, queryset):
        # The filters and the search are the list's (the schema offers them only there); a
        # single record's read or write need not build a filter form for its one row.
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)


# What a row of a record shows of its owner: the name, never the password hash or the rest.
OWNER_UNSHOWN = (
    "owner__password",
    "owner__last_login",
    "owner__is_superuser",
    "owner__is_staff",
    "owner__is_active",
    "owner__date_joined",
    "owner__email",
)


def only_shown(model: type[Model], unshown: tuple[str, ...], related: tuple[str, ...]) -> list[str]:
    """What ``.defer(*unshown)`` loads of ``model`` and its ``related`` (select_related) rows,
    named for ``.only()``: the same columns, in the same order.

    Django works a defer() out by walking every reverse relation of each model it reads (a
    person has dozens), which took a fifth of compiling the register's query, for every
    request; only() looks at the fields it names (tests/registry/test_api.py compares the
    two queries' SQL).
    """
    names = [f.name for f in model._meta.concrete_fields if f.name not in unshown]
    for path in related:
        target = model._meta.get_field(path).related_model
        assert target is not None  # a foreign key's
        names += [
            f"{path}__{f.name}"
            for f in target._meta.concrete_fields
            if f"{path}__{f.name}" not in unshown
        ]
    return names


def _source_ids() -> RawSQL:
    """A use case's data-source ids as one array in its own row: no second query, no
    prefetch machinery, for a serializer that prints only the ids. Written as SQL: an
    ArraySubquery took longer to build than to run."""
    links = UseCase.data_sources.through._meta.db_table
    use_cases = UseCase._meta.db_table
    sql = (
        f'ARRAY(SELECT l."datasource_id" FROM "{links}" l '
        f'WHERE l."usecase_id" = "{use_cases}"."id" ORDER BY l."datasource_id")'
    )
    return RawSQL(sql, (), output_field=ArrayField(BigIntegerField()))


# What neither the list nor the detail shows of a use case and its unit (nor any rule asks).
USE_CASE_UNSHOWN = (
    "risk_tier_basis",
    "kill_switch_changed_at",
    "business_unit__description",
    "business_unit__code",
    "business_unit__created_at",
    "business_unit__updated_at",
)


USE_CASE_SHOWN = only_shown(
    UseCase, (*OWNER_UNSHOWN, *USE_CASE_UNSHOWN), related=("owner", "business_unit")
)
# The list reads the use case's own columns of those, and its unit's and owner's names.
USE_CASE_LISTED = [name for name in USE_CASE_SHOWN if "__" not in name]


def _listed_names() -> dict[str, RawSQL]:
    """The unit's name and the owner's first name, last name and username, as columns of the
    use case's row (LISTED_NAMES), in SQL as ``_source_ids``: subqueries, not joins, so the
    list's count stays a count of use cases alone."""
    use_cases = UseCase._meta.db_table
    unit = (
        f'(SELECT u."name" FROM "{BusinessUnit._meta.db_table}" u '
        f'WHERE u."id" = "{use_cases}"."business_unit_id")'
    )
    owner = (
        f'(SELECT ARRAY[p."first_name", p."last_name", p."username"] '
        f'FROM "{User._meta.db_table}" p WHERE p."id" = "{use_cases}"."owner_id")'
    )
    unit_name, owner_names = USE_CASE_LISTED_NAMES
    return {
        unit_name: RawSQL(unit, (), output_field=CharField()),
        owner_names: RawSQL(owner, (), output_field=ArrayField(CharField())),
    }


def _with_source_ids() -> dict[str, RawSQL]:
    return {USE_CASE_SOURCE_IDS: _source_ids()}


@functools.cache
def _use_cases_as_read() -> QuerySet[UseCase]:
    """Use cases as the list and a read of one show them (PostgreSQL): the row's own columns,
    the unit's and owner's names and the data-source ids as columns of the row. Not a unit
    and a person made for each of fifty rows (a tenth of the list's time, issue 19); for one
    record, two joins fewer to compile and two records fewer to build. A write reads the
    unit and the person as well: the services it calls use them.

    Built once: only() and annotate() over the visibility filter took about 0.15 ms of a
    4 ms read, request after request, to build the same query. Never evaluated itself;
    every request narrows a copy of it (``use_cases_visible_to(user, among=...)``)."""
    return UseCase.objects.only(*USE_CASE_LISTED).annotate(**_listed_names(), **_with_source_ids())


DATA_SOURCE_UNSHOWN = (*OWNER_UNSHOWN, "business_unit__description")
DATA_SOURCE_SHOWN = only_shown(DataSource, DATA_SOURCE_UNSHOWN, related=("owner", "business_unit"))


# Use cases -----------------------------------------------------------------------------------
def _lifecycle_move(name: str) -> Transition:
    try:
        return LIFECYCLE_TRANSITIONS[name]
    except KeyError:
        raise exceptions.NotFound(f"No lifecycle move is called {name!r}.") from None


_ERRORS = {
    400: OpenApiResponse(description="Invalid input; the body names the fields at fault."),
    403: OpenApiResponse(description="You may see this use case but not do this."),
    404: OpenApiResponse(description="No such use case, or you may not see it."),
}


@extend_schema(tags=["use cases"])
@extend_schema_view(
    list=extend_schema(summary="The use-case register, filtered like the register page"),
    retrieve=extend_schema(summary="One use case, with the moves open to you"),
    create=extend_schema(
        summary="Register a use case",
        request=UseCaseSerializer,
        responses={201: UseCaseDetailSerializer, **_ERRORS},
    ),
    update=extend_schema(
        summary="Edit a use case",
        request=UseCaseSerializer,
        responses={200: UseCaseDetailSerializer, **_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Edit some fields of a use case",
        request=UseCaseSerializer,
        responses={200: UseCaseDetailSerializer, **_ERRORS},
    ),
)
class UseCaseViewSet(_RegisterViewSet):
    # No destroy: a use case is retired (POST .../transitions/retire/), so DELETE answers 405.
    view_rule = "registry.view_usecase"
    action_rules = {
        "list": None,
        "retrieve": "registry.view_usecase",
        "create": "registry.add_usecase",
        "update": "registry.change_usecase",
        "partial_update": "registry.change_usecase",
        "transition": lambda view: _lifecycle_move(view.kwargs.get("transition", "")).rule,
        "flag": "registry.flag_usecase",
        "clear_flag": "registry.flag_usecase",
        "kill_switch": "registry.kill_switch_usecase",
        "go_live_records": "registry.view_usecase",
    }
    filter_backends = [DjangoFilterBackend, filters.SearchFilter]
    filterset_class = UseCaseFilter
    search_fields = ["title", "purpose", "=reference"]

    def get_queryset(self):
        user = self.request.user
        if connections[UseCase.objects.db].vendor != "postgresql":
            # ARRAY is PostgreSQL's; elsewhere the ids come from a prefetch, in the same order,
            # and the names from the unit and the person.
            ids = DataSource.objects.only("pk").order_by("pk")
            return (
                use_cases_visible_to(user)
                .only(*USE_CASE_SHOWN)
                .prefetch_related(Prefetch("data_sources", queryset=ids))
            )
        if self.action in ("list", "retrieve"):
            return use_cases_visible_to(user, among=_use_cases_as_read())
        return use_cases_visible_to(user).only(*USE_CASE_SHOWN).annotate(**_with_source_ids())

    def get_serializer_class(self):
        return UseCaseSerializer if self.action == "list" else UseCaseDetailSerializer

    def filter_queryset(self, queryset):
        # A list that asks for no filter, search or order is the register in its order:
        # building the filter form to learn that cost a tenth of the request.
        asked = {*UseCaseFilter.base_filters, api_settings.SEARCH_PARAM}
        if self.action == "list" and asked.isdisjoint(self.request.query_params):
            return UseCaseFilter.in_order(queryset)
        return super().filter_queryset(queryset)

    def perform_create(self, serializer):
        serializer.instance = services.use_case_register(
            actor=self.request.user, data=serializer.service_data()
        )

    def perform_update(self, serializer):
        data = serializer.service_data()
        serializer.instance = services.use_case_update(
            actor=self.request.user,
            use_case=serializer.instance,
            data=data,
            reason=serializer.validated_data.get("change_reason", ""),
        )

    def _render(self, use_case) -> Response:
        use_case = self.get_queryset().get(pk=use_case.pk)
        return Response(
            UseCaseDetailSerializer(use_case, context=self.get_serializer_context()).data
        )

    def _reason(self) -> str:
        serializer = ReasonSerializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data["reason"]

    @extend_schema(
        summary="Move a use case along its lifecycle",
        request=ReasonSerializer,
        responses={200: UseCaseDetailSerializer, **_ERRORS},
        parameters=[
            OpenApiParameter(
                "transition",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                enum=list(LIFECYCLE_TRANSITIONS),
                description="The move to make; the detail lists those open to you.",
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path=r"transitions/(?P<transition>[a-z_]+)")
    def transition(self, request, pk=None, transition: str = ""):
        _lifecycle_move(transition)
        use_case = self.get_object()
        use_case = services.use_case_transition(
            actor=request.user, use_case=use_case, action=transition, reason=self._reason()
        )
        return self._render(use_case)

    @extend_schema(
        summary="Flag a use case for re-assessment",
        request=ReasonSerializer,
        responses={200: UseCaseDetailSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def flag(self, request, pk=None):
        use_case = services.use_case_flag_for_reassessment(
            actor=request.user, use_case=self.get_object(), reason=self._reason()
        )
        return self._render(use_case)

    @extend_schema(
        summary="Clear a use case's re-assessment flag",
        request=ReasonSerializer,
        responses={200: UseCaseDetailSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="clear-flag")
    def clear_flag(self, request, pk=None):
        use_case = services.use_case_clear_reassessment(
            actor=request.user, use_case=self.get_object(), reason=self._reason()
        )
        return self._render(use_case)

    @extend_schema(
        summary="Switch the AI off (engaged) or back on",
        request=KillSwitchSerializer,
        responses={200: UseCaseDetailSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="kill-switch")
    def kill_switch(self, request, pk=None):
        use_case = self.get_object()
        serializer = KillSwitchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        use_case = services.use_case_set_kill_switch(
            actor=request.user,
            use_case=use_case,
            engaged=serializer.validated_data["engaged"],
            reason=serializer.validated_data["reason"],
        )
        return self._render(use_case)

    @extend_schema(
        summary="How the use case went into production: its go-live records, newest first",
        responses={
            200: GoLiveRecordSerializer(many=True),
            404: OpenApiResponse(description="No such use case, or you may not see it."),
        },
    )
    @action(detail=True, methods=["get"], url_path="go-live-records")
    def go_live_records(self, request, pk=None):
        records = go_live_records_of(self.get_object().go_live_records.all())
        page = self.paginate_queryset(records)
        if page is not None:
            return self.get_paginated_response(GoLiveRecordSerializer(page, many=True).data)
        return Response(GoLiveRecordSerializer(records, many=True).data)


# Data sources --------------------------------------------------------------------------------
@extend_schema(tags=["data sources"])
@extend_schema_view(
    list=extend_schema(summary="Data sources you may see"),
    retrieve=extend_schema(summary="One data source"),
    create=extend_schema(summary="Register a data source"),
    update=extend_schema(summary="Edit a data source"),
    partial_update=extend_schema(summary="Edit some fields of a data source"),
)
class DataSourceViewSet(_RegisterViewSet):
    serializer_class = DataSourceSerializer
    view_rule = "registry.view_datasource"
    action_rules = {
        "list": None,
        "retrieve": "registry.view_datasource",
        "create": "registry.add_datasource",
        "update": "registry.change_datasource",
        "partial_update": "registry.change_datasource",
    }
    filter_backends = [DjangoFilterBackend]
    filterset_class = DataSourceFilter

    def get_queryset(self):
        return (
            data_sources_visible_to(self.request.user)
            .only(*DATA_SOURCE_SHOWN)
            .order_by("name", "pk")
        )

    def perform_create(self, serializer):
        serializer.instance = services.data_source_create(
            actor=self.request.user, data=dict(serializer.validated_data)
        )

    def perform_update(self, serializer):
        serializer.instance = services.data_source_update(
            actor=self.request.user,
            data_source=serializer.instance,
            data=dict(serializer.validated_data),
        )


# Business units ------------------------------------------------------------------------------
@extend_schema(tags=["business units"])
@extend_schema_view(
    list=extend_schema(summary="Business units"),
    retrieve=extend_schema(summary="One business unit"),
    create=extend_schema(summary="Add a business unit"),
    update=extend_schema(summary="Edit a business unit"),
    partial_update=extend_schema(summary="Edit some fields of a business unit"),
)
class BusinessUnitViewSet(_RegisterViewSet):
    serializer_class = BusinessUnitSerializer
    view_rule = "registry.view_businessunit"
    action_rules = {
        "list": None,
        "retrieve": "registry.view_businessunit",
        "create": "registry.add_businessunit",
        "update": "registry.change_businessunit",
        "partial_update": "registry.change_businessunit",
    }
    filter_backends: list = []

    def get_queryset(self):
        return (
            business_units_visible_to(self.request.user)
            .prefetch_related("members")
            .order_by("name", "pk")
        )

    def perform_create(self, serializer):
        serializer.instance = services.business_unit_create(
            actor=self.request.user, data=dict(serializer.validated_data)
        )

    def perform_update(self, serializer):
        serializer.instance = services.business_unit_update(
            actor=self.request.user, unit=serializer.instance, data=dict(serializer.validated_data)
        )


def register(router) -> None:
    router.register("use-cases", UseCaseViewSet, basename="api-use-case")
    router.register("data-sources", DataSourceViewSet, basename="api-data-source")
    router.register("business-units", BusinessUnitViewSet, basename="api-business-unit")
