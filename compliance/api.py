"""The compliance API: frameworks, obligations, controls, evidence, applicability and coverage,
under the same named rules as the pages (compliance/rules.py), through the same services."""

from django.contrib.auth import get_user_model
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, parsers, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import selectors
from compliance.models import (
    Applicability,
    Control,
    Evidence,
    Exclusion,
    Framework,
    Obligation,
    ObligationException,
    SignedStatement,
)
from compliance.services import library, statements
from compliance.services.frameworks import check_definition, framework_import
from portal.access import can, require
from portal.api_views import RecordViewSet
from portal.limits import SHORT_TEXT
from portal.params import as_id, id_or_reference
from portal.parsers import BoundedJSONParser
from registry.models import UseCase
from registry.selectors import use_cases_visible_to


# Serializers --------------------------------------------------------------------------------
class SlugRecordField(serializers.SlugRelatedField):
    """A record named by a slug (a username, a reference). A name with a NUL character names
    nothing: PostgreSQL refuses NUL in a query, so looking it up was a 500 rather than this
    field's error. (A form or multipart body reaches here with one; a JSON body holding NUL
    is refused whole by portal.parsers.BoundedJSONParser.)"""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data.replace("\x00", ""))
        return super().to_internal_value(data)


class FrameworkSerializer(serializers.ModelSerializer):
    class Meta:
        model = Framework
        fields = [
            "id", "key", "version", "kind", "scope", "title", "description", "source",
            "sha256", "builtin", "active", "created_at",
        ]  # fmt: skip


class ExclusionSerializer(serializers.ModelSerializer):
    excluded_by = serializers.CharField(source="excluded_by.username", read_only=True)

    class Meta:
        model = Exclusion
        fields = ["reason", "excluded_by", "excluded_at"]
        read_only_fields = ["excluded_at"]


class ObligationSerializer(serializers.ModelSerializer):
    framework = serializers.CharField(source="framework.key", read_only=True)
    framework_version = serializers.IntegerField(source="framework.version", read_only=True)
    exclusion = serializers.SerializerMethodField()

    class Meta:
        model = Obligation
        fields = [
            "id", "framework", "framework_version", "key", "ref", "title", "text", "group",
            "group_title", "applies_when", "exclusion",
        ]  # fmt: skip

    @extend_schema_field(ExclusionSerializer(allow_null=True))
    def get_exclusion(self, obligation) -> dict | None:
        """The firm's reason it does not apply (firm-wide frameworks only), or null."""
        try:
            return ExclusionSerializer(obligation.exclusion).data
        except Exclusion.DoesNotExist:
            return None


class ControlSerializer(serializers.ModelSerializer):
    owner = SlugRecordField(slug_field="username", queryset=get_user_model().objects)
    obligations = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=Obligation.objects.all()
    )
    use_cases = SlugRecordField(
        many=True, required=False, slug_field="reference", queryset=UseCase.objects.all()
    )

    class Meta:
        model = Control
        fields = [
            "id", "reference", "title", "kind", "description", "owner", "frequency", "active",
            "obligations", "use_cases", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["reference", "created_at", "updated_at"]


class EvidenceSerializer(serializers.ModelSerializer):
    attested_by = SlugRecordField(
        slug_field="username",
        required=False,
        queryset=get_user_model().objects,
    )
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)
    upload = serializers.FileField(write_only=True, required=False)
    controls = SlugRecordField(
        many=True, required=False, slug_field="reference", queryset=Control.objects.all()
    )
    obligations = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=Obligation.objects.all()
    )
    use_cases = SlugRecordField(
        many=True, required=False, slug_field="reference", queryset=UseCase.objects.all()
    )

    class Meta:
        model = Evidence
        fields = [
            "id", "reference", "title", "description", "url", "filename", "sha256",
            "effective_on", "expires_on", "attested_by", "uploaded_by", "uploaded_at",
            "controls", "obligations", "use_cases", "upload",
        ]  # fmt: skip
        read_only_fields = ["reference", "filename", "sha256", "uploaded_at"]


class ExceptionSerializer(serializers.ModelSerializer):
    accepted_by = serializers.CharField(source="accepted_by.username", read_only=True)

    class Meta:
        model = ObligationException
        fields = ["id", "accepted_by", "accepted_at", "reason", "expires_on"]
        read_only_fields = ["accepted_at"]


class ApplicabilitySerializer(serializers.ModelSerializer):
    use_case = serializers.CharField(source="use_case.reference", read_only=True)
    framework = serializers.CharField(source="obligation.framework.key", read_only=True)
    ref = serializers.CharField(source="obligation.ref", read_only=True)
    title = serializers.CharField(source="obligation.title", read_only=True)

    class Meta:
        model = Applicability
        fields = [
            "id", "use_case", "framework", "obligation", "ref", "title", "applicable",
            "reason", "status", "status_detail", "applies_since", "due_on", "updated_at",
        ]  # fmt: skip


class SignedStatementSerializer(serializers.ModelSerializer):
    framework = serializers.CharField(source="framework.key", read_only=True, default=None)
    use_case = serializers.CharField(source="use_case.reference", read_only=True, default=None)
    signed_by = serializers.CharField(source="signed_by.username", read_only=True)
    verified = serializers.SerializerMethodField()
    pdf = serializers.SerializerMethodField()

    class Meta:
        model = SignedStatement
        fields = [
            "id", "reference", "framework", "use_case", "title", "subject", "as_of", "rows",
            "basis", "signed_by", "signed_at", "note", "sha256", "verified", "pdf",
        ]  # fmt: skip

    def get_verified(self, signed) -> bool:
        return statements.verified(signed)

    def get_pdf(self, signed) -> str:
        return reverse("compliance:statement-pdf", args=[signed.pk])


class StatementSignSerializer(serializers.Serializer):
    framework = serializers.PrimaryKeyRelatedField(
        queryset=Framework.objects.all(), required=False, allow_null=True
    )
    use_case = SlugRecordField(
        slug_field="reference", queryset=UseCase.objects.all(), required=False, allow_null=True
    )
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=SHORT_TEXT)

    def validate(self, attrs):
        if (attrs.get("framework") is None) == (attrs.get("use_case") is None):
            raise ValidationError(
                {"framework": ["Give a framework's id or a use case's reference, not both."]}
            )
        return attrs


# Viewsets -----------------------------------------------------------------------------------
class FrameworkViewSet(RecordViewSet):
    serializer_class = FrameworkSerializer
    view_rule = "compliance.view_framework"
    action_rules = {
        "list": "compliance.view_framework",
        "retrieve": "compliance.view_framework",
        "export": "compliance.view_framework",
        "create": "compliance.manage_frameworks",
    }

    def get_queryset(self):
        qs = selectors.frameworks_visible_to(self.request.user)
        return qs.order_by("kind", "key", "-version")

    @extend_schema(summary="Import a framework or crosswalk file (its JSON as the body)")
    def create(self, request):
        if not isinstance(request.data, dict):
            raise ValidationError({"file": ["Send the framework file's JSON object."]})
        definition = check_definition(dict(request.data))
        framework, outcome = framework_import(actor=request.user, definition=definition)
        code = status.HTTP_201_CREATED if outcome in ("created", "replaced") else status.HTTP_200_OK
        return Response({**FrameworkSerializer(framework).data, "outcome": outcome}, status=code)

    @extend_schema(summary="The framework file, as imported")
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        return Response(self.get_object().definition)


class ObligationViewSet(RecordViewSet):
    serializer_class = ObligationSerializer
    view_rule = "compliance.view_framework"
    action_rules = {
        "list": "compliance.view_framework",
        "retrieve": "compliance.view_framework",
        "exclusion": "compliance.manage_frameworks",
    }

    @extend_schema(
        summary="Mark a firm-wide framework's item not applicable (POST, with the reason) or "
        "applicable again (DELETE)",
        request=ExclusionSerializer,
        responses={200: ObligationSerializer},
    )
    @action(detail=True, methods=["post", "delete"])
    def exclusion(self, request, pk=None):
        obligation = self.get_object()
        if request.method == "DELETE":
            library.exclusion_remove(actor=request.user, obligation=obligation)
        else:
            serializer = ExclusionSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            library.exclusion_set(
                actor=request.user,
                obligation=obligation,
                reason=serializer.validated_data["reason"],
            )
        fresh = self.get_queryset().get(pk=obligation.pk)
        return Response(ObligationSerializer(fresh).data)

    def get_queryset(self):
        qs = (
            selectors.obligations_visible_to(self.request.user)
            .select_related("exclusion__excluded_by")
            .order_by("framework_id", "order")
        )
        framework = self.request.query_params.get("framework")
        if framework:
            qs = qs.filter(framework__key=framework, framework__active=True)
        return qs


class ControlViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, RecordViewSet):
    serializer_class = ControlSerializer
    view_rule = "compliance.view_control"
    action_rules = {
        "list": "compliance.view_control",
        "retrieve": "compliance.view_control",
        "create": "compliance.manage_controls",
        "update": "compliance.manage_controls",
        "partial_update": "compliance.manage_controls",
    }

    def get_queryset(self):
        return selectors.controls_visible_to(self.request.user).prefetch_related(
            "obligations", "use_cases"
        )

    def _links(self, data):
        return {
            "obligations": data.pop("obligations", None),
            "use_cases": data.pop("use_cases", None),
        }

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        links = self._links(data)
        serializer.instance = library.control_create(
            actor=self.request.user,
            data=data,
            obligations=links["obligations"] or [],
            use_cases=links["use_cases"] or [],
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        links = self._links(data)
        serializer.instance = library.control_update(
            actor=self.request.user, control=serializer.instance, data=data, **links
        )


class EvidenceViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, RecordViewSet):
    serializer_class = EvidenceSerializer
    # The project's JSON parser: a body with NUL in a string, or nested too deep, is a 400.
    parser_classes = [BoundedJSONParser, parsers.MultiPartParser, parsers.FormParser]
    view_rule = "compliance.view_evidence"
    action_rules = {
        "list": None,
        "retrieve": "compliance.view_evidence",
        "create": "compliance.add_evidence",
        "update": "compliance.change_evidence",
        "partial_update": "compliance.change_evidence",
    }

    def get_queryset(self):
        return selectors.evidence_visible_to(self.request.user).prefetch_related(
            "controls", "obligations", "use_cases"
        )

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        upload = data.pop("upload", None)
        links = {k: data.pop(k, []) for k in ("controls", "obligations", "use_cases")}
        for use_case in links["use_cases"]:
            if not can(self.request.user, "registry.view_usecase", use_case):
                raise ValidationError({"use_cases": [f"No use case {use_case.reference}."]})
        serializer.instance = library.evidence_add(
            actor=self.request.user, data=data, upload=upload, **links
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("upload", None)
        links = {k: data.pop(k, None) for k in ("controls", "obligations", "use_cases")}
        serializer.instance = library.evidence_update(
            actor=self.request.user, evidence=serializer.instance, data=data, **links
        )


class ApplicabilityViewSet(RecordViewSet):
    """Each use case's obligations: ``?use_case=UC-0001``, ``?status=overdue``."""

    serializer_class = ApplicabilitySerializer
    view_rule = "compliance.view_applicability"
    action_rules = {
        "list": None,
        "retrieve": "compliance.view_applicability",
        "exceptions": "compliance.view_applicability",
    }

    def get_queryset(self):
        qs = selectors.applicability_visible_to(self.request.user).filter(
            obligation__framework__active=True
        )
        params = self.request.query_params
        if params.get("use_case"):
            qs = qs.filter(use_case__reference=params["use_case"])
        if params.get("status"):
            qs = qs.filter(status=params["status"])
        if params.get("applicable") in ("true", "false"):
            qs = qs.filter(applicable=params["applicable"] == "true")
        return qs.order_by("use_case_id", "obligation__order")

    @extend_schema(
        summary="Exceptions to this obligation; POST accepts one (a risk officer of the unit)",
        request=ExceptionSerializer,
        responses={200: ExceptionSerializer(many=True), 201: ExceptionSerializer},
    )
    @action(detail=True, methods=["get", "post"])
    def exceptions(self, request, pk=None):
        row = self.get_object()
        if request.method == "GET":
            return Response(ExceptionSerializer(row.exceptions.all(), many=True).data)
        serializer = ExceptionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        require(request.user, "compliance.accept_exception", row.use_case)
        exc = library.exception_accept(
            actor=request.user, applicability=row, **serializer.validated_data
        )
        return Response(ExceptionSerializer(exc).data, status=status.HTTP_201_CREATED)


class CoverageShareSerializer(serializers.Serializer):
    """One share of applicable obligations (selectors.Share.as_dict)."""

    key = serializers.CharField(help_text="The unit's, framework's, obligation's or use case's id.")
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
    applicable = serializers.IntegerField()
    met = serializers.IntegerField()
    missing = serializers.IntegerField(help_text="Applicable but not met.")
    overdue = serializers.IntegerField()
    accepted = serializers.IntegerField(help_text="Covered by a risk officer's live exception.")
    percent = serializers.IntegerField(help_text="Met of applicable; 100 when none applies.")


class CoverageSerializer(serializers.Serializer):
    total = CoverageShareSerializer()
    units = CoverageShareSerializer(many=True)
    frameworks = CoverageShareSerializer(many=True)
    obligations = CoverageShareSerializer(many=True)
    use_cases = CoverageShareSerializer(many=True)


class CoverageView(APIView):
    """The share of applicable obligations met: overall, per business unit, per framework,
    per obligation and the use cases with most open; ``?use_case=UC-0001`` for one."""

    @extend_schema(
        summary="Coverage of applicable obligations",
        description="Over the use cases you may see, or of one use case (``use_case``): then "
        "the answer is that use case's share alone.",
        parameters=[
            OpenApiParameter(
                "use_case", OpenApiTypes.STR, description="One use case, by id or reference."
            ),
            OpenApiParameter("unit", OpenApiTypes.INT, description="A business unit's id."),
        ],
        responses={
            200: PolymorphicProxySerializer(
                component_name="CoverageOrShare",
                serializers=[CoverageSerializer, CoverageShareSerializer],
                resource_type_field_name=None,
            ),
            403: OpenApiResponse(description="You may not see coverage."),
            404: OpenApiResponse(description="No such use case, or you may not see it."),
        },
    )
    def get(self, request):
        require(request.user, "compliance.view_coverage")
        reference = request.query_params.get("use_case")
        if reference:
            use_case = (
                use_cases_visible_to(request.user).filter(**id_or_reference(reference)).first()
            )
            if use_case is None:
                raise NotFound("No such use case.")
            return Response(selectors.use_case_coverage(use_case).as_dict())
        unit = request.query_params.get("unit")
        found = selectors.coverage(request.user, unit=as_id(unit) if unit else None)
        return Response(
            {
                "total": found["total"].as_dict(),
                "units": [s.as_dict() for s in found["units"]],
                "frameworks": [s.as_dict() for s in found["frameworks"]],
                "obligations": [s.as_dict() for s in found["obligations"]],
                "use_cases": [s.as_dict() for s in found["use_cases"]],
            }
        )


class SignedStatementViewSet(RecordViewSet):
    """Statements of Applicability as signed; POST signs one (password re-entry)."""

    serializer_class = SignedStatementSerializer
    view_rule = None
    action_rules = {"list": None, "retrieve": None, "create": "compliance.sign_soa"}

    def get_queryset(self):
        return selectors.signed_statements_visible_to(self.request.user).select_related(
            "framework", "use_case", "signed_by"
        )

    @extend_schema(
        summary="Sign the Statement of Applicability of a framework or a use case, as it is now",
        request=StatementSignSerializer,
        responses={201: SignedStatementSerializer},
    )
    def create(self, request):
        serializer = StatementSignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        use_case = data.get("use_case")
        if use_case is not None and not can(request.user, "registry.view_usecase", use_case):
            raise ValidationError({"use_case": [f"No use case {use_case.reference}."]})
        signed = statements.statement_sign(
            actor=request.user,
            password=data["password"],
            note=data.get("note", ""),
            framework=data.get("framework"),
            use_case=use_case,
        )
        return Response(SignedStatementSerializer(signed).data, status=status.HTTP_201_CREATED)


def register(router) -> None:
    router.register("frameworks", FrameworkViewSet, basename="api-framework")
    router.register("obligations", ObligationViewSet, basename="api-obligation")
    router.register("controls", ControlViewSet, basename="api-control")
    router.register("evidence", EvidenceViewSet, basename="api-evidence")
    router.register("applicability", ApplicabilityViewSet, basename="api-applicability")
    router.register("signed-statements", SignedStatementViewSet, basename="api-signed-statement")
