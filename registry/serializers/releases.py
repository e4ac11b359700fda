"""Serializers of releases: promotion requests and approvals, evaluation records and findings,
model tokens and release policies. They parse and render; registry/services/releases.py
decides and writes."""

from rest_framework import serializers

from portal.limits import plausible_moment
from registry.models import (
    ApproverRole,
    Decision,
    EvaluationFinding,
    EvaluationRecord,
    FindingKind,
    FindingStatus,
    ModelToken,
    PromotionApproval,
    PromotionRequest,
    ReleasePolicy,
    ReleaseStage,
    Severity,
)


def _name(user) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.username


class PromoteSerializer(serializers.Serializer):
    to_stage = serializers.ChoiceField(choices=ReleaseStage.choices)
    reason = serializers.CharField(max_length=2000, help_text="Why it moves; kept on the record.")
    evidence = serializers.CharField(
        max_length=20000,
        required=False,
        allow_blank=True,
        help_text="Links to test runs, reports, dashboards.",
    )
    traffic_share = serializers.IntegerField(
        min_value=0,
        max_value=100,
        required=False,
        allow_null=True,
        help_text="Into canary: its share of traffic (%), at most the tier's cap.",
    )


class DecisionSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, help_text="Required to reject."
    )


class ReasonOnlySerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class PromotionApprovalSerializer(serializers.ModelSerializer):
    approver_name = serializers.SerializerMethodField()

    class Meta:
        model = PromotionApproval
        fields = ["id", "approver", "approver_name", "role", "decision", "note", "decided_at"]
        read_only_fields = fields

    def get_approver_name(self, obj) -> str | None:
        return _name(obj.approver)


class PromotionRequestSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="model_version.version", read_only=True)
    model = serializers.IntegerField(source="model_version.model_id", read_only=True)
    requested_by_name = serializers.SerializerMethodField()
    approvals = PromotionApprovalSerializer(many=True, read_only=True)
    waiting_for = serializers.SerializerMethodField()

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "model_version",
            "model",
            "version",
            "kind",
            "from_stage",
            "to_stage",
            "traffic_share",
            "reason",
            "evidence",
            "tier",
            "required_approvers",
            "waiting_for",
            "status",
            "requested_by",
            "requested_by_name",
            "requested_at",
            "decided_at",
            "approvals",
        ]
        read_only_fields = fields

    def get_requested_by_name(self, obj) -> str | None:
        return _name(obj.requested_by)

    def get_waiting_for(self, obj) -> list[str]:
        if not obj.is_pending:
            return []
        done = [a.role for a in obj.approvals.all() if a.decision == Decision.APPROVE]
        left = list(obj.required_approvers)
        for role in done:
            if role in left:
                left.remove(role)
        return left


class MetricSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    value = serializers.FloatField()
    threshold = serializers.FloatField(required=False, allow_null=True)
    direction = serializers.ChoiceField(
        choices=["min", "max"],
        required=False,
        help_text="min: the value must be at least the threshold; max: at most.",
    )


class FairnessSerializer(serializers.Serializer):
    attribute = serializers.CharField(max_length=120, help_text="e.g. sex, age.")
    group = serializers.CharField(max_length=120, help_text="e.g. female, 65+.")
    metric = serializers.CharField(max_length=120, help_text="e.g. recall, approval_rate.")
    value = serializers.FloatField()
    threshold = serializers.FloatField(help_text="The largest gap allowed.")
    gap = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="Distance from the best group; computed when left out.",
    )


class FindingInSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=FindingKind.choices, required=False)
    title = serializers.CharField(max_length=300)
    severity = serializers.ChoiceField(choices=Severity.choices)
    status = serializers.ChoiceField(choices=FindingStatus.choices, required=False)
    detail = serializers.CharField(max_length=20000, required=False, allow_blank=True)


class EvaluationFindingSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvaluationFinding
        fields = [
            "id",
            "evaluation",
            "model_version",
            "kind",
            "title",
            "severity",
            "status",
            "detail",
            "updated_at",
        ]
        read_only_fields = fields


class EvaluationRecordSerializer(serializers.ModelSerializer):
    """In: name, dataset, metrics, fairness, findings, notes, ran_at. Out: the record with
    pass or fail worked out per metric and group."""

    metrics = MetricSerializer(many=True, required=False)
    fairness = FairnessSerializer(many=True, required=False)
    findings = FindingInSerializer(many=True, required=False, write_only=True)
    finding_records = EvaluationFindingSerializer(source="findings", many=True, read_only=True)
    ran_by_name = serializers.CharField(read_only=True)
    # From 2000 to 2099: a far older moment has a local-mean-time offset (-00:01:15) that no
    # ISO 8601 reader accepts back (portal/limits.py).
    ran_at = serializers.DateTimeField(required=False, validators=[plausible_moment])

    class Meta:
        model = EvaluationRecord
        fields = [
            "id",
            "model_version",
            "name",
            "dataset",
            "metrics",
            "fairness",
            "findings",
            "finding_records",
            "notes",
            "source",
            "ran_by",
            "ran_by_name",
            "ran_at",
            "external_ref",
            "passed",
            "created_at",
        ]
        read_only_fields = [
            "model_version",
            "source",
            "ran_by",
            "external_ref",
            "passed",
            "created_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # What was stored, pass or fail included (the input serializers drop those keys).
        data["metrics"] = instance.metrics
        data["fairness"] = instance.fairness
        return data


class FindingStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=FindingStatus.choices)
    note = serializers.CharField(max_length=2000)


class ModelTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelToken
        fields = ["id", "model", "name", "token_prefix", "created_at", "revoked_at", "last_used_at"]
        read_only_fields = ["id", "model", "token_prefix", "created_at", "revoked_at"]


class ReleasePolicySerializer(serializers.ModelSerializer):
    approvers = serializers.ListField(
        child=serializers.ChoiceField(choices=ApproverRole.choices), required=False
    )
    protected_groups = serializers.ListField(
        child=serializers.CharField(max_length=120), required=False
    )

    class Meta:
        model = ReleasePolicy
        fields = [
            "id",
            "tier",
            "approvers",
            "min_shadow_hours",
            "min_canary_hours",
            "canary_max_traffic",
            "require_evaluation",
            "require_fairness",
            "protected_groups",
            "blocking_severity",
            "updated_at",
        ]
        read_only_fields = ["id", "tier", "updated_at"]
