"""The register over REST: use cases, data sources and business units.

Thin viewsets: querysets come from the selectors (so another unit's records answer 404),
permissions from the named rules (portal.api.RulePermission), and every write from the
services the pages call. Serializers only parse input and render records.
"""

from django.contrib.auth import get_user_model
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, filters, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api import RulePermission, ServiceErrorsMixin
from registry import services
from registry.filters import DataSourceFilter, UseCaseFilter
from registry.models import (
    LIFECYCLE_TRANSITIONS,
    BusinessUnit,
    DataSource,
    PeopleAffected,
    Transition,
    UseCase,
)
from registry.selectors import (
    business_units_visible_to,
    data_sources_visible_to,
    use_cases_visible_to,
)

User = get_user_model()


def _person_name(user) -> str:
    return user.get_full_name() or user.get_username()


class _VisibleDataSourceField(serializers.PrimaryKeyRelatedField):
    """Only data sources the requesting person may see can be chosen."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return DataSource.objects.none()
        return data_sources_visible_to(request.user)


class _RegisterViewSet(
    ServiceErrorsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """List, read, create and edit through the services; no DELETE (records are kept)."""

    permission_classes = [RulePermission]


# Use cases -----------------------------------------------------------------------------------
class UseCaseSerializer(serializers.ModelSerializer):
    business_unit = serializers.PrimaryKeyRelatedField(queryset=BusinessUnit.objects.all())
    business_unit_name = serializers.CharField(source="business_unit.name", read_only=True)
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    owner_name = serializers.SerializerMethodField()
    people_affected = serializers.ListField(
        child=serializers.ChoiceField(choices=PeopleAffected.choices),
        allow_empty=False,
        help_text="Everyone whose life or work the AI's output touches.",
    )
    data_sources = _VisibleDataSourceField(many=True, required=False)
    change_reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text="Why it changed; kept in the history (an edit summary is used if empty).",
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-use-case-detail")

    class Meta:
        model = UseCase
        fields = [
            "id",
            "reference",
            "title",
            "purpose",
            "business_unit",
            "business_unit_name",
            "owner",
            "owner_name",
            "lifecycle",
            "risk_tier",
            "people_affected",
            "decision_impact",
            "human_oversight",
            "data_sources",
            "next_review_date",
            "needs_reassessment",
            "reassessment_reasons",
            "kill_switch_engaged",
            "created_at",
            "updated_at",
            "url",
            "change_reason",
        ]
        read_only_fields = [
            "reference",
            "lifecycle",
            "risk_tier",
            "needs_reassessment",
            "reassessment_reasons",
            "kill_switch_engaged",
            "created_at",
            "updated_at",
        ]

    def get_owner_name(self, use_case) -> str:
        return _person_name(use_case.owner)

    def service_data(self) -> dict:
        data = dict(self.validated_data)
        data.pop("change_reason", None)
        return data


class TransitionSerializer(serializers.Serializer):
    action = serializers.CharField()
    label = serializers.CharField()
    target = serializers.CharField()
    reason_required = serializers.BooleanField()


class UseCaseDetailSerializer(UseCaseSerializer):
    available_transitions = serializers.SerializerMethodField()

    class Meta(UseCaseSerializer.Meta):
        fields = [*UseCaseSerializer.Meta.fields, "available_transitions"]

    @extend_schema_field(TransitionSerializer(many=True))
    def get_available_transitions(self, use_case) -> list[dict]:
        request = self.context["request"]
        return [
            {
                "action": name,
                "label": t.label,
                "target": t.target,
                "reason_required": t.reason_required,
            }
            for name, t in services.available_transitions(use_case, request.user)
        ]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class KillSwitchSerializer(ReasonSerializer):
    engaged = serializers.BooleanField(help_text="true switches the AI off; false back on.")


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
    }
    filter_backends = [DjangoFilterBackend, filters.SearchFilter]
    filterset_class = UseCaseFilter
    search_fields = ["title", "purpose", "=reference"]

    def get_queryset(self):
        return use_cases_visible_to(self.request.user).prefetch_related("data_sources")

    def get_serializer_class(self):
        return UseCaseSerializer if self.action == "list" else UseCaseDetailSerializer

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


# Data sources --------------------------------------------------------------------------------
class DataSourceSerializer(serializers.ModelSerializer):
    business_unit = serializers.PrimaryKeyRelatedField(queryset=BusinessUnit.objects.all())
    business_unit_name = serializers.CharField(source="business_unit.name", read_only=True)
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    owner_name = serializers.SerializerMethodField()
    url = serializers.HyperlinkedIdentityField(view_name="api-data-source-detail")

    class Meta:
        model = DataSource
        fields = [
            "id",
            "reference",
            "name",
            "description",
            "business_unit",
            "business_unit_name",
            "owner",
            "owner_name",
            "classification",
            "personal_data",
            "allowed_destination",
            "retention_days",
            "retention_notes",
            "created_at",
            "updated_at",
            "url",
        ]
        read_only_fields = ["reference", "created_at", "updated_at"]

    def get_owner_name(self, source) -> str:
        return _person_name(source.owner)


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
        return data_sources_visible_to(self.request.user).order_by("name", "pk")

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
class BusinessUnitSerializer(serializers.ModelSerializer):
    members = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=User.objects.filter(is_active=True)
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-business-unit-detail")

    class Meta:
        model = BusinessUnit
        fields = ["id", "name", "code", "description", "members", "created_at", "updated_at", "url"]
        read_only_fields = ["created_at", "updated_at"]


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
