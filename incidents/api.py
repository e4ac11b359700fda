"""Runbooks, incidents, kill-switch tokens and webhook endpoints over REST.

The same named rules as the pages (portal.api.RulePermission) and the same services. The
timeline is read here and written only by the services: there is no route that changes or
deletes an entry (PUT, PATCH and DELETE answer 405). The incident log downloads as CSV from
``/api/v1/incidents/export.csv`` (or ``?format=csv`` on the list), with the list's filters.
"""

import csv
import io

import django_filters
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from incidents import selectors
from incidents.models import Incident, Severity, Status
from incidents.serializers import (
    DeliverySerializer,
    IncidentCreateSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    KillSwitchActionSerializer,
    KillSwitchTokenCreatedSerializer,
    KillSwitchTokenCreateSerializer,
    KillSwitchTokenSerializer,
    NoteSerializer,
    ReassessmentSerializer,
    ReviewSerializer,
    RollbackSerializer,
    RunbookSerializer,
    RunbookWriteSerializer,
    TimelineEntrySerializer,
    TransitionSerializer,
    WebhookActiveSerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
)
from incidents.services.incidents import (
    TRANSITIONS,
    incident_add_note,
    incident_kill_switch,
    incident_open,
    incident_rollback,
    incident_start_reassessment,
    incident_transition,
    incident_update,
    incident_write_review,
)
from incidents.services.killswitch import kill_switch_token_create, kill_switch_token_revoke
from incidents.services.runbooks import runbook_save
from incidents.services.webhooks import webhook_endpoint_create, webhook_endpoint_set_active
from portal.access import can
from portal.api_views import RecordViewSet
from portal.csvexport import stream_csv
from portal.params import id_or_reference
from registry.api.ai_models import visible_use_case
from registry.models import Deployment

_ERRORS = {
    400: OpenApiResponse(description="Invalid input; the body names the fields at fault."),
    403: OpenApiResponse(description="You may see this record but not do this."),
    404: OpenApiResponse(description="No such record, or you may not see it."),
}
_CSV = {(200, "text/csv"): OpenApiTypes.STR}
CHANGE = "incidents.change_incident"


class CSVRenderer(BaseRenderer):
    """Lets a client ask for CSV (``.csv``, ``?format=csv``). The log itself is streamed by
    the view; only an error answer is rendered here."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        out = io.StringIO()
        writer = csv.writer(out)
        items = data.items() if isinstance(data, dict) else [("detail", data)]
        for key, value in items:
            writer.writerow([key, value if isinstance(value, str) else str(value)])
        return out.getvalue().encode()


# Runbooks ------------------------------------------------------------------------------------
_USE_CASE_PARAM = OpenApiParameter(
    "use_case", OpenApiTypes.STR, OpenApiParameter.PATH, description="Use case id or reference."
)


@extend_schema(tags=["Incidents"])
class RunbookViewSet(viewsets.GenericViewSet):
    """A use case's runbook, addressed by the use case (``/runbooks/UC-0042/``)."""

    serializer_class = RunbookSerializer
    view_rule = "incidents.view_runbook"
    action_rules = {
        "list": None,
        "retrieve": "incidents.view_runbook",
        "update": "incidents.change_runbook",
    }
    lookup_field = "use_case"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.runbooks_visible_to(self.request.user).order_by("use_case__reference")

    def get_use_case(self):
        use_case = visible_use_case(self.request.user, self.kwargs["use_case"])
        self.check_object_permissions(self.request, use_case)
        return use_case

    @extend_schema(summary="Runbooks of the use cases you may see")
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(RunbookSerializer(page, many=True).data)

    @extend_schema(summary="A use case's runbook", parameters=[_USE_CASE_PARAM])
    def retrieve(self, request, use_case=None):
        runbook = selectors.runbook_of(self.get_use_case())
        if runbook is None:
            raise exceptions.NotFound("This use case has no runbook yet.")
        return Response(RunbookSerializer(runbook).data)

    @extend_schema(
        summary="Write the runbook: a new version when it changed, a confirmation when not",
        parameters=[_USE_CASE_PARAM],
        request=RunbookWriteSerializer,
        responses={200: RunbookSerializer, **_ERRORS},
    )
    def update(self, request, use_case=None):
        use_case = self.get_use_case()
        serializer = RunbookWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        runbook = runbook_save(
            actor=request.user, use_case=use_case, data=dict(serializer.validated_data)
        )
        return Response(RunbookSerializer(runbook).data)


# Incidents -----------------------------------------------------------------------------------
class IncidentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Status.choices)
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    use_case = django_filters.CharFilter(
        method="filter_use_case", help_text="A use case's id or reference (e.g. UC-0042)."
    )
    open_only = django_filters.BooleanFilter(
        method="filter_open_only", help_text="true: leave closed incidents out."
    )

    class Meta:
        model = Incident
        fields: list[str] = []

    def filter_use_case(self, qs, name, value):
        return qs.filter(use_case=visible_use_case(self.request.user, value))

    def filter_open_only(self, qs, name, value):
        return qs.exclude(status=Status.CLOSED) if value else qs


_KEY_PARAM = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Id or reference (INC-0001)."
)
_FORMAT_PARAM = OpenApiParameter(
    "format", OpenApiTypes.STR, enum=["json", "csv"], description="csv: the log as CSV."
)


def _transition_rule(view) -> str:
    transition = TRANSITIONS.get(view.kwargs.get("transition", ""))
    return transition.rule if transition else CHANGE


@extend_schema(tags=["Incidents"])
@extend_schema_view(
    list=extend_schema(
        summary="Incidents on the use cases you may see, newest first",
        description="`?format=csv` answers the whole filtered log as CSV (unpaged), as "
        "`/api/v1/incidents/export.csv` does.",
        parameters=[_FORMAT_PARAM],
    ),
    retrieve=extend_schema(summary="One incident", parameters=[_KEY_PARAM]),
)
class IncidentViewSet(RecordViewSet):
    # No PUT and no DELETE: an incident changes field by field through the services, and
    # stays on record.
    serializer_class = IncidentSerializer
    view_rule = "incidents.view_incident"
    action_rules = {
        "list": None,
        "export": None,
        "retrieve": "incidents.view_incident",
        "timeline": "incidents.view_incident",
        # The use case is in the body: the view asks incidents.open_incident of it.
        "create": None,
        "partial_update": CHANGE,
        "transition": _transition_rule,
        "notes": CHANGE,
        "review": CHANGE,
        "kill_switch": CHANGE,
        "rollback": CHANGE,
        "reassess": CHANGE,
    }
    filter_backends = [DjangoFilterBackend]
    filterset_class = IncidentFilter
    lookup_value_regex = "[^/.]+"

    def get_queryset(self):
        return selectors.incidents_visible_to(self.request.user).order_by("-opened_at", "-pk")

    def get_renderers(self):
        renderers = super().get_renderers()
        if self.action in ("list", "export"):
            renderers.append(CSVRenderer())
        return renderers

    def get_serializer_context(self):
        # One "now" for every row's deadlines.
        return {**super().get_serializer_context(), "now": timezone.now()}

    def get_object(self):
        key = str(self.kwargs["pk"])
        qs = self.get_queryset()
        incident = get_object_or_404(qs, **id_or_reference(key))
        self.check_object_permissions(self.request, incident)
        return incident

    def _answer(self, incident: Incident, code=status.HTTP_200_OK) -> Response:
        incident = self.get_queryset().get(pk=incident.pk)
        return Response(
            IncidentSerializer(incident, context=self.get_serializer_context()).data, code
        )

    def _csv(self):
        qs = self.filter_queryset(self.get_queryset())
        return stream_csv(
            "incident-log.csv",
            selectors.EXPORT_COLUMNS,
            selectors.export_rows(qs.iterator(chunk_size=500)),
        )

    def list(self, request, *args, **kwargs):
        if request.accepted_renderer.format == "csv":
            return self._csv()
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="The incident log as CSV (also at /api/v1/incidents/export.csv)",
        filters=True,
        responses={**_CSV},
    )
    @action(detail=False, methods=["get"])
    def export(self, request, *args, **kwargs):
        return self._csv()

    @extend_schema(
        summary="Open an incident on a use case",
        request=IncidentCreateSerializer,
        responses={201: IncidentSerializer, **_ERRORS},
    )
    def create(self, request, *args, **kwargs):
        serializer = IncidentCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        use_case = visible_use_case(request.user, data.pop("use_case"))
        if not can(request.user, "incidents.open_incident", use_case):
            raise exceptions.PermissionDenied("You may not open incidents on this use case.")
        if not data.get("aware_at"):
            data.pop("aware_at", None)
        incident = incident_open(actor=request.user, use_case=use_case, **data)
        return self._answer(incident, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change some fields (severity, owner, title, regulatory marks, report times)",
        parameters=[_KEY_PARAM],
        request=IncidentUpdateSerializer,
        responses={200: IncidentSerializer, **_ERRORS},
    )
    def partial_update(self, request, *args, **kwargs):
        incident = self.get_object()
        serializer = IncidentUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        incident = incident_update(
            actor=request.user, incident=incident, **serializer.validated_data
        )
        return self._answer(incident)

    @extend_schema(
        summary="Move the incident: triage, mitigate, resolve, close or reopen",
        description="Closing a SEV1 or SEV2 needs the post-incident review (400 otherwise).",
        parameters=[
            _KEY_PARAM,
            OpenApiParameter(
                "transition",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                enum=["triage", "mitigate", "resolve", "close", "reopen"],
            ),
        ],
        request=TransitionSerializer,
        responses={200: IncidentSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path=r"transitions/(?P<transition>[a-z_-]+)")
    def transition(self, request, pk=None, transition=None):
        if transition not in TRANSITIONS:
            raise exceptions.NotFound(f"No transition {transition!r}.")
        incident = self.get_object()
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = incident_transition(
            actor=request.user,
            incident=incident,
            action=transition,
            note=serializer.validated_data["note"],
        )
        return self._answer(incident)

    @extend_schema(
        summary="The timeline, oldest first (read-only: entries are never changed or deleted)",
        parameters=[_KEY_PARAM],
        responses={200: TimelineEntrySerializer(many=True), **_ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def timeline(self, request, pk=None):
        incident = self.get_object()
        entries = selectors.timeline_of(incident)
        return Response(TimelineEntrySerializer(entries, many=True).data)

    @extend_schema(
        summary="Add a note to the timeline",
        parameters=[_KEY_PARAM],
        request=NoteSerializer,
        responses={201: TimelineEntrySerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def notes(self, request, pk=None):
        incident = self.get_object()
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = incident_add_note(
            actor=request.user, incident=incident, text=serializer.validated_data["text"]
        )
        return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Write the post-incident review (cause, impact, what changed)",
        parameters=[_KEY_PARAM],
        request=ReviewSerializer,
        responses={200: IncidentSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        incident = self.get_object()
        serializer = ReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = incident_write_review(
            actor=request.user, incident=incident, **serializer.validated_data
        )
        return self._answer(incident)

    @extend_schema(
        summary="Switch the use case's AI off (engaged) or back on, from the incident",
        parameters=[_KEY_PARAM],
        request=KillSwitchActionSerializer,
        responses={200: IncidentSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="actions/kill-switch")
    def kill_switch(self, request, pk=None):
        incident = self.get_object()
        serializer = KillSwitchActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = incident_kill_switch(
            actor=request.user, incident=incident, **serializer.validated_data
        )
        return self._answer(incident)

    @extend_schema(
        summary="Roll a deployment of the use case back to its previous model version",
        parameters=[_KEY_PARAM],
        request=RollbackSerializer,
        responses={200: IncidentSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="actions/rollback")
    def rollback(self, request, pk=None):
        incident = self.get_object()
        serializer = RollbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deployment = Deployment.objects.filter(
            pk=serializer.validated_data["deployment"], use_case_id=incident.use_case_id
        ).first()
        if deployment is None:
            raise exceptions.ValidationError(
                {"deployment": [f"No such deployment of {incident.use_case.reference}."]}
            )
        incident_rollback(
            actor=request.user,
            incident=incident,
            deployment=deployment,
            reason=serializer.validated_data["reason"],
        )
        return self._answer(incident)

    @extend_schema(
        summary="Start a re-assessment from the use case's last signed-off assessment",
        parameters=[_KEY_PARAM],
        request=None,
        responses={201: ReassessmentSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="actions/reassess")
    def reassess(self, request, pk=None):
        draft = incident_start_reassessment(actor=request.user, incident=self.get_object())
        return Response({"assessment": draft.reference}, status=status.HTTP_201_CREATED)


# Kill-switch tokens --------------------------------------------------------------------------
@extend_schema(tags=["Incidents"])
@extend_schema_view(
    list=extend_schema(summary="Kill-switch tokens of the use cases you may manage them for"),
    retrieve=extend_schema(summary="One kill-switch token (never the token itself)"),
)
class KillSwitchTokenViewSet(RecordViewSet):
    serializer_class = KillSwitchTokenSerializer
    # The token's use case decides: its editors see and manage its tokens.
    view_rule = None
    action_rules = {"list": None, "retrieve": None, "create": None, "revoke": None}

    def get_queryset(self):
        return selectors.kill_switch_tokens_visible_to(self.request.user).order_by(
            "use_case__reference", "name", "pk"
        )

    def list(self, request, *args, **kwargs):
        tokens = selectors.manageable_tokens(request.user, self.get_queryset())
        page = self.paginate_queryset(tokens)
        return self.get_paginated_response(KillSwitchTokenSerializer(page, many=True).data)

    def get_object(self):
        token = super().get_object()
        if not can(self.request.user, "incidents.manage_kill_switch_tokens", token.use_case):
            raise exceptions.PermissionDenied
        return token

    @extend_schema(
        summary="A token for a deployed system to poll the kill switch with",
        description="The token is in this answer only (`token`); store it now.",
        request=KillSwitchTokenCreateSerializer,
        responses={201: KillSwitchTokenCreatedSerializer, **_ERRORS},
    )
    def create(self, request, *args, **kwargs):
        serializer = KillSwitchTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        use_case = visible_use_case(request.user, serializer.validated_data["use_case"])
        token, raw = kill_switch_token_create(
            actor=request.user, use_case=use_case, name=serializer.validated_data["name"]
        )
        token.token = raw
        response = Response(
            KillSwitchTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED
        )
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        summary="Revoke a token: it stops reading the switch at once",
        request=None,
        responses={200: KillSwitchTokenSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = kill_switch_token_revoke(actor=request.user, token=self.get_object())
        return Response(KillSwitchTokenSerializer(token).data)


# Webhook endpoints ---------------------------------------------------------------------------
@extend_schema(tags=["Incidents"])
@extend_schema_view(
    list=extend_schema(summary="Webhook endpoints (admins)"),
    retrieve=extend_schema(summary="One webhook endpoint (never its secret)"),
)
class WebhookEndpointViewSet(RecordViewSet):
    serializer_class = WebhookEndpointSerializer
    view_rule = "incidents.manage_webhooks"
    action_rules = {
        "list": "incidents.manage_webhooks",
        "retrieve": "incidents.manage_webhooks",
        "create": "incidents.manage_webhooks",
        "partial_update": "incidents.manage_webhooks",
        "deliveries": "incidents.manage_webhooks",
    }

    def get_queryset(self):
        return selectors.webhook_endpoints_visible_to(self.request.user)

    @extend_schema(
        summary="Add an endpoint",
        description="The signing secret is in this answer only (`secret`); store it now.",
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointCreatedSerializer, **_ERRORS},
    )
    def create(self, request, *args, **kwargs):
        serializer = WebhookEndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = webhook_endpoint_create(actor=request.user, **serializer.validated_data)
        endpoint.secret = secret
        response = Response(
            WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        summary="Pause or resume an endpoint",
        request=WebhookActiveSerializer,
        responses={200: WebhookEndpointSerializer, **_ERRORS},
    )
    def partial_update(self, request, *args, **kwargs):
        endpoint = self.get_object()
        serializer = WebhookActiveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_set_active(
            actor=request.user, endpoint=endpoint, active=serializer.validated_data["active"]
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        summary="The endpoint's recent deliveries, newest first",
        responses={200: DeliverySerializer(many=True), **_ERRORS},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def deliveries(self, request, pk=None):
        return Response(
            DeliverySerializer(selectors.deliveries_of(self.get_object()), many=True).data
        )


def register(router) -> None:
    router.register("runbooks", RunbookViewSet, basename="api-runbook")
    router.register("incidents", IncidentViewSet, basename="api-incident")
    router.register("kill-switch-tokens", KillSwitchTokenViewSet, basename="api-kill-switch-token")
    router.register("webhook-endpoints", WebhookEndpointViewSet, basename="api-webhook-endpoint")
