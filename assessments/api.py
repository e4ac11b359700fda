"""Assessments and their templates over REST.

Thin viewsets, as in registry/api/: querysets come from the selectors (so an assessment a
person may not see answers 404), permissions from the named rules (portal.api.RulePermission;
each workflow move asks the rule its row in TRANSITIONS names), and every write from the
services the pages call. A save from an out-of-date revision answers 409 with what changed.
"""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Exists, OuterRef
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from assessments import compare as comparing
from assessments import services
from assessments.filters import AssessmentFilter, AssessmentTemplateFilter
from assessments.models import TRANSITIONS, Assessment, AssessmentTemplate
from assessments.selectors import assessments_visible_to, versions_of
from assessments.serializers import (
    AnswersSerializer,
    AssessmentDetailSerializer,
    AssessmentSerializer,
    AssessmentStartSerializer,
    AssessmentTemplateDetailSerializer,
    AssessmentTemplateSerializer,
    CommentInputSerializer,
    CommentSerializer,
    CompareSerializer,
    EditConflictSerializer,
    OverrideTierSerializer,
    TemplateDefinitionSerializer,
    TemplateFileSerializer,
    TemplateImportResultSerializer,
    TransitionInputSerializer,
    VersionSerializer,
)
from portal.api_views import RecordViewSet
from portal.params import as_id
from portal.parsers import BoundedJSONParser
from portal.workflow import Transition


def _move(name: str) -> Transition:
    try:
        return TRANSITIONS[name]
    except KeyError:
        raise exceptions.NotFound(f"No workflow move is called {name!r}.") from None


_ERRORS = {
    400: OpenApiResponse(description="Invalid input; the body names the fields at fault."),
    403: OpenApiResponse(description="You may see this assessment but not do this."),
    404: OpenApiResponse(description="No such assessment, or you may not see it."),
}
_READ_ERRORS = {404: _ERRORS[404]}
# Written out because a PATCH body is documented as all-optional, and revision is required.
ANSWERS_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["answers", "revision"],
    "properties": {
        "answers": {
            "type": "object",
            "additionalProperties": {},
            "description": "Answers by question key; an empty value clears an answer. "
            "Questions not named keep their answers.",
        },
        "revision": {
            "type": "integer",
            "minimum": 1,
            "description": "The revision the answers were made on (from the assessment). If "
            "someone saved since, nothing is saved and the answer is 409 with what changed.",
        },
        "autosave": {
            "type": "boolean",
            "default": False,
            "description": "Recorded in the history as an autosave.",
        },
    },
}
# Lists of related rows (comments, versions) are short and come whole, without paging.
_WHOLE_LIST: dict[str, Any] = {"pagination_class": None, "filter_backends": []}


# Assessments ---------------------------------------------------------------------------------
@extend_schema(tags=["assessments"])
@extend_schema_view(
    list=extend_schema(summary="Assessments you may see"),
    retrieve=extend_schema(
        summary="One assessment, with its reviews, sign-off and the moves open to you",
        responses={200: AssessmentDetailSerializer, **_READ_ERRORS},
    ),
    create=extend_schema(
        summary="Start an assessment of a use case",
        request=AssessmentStartSerializer,
        responses={
            201: AssessmentDetailSerializer,
            400: _ERRORS[400],
            403: OpenApiResponse(description="You may not assess this use case."),
        },
    ),
)
class AssessmentViewSet(mixins.CreateModelMixin, RecordViewSet):
    # No update or DELETE: answers change through .../answers/, status through transitions.
    view_rule = "assessments.view_assessment"
    action_rules = {
        "list": None,
        # Starting is asked of the use case, which the service checks once it has it.
        "create": None,
        "retrieve": "assessments.view_assessment",
        "answers": "assessments.change_assessment",
        "transition": lambda view: _move(view.kwargs.get("transition", "")).rule,
        "comments": "assessments.view_assessment",
        "add_comment": "assessments.comment",
        "resolve_comment": "assessments.comment",
        "compare": "assessments.view_assessment",
        "versions": "assessments.view_assessment",
        "reassess": "assessments.reassess",
        "override_tier": "assessments.override_tier",
    }
    filter_backends = [DjangoFilterBackend]
    filterset_class = AssessmentFilter

    def get_queryset(self):
        qs = assessments_visible_to(self.request.user)
        if self.action != "list":
            qs = qs.select_related("sign_off_record__signed_by")
        return qs

    def get_serializer_class(self):
        if self.action == "list":
            return AssessmentSerializer
        if self.action == "create":
            return AssessmentStartSerializer
        return AssessmentDetailSerializer

    def _render(self, assessment, status_code: int = 200) -> Response:
        # Read again through the selector so the reviews and sign-off shown are the new ones.
        fresh = self.get_queryset().filter(pk=assessment.pk).first() or assessment
        body = AssessmentDetailSerializer(fresh, context=self.get_serializer_context()).data
        # str(): DRF's Hyperlink is a str subclass, and WSGI servers (wsgiref under `make run`)
        # refuse any header value whose type is not exactly str, with a 500.
        headers = {"Location": str(body["url"])} if status_code == 201 else None
        return Response(body, status=status_code, headers=headers)

    def create(self, request, *args, **kwargs):
        serializer = AssessmentStartSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        assessment = services.assessment_start(actor=request.user, **serializer.validated_data)
        return self._render(assessment, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Save answers (only if nobody saved since your revision)",
        request={"application/json": ANSWERS_REQUEST_SCHEMA},
        responses={
            200: AssessmentDetailSerializer,
            400: OpenApiResponse(
                description="Invalid answers, keyed by question; or no revision given."
            ),
            403: _ERRORS[403],
            404: _ERRORS[404],
            409: OpenApiResponse(
                EditConflictSerializer,
                description="Someone saved since your revision; nothing was saved.",
            ),
        },
    )
    @action(detail=True, methods=["patch"])
    def answers(self, request, pk=None):
        assessment = self.get_object()
        serializer = AnswersSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            assessment = services.assessment_save_answers(
                actor=request.user,
                assessment=assessment,
                answers=serializer.validated_data["answers"],
                base_revision=serializer.validated_data["revision"],
                autosave=serializer.validated_data["autosave"],
            )
        except services.EditConflict as conflict:
            body = {
                "detail": str(conflict),
                "current_revision": conflict.current_revision,
                "changes": conflict.changes,
            }
            return Response(EditConflictSerializer(body).data, status=status.HTTP_409_CONFLICT)
        return self._render(assessment)

    @extend_schema(
        summary="Move an assessment through review",
        request=TransitionInputSerializer,
        responses={200: AssessmentDetailSerializer, **_ERRORS},
        parameters=[
            OpenApiParameter(
                "transition",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                enum=list(TRANSITIONS),
                description="The move to make; the detail lists those open to you.",
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path=r"transitions/(?P<transition>[a-z_]+)")
    def transition(self, request, pk=None, transition: str = ""):
        _move(transition)
        assessment = self.get_object()
        serializer = TransitionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assessment = services.assessment_transition(
            actor=request.user,
            assessment=assessment,
            action=transition,
            reason=serializer.validated_data["reason"],
            password=serializer.validated_data["password"],
            acknowledged_questions=serializer.validated_data["acknowledged_questions"],
        )
        return self._render(assessment)

    @extend_schema(
        summary="The comments on an assessment, oldest first",
        responses={200: CommentSerializer(many=True), **_READ_ERRORS},
    )
    @action(detail=True, methods=["get"], **_WHOLE_LIST)
    def comments(self, request, pk=None):
        assessment = self.get_object()
        comments = assessment.comments.select_related("author")
        return Response(CommentSerializer(comments, many=True).data)

    @extend_schema(
        summary="Comment on an assessment, or on one of its questions",
        request=CommentInputSerializer,
        responses={201: CommentSerializer, **_ERRORS},
    )
    @comments.mapping.post
    def add_comment(self, request, pk=None):
        assessment = self.get_object()
        serializer = CommentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        parent = None
        if data["parent"] is not None:
            parent = assessment.comments.filter(pk=data["parent"]).first()
            if parent is None:
                raise exceptions.ValidationError({"parent": ["No such comment on this one."]})
        comment = services.assessment_comment(
            actor=request.user,
            assessment=assessment,
            body=data["body"],
            question_key=data["question_key"],
            parent=parent,
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Mark a comment resolved",
        request=None,
        responses={200: CommentSerializer, **_ERRORS},
        parameters=[OpenApiParameter("comment_pk", OpenApiTypes.INT, OpenApiParameter.PATH)],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"comments/(?P<comment_pk>[0-9]+)/resolve",
        url_name="resolve-comment",
    )
    def resolve_comment(self, request, pk=None, comment_pk=None):
        assessment = self.get_object()
        comment = assessment.comments.select_related("author").filter(pk=comment_pk).first()
        if comment is None:
            raise exceptions.NotFound("No such comment on this assessment.")
        comment = services.comment_resolve(actor=request.user, comment=comment)
        return Response(CommentSerializer(comment).data)

    @extend_schema(
        summary="Two versions side by side, question by question",
        description="The older of the two is on the left. Both must be versions of the same "
        "kind of assessment of the same use case, and both visible to you.",
        parameters=[
            OpenApiParameter(
                "with",
                OpenApiTypes.INT,
                OpenApiParameter.QUERY,
                required=True,
                description="The id of the other version.",
            )
        ],
        responses={200: CompareSerializer, 400: _ERRORS[400], 404: _ERRORS[404]},
    )
    @action(detail=True, methods=["get"], **_WHOLE_LIST)
    def compare(self, request, pk=None):
        assessment = self.get_object()
        other_pk = as_id(request.query_params.get("with", ""))
        if other_pk is None:
            raise exceptions.ValidationError({"with": ["Give the id of the other version."]})
        other = self.get_queryset().filter(pk=other_pk).first()
        if other is None:
            raise exceptions.ValidationError({"with": ["No assessment you may see has that id."]})
        if other.pk == assessment.pk:
            raise exceptions.ValidationError({"with": ["Choose another version to compare."]})
        if (other.use_case_id, other.kind) != (assessment.use_case_id, assessment.kind):
            raise exceptions.ValidationError(
                {"with": [f"{other.reference} is not a version of {assessment.reference}."]}
            )
        left, right = sorted([assessment, other], key=lambda a: (a.version, a.pk))
        rows = [row.as_dict() for row in comparing.compare(left, right)]
        body = {
            "left": left,
            "right": right,
            "changed": sum(row["changed"] for row in rows),
            "rows": rows,
            "result_rows": [row.as_dict() for row in comparing.result_rows(left, right)],
        }
        return Response(CompareSerializer(body, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Every version of this assessment you may see, oldest first",
        responses={200: VersionSerializer(many=True), **_READ_ERRORS},
    )
    @action(detail=True, methods=["get"], **_WHOLE_LIST)
    def versions(self, request, pk=None):
        assessment = self.get_object()
        visible = assessments_visible_to(request.user).values("pk")
        versions = versions_of(assessment).filter(pk__in=visible)
        return Response(
            VersionSerializer(versions, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(
        summary="Start a re-assessment from this signed-off version",
        request=None,
        responses={201: AssessmentDetailSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reassess(self, request, pk=None):
        new = services.assessment_reassess(actor=request.user, assessment=self.get_object())
        return self._render(new, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Override the tier a signed-off screening gave, with a justification",
        request=OverrideTierSerializer,
        responses={200: AssessmentDetailSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="override-tier")
    def override_tier(self, request, pk=None):
        assessment = self.get_object()
        serializer = OverrideTierSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assessment = services.assessment_override_tier(
            actor=request.user, assessment=assessment, **serializer.validated_data
        )
        return self._render(assessment)


# Templates -----------------------------------------------------------------------------------
@extend_schema(tags=["assessment templates"])
@extend_schema_view(
    list=extend_schema(summary="Template versions"),
    retrieve=extend_schema(summary="One template version, with its definition"),
)
class AssessmentTemplateViewSet(RecordViewSet):
    view_rule = "assessments.view_template"
    action_rules = {
        "list": "assessments.view_template",
        "retrieve": "assessments.view_template",
        "export": "assessments.view_template",
        "import_file": "assessments.manage_templates",
    }
    filter_backends = [DjangoFilterBackend]
    filterset_class = AssessmentTemplateFilter

    def get_queryset(self):
        used = Assessment.objects.filter(template=OuterRef("pk"))
        return AssessmentTemplate.objects.annotate(in_use=Exists(used)).order_by(
            "kind", "key", "-version", "pk"
        )

    def get_serializer_class(self):
        if self.action == "list":
            return AssessmentTemplateSerializer
        return AssessmentTemplateDetailSerializer

    @extend_schema(
        summary="The template file (JSON), as an attachment",
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="The template file."
            ),
            **_READ_ERRORS,
        },
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        template = self.get_object()
        response = HttpResponse(
            services.template_export(template), content_type="application/json; charset=utf-8"
        )
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=f"{template.key}-v{template.version}.json"
        )
        return response

    @extend_schema(
        summary="Import a template file",
        description="Upload the file (multipart, field `file`) or send its content as JSON "
        "(`definition`). A version no assessment has used is replaced in place; a changed "
        "definition for a version in use becomes the next version, and the used one stays as "
        "it was. Answers 201 when a new version was stored, 200 when an existing one was "
        "replaced or was already the same.",
        request={
            "multipart/form-data": TemplateFileSerializer,
            "application/json": TemplateDefinitionSerializer,
        },
        responses={
            201: TemplateImportResultSerializer,
            200: TemplateImportResultSerializer,
            400: OpenApiResponse(description="The file is not a template; each fault is named."),
            403: OpenApiResponse(description="You may not manage templates."),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser, FormParser, BoundedJSONParser],
    )
    def import_file(self, request):
        upload = request.FILES.get("file")
        if upload is not None:
            if upload.size > settings.IMPORT_MAX_BYTES:
                limit = settings.IMPORT_MAX_BYTES // 1024
                raise exceptions.ValidationError({"file": [f"Files up to {limit} KB are read."]})
            definition = services.parse_template_file(upload.read())
            template, outcome = services.template_import(actor=request.user, definition=definition)
        elif isinstance(request.data, Mapping) and "definition" in request.data:
            text = request.data.get("definition")
            try:
                if isinstance(text, str):
                    # Sent as a form field: read with the same bounded parser as a file (a
                    # deeply nested text must answer 400, never a RecursionError).
                    definition = services.parse_template_file(text)
                else:
                    serializer = TemplateDefinitionSerializer(data=request.data)
                    serializer.is_valid(raise_exception=True)
                    definition = serializer.validated_data["definition"]
                template, outcome = services.template_import(
                    actor=request.user, definition=definition
                )
            except DjangoValidationError as exc:
                # The service names the upload "file"; here the content came as "definition".
                if hasattr(exc, "error_dict") and "file" in exc.error_dict:
                    raise exceptions.ValidationError(
                        {"definition": exc.message_dict["file"]}
                    ) from None
                raise
        else:
            raise exceptions.ValidationError(
                {"file": ['Upload a template file, or send its content as "definition".']}
            )
        created = outcome == "created" or outcome.startswith("version ")
        template = self.get_queryset().get(pk=template.pk)
        body = {"template": template, "outcome": outcome, "created": created}
        return Response(
            TemplateImportResultSerializer(body, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def register(router) -> None:
    router.register("assessments", AssessmentViewSet, basename="api-assessment")
    router.register(
        "assessment-templates", AssessmentTemplateViewSet, basename="api-assessment-template"
    )
