"""How the API reads input for, and renders, assessments and their templates.

Serializers only parse and render: every write goes through assessments.services, called
from assessments/api.py.
"""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assessments import engine, services
from assessments.models import (
    Assessment,
    AssessmentTemplate,
    Comment,
    ReviewAssignment,
)
from portal.params import as_id
from registry.models import RiskTier, UseCase
from registry.selectors import use_cases_visible_to


def _absolute(request, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


# Small pieces shared by several representations ----------------------------------------------
class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.get_username()


class UseCaseSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    title = serializers.CharField()
    business_unit = serializers.IntegerField(source="business_unit_id")
    business_unit_name = serializers.CharField(source="business_unit.name")


class TemplateSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    version = serializers.IntegerField()
    title = serializers.CharField()


class ScoreSerializer(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # DRF pops declared fields
    raw = serializers.FloatField(help_text="Before any adjustment.")
    value = serializers.FloatField(help_text="After the adjustments.")
    max = serializers.FloatField(help_text="The most the answers could give.")
    share = serializers.FloatField(help_text="value as a percentage of max.")


class ReasonSerializer(serializers.Serializer):
    question = serializers.CharField(allow_null=True, help_text="The question's key, if any.")
    answer = serializers.CharField(allow_blank=True)
    cite = serializers.CharField(allow_blank=True, help_text="The article or rule behind it.")


class FindingSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The finding's key in the template.")
    label = serializers.CharField(  # type: ignore[assignment]  # DRF pops declared fields
        help_text="The ground or duty as a person reads it."
    )
    cite = serializers.CharField(allow_blank=True, help_text="The article it rests on.")
    reasons = ReasonSerializer(many=True, help_text="The answers behind it.")


class ResultSerializer(serializers.Serializer):
    scores = serializers.DictField(child=ScoreSerializer(), help_text="By score key.")
    adjustments = serializers.ListField(child=serializers.CharField())
    value = serializers.CharField(allow_null=True, help_text="The outcome's value.")
    label = serializers.CharField(  # type: ignore[assignment]  # DRF pops declared fields
        allow_blank=True, help_text="The outcome as a person reads it."
    )
    reasons = ReasonSerializer(many=True)
    findings = FindingSerializer(
        many=True,
        required=False,
        help_text="Every ground and duty that applies beside the outcome (e.g. the EU AI Act "
        "screening's Article 50 duties on top of a high-risk tier); absent when there are none.",
    )
    highest_inherent = serializers.CharField(allow_null=True)
    highest_residual = serializers.CharField(allow_null=True)


_EMPTY_RESULT = engine.Result().as_dict()


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer_label", help_text="The role or group.")
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Why they were asked.")
    decided_by = PersonSerializer(allow_null=True)

    class Meta:
        model = ReviewAssignment
        fields = ["stage", "reviewer", "reasons", "decision", "decided_by", "decided_at", "note"]


class SignOffSerializer(serializers.Serializer):
    signed_by = PersonSerializer()
    signed_at = serializers.DateTimeField()
    statement = serializers.CharField()
    sha256 = serializers.CharField(help_text="SHA-256 of exactly what was signed.")
    content_intact = serializers.BooleanField(
        help_text="True when the stored content still hashes to sha256."
    )
    verified = serializers.BooleanField(
        help_text="True when, besides, the assessment's answers, result and reviews are still "
        "exactly those signed."
    )


class AvailableActionSerializer(serializers.Serializer):
    action = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # DRF pops declared fields
    target = serializers.CharField(help_text="The status it moves to.")
    reason_required = serializers.BooleanField()
    password_required = serializers.BooleanField()
    url = serializers.CharField(help_text="Where to POST it.")


class MissingQuestionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # DRF pops declared fields
    section = serializers.CharField()


class SectionProgressSerializer(serializers.Serializer):
    section = serializers.CharField()
    title = serializers.CharField()
    answered = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Questions shown for the answers so far.")


class LinksSerializer(serializers.Serializer):
    page = serializers.CharField()
    summary_pdf = serializers.CharField(help_text="The one-page summary for leadership.")
    full_pdf = serializers.CharField(help_text="The full report.")


# Assessments ---------------------------------------------------------------------------------
class AssessmentSerializer(serializers.ModelSerializer):
    """One row of the list: what it is, where it stands, its outcome."""

    kind_label = serializers.CharField(source="get_kind_display")
    status_label = serializers.CharField(source="get_status_display")
    use_case = UseCaseSummarySerializer()
    template = TemplateSummarySerializer()
    author = PersonSerializer()
    result_label = serializers.CharField()
    url = serializers.HyperlinkedIdentityField(view_name="api-assessment-detail")

    class Meta:
        model = Assessment
        fields = [
            "id",
            "reference",
            "kind",
            "kind_label",
            "version",
            "status",
            "status_label",
            "use_case",
            "template",
            "author",
            "result_value",
            "result_label",
            "revision",
            "submitted_at",
            "approved_at",
            "valid_until",
            "created_at",
            "updated_at",
            "url",
        ]
        read_only_fields = fields


class AssessmentDetailSerializer(AssessmentSerializer):
    """Everything about one assessment, including what the requesting person may do next."""

    previous: "serializers.PrimaryKeyRelatedField[Assessment]" = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    # A plain string: the use case's risk_tier already names the RiskTier choice set.
    tier_override = serializers.CharField(
        help_text="The tier set by hand over the screening's result, or blank."
    )
    answers = serializers.DictField(help_text="Stored answers by question key.")
    result = serializers.SerializerMethodField()
    reviews = ReviewSerializer(many=True)
    sign_off = serializers.SerializerMethodField()
    available_actions = serializers.SerializerMethodField()
    missing_required = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta(AssessmentSerializer.Meta):
        fields = [
            *AssessmentSerializer.Meta.fields,
            "previous",
            "answers",
            "result",
            "tier_override",
            "tier_override_reason",
            "reviews",
            "sign_off",
            "available_actions",
            "missing_required",
            "progress",
            "links",
        ]
        read_only_fields = fields

    @extend_schema_field(ResultSerializer)
    def get_result(self, assessment) -> dict:
        return {**_EMPTY_RESULT, **(assessment.result or {})}

    @extend_schema_field(SignOffSerializer(allow_null=True))
    def get_sign_off(self, assessment) -> dict | None:
        record = getattr(assessment, "sign_off_record", None)
        if record is None:
            return None
        record.verified = services.sign_off_verified(assessment)
        return SignOffSerializer(record).data

    @extend_schema_field(AvailableActionSerializer(many=True))
    def get_available_actions(self, assessment) -> list[dict]:
        request = self.context["request"]
        return [
            {
                "action": name,
                "label": t.label,
                "target": t.target,
                "reason_required": t.reason_required,
                "password_required": name == "sign_off",
                "url": _absolute(
                    request,
                    reverse(
                        "api-assessment-transition",
                        kwargs={"pk": assessment.pk, "transition": name},
                    ),
                ),
            }
            for name, t in services.available_transitions(assessment, request.user)
        ]

    @extend_schema_field(MissingQuestionSerializer(many=True))
    def get_missing_required(self, assessment) -> list[dict]:
        return [
            {"key": q.key, "label": q.label, "section": q.section}
            for q in engine.missing_required(assessment.definition, assessment.answers)
        ]

    @extend_schema_field(SectionProgressSerializer(many=True))
    def get_progress(self, assessment) -> list[dict]:
        counts = engine.progress(assessment.definition, assessment.answers)
        return [
            {
                "section": section["key"],
                "title": section["title"],
                "answered": counts[section["key"]][0],
                "total": counts[section["key"]][1],
            }
            for section in assessment.definition.get("sections", [])
            if section["key"] in counts
        ]

    @extend_schema_field(LinksSerializer)
    def get_links(self, assessment) -> dict:
        request = self.context.get("request")
        return {
            "page": _absolute(request, assessment.get_absolute_url()),
            "summary_pdf": _absolute(
                request, reverse("assessments:pdf-summary", args=[assessment.pk])
            ),
            "full_pdf": _absolute(request, reverse("assessments:pdf-full", args=[assessment.pk])),
        }


class VersionSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")
    template = TemplateSummarySerializer()
    author = PersonSerializer()
    result_label = serializers.CharField()
    url = serializers.HyperlinkedIdentityField(view_name="api-assessment-detail")

    class Meta:
        model = Assessment
        fields = [
            "id",
            "reference",
            "version",
            "status",
            "status_label",
            "template",
            "author",
            "result_value",
            "result_label",
            "created_at",
            "submitted_at",
            "approved_at",
            "valid_until",
            "url",
        ]
        read_only_fields = fields


# Input ---------------------------------------------------------------------------------------
@extend_schema_field(OpenApiTypes.INT)
class _VisibleUseCaseField(serializers.PrimaryKeyRelatedField):
    """Only use cases the requesting person may see can be chosen."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return UseCase.objects.none()
        return use_cases_visible_to(request.user)


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "description": "A template version's id, or a template key (its offered version).",
    }
)
class _TemplateField(serializers.Field):
    default_error_messages = {
        "missing_id": "No template version has the id {value}.",
        "missing_key": "No version of template {value!r} is offered.",
        "invalid": "Give a template id or key.",
    }

    def to_internal_value(self, data) -> AssessmentTemplate:
        if isinstance(data, bool) or not isinstance(data, int | str) or data == "":
            self.fail("invalid")
        pk = as_id(data)
        if pk is not None or isinstance(data, int):
            template = AssessmentTemplate.objects.filter(pk=pk).first() if pk else None
            if template is None:
                self.fail("missing_id", value=data)
            return template
        template = (
            AssessmentTemplate.objects.filter(key=data, active=True).order_by("-version").first()
        )
        if template is None:
            self.fail("missing_key", value=data)
        return template

    def to_representation(self, value):
        return value.pk


class AssessmentStartSerializer(serializers.Serializer):
    use_case = _VisibleUseCaseField(help_text="The id of the use case to assess.")
    template = _TemplateField()


class AnswersSerializer(serializers.Serializer):
    answers = serializers.DictField(
        help_text="Answers by question key; an empty value clears an answer. Questions not "
        "named keep their answers."
    )
    revision = serializers.IntegerField(
        min_value=1,
        help_text="The revision the answers were made on (from the assessment). If someone "
        "saved since, nothing is saved and the answer is 409 with what changed.",
    )
    autosave = serializers.BooleanField(
        required=False, default=False, help_text="Recorded in the history as an autosave."
    )


class EditConflictChangeSerializer(serializers.Serializer):
    question = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # DRF pops declared fields
    before = serializers.CharField(allow_blank=True, allow_null=True)
    now = serializers.CharField(allow_blank=True, allow_null=True)
    by = serializers.CharField(help_text="Who saved since the revision you sent.")


class EditConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    current_revision = serializers.IntegerField()
    changes = EditConflictChangeSerializer(many=True)


class TransitionInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Why; required to request changes or reject.",
    )
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Your own password; required to sign off.",
    )
    acknowledged_questions = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        default=list,
        max_length=1000,
        help_text="To sign off while reviewers' questions are open: the id of each open "
        "question (a comment that starts a thread, unresolved) you have read. A signature "
        "that leaves one out is refused with 400.",
    )


class CommentSerializer(serializers.ModelSerializer):
    author = PersonSerializer(read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "question_key", "parent", "author", "body", "resolved", "created_at"]
        read_only_fields = fields


class CommentInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10000)
    question_key = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=64,
        help_text="The question it is about.",
    )
    parent = serializers.IntegerField(  # type: ignore[assignment]  # DRF pops declared fields
        required=False, allow_null=True, default=None, help_text="The comment it answers."
    )


class OverrideTierSerializer(serializers.Serializer):
    tier = serializers.ChoiceField(
        choices=[(v, label) for v, label in RiskTier.choices if v != RiskTier.UNSCREENED]
    )
    justification = serializers.CharField(max_length=2000)


class CompareRowSerializer(serializers.Serializer):
    section = serializers.CharField()
    question = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # DRF pops declared fields
    left = serializers.CharField(allow_blank=True)
    right = serializers.CharField(allow_blank=True)
    changed = serializers.BooleanField()


class CompareSerializer(serializers.Serializer):
    left = VersionSerializer(help_text="The older version.")
    right = VersionSerializer(help_text="The newer version.")
    changed = serializers.IntegerField(help_text="How many questions' answers differ.")
    rows = CompareRowSerializer(many=True)
    result_rows = CompareRowSerializer(many=True, help_text="The outcome and each score.")


# Templates -----------------------------------------------------------------------------------
class AssessmentTemplateSerializer(serializers.ModelSerializer):
    question_count = serializers.IntegerField()
    in_use = serializers.BooleanField(
        help_text="An assessment uses this version, so it never changes."
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-assessment-template-detail")
    export_url = serializers.HyperlinkedIdentityField(view_name="api-assessment-template-export")

    class Meta:
        model = AssessmentTemplate
        fields = [
            "id",
            "key",
            "version",
            "kind",
            "title",
            "description",
            "builtin",
            "active",
            "sha256",
            "question_count",
            "in_use",
            "created_at",
            "updated_at",
            "url",
            "export_url",
        ]
        read_only_fields = fields


class AssessmentTemplateDetailSerializer(AssessmentTemplateSerializer):
    definition = serializers.JSONField(help_text="The template file's content.")

    class Meta(AssessmentTemplateSerializer.Meta):
        fields = [*AssessmentTemplateSerializer.Meta.fields, "definition"]
        read_only_fields = fields


class TemplateFileSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A template file (JSON), as exported.")


class TemplateDefinitionSerializer(serializers.Serializer):
    definition = serializers.JSONField(help_text="A template file's content.")


class TemplateImportResultSerializer(serializers.Serializer):
    template = AssessmentTemplateDetailSerializer()
    outcome = serializers.CharField(
        help_text='"created", "replaced", "unchanged", or "version N is in use, so this '
        'became version M".'
    )
    created = serializers.BooleanField(help_text="A new template version was stored.")
