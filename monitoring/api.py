"""Monitoring over REST: sources, samples, rules, flags, budgets, costs, and the push API.

Thin views as in registry/api/ai_models.py: the named rules decide (portal.api.RulePermission),
the services write, the selectors read what the person may see (404 otherwise).

The push API (``/api/v1/push/...``) is for deployed systems, not people: it accepts only a
push source's bearer token (monitoring.authentication) and writes to that source's
deployment only.
"""

from operator import methodcaller

import django_filters
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_date
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from assessments.models import AssessmentTemplate
from monitoring import selectors
from monitoring.authentication import IsPushSource, PushTokenAuthentication
from monitoring.models import Budget, FlagStatus, MetricSource, Severity
from monitoring.serializers import (
    BudgetSerializer,
    BudgetSetSerializer,
    CostRowSerializer,
    FlagSerializer,
    MaterialRuleSerializer,
    MetricSampleSerializer,
    MetricSourceCreatedSerializer,
    MetricSourceSerializer,
    PushDistributionResultSerializer,
    PushDistributionSerializer,
    PushReceivedSerializer,
    PushSamplesSerializer,
    ResolveSerializer,
    RuleSerializer,
    SourceTestSerializer,
    SupersededSerializer,
    TemplateChangeFlagSerializer,
    TokenSerializer,
)
from monitoring.services import template_changes
from monitoring.services.costs import budget_set, costs_by_period
from monitoring.services.drift import distribution_push
from monitoring.services.flags import flag_resolve
from monitoring.services.material_changes import (
    material_rule_create,
    material_rule_delete,
    material_rule_update,
)
from monitoring.services.metric_rules import rule_create, rule_update
from monitoring.services.samples import InvalidSamples, parse_samples, samples_push
from monitoring.services.sources import (
    source_create,
    source_rotate_token,
    source_test,
    source_update,
)
from portal.access import can
from portal.api_views import RecordViewSet
from portal.params import IdFilter, as_id, id_or_reference
from portal.parsers import BatchJSONParser
from registry.api.ai_models import visible_use_case
from registry.selectors import deployments_visible_to

_ERRORS = {
    400: OpenApiResponse(description="Invalid input; the body names the fields at fault."),
    403: OpenApiResponse(description="You may see this record but not do this."),
    404: OpenApiResponse(description="No such record, or you may not see it."),
}


# Sources -------------------------------------------------------------------------------------
class MetricSourceFilter(django_filters.FilterSet):
    deployment = IdFilter(field_name="deployment_id")
    kind = django_filters.CharFilter()

    class Meta:
        model = MetricSource
        fields: list[str] = []


@extend_schema(tags=["Monitoring"])
@extend_schema_view(
    list=extend_schema(summary="Metric sources of the deployments you may see"),
    retrieve=extend_schema(summary="One metric source, with its health"),
    create=extend_schema(
        summary="Connect a metric source to a deployment",
        description="A push source's token is in this answer only (`token`); store it now.",
        responses={201: MetricSourceCreatedSerializer, **_ERRORS},
    ),
    update=extend_schema(
        summary="Change a source (credentials: absent or null keeps, {} clears)",
        responses={200: MetricSourceSerializer, **_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change some fields of a source", responses={200: MetricSourceSerializer, **_ERRORS}
    ),
)
class MetricSourceViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, RecordViewSet):
    # No DELETE: a source is disabled, so the samples it brought keep where they came from.
    serializer_class = MetricSourceSerializer
    view_rule = "monitoring.view_metrics"
    action_rules = {
        "list": None,
        "retrieve": "monitoring.view_metrics",
        # The deployment is in the body: the service checks monitoring.manage_source on it.
        "create": None,
        "update": "monitoring.manage_source",
        "partial_update": "monitoring.manage_source",
        "test": "monitoring.manage_source",
        "rotate_token": "monitoring.manage_source",
    }
    filter_backends = [DjangoFilterBackend]
    filterset_class = MetricSourceFilter

    def get_queryset(self):
        return selectors.sources_visible_to(self.request.user).order_by("pk")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        source, token = source_create(actor=request.user, **data)
        source.token = token
        body = MetricSourceCreatedSerializer(source, context=self.get_serializer_context()).data
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("deployment", None)
        data.pop("kind", None)
        serializer.instance = source_update(
            actor=self.request.user, source=serializer.instance, **data
        )

    @extend_schema(
        summary="Test connection: what the source would give now (nothing is written)",
        request=None,
        responses={200: SourceTestSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        result = source_test(actor=request.user, source=self.get_object())
        return Response(SourceTestSerializer(result).data)

    @extend_schema(
        summary="Replace a push source's token (the old one stops working at once)",
        request=None,
        responses={200: TokenSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="rotate-token")
    def rotate_token(self, request, pk=None):
        source = self.get_object()
        token = source_rotate_token(actor=request.user, source=source)
        response = Response({"token": token, "token_hint": f"{token[:8]}…"})
        response["Cache-Control"] = "no-store"
        return response


# Samples -------------------------------------------------------------------------------------
class SamplePagination(CursorPagination):
    """A cursor, not page numbers: counting a year of minutely samples would cost more than
    the page itself, and new samples arriving do not shift the pages."""

    ordering = ("-at", "-id")
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000


class MetricSampleFilter(django_filters.FilterSet):
    # Required: one deployment's samples are read newest first along its (deployment, at)
    # index; across every visible deployment there is no index to page by.
    deployment = IdFilter(field_name="deployment_id", required=True)
    metric = django_filters.CharFilter()
    feature = django_filters.CharFilter()
    start = django_filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="gte", help_text="From this instant (inclusive)."
    )
    end = django_filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="lt", help_text="Up to this instant (exclusive)."
    )

    class Meta:
        model = selectors.MetricSample
        fields: list[str] = []


@extend_schema(tags=["Monitoring"])
@extend_schema_view(
    list=extend_schema(summary="Metric samples of the deployments you may see, newest first"),
    retrieve=extend_schema(summary="One metric sample"),
)
class MetricSampleViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MetricSampleSerializer
    view_rule = None
    action_rules = {"list": None, "retrieve": None}
    filter_backends = [DjangoFilterBackend]
    filterset_class = MetricSampleFilter
    pagination_class = SamplePagination

    def get_queryset(self):
        return selectors.samples_visible_to(self.request.user)


# Rules ---------------------------------------------------------------------------------------
@extend_schema(tags=["Monitoring"])
@extend_schema_view(
    list=extend_schema(summary="Monitoring rules (firm-wide and your use cases')"),
    retrieve=extend_schema(summary="One rule"),
    create=extend_schema(summary="Add a rule", responses={201: RuleSerializer, **_ERRORS}),
    update=extend_schema(summary="Change a rule", responses={200: RuleSerializer, **_ERRORS}),
    partial_update=extend_schema(
        summary="Change some fields of a rule (a shipped rule: threshold and enabled only)",
        responses={200: RuleSerializer, **_ERRORS},
    ),
)
class RuleViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, RecordViewSet):
    serializer_class = RuleSerializer
    view_rule = "monitoring.view_rule"
    action_rules = {
        "list": "monitoring.view_rule",
        "retrieve": "monitoring.view_rule",
        "create": "monitoring.add_rule",
        "update": "monitoring.change_rule",
        "partial_update": "monitoring.change_rule",
    }

    def get_queryset(self):
        return selectors.rules_visible_to(self.request.user).order_by("name", "pk")

    def perform_create(self, serializer):
        serializer.instance = rule_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = rule_update(
            actor=self.request.user, rule=serializer.instance, **serializer.validated_data
        )


# Material-change rules -----------------------------------------------------------------------
@extend_schema(tags=["Monitoring"])
@extend_schema_view(
    list=extend_schema(summary="Material-change rules: which register changes flag a use case"),
    retrieve=extend_schema(summary="One material-change rule"),
    create=extend_schema(
        summary="Add a material-change rule",
        responses={201: MaterialRuleSerializer, **_ERRORS},
    ),
    update=extend_schema(
        summary="Change a material-change rule", responses={200: MaterialRuleSerializer, **_ERRORS}
    ),
    partial_update=extend_schema(
        summary="Change some fields (a shipped rule: severity, start_draft, description, enabled)",
        responses={200: MaterialRuleSerializer, **_ERRORS},
    ),
    destroy=extend_schema(summary="Delete a rule of your own (shipped ones are switched off)"),
)
class MaterialRuleViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, RecordViewSet
):
    serializer_class = MaterialRuleSerializer
    view_rule = "monitoring.view_material_rule"
    action_rules = {
        "list": "monitoring.view_material_rule",
        "retrieve": "monitoring.view_material_rule",
        "create": "monitoring.change_material_rule",
        "update": "monitoring.change_material_rule",
        "partial_update": "monitoring.change_material_rule",
        "destroy": "monitoring.change_material_rule",
    }

    def get_queryset(self):
        return selectors.material_rules_visible_to(self.request.user).order_by("name", "pk")

    def perform_create(self, serializer):
        serializer.instance = material_rule_create(
            actor=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = material_rule_update(
            actor=self.request.user, rule=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        material_rule_delete(actor=self.request.user, rule=instance)


# A template's new version ------------------------------------------------------------------
@extend_schema(tags=["Monitoring"])
class TemplateChangeViewSet(viewsets.GenericViewSet):
    """The sign-offs on older versions of a template (the id is the new version's), and the
    one action that flags their use cases for re-assessment."""

    serializer_class = SupersededSerializer
    view_rule = "monitoring.view_template_changes"
    action_rules = {
        "retrieve": "monitoring.view_template_changes",
        "flag": "monitoring.flag_template_change",
    }

    def get_queryset(self):
        return AssessmentTemplate.objects.all()

    def _template(self) -> AssessmentTemplate:
        # No object to ask the rule about (RulePermission asks it of objects): asked here.
        if not can(self.request.user, self.action_rules[self.action]):
            raise exceptions.PermissionDenied
        key = as_id(self.kwargs["pk"])
        template = AssessmentTemplate.objects.filter(pk=key).first() if key else None
        if template is None:
            raise exceptions.NotFound("No such template.")
        return template

    @extend_schema(
        summary="Assessments signed off on older versions of this template, per use case",
        responses={200: SupersededSerializer(many=True)},
    )
    def retrieve(self, request, pk=None):
        rows = template_changes.superseded_sign_offs(request.user, self._template())
        return Response(SupersededSerializer(rows, many=True).data)

    @extend_schema(
        summary="Flag them for re-assessment, with the template change as the reason",
        request=TemplateChangeFlagSerializer,
        responses={200: FlagSerializer(many=True)},
    )
    @action(detail=True, methods=["post"])
    def flag(self, request, pk=None):
        body = TemplateChangeFlagSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        flags = template_changes.flag_superseded(
            actor=request.user, template=self._template(), note=body.validated_data["note"]
        )
        return Response(FlagSerializer(flags, many=True).data)


# Flags ---------------------------------------------------------------------------------------
class FlagFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=FlagStatus.choices)
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    use_case = django_filters.CharFilter(
        method="filter_use_case", help_text="A use case's id or reference (e.g. UC-0042)."
    )
    deployment = IdFilter(field_name="deployment_id")

    class Meta:
        model = selectors.Flag
        fields: list[str] = []

    def filter_use_case(self, qs, name, value):
        return qs.filter(use_case=visible_use_case(self.request.user, value))


@extend_schema(tags=["Monitoring"])
@extend_schema_view(
    list=extend_schema(summary="Flags on the use cases you may see, newest first"),
    retrieve=extend_schema(
        summary="One flag, by id or reference (FL-0001)",
        parameters=[
            OpenApiParameter(
                "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Id or reference."
            )
        ],
    ),
)
class FlagViewSet(RecordViewSet):
    serializer_class = FlagSerializer
    view_rule = "monitoring.view_flag"
    action_rules = {
        "list": None,
        "retrieve": "monitoring.view_flag",
        "resolve": "monitoring.resolve_flag",
    }
    filter_backends = [DjangoFilterBackend]
    filterset_class = FlagFilter
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.flags_visible_to(self.request.user).order_by("-raised_at", "-pk")

    def get_object(self):
        key = str(self.kwargs["pk"])
        qs = self.get_queryset()
        flag = get_object_or_404(qs, **id_or_reference(key))
        self.check_object_permissions(self.request, flag)
        return flag

    @extend_schema(
        summary="Resolve a flag, saying how it was dealt with",
        parameters=[
            OpenApiParameter(
                "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Id or reference."
            )
        ],
        request=ResolveSerializer,
        responses={200: FlagSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        flag = self.get_object()
        serializer = ResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        flag_resolve(actor=request.user, flag=flag, reason=serializer.validated_data["reason"])
        flag = self.get_queryset().get(pk=flag.pk)
        return Response(FlagSerializer(flag, context=self.get_serializer_context()).data)


# Budgets and costs ---------------------------------------------------------------------------
_USE_CASE_PARAM = OpenApiParameter(
    "use_case", OpenApiTypes.STR, OpenApiParameter.PATH, description="Use case id or reference."
)


@extend_schema(tags=["Monitoring"])
class BudgetViewSet(viewsets.GenericViewSet):
    """A use case's monthly AI budget, addressed by the use case (``/budgets/UC-0042/``)."""

    serializer_class = BudgetSerializer
    view_rule = "monitoring.view_costs"
    action_rules = {
        "list": None,
        "retrieve": "monitoring.view_costs",
        "update": "monitoring.set_budget",
        "destroy": "monitoring.set_budget",
    }
    lookup_field = "use_case"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.budgets_visible_to(self.request.user).order_by("use_case__reference")

    def get_use_case(self):
        use_case = visible_use_case(self.request.user, self.kwargs["use_case"])
        self.check_object_permissions(self.request, use_case)
        return use_case

    def _answer(self, budget: Budget, code=status.HTTP_200_OK) -> Response:
        spent = selectors.month_spend_of([budget.use_case_id])
        context = {**self.get_serializer_context(), "spent": spent}
        return Response(BudgetSerializer(budget, context=context).data, status=code)

    @extend_schema(summary="Budgets of the use cases you may see, with this month's spend")
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        spent = selectors.month_spend_of([b.use_case_id for b in page])
        context = {**self.get_serializer_context(), "spent": spent}
        return self.get_paginated_response(BudgetSerializer(page, many=True, context=context).data)

    @extend_schema(summary="A use case's budget", parameters=[_USE_CASE_PARAM])
    def retrieve(self, request, use_case=None):
        use_case = self.get_use_case()
        budget = Budget.objects.filter(use_case=use_case).select_related("use_case").first()
        if budget is None:
            raise exceptions.NotFound("This use case has no budget.")
        return self._answer(budget)

    @extend_schema(
        summary="Set a use case's monthly budget (null removes it)",
        parameters=[_USE_CASE_PARAM],
        request=BudgetSetSerializer,
        responses={200: BudgetSerializer, 204: OpenApiResponse(description="Removed."), **_ERRORS},
    )
    def update(self, request, use_case=None):
        use_case = self.get_use_case()
        serializer = BudgetSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        budget = budget_set(
            actor=request.user,
            use_case=use_case,
            monthly_amount=serializer.validated_data["monthly_amount"],
        )
        if budget is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self._answer(budget)

    @extend_schema(
        summary="Remove a use case's budget",
        parameters=[_USE_CASE_PARAM],
        responses={204: OpenApiResponse(description="Removed."), **_ERRORS},
    )
    def destroy(self, request, use_case=None):
        budget_set(actor=request.user, use_case=self.get_use_case(), monthly_amount=None)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    tags=["Monitoring"],
    summary="Tokens and cost per day or month, of a use case or a deployment",
    parameters=[
        OpenApiParameter("use_case", OpenApiTypes.STR, description="Use case id or reference."),
        OpenApiParameter("deployment", OpenApiTypes.INT, description="A deployment's id."),
        OpenApiParameter(
            "period", OpenApiTypes.STR, enum=["day", "month"], description="day (default) or month."
        ),
        OpenApiParameter("start", OpenApiTypes.DATE, description="First day (inclusive)."),
        OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (inclusive)."),
    ],
    responses={200: CostRowSerializer(many=True), **_ERRORS},
)
class CostView(APIView):
    def get(self, request):
        params = request.query_params
        period = params.get("period", "day")
        errors = {}
        if period not in ("day", "month"):
            errors["period"] = ["day or month."]
        bounds = {}
        for name in ("start", "end"):
            if params.get(name):
                try:
                    bounds[name] = parse_date(params[name])
                except ValueError:
                    bounds[name] = None
                if bounds[name] is None:
                    errors[name] = ["A date such as 2026-11-01."]
        if not (params.get("use_case") or params.get("deployment")):
            errors["use_case"] = ["Name a use case (or a deployment)."]
        if errors:
            raise exceptions.ValidationError(errors)
        use_case = deployment = None
        if params.get("deployment"):
            pk = as_id(params["deployment"])
            if pk is None:
                raise exceptions.ValidationError({"deployment": ["A deployment's id."]})
            deployment = get_object_or_404(deployments_visible_to(request.user), pk=pk)
            subject = deployment.use_case
        else:
            use_case = visible_use_case(request.user, params["use_case"])
            subject = use_case
        if not can(request.user, "monitoring.view_costs", subject):
            raise exceptions.NotFound
        rows = costs_by_period(use_case=use_case, deployment=deployment, period=period, **bounds)
        return Response(CostRowSerializer(rows, many=True).data)


# The push API --------------------------------------------------------------------------------
class _PushView(APIView):
    """Authenticated by a push source's token only; writes to its deployment only."""

    authentication_classes = [PushTokenAuthentication]
    permission_classes = [IsPushSource]
    throttle_classes: list = []
    # Batches of up to MONITORING_MAX_BATCH samples: a fast parser; each field is checked.
    parser_classes = [BatchJSONParser]

    def source(self) -> MetricSource:
        source = self.request.auth
        assert isinstance(source, MetricSource)  # IsPushSource let only a source's token in
        return source

    def refuse_other_deployment(self, body) -> None:
        """A token writes to its own deployment: a body naming another is refused whole."""
        own = str(self.source().deployment_id)
        named = []
        if isinstance(body, dict) and "deployment" in body:
            named.append(body["deployment"])
        rows = body.get("samples") if isinstance(body, dict) else None
        if isinstance(rows, list) and _names_a_deployment(rows):
            named += [
                row["deployment"] for row in rows if isinstance(row, dict) and "deployment" in row
            ]
        if any(str(d) != own for d in named):
            raise exceptions.PermissionDenied(
                "This token writes to its own deployment only; leave the deployment out."
            )


_HAS_DEPLOYMENT = methodcaller("__contains__", "deployment")


def _names_a_deployment(rows: list) -> bool:
    """Whether a row may name a deployment: one pass in C over a batch of 10,000 mappings
    (True, to be looked at row by row, when a row is something else)."""
    try:
        return any(map(_HAS_DEPLOYMENT, rows))
    except (TypeError, AttributeError):  # a row that is a number, null, ...
        return True


@extend_schema(
    tags=["Push API"],
    summary="Push a batch of samples (deployed systems, with the source's token)",
    description="`Authorization: Bearer stw_...`. A bad sample refuses the whole batch (400, "
    "errors by sample index and field) and nothing is written. A sample already stored "
    "(same metric, feature and instant) is ignored: `new` counts the ones that were not. "
    "201 when something was new, 200 when the batch was all repeats.",
    request=PushSamplesSerializer,
    responses={
        201: PushReceivedSerializer,
        200: PushReceivedSerializer,
        400: OpenApiResponse(description='Bad samples: {"samples": {index: {field: [msg]}}}.'),
        401: OpenApiResponse(description="No token, a wrong one, or its source is disabled."),
        403: OpenApiResponse(description="The body names another deployment."),
    },
)
class PushSamplesView(_PushView):
    def post(self, request):
        body = request.data
        if not isinstance(body, dict) or "samples" not in body:
            raise exceptions.ValidationError({"samples": ['Send {"samples": [...]}.']})
        self.refuse_other_deployment(body)
        try:
            samples = parse_samples(body["samples"])
        except InvalidSamples as exc:
            errors = exc.errors if "samples" in exc.errors else {"samples": exc.errors}
            raise exceptions.ValidationError(errors) from None
        new = samples_push(source=self.source(), samples=samples)
        code = status.HTTP_201_CREATED if new else status.HTTP_200_OK
        return Response({"received": len(samples), "new": new}, status=code)


@extend_schema(
    tags=["Push API"],
    summary="Push a feature's current distribution (and optionally its reference)",
    description="The portal computes PSI, Kolmogorov-Smirnov (numeric), Jensen-Shannon and "
    "chi-square (categorical) against the reference and stores them as drift.* samples.",
    request=PushDistributionSerializer,
    responses={
        201: PushDistributionResultSerializer,
        400: OpenApiResponse(description="Bad input; the body names the fields at fault."),
        401: OpenApiResponse(description="No token, a wrong one, or its source is disabled."),
        403: OpenApiResponse(description="The body names another deployment."),
    },
)
class PushDistributionsView(_PushView):
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
        self.refuse_other_deployment(body)
        serializer = PushDistributionSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = self.source()
        figures = distribution_push(
            deployment=source.deployment,
            feature=data["feature"],
            kind=data["kind"],
            current=data["current"],
            reference=data.get("reference"),
            at=data.get("at"),
            source=source,
        )
        return Response({"figures": figures}, status=status.HTTP_201_CREATED)


def register(router) -> None:
    router.register("metric-sources", MetricSourceViewSet, basename="api-metric-source")
    router.register("metric-samples", MetricSampleViewSet, basename="api-metric-sample")
    router.register("rules", RuleViewSet, basename="api-rule")
    router.register(
        "material-change-rules", MaterialRuleViewSet, basename="api-material-change-rule"
    )
    router.register("flags", FlagViewSet, basename="api-flag")
    router.register("template-changes", TemplateChangeViewSet, basename="api-template-change")
    router.register("budgets", BudgetViewSet, basename="api-budget")
