"""The model registry over REST: AI models, versions and cards, deployments, approvals of a
model for a use case, data-policy exceptions, and the go-live gate a CI/CD pipeline calls.

Thin viewsets as in registry/api/use_cases.py: permissions from the named rules
(portal.api.RulePermission), every write from the services the pages call. The model
catalogue is the firm's and everyone reads it; deployments, approvals and exceptions belong
to a use case, so a person who may not see the use case gets 404 on them, and on its gate.
"""

from typing import Any

import django_filters
from django.conf import settings
from django.contrib.auth import get_user_model
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, filters, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.access import access_for
from portal.api_views import RecordViewSet
from portal.params import id_or_reference
from registry import model_cards, services
from registry.api.releases import VersionReleaseActions
from registry.mlflow import MLflowError
from registry.models import (
    AIModel,
    ApprovalStatus,
    BusinessUnit,
    DataPolicyException,
    Deployment,
    Environment,
    HostingPattern,
    ModelApproval,
    ModelCard,
    ModelVersion,
    RiskTier,
    UseCase,
)
from registry.selectors import (
    ai_models_visible_to,
    deployments_visible_to,
    model_versions_visible_to,
    units_user_can_register_in,
    use_cases_visible_to,
)
from registry.serializers.ai_models import (
    AIModelSerializer,
    DeploymentSerializer,
    DeploymentUpdateSerializer,
    GateResultSerializer,
    ModelApprovalSerializer,
    ModelApprovalStatusSerializer,
    ModelCardSerializer,
    ModelVersionSerializer,
    PolicyExceptionSerializer,
)
from registry.serializers.use_cases import ReasonSerializer
from registry.tasks import import_mlflow_models

_ERRORS = {
    400: OpenApiResponse(description="Invalid input; the body names the fields at fault."),
    403: OpenApiResponse(description="You may see this record but not do this."),
    404: OpenApiResponse(description="No such record, or you may not see it."),
}


def visible_use_case(user, key: str) -> UseCase:
    """The use case with this id or reference (UC-0042), if the person may see it; else 404."""
    key = str(key).strip()
    qs = use_cases_visible_to(user)
    matches = qs.filter(**id_or_reference(key))
    found = matches.first() if key else None
    if found is None:
        raise exceptions.NotFound("No such use case, or you may not see it.")
    return found


class _RuleOnMixin:
    """Ask a record's rules of the record they belong to (a version's model, a deployment's
    use case): the rules are written over those."""

    rule_target: str = ""

    def check_object_permissions(self, request, obj):
        target = getattr(obj, self.rule_target) if self.rule_target else obj
        super().check_object_permissions(request, target)


# Filters -------------------------------------------------------------------------------------
class AIModelFilter(django_filters.FilterSet):
    approval_status = django_filters.ChoiceFilter(choices=ApprovalStatus.choices)
    hosting_pattern = django_filters.ChoiceFilter(choices=HostingPattern.choices)
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices)

    class Meta:
        model = AIModel
        fields: list[str] = []


class _ByUseCaseFilter(django_filters.FilterSet):
    use_case = django_filters.CharFilter(
        method="filter_use_case",
        help_text="A use case's id or reference (e.g. UC-0042); 404 if you may not see it.",
    )

    def filter_use_case(self, qs, name, value):
        return qs.filter(use_case=visible_use_case(self.request.user, value))


class DeploymentFilter(_ByUseCaseFilter):
    environment = django_filters.ChoiceFilter(choices=Environment.choices)
    active = django_filters.BooleanFilter(help_text="true: serving now; false: retired.")

    class Meta:
        model = Deployment
        fields: list[str] = []


class ModelApprovalFilter(_ByUseCaseFilter):
    class Meta:
        model = ModelApproval
        fields: list[str] = []


class PolicyExceptionFilter(_ByUseCaseFilter):
    class Meta:
        model = DataPolicyException
        fields: list[str] = []


# Models --------------------------------------------------------------------------------------
class MLflowImportRequestSerializer(serializers.Serializer):
    tracking_uri = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="e.g. http://mlflow.internal:5000; empty uses MLFLOW_TRACKING_URI.",
    )
    business_unit = serializers.PrimaryKeyRelatedField(
        queryset=BusinessUnit.objects.all(), help_text="The unit new models belong to."
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        help_text="Who owns new models (default: the caller).",
    )

    def validate_business_unit(self, unit):
        user = self.context["request"].user
        if not units_user_can_register_in(user).filter(pk=unit.pk).exists():
            raise serializers.ValidationError(f"You cannot register models in {unit}.")
        return unit

    def validate(self, attrs):
        uri = (attrs.get("tracking_uri") or "").strip()
        if not (uri or settings.MLFLOW_TRACKING_URI):
            raise serializers.ValidationError(
                {"tracking_uri": "Give the tracking server's address (none is configured)."}
            )
        # The portal itself fetches this address: only an administrator may point it
        # anywhere but the server configured in MLFLOW_TRACKING_URI.
        configured = settings.MLFLOW_TRACKING_URI.strip().rstrip("/")
        admin = access_for(self.context["request"].user).is_admin
        if uri and uri.rstrip("/") != configured and not admin:
            raise serializers.ValidationError(
                {
                    "tracking_uri": "Only an administrator may import from a server other "
                    "than the configured one (MLFLOW_TRACKING_URI)."
                }
            )
        return attrs


@extend_schema(tags=["AI models"])
@extend_schema_view(
    list=extend_schema(summary="The model catalogue (everyone reads it)"),
    retrieve=extend_schema(summary="One AI model"),
    create=extend_schema(
        summary="Register an AI model (under evaluation until approved)",
        responses={201: AIModelSerializer, **_ERRORS},
    ),
    update=extend_schema(summary="Edit an AI model", responses={200: AIModelSerializer, **_ERRORS}),
    partial_update=extend_schema(
        summary="Edit some fields of an AI model", responses={200: AIModelSerializer, **_ERRORS}
    ),
)
class AIModelViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, RecordViewSet):
    # No DELETE: a model is banned, not removed, so its history and deployments stay.
    serializer_class = AIModelSerializer
    view_rule = "registry.view_aimodel"
    action_rules = {
        "list": None,
        "retrieve": "registry.view_aimodel",
        "create": "registry.add_aimodel",
        "update": "registry.change_aimodel",
        "partial_update": "registry.change_aimodel",
        "approval": "registry.approve_aimodel",
        "versions": "registry.view_aimodel",
        "add_version": "registry.change_aimodel",
        "import_mlflow": "registry.add_aimodel",
    }
    filter_backends = [DjangoFilterBackend, filters.SearchFilter]
    filterset_class = AIModelFilter
    search_fields = ["name", "provider", "=reference"]

    def get_queryset(self):
        return ai_models_visible_to(self.request.user).order_by("name", "pk")

    def perform_create(self, serializer):
        serializer.instance = services.model_create(
            actor=self.request.user, data=dict(serializer.validated_data)
        )

    def perform_update(self, serializer):
        serializer.instance = services.model_update(
            actor=self.request.user, model=serializer.instance, data=dict(serializer.validated_data)
        )

    @extend_schema(
        summary="Import registered models and versions from an MLflow tracking server",
        description="Runs the import task: with a Celery worker it is queued (202 with the "
        "task id); with tasks in-process the report comes back at once (200). A server that "
        "cannot be read answers 502 with why; nothing is written then.",
        request=MLflowImportRequestSerializer,
        responses={
            200: OpenApiTypes.OBJECT,
            202: OpenApiTypes.OBJECT,
            502: OpenApiTypes.OBJECT,
            **_ERRORS,
        },
    )
    @action(detail=False, methods=["post"], url_path="import-mlflow")
    def import_mlflow(self, request):
        serializer = MLflowImportRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        owner = data.get("owner") or request.user
        kwargs = {
            "actor_id": request.user.pk,
            "business_unit_id": data["business_unit"].pk,
            "owner_id": owner.pk,
            "tracking_uri": data.get("tracking_uri", ""),
        }
        try:
            result = import_mlflow_models.delay(**kwargs)
        except MLflowError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
        if result.ready():
            return Response(result.get())
        return Response({"task_id": result.id, "status": "queued"}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Approve, ban or send a model back to evaluation",
        description="Banning flags every use case the model serves for re-assessment.",
        request=ModelApprovalStatusSerializer,
        responses={200: AIModelSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def approval(self, request, pk=None):
        model = self.get_object()
        serializer = ModelApprovalStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = services.model_set_approval(
            actor=request.user,
            model=model,
            status=serializer.validated_data["status"],
            note=serializer.validated_data["note"],
        )
        model = self.get_queryset().get(pk=model.pk)
        return Response(AIModelSerializer(model, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="The versions of a model, newest first",
        # A page of versions, as every list answers (the schema said one version).
        responses={200: ModelVersionSerializer(many=True)},
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=ModelVersionSerializer,
        filter_backends=[],
    )
    def versions(self, request, pk=None):
        model = self.get_object()
        versions = model.versions.select_related("model").order_by("-created_at", "-pk")
        page = self.paginate_queryset(versions)
        serializer = ModelVersionSerializer(page, many=True, context=self.get_serializer_context())
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        summary="Register a version of a model",
        request=ModelVersionSerializer,
        responses={201: ModelVersionSerializer, **_ERRORS},
    )
    @versions.mapping.post
    def add_version(self, request, pk=None):
        model = self.get_object()
        serializer = ModelVersionSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        version = services.model_version_create(
            actor=request.user, model=model, data=dict(serializer.validated_data)
        )
        body = ModelVersionSerializer(version, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)


class _FileFormatNegotiation(DefaultContentNegotiation):
    """On a file download ``?format=`` names the file's format (html, md, pdf), not one of
    the API's renderers; errors still answer in JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


# Versions and their cards --------------------------------------------------------------------
@extend_schema(tags=["AI models"])
@extend_schema_view(
    retrieve=extend_schema(summary="One model version"),
    update=extend_schema(
        summary="Edit a model version (its stage moves only through promote)",
        responses={200: ModelVersionSerializer, **_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Edit some fields of a model version",
        responses={200: ModelVersionSerializer, **_ERRORS},
    ),
)
class ModelVersionViewSet(
    VersionReleaseActions,
    _RuleOnMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ModelVersionSerializer
    rule_target = "model"
    view_rule = "registry.view_aimodel"
    action_rules = {
        "retrieve": "registry.view_aimodel",
        "update": "registry.change_aimodel",
        "partial_update": "registry.change_aimodel",
        "card": "registry.view_aimodel",
        "update_card": "registry.change_aimodel",
        "card_export": "registry.view_aimodel",
        **VersionReleaseActions.release_action_rules,
    }
    filter_backends: list = []

    def get_queryset(self):
        return model_versions_visible_to(self.request.user)

    def perform_update(self, serializer):
        serializer.instance = services.model_version_update(
            actor=self.request.user,
            version=serializer.instance,
            data=dict(serializer.validated_data),
        )

    def _card(self, version: ModelVersion) -> Response:
        # A version with no card yet has an empty one: 0% with every section missing.
        card = ModelCard.objects.filter(model_version=version).first()
        return Response(ModelCardSerializer(card or ModelCard(model_version=version)).data)

    @extend_schema(
        summary="The model card of a version, with its completeness and what is missing",
        responses={200: ModelCardSerializer, 404: _ERRORS[404]},
    )
    @action(detail=True, methods=["get"], serializer_class=ModelCardSerializer)
    def card(self, request, pk=None):
        return self._card(self.get_object())

    @extend_schema(
        summary="Write sections of the model card (each edit is a version in its history)",
        request=ModelCardSerializer,
        responses={200: ModelCardSerializer, **_ERRORS},
    )
    @card.mapping.patch
    def update_card(self, request, pk=None):
        version = self.get_object()
        serializer = ModelCardSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.model_card_update(
            actor=request.user, version=version, sections=serializer.validated_data["sections"]
        )
        return self._card(version)

    @extend_schema(
        summary="Download the model card as HTML, Markdown or PDF",
        description="One file per version, with the facts the registry knows, every section, "
        "the completeness score and what is missing. The HTML is one self-contained file.",
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=list(model_cards.FORMATS),
                default="html",
                description="The file format: html, md (Markdown) or pdf.",
            )
        ],
        responses={
            (200, "text/html"): OpenApiTypes.STR,
            (200, "text/markdown"): OpenApiTypes.STR,
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (400, "application/json"): _ERRORS[400],
            (404, "application/json"): _ERRORS[404],
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="card/export",
        url_name="card-export",
        content_negotiation_class=_FileFormatNegotiation,
    )
    def card_export(self, request, pk=None, format=None):
        version = self.get_object()
        # ``.pdf`` on the path (DRF's format suffix) or ``?format=pdf``.
        fmt = format or request.query_params.get("format", "html")
        if fmt not in model_cards.FORMATS:
            raise exceptions.ValidationError(
                {"format": [f"Choose one of: {', '.join(model_cards.FORMATS)}."]}
            )
        return model_cards.export_response(model_cards.card_document(version, request.user), fmt)


# Deployments ---------------------------------------------------------------------------------
@extend_schema(tags=["deployments"])
@extend_schema_view(
    list=extend_schema(summary="Deployments of the use cases you may see"),
    retrieve=extend_schema(summary="One deployment"),
    create=extend_schema(
        summary="Deploy a model version for a use case",
        description="A production deployment must pass the go-live gate; if not, the answer "
        "is 400 with the gate's reasons under environment (the refusal is logged).",
        responses={201: DeploymentSerializer, **_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change the version or traffic share of a deployment",
        description="Changing the version remembers the one before, for a rollback. A "
        "production deployment must still pass the go-live gate.",
        request=DeploymentUpdateSerializer,
        responses={200: DeploymentSerializer, **_ERRORS},
    ),
)
class DeploymentViewSet(_RuleOnMixin, mixins.CreateModelMixin, RecordViewSet):
    # PATCH only, and no DELETE: a deployment is retired, so its history stays.
    serializer_class = DeploymentSerializer
    rule_target = "use_case"
    view_rule = "registry.view_usecase"
    action_rules = {
        "list": None,
        # Deploying is asked of the use case, which the service checks once it has it.
        "create": None,
        "retrieve": "registry.view_usecase",
        "partial_update": "registry.deploy_usecase",
        "rollback": "registry.deploy_usecase",
        "retire": "registry.deploy_usecase",
    }
    filter_backends = [DjangoFilterBackend]
    filterset_class = DeploymentFilter

    def get_queryset(self):
        return deployments_visible_to(self.request.user).order_by(
            "use_case", "environment", "-traffic_share", "pk"
        )

    def _render(self, deployment, status_code: int = 200) -> Response:
        deployment = self.get_queryset().get(pk=deployment.pk)
        body = DeploymentSerializer(deployment, context=self.get_serializer_context()).data
        return Response(body, status=status_code)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        deployment = services.deployment_create(
            actor=request.user, use_case=data.pop("use_case"), data=data
        )
        return self._render(deployment, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        deployment = self.get_object()
        serializer = DeploymentUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        reason = data.pop("reason", "")
        deployment = services.deployment_update(
            actor=request.user, deployment=deployment, data=data, reason=reason
        )
        return self._render(deployment)

    def _reason(self) -> str:
        serializer = ReasonSerializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data["reason"]

    @extend_schema(
        summary="Roll a deployment back to the version it served before",
        description="Recorded with who and why in the deployment's history.",
        request=ReasonSerializer,
        responses={200: DeploymentSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        deployment = self.get_object()
        deployment = services.deployment_rollback(
            actor=request.user, deployment=deployment, reason=self._reason()
        )
        return self._render(deployment)

    @extend_schema(
        summary="End a deployment",
        request=ReasonSerializer,
        responses={200: DeploymentSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        deployment = self.get_object()
        deployment = services.deployment_retire(
            actor=request.user, deployment=deployment, reason=self._reason()
        )
        return self._render(deployment)


# Approvals of a model for a use case ---------------------------------------------------------
@extend_schema(tags=["deployments"])
@extend_schema_view(
    list=extend_schema(summary="Models approved for the use cases you may see"),
    retrieve=extend_schema(summary="One approval of a model for a use case"),
    create=extend_schema(
        summary="Approve a model for a use case (the model must be approved firm-wide)",
        responses={201: ModelApprovalSerializer, **_ERRORS},
    ),
)
class ModelApprovalViewSet(_RuleOnMixin, mixins.CreateModelMixin, RecordViewSet):
    # No DELETE: revoking needs a reason, kept in the history (POST .../revoke/).
    serializer_class = ModelApprovalSerializer
    rule_target = "use_case"
    view_rule = "registry.view_usecase"
    action_rules = {
        "list": None,
        "create": None,
        "retrieve": "registry.view_usecase",
        "revoke": "registry.approve_model_for_usecase",
    }
    filter_backends = [DjangoFilterBackend]
    filterset_class = ModelApprovalFilter

    def get_queryset(self):
        return (
            ModelApproval.objects.filter(use_case__in=use_cases_visible_to(self.request.user))
            .select_related("use_case", "model", "approved_by")
            .order_by("use_case", "model", "pk")
        )

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        approval = services.model_approval_grant(
            actor=request.user,
            use_case=data["use_case"],
            model=data["model"],
            note=data.get("note", ""),
        )
        approval = self.get_queryset().get(pk=approval.pk)
        body = ModelApprovalSerializer(approval, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Revoke the approval of a model for a use case",
        request=ReasonSerializer,
        responses={204: None, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        approval = self.get_object()
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.model_approval_revoke(
            actor=request.user, approval=approval, reason=serializer.validated_data["reason"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# Data-policy exceptions ----------------------------------------------------------------------
@extend_schema(tags=["deployments"])
@extend_schema_view(
    list=extend_schema(summary="Data-policy exceptions of the use cases you may see"),
    retrieve=extend_schema(summary="One data-policy exception"),
    create=extend_schema(
        summary="Record an exception: this data may go to this model, until a date",
        responses={201: PolicyExceptionSerializer, **_ERRORS},
    ),
)
class PolicyExceptionViewSet(_RuleOnMixin, mixins.CreateModelMixin, RecordViewSet):
    serializer_class = PolicyExceptionSerializer
    rule_target = "use_case"
    view_rule = "registry.view_usecase"
    action_rules = {"list": None, "create": None, "retrieve": "registry.view_usecase"}
    filter_backends = [DjangoFilterBackend]
    filterset_class = PolicyExceptionFilter

    def get_queryset(self):
        return (
            DataPolicyException.objects.filter(use_case__in=use_cases_visible_to(self.request.user))
            .select_related("use_case", "data_source", "model", "approved_by")
            .order_by("-expires_on", "pk")
        )

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        exception = services.policy_exception_record(
            actor=request.user,
            use_case=data["use_case"],
            data_source=data["data_source"],
            model=data["model"],
            justification=data["justification"],
            expires_on=data["expires_on"],
        )
        exception = self.get_queryset().get(pk=exception.pk)
        body = PolicyExceptionSerializer(exception, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)


# The go-live gate ----------------------------------------------------------------------------
_GATE_SCHEMA: dict[str, Any] = {
    "tags": ["go-live gate"],
    "parameters": [
        OpenApiParameter(
            "use_case",
            OpenApiTypes.STR,
            OpenApiParameter.PATH,
            description="The use case's reference (e.g. UC-0042) or id.",
        )
    ],
    "responses": {
        200: OpenApiResponse(
            GateResultSerializer,
            description="The gate's answer, pass or fail: read passed. Every answer is logged.",
        ),
        404: OpenApiResponse(description="No such use case, or you may not see it."),
    },
}


class GateView(APIView):
    """The go-live gate a CI/CD pipeline asks before it deploys to production.

    It answers 200 whether the use case passes or not (passed says which, reasons say why),
    so a pipeline reads one body; every answer is logged with who asked.
    """

    permission_classes = [IsAuthenticated]

    def _answer(self, request, use_case: str) -> Response:
        found = visible_use_case(request.user, use_case)
        result = services.gate_check(use_case=found, actor=request.user, source="api")
        return Response(GateResultSerializer(result.as_dict()).data)

    @extend_schema(
        summary="May this use case go to production? (the go-live gate)",
        operation_id="gate_check",
        **_GATE_SCHEMA,
    )
    def get(self, request, use_case: str):
        return self._answer(request, use_case)

    @extend_schema(
        summary="May this use case go to production? (POST, for pipelines that only POST)",
        operation_id="gate_check_post",
        request=None,
        **_GATE_SCHEMA,
    )
    def post(self, request, use_case: str):
        return self._answer(request, use_case)


def register(router) -> None:
    router.register("models", AIModelViewSet, basename="api-ai-model")
    router.register("model-versions", ModelVersionViewSet, basename="api-model-version")
    router.register("deployments", DeploymentViewSet, basename="api-deployment")
    router.register("model-approvals", ModelApprovalViewSet, basename="api-model-approval")
    router.register("policy-exceptions", PolicyExceptionViewSet, basename="api-policy-exception")
