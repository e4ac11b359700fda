"""Releases over REST: promoting a version, approving or rejecting the request, evaluation
records (posted by a person or by a pipeline with a model token), findings, model tokens and
the release policy per tier.

``VersionReleaseActions`` adds ``promote``, ``promotions`` and ``evaluations`` to
``/api/v1/model-versions/{id}/``; the other viewsets have routes of their own. Every write is
one call to registry/services/releases.py, which checks the named rules.
"""

from django.db.models import Prefetch
from django_filters import rest_framework as django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from portal.api import TokenAuthentication
from portal.api_views import RecordViewSet
from portal.params import as_id
from registry.authentication import ModelTokenAuthentication
from registry.models import (
    AIModel,
    Decision,
    EvaluationRecord,
    ModelToken,
    ModelVersion,
    PromotionApproval,
    PromotionRequest,
    PromotionStatus,
)
from registry.selectors import (
    ai_models_visible_to,
    findings_visible_to,
    model_tokens_visible_to,
    promotions_visible_to,
    release_policies_visible_to,
)
from registry.serializers.releases import (
    DecisionSerializer,
    EvaluationFindingSerializer,
    EvaluationRecordSerializer,
    FindingStatusSerializer,
    ModelTokenSerializer,
    PromoteSerializer,
    PromotionRequestSerializer,
    ReasonOnlySerializer,
    ReleasePolicySerializer,
)
from registry.services import releases as services

_ERRORS = {
    400: OpenApiResponse(description="Invalid input; the body names the fields at fault."),
    403: OpenApiResponse(description="You may see this record but not do this."),
    404: OpenApiResponse(description="No such record, or you may not see it."),
}


def promotions_read(qs):
    return qs.select_related("model_version__model", "requested_by").prefetch_related(
        Prefetch("approvals", queryset=PromotionApproval.objects.select_related("approver"))
    )


class EvaluationPermission(BasePermission):
    """A model token posts evaluations and does nothing else; a person must be signed in
    (the service asks them registry.evaluate_modelversion)."""

    message = "A model token only posts evaluations (POST)."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ModelToken):
            return request.method == "POST"
        return bool(request.user and request.user.is_authenticated)


class VersionReleaseActions:
    """Mixed into ModelVersionViewSet (registry/api/ai_models.py)."""

    release_action_rules = {
        "promote": "registry.view_aimodel",  # the service asks registry.promote_modelversion
        "promotions": "registry.view_aimodel",
        "evaluations": None,
        "add_evaluation": None,
    }

    @extend_schema(
        tags=["releases"],
        summary="Promote, roll back or retire a version (the only way its stage moves)",
        description="Records who asked, why and the evidence. A promotion waits for the "
        "approvals its tier's release policy asks for (the requester never approves it); a "
        "rollback or retirement happens at once. Refused (400) before the minimum time in "
        "shadow or canary, above the canary traffic cap, or while the tier's evaluation "
        "requirements are not met (each failing group is named).",
        request=PromoteSerializer,
        responses={201: PromotionRequestSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        version = self.get_object()
        serializer = PromoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        made = services.promotion_request(
            actor=request.user,
            version=version,
            to_stage=data["to_stage"],
            reason=data["reason"],
            evidence=data.get("evidence", ""),
            traffic_share=data.get("traffic_share"),
        )
        made = promotions_read(PromotionRequest.objects).get(pk=made.pk)
        return Response(PromotionRequestSerializer(made).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["releases"],
        summary="The promotion requests of a version, newest first",
        responses={200: PromotionRequestSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def promotions(self, request, pk=None):
        version = self.get_object()
        qs = promotions_read(version.promotions.all())
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(PromotionRequestSerializer(page, many=True).data)

    def _evaluated_version(self, request, pk) -> ModelVersion:
        token = request.auth if isinstance(request.auth, ModelToken) else None
        version_id = as_id(pk)  # anything but an id (e.g. "¹") names no version: a 404
        found: ModelVersion | None = None
        if version_id is None:
            pass
        elif token is not None:
            # Another model's version does not exist for this token.
            found = ModelVersion.objects.filter(model_id=token.model_id, pk=version_id).first()
        else:
            # get_queryset: the viewset this is mixed into.
            found = self.get_queryset().filter(pk=version_id).first()  # type: ignore[attr-defined]
        if found is None:
            raise exceptions.NotFound("No such model version, or you may not see it.")
        return found

    @extend_schema(
        tags=["releases"],
        summary="The evaluation records of a version, newest first",
        responses={200: EvaluationRecordSerializer(many=True)},
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        authentication_classes=[
            ModelTokenAuthentication,
            TokenAuthentication,
            SessionAuthentication,
        ],
        permission_classes=[EvaluationPermission],
    )
    def evaluations(self, request, pk=None):
        version = self._evaluated_version(request, pk)
        qs = version.evaluations.select_related("ran_by").prefetch_related("findings")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(EvaluationRecordSerializer(page, many=True).data)

    @extend_schema(
        tags=["releases"],
        summary="Record an evaluation of a version (a person, or CI with the model's token)",
        description="Metrics with thresholds (pass or fail worked out), fairness per group "
        "(the gap from the best group is computed when left out), robustness and red-team "
        "findings with severity and status, the data set, when it ran. Send "
        "'Authorization: Bearer stm_...' (a token made for this version's model) from a "
        "pipeline: any other model's version answers 404 to it.",
        request=EvaluationRecordSerializer,
        responses={201: EvaluationRecordSerializer, **_ERRORS},
    )
    @evaluations.mapping.post
    def add_evaluation(self, request, pk=None):
        version = self._evaluated_version(request, pk)
        serializer = EvaluationRecordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        token = request.auth if isinstance(request.auth, ModelToken) else None
        record = services.evaluation_record(
            actor=None if token else request.user,
            version=version,
            data={
                **data,
                "metrics": [dict(m) for m in data.get("metrics", [])],
                "fairness": [dict(f) for f in data.get("fairness", [])],
                "findings": [dict(f) for f in data.get("findings", [])],
            },
            token=token,
        )
        # The caller was just allowed to write it, so reads it back.
        record = (
            EvaluationRecord.objects.select_related("ran_by")
            .prefetch_related("findings")
            .get(pk=record.pk)
        )
        return Response(EvaluationRecordSerializer(record).data, status=status.HTTP_201_CREATED)


# Promotion requests ------------------------------------------------------------------------
class PromotionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PromotionStatus.choices)

    class Meta:
        model = PromotionRequest
        fields: list[str] = []


@extend_schema(tags=["releases"])
@extend_schema_view(
    list=extend_schema(summary="Promotion requests (filter status=pending for the waiting ones)"),
    retrieve=extend_schema(summary="One promotion request with its approvals"),
)
class PromotionViewSet(RecordViewSet):
    serializer_class = PromotionRequestSerializer
    view_rule = "registry.view_aimodel"
    # Approving is asked by the service (four eyes, the open roles), which says why not.
    action_rules = {
        "list": None,
        "retrieve": "registry.view_aimodel",
        "approve": None,
        "reject": None,
        "withdraw": None,
    }
    filter_backends = [django_filters.DjangoFilterBackend]
    filterset_class = PromotionFilter

    def get_queryset(self):
        return promotions_read(promotions_visible_to(self.request.user)).order_by(
            "-requested_at", "-pk"
        )

    def _answer(self, request, decision: str) -> Response:
        promotion = self.get_object()
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.promotion_decide(
            actor=request.user,
            request=promotion,
            decision=decision,
            note=serializer.validated_data.get("note", ""),
        )
        return Response(PromotionRequestSerializer(self.get_queryset().get(pk=promotion.pk)).data)

    @extend_schema(
        summary="Approve a promotion (four eyes: not the requester; in a role it waits for)",
        description="The last approval the tier needs moves the version.",
        request=DecisionSerializer,
        responses={200: PromotionRequestSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._answer(request, Decision.APPROVE)

    @extend_schema(
        summary="Reject a promotion (say why)",
        request=DecisionSerializer,
        responses={200: PromotionRequestSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._answer(request, Decision.REJECT)

    @extend_schema(
        summary="Withdraw a promotion request",
        request=ReasonOnlySerializer,
        responses={200: PromotionRequestSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        promotion = self.get_object()
        serializer = ReasonOnlySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.promotion_withdraw(
            actor=request.user, request=promotion, reason=serializer.validated_data["reason"]
        )
        return Response(PromotionRequestSerializer(self.get_queryset().get(pk=promotion.pk)).data)


# Findings ----------------------------------------------------------------------------------
@extend_schema(tags=["releases"])
@extend_schema_view(
    list=extend_schema(summary="Robustness and red-team findings"),
    retrieve=extend_schema(summary="One finding"),
)
class FindingViewSet(RecordViewSet):
    serializer_class = EvaluationFindingSerializer
    view_rule = "registry.view_aimodel"
    action_rules = {"list": None, "retrieve": "registry.view_aimodel", "set_status": None}
    filter_backends: list = []

    def get_queryset(self):
        return findings_visible_to(self.request.user).order_by("-pk")

    @extend_schema(
        summary="Move a finding to mitigated, accepted, closed or open again (say why)",
        request=FindingStatusSerializer,
        responses={200: EvaluationFindingSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        finding = self.get_object()
        serializer = FindingStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        finding = services.finding_set_status(
            actor=request.user,
            finding=finding,
            status=serializer.validated_data["status"],
            note=serializer.validated_data["note"],
        )
        return Response(EvaluationFindingSerializer(finding).data)


# Model tokens ------------------------------------------------------------------------------
@extend_schema(tags=["releases"])
@extend_schema_view(
    list=extend_schema(summary="Model tokens of the models whose tokens you manage"),
    retrieve=extend_schema(summary="One model token (never its secret)"),
)
class ModelTokenViewSet(mixins.CreateModelMixin, RecordViewSet):
    serializer_class = ModelTokenSerializer
    view_rule = "registry.view_modeltoken"
    action_rules = {
        "list": None,
        "retrieve": "registry.view_modeltoken",
        "create": None,  # asked of the model by the service
        "revoke": None,  # asked of the token's model by the service
    }
    filter_backends: list = []

    def get_queryset(self):
        return model_tokens_visible_to(self.request.user).order_by("-created_at", "-pk")

    @extend_schema(
        summary="Make a token that posts evaluations of one model (shown once)",
        request=ModelTokenSerializer,
        responses={201: OpenApiResponse(description="The token record and its secret.")},
    )
    def create(self, request, *args, **kwargs):
        name = str(request.data.get("name") or "")
        model_id = request.data.get("model")
        try:
            model = ai_models_visible_to(request.user).get(pk=int(model_id))
        except (TypeError, ValueError, AIModel.DoesNotExist):
            raise exceptions.ValidationError(
                {"model": ["No such AI model, or you may not see it."]}
            ) from None
        token, raw = services.model_token_create(actor=request.user, model=model, name=name)
        body = ModelTokenSerializer(token).data | {"token": raw}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Revoke a model token (it stops working at once)",
        request=None,
        responses={200: ModelTokenSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.model_token_revoke(actor=request.user, token=self.get_object())
        return Response(ModelTokenSerializer(token).data)


# Release policies --------------------------------------------------------------------------
@extend_schema(tags=["releases"])
@extend_schema_view(
    list=extend_schema(summary="The release policy of every risk tier"),
    retrieve=extend_schema(summary="One tier's release policy"),
    partial_update=extend_schema(
        summary="Edit a tier's release policy (administrators)",
        responses={200: ReleasePolicySerializer, **_ERRORS},
    ),
)
class ReleasePolicyViewSet(mixins.UpdateModelMixin, RecordViewSet):
    serializer_class = ReleasePolicySerializer
    view_rule = "registry.view_releasepolicy"
    action_rules = {
        "list": None,
        "retrieve": "registry.view_releasepolicy",
        "update": "registry.change_releasepolicy",
        "partial_update": "registry.change_releasepolicy",
    }
    filter_backends: list = []
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return release_policies_visible_to(self.request.user)

    def perform_update(self, serializer):
        serializer.instance = services.release_policy_update(
            actor=self.request.user,
            policy=serializer.instance,
            data=dict(serializer.validated_data),
        )


def register(router) -> None:
    router.register("promotions", PromotionViewSet, basename="api-promotion")
    router.register("evaluation-findings", FindingViewSet, basename="api-evaluation-finding")
    router.register("model-tokens", ModelTokenViewSet, basename="api-model-token")
    router.register("release-policies", ReleasePolicyViewSet, basename="api-release-policy")
