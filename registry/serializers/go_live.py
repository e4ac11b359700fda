"""The go-live record as JSON: one shape for the page's export and the API."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.gate import person
from registry.models import GoLiveRecord, ModelVersion


def _version(version: ModelVersion | None) -> dict | None:
    if version is None:
        return None
    model = version.model
    return {
        "id": version.pk,
        "version": version.version,
        "model": {"id": model.pk, "reference": model.reference, "name": model.name},
    }


class GoLiveRecordSerializer(serializers.ModelSerializer):
    use_case_reference = serializers.CharField(source="use_case.reference", read_only=True)
    moved_by = serializers.SerializerMethodField(help_text="id, username, name; null: the system.")
    model_version = serializers.SerializerMethodField(help_text="The version that went live.")
    previous_version = serializers.SerializerMethodField(help_text="The version it replaced.")
    gate_check = serializers.SerializerMethodField(help_text="The gate's logged answer.")
    checks = serializers.JSONField(
        help_text="Every check of the gate at the move: key, label, holds, detail, applies, "
        "items, and evidence (signed-off assessments with their sign-off SHA-256, model "
        "approvals, the runbook version)."
    )
    page = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = GoLiveRecord
        fields = [
            "id",
            "use_case",
            "use_case_reference",
            "kind",
            "action",
            "moved_by",
            "moved_at",
            "lifecycle_from",
            "lifecycle_to",
            "deployment",
            "environment",
            "model_version",
            "previous_version",
            "traffic_share",
            "gate_check",
            "passed",
            "checks",
            "reason",
            "page",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_moved_by(self, record: GoLiveRecord) -> dict | None:
        return person(record.moved_by)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_model_version(self, record: GoLiveRecord) -> dict | None:
        return _version(record.model_version)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_previous_version(self, record: GoLiveRecord) -> dict | None:
        return _version(record.previous_version)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_gate_check(self, record: GoLiveRecord) -> dict | None:
        logged = record.gate_check
        if logged is None:
            return None
        asked_at = serializers.DateTimeField().to_representation(logged.asked_at)
        return {"id": logged.pk, "asked_at": asked_at, "source": logged.source}
