"""Serializers of the model registry's API: they parse input and render records, no more.

Every write goes through registry.services; the gate's answer is rendered as the gate gives
it (registry.gate.GateResult.as_dict), so the API, the page and the log never disagree.
"""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from registry.models import (
    MODEL_CARD_SECTIONS,
    AIModel,
    ApprovalStatus,
    BusinessUnit,
    DataPolicyException,
    DataSource,
    Deployment,
    Destination,
    ModelApproval,
    ModelVersion,
    ReleaseStage,
    UseCase,
)
from registry.release_policy import STAGE_EDIT_REFUSED
from registry.selectors import data_sources_visible_to, use_cases_visible_to

User = get_user_model()


def _person_name(user) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


class _VisibleUseCaseField(serializers.PrimaryKeyRelatedField):
    """Only use cases the requesting person may see can be chosen (others "do not exist")."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return UseCase.objects.none()
        return use_cases_visible_to(request.user)


class _VisibleDataSourceField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return DataSource.objects.none()
        return data_sources_visible_to(request.user)


# Models --------------------------------------------------------------------------------------
class AIModelSerializer(serializers.ModelSerializer):
    business_unit = serializers.PrimaryKeyRelatedField(queryset=BusinessUnit.objects.all())
    business_unit_name = serializers.CharField(source="business_unit.name", read_only=True)
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    owner_name = serializers.SerializerMethodField()
    approved_by_name = serializers.SerializerMethodField()
    data_destination = serializers.ChoiceField(
        choices=Destination.choices,
        required=False,
        help_text="Where prompts and inputs travel; by default what the hosting pattern implies.",
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-ai-model-detail")

    class Meta:
        model = AIModel
        fields = [
            "id",
            "reference",
            "name",
            "provider",
            "hosting_pattern",
            "data_destination",
            "vendor",
            "licence",
            "description",
            "business_unit",
            "business_unit_name",
            "owner",
            "owner_name",
            "risk_tier",
            "approval_status",
            "approved_by",
            "approved_by_name",
            "approved_at",
            "approval_note",
            "external_ref",
            "created_at",
            "updated_at",
            "url",
        ]
        read_only_fields = [
            "reference",
            "approval_status",
            "approved_by",
            "approved_at",
            "approval_note",
            "created_at",
            "updated_at",
        ]

    def get_owner_name(self, model) -> str:
        return _person_name(model.owner) or ""

    def get_approved_by_name(self, model) -> str | None:
        return _person_name(model.approved_by)


class ModelApprovalStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=ApprovalStatus.choices, help_text="approved, under_evaluation or banned."
    )
    note = serializers.CharField(
        max_length=2000, help_text="Why; kept with the decision and in the history."
    )


# Versions and cards --------------------------------------------------------------------------
class ModelVersionSerializer(serializers.ModelSerializer):
    model: "serializers.PrimaryKeyRelatedField[AIModel]" = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    model_reference = serializers.CharField(source="model.reference", read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    training_data = serializers.ListField(
        child=serializers.CharField(max_length=500),
        required=False,
        help_text="Datasets or URIs it was trained on.",
    )
    evaluation = serializers.DictField(
        required=False, help_text="Evaluation results: metric name → value."
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-model-version-detail")
    stage = serializers.CharField(
        read_only=True, help_text="Moved only by POST /api/v1/model-versions/{id}/promote/."
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "model_reference",
            "model_name",
            "version",
            "artefact",
            "training_data",
            "evaluation",
            "stage",
            "stage_changed_at",
            "external_ref",
            "created_at",
            "updated_at",
            "url",
        ]
        read_only_fields = ["created_at", "updated_at", "stage_changed_at"]
        # The (model, version) pair is unique; the service's full_clean says so as a field error.
        validators: list = []

    def validate(self, attrs):
        # A stage sent with an edit is refused, not ignored: the sender must learn where the
        # stage is moved.
        sent = self.initial_data.get("stage") if isinstance(self.initial_data, dict) else None
        current = self.instance.stage if self.instance is not None else ReleaseStage.CANDIDATE
        if sent is not None and sent != current:
            where = str(self.instance.pk) if self.instance is not None else "{id}"
            raise serializers.ValidationError({"stage": STAGE_EDIT_REFUSED.replace("{id}", where)})
        return attrs


class _SectionsBase(serializers.Serializer):
    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(f"Unknown sections: {', '.join(unknown)}.")
        return super().to_internal_value(data)


# One field per section of Mitchell et al. (2019), so the schema names and explains each.
ModelCardSectionsSerializer = type(
    "ModelCardSectionsSerializer",
    (_SectionsBase,),
    {
        key: serializers.CharField(
            label=title, help_text=hint, required=False, allow_blank=True, max_length=20000
        )
        for key, title, hint in MODEL_CARD_SECTIONS
    },
)


class ModelCardSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(source="model_version_id", read_only=True)
    sections = ModelCardSectionsSerializer(
        help_text="The sections to change; sections not named keep their text."
    )
    completeness = serializers.IntegerField(
        read_only=True, help_text="Percent of sections written."
    )
    missing = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Titles of the sections to write."
    )
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


# Deployments ---------------------------------------------------------------------------------
class DeploymentSerializer(serializers.ModelSerializer):
    use_case = _VisibleUseCaseField(help_text="The id of the use case it serves.")
    use_case_reference = serializers.CharField(source="use_case.reference", read_only=True)
    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    model_reference = serializers.CharField(source="model_version.model.reference", read_only=True)
    version = serializers.CharField(source="model_version.version", read_only=True)
    previous_version: "serializers.PrimaryKeyRelatedField[ModelVersion]" = (
        serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-deployment-detail")

    class Meta:
        model = Deployment
        fields = [
            "id",
            "use_case",
            "use_case_reference",
            "model_version",
            "model_reference",
            "version",
            "previous_version",
            "environment",
            "traffic_share",
            "active",
            "created_at",
            "updated_at",
            "url",
        ]
        read_only_fields = ["active", "created_at", "updated_at"]


class DeploymentUpdateSerializer(serializers.ModelSerializer):
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), required=False
    )
    reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text="Why it changed; kept in the history.",
    )

    class Meta:
        model = Deployment
        fields = ["model_version", "environment", "traffic_share", "reason"]
        extra_kwargs = {"environment": {"required": False}}


# Approvals of a model for a use case ---------------------------------------------------------
class ModelApprovalSerializer(serializers.ModelSerializer):
    use_case = _VisibleUseCaseField(help_text="The id of the use case.")
    use_case_reference = serializers.CharField(source="use_case.reference", read_only=True)
    model = serializers.PrimaryKeyRelatedField(queryset=AIModel.objects.all())
    model_reference = serializers.CharField(source="model.reference", read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    approved_by_name = serializers.SerializerMethodField()
    url = serializers.HyperlinkedIdentityField(view_name="api-model-approval-detail")

    class Meta:
        model = ModelApproval
        fields = [
            "id",
            "use_case",
            "use_case_reference",
            "model",
            "model_reference",
            "model_name",
            "note",
            "approved_by",
            "approved_by_name",
            "approved_at",
            "url",
        ]
        read_only_fields = ["approved_by", "approved_at"]
        # One approval per pair: granting again answers the existing one.
        validators: list = []

    def get_approved_by_name(self, approval) -> str:
        return _person_name(approval.approved_by) or ""


# Data-policy exceptions ----------------------------------------------------------------------
class PolicyExceptionSerializer(serializers.ModelSerializer):
    use_case = _VisibleUseCaseField(help_text="The id of the use case.")
    use_case_reference = serializers.CharField(source="use_case.reference", read_only=True)
    data_source = _VisibleDataSourceField()
    data_source_reference = serializers.CharField(source="data_source.reference", read_only=True)
    model = serializers.PrimaryKeyRelatedField(queryset=AIModel.objects.all())
    model_reference = serializers.CharField(source="model.reference", read_only=True)
    approved_by_name = serializers.SerializerMethodField()
    url = serializers.HyperlinkedIdentityField(view_name="api-policy-exception-detail")

    class Meta:
        model = DataPolicyException
        fields = [
            "id",
            "use_case",
            "use_case_reference",
            "data_source",
            "data_source_reference",
            "model",
            "model_reference",
            "justification",
            "expires_on",
            "approved_by",
            "approved_by_name",
            "approved_at",
            "url",
        ]
        read_only_fields = ["approved_by", "approved_at"]

    def get_approved_by_name(self, exception) -> str:
        return _person_name(exception.approved_by) or ""


# The gate ------------------------------------------------------------------------------------
class GateCheckItemSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="screening, not_prohibited, dpia, impact, models, …")
    label = serializers.CharField()  # type: ignore[assignment]  # DRF pops declared fields
    holds = serializers.BooleanField()
    detail = serializers.CharField()
    applies = serializers.BooleanField(help_text="false: not required for this use case.")
    items = serializers.ListField(child=serializers.CharField())
    evidence = serializers.DictField(
        required=False,
        help_text="What the answer rests on: the signed-off assessment (with its sign-off "
        "SHA-256), the deployed models' approvals, the runbook version.",
    )


class GateResultSerializer(serializers.Serializer):
    use_case = serializers.CharField(help_text="The use case's reference, e.g. UC-0042.")
    passed = serializers.BooleanField(
        help_text="true: it may go to production. The answer is 200 either way."
    )
    checks = GateCheckItemSerializer(many=True)
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="What is missing, one line per failing check."
    )
