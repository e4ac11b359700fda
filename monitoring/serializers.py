"""Serializers of the monitoring API: they parse input and render records, no more.

Writes go through monitoring.services. Credentials are write-only: accepted on create and
update, never rendered; a push source's token appears once, in the answer that made it.
"""

from rest_framework import serializers

from monitoring import catalogue
from monitoring.models import (
    Budget,
    DistributionKind,
    Flag,
    MaterialChangeRule,
    MetricSample,
    MetricSource,
    Rule,
)
from registry.models import Deployment, UseCase
from registry.selectors import deployments_visible_to, use_cases_visible_to


class _VisibleDeploymentField(serializers.PrimaryKeyRelatedField):
    """Only deployments of use cases the person sees can be named (others "do not exist")."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return Deployment.objects.none()
        return deployments_visible_to(request.user)


class _VisibleUseCaseField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return UseCase.objects.none()
        return use_cases_visible_to(request.user)


# Sources -------------------------------------------------------------------------------------
class MetricSourceSerializer(serializers.ModelSerializer):
    deployment = _VisibleDeploymentField()
    credentials = serializers.JSONField(
        write_only=True,
        required=False,
        allow_null=True,
        help_text='Write-only. {"bearer_token": ...}, {"username": ..., "password": ...} or '
        '{"headers": {name: value}}. Absent or null keeps what is stored; {} clears it.',
    )
    has_credentials = serializers.BooleanField(read_only=True)
    token_hint = serializers.SerializerMethodField(
        help_text="The first characters of a push source's token (the token is shown once)."
    )
    healthy = serializers.BooleanField(read_only=True, allow_null=True)

    class Meta:
        model = MetricSource
        fields = [
            "id",
            "deployment",
            "name",
            "kind",
            "url",
            "config",
            "interval_seconds",
            "enabled",
            "credentials",
            "has_credentials",
            "credentials_set_at",
            "token_hint",
            "healthy",
            "last_attempt_at",
            "last_success_at",
            "last_error_at",
            "last_error",
            "last_sample_count",
            "failures_in_row",
            "next_due_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "credentials_set_at",
            "last_attempt_at",
            "last_success_at",
            "last_error_at",
            "last_error",
            "last_sample_count",
            "failures_in_row",
            "next_due_at",
            "created_at",
            "updated_at",
        ]
        # The model checks (and the service's own checks) run in the service.
        validators: list = []

    def get_token_hint(self, source) -> str | None:
        return f"{source.token_prefix}…" if source.token_prefix else None

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            # A source stays on its deployment; its kind decides what its config means.
            fields["deployment"].read_only = True
            fields["kind"].read_only = True
        return fields

    def validate(self, attrs):
        # The model's field validation (URL shape, the minimum interval) is the service's.
        return attrs


class MetricSourceCreatedSerializer(MetricSourceSerializer):
    token = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="A push source's token, in this answer only: store it now.",
    )

    class Meta(MetricSourceSerializer.Meta):
        fields = [*MetricSourceSerializer.Meta.fields, "token"]


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The new token, in this answer only.")
    token_hint = serializers.CharField()


class SampleSerializer(serializers.Serializer):
    metric = serializers.CharField()
    feature = serializers.CharField(allow_blank=True)
    at = serializers.DateTimeField()
    value = serializers.FloatField()


class SourceTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
    samples = SampleSerializer(many=True, help_text="What a pull would write now.")


# Samples -------------------------------------------------------------------------------------
class MetricSampleSerializer(serializers.ModelSerializer):
    # A declared field, taken off the class by DRF's metaclass; not Field.label.
    label = serializers.SerializerMethodField(  # type: ignore[assignment]
        help_text='The series as people read it: "Input drift — transaction amount (PSI)"; '
        "an unknown metric reads as its key."
    )
    unit = serializers.SerializerMethodField(
        help_text='What the value counts in: "ratio" (0.012 is 1.2 %), "ms", a currency '
        'code, "tokens", "%", or "" when the catalogue gives none.'
    )

    class Meta:
        model = MetricSample
        fields = ["id", "deployment", "metric", "feature", "label", "unit", "at", "value", "source"]
        read_only_fields = fields

    def get_label(self, sample) -> str:
        return catalogue.describe(sample.metric, sample.feature)

    def get_unit(self, sample) -> str:
        return catalogue.unit(sample.metric)


# Rules and flags -----------------------------------------------------------------------------
class RuleSerializer(serializers.ModelSerializer):
    use_case = _VisibleUseCaseField(
        required=False, allow_null=True, help_text="Only this use case; null for every one."
    )
    condition = serializers.CharField(read_only=True)
    # Not the model's SlugField: its pattern in the schema refused the "" a firm's own rule has.
    builtin = serializers.CharField(
        read_only=True, help_text='The key of a rule the portal ships; "" for your own rules.'
    )

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "description",
            "metric",
            "feature",
            "aggregation",
            "window_minutes",
            "comparison",
            "threshold",
            "min_samples",
            "severity",
            "action",
            "subject",
            "use_case",
            "enabled",
            "builtin",
            "condition",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["builtin", "created_at", "updated_at"]
        validators: list = []


class FlagSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(
        source="rule.name", read_only=True, allow_null=True, help_text="null for a cause's flag."
    )
    title = serializers.CharField(read_only=True, help_text="The rule's name or the reason.")
    cause_label = serializers.CharField(read_only=True)
    use_case_reference = serializers.CharField(source="use_case.reference", read_only=True)
    resolved_by_name = serializers.SerializerMethodField()
    reassessment_reference = serializers.SerializerMethodField()

    class Meta:
        model = Flag
        fields = [
            "id",
            "reference",
            "rule",
            "rule_name",
            "cause",
            "cause_label",
            "reason",
            "title",
            "subject",
            "use_case",
            "use_case_reference",
            "model_version",
            "deployment",
            "severity",
            "status",
            "evidence",
            "raised_at",
            "last_seen_at",
            "reassessment",
            "reassessment_reference",
            "resolved_at",
            "resolved_by",
            "resolved_by_name",
            "resolution",
        ]
        read_only_fields = fields

    def get_resolved_by_name(self, flag) -> str | None:
        user = flag.resolved_by
        return (user.get_full_name() or user.get_username()) if user else None

    def get_reassessment_reference(self, flag) -> str | None:
        return flag.reassessment.reference if flag.reassessment_id else None


class ResolveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="How the flag was dealt with.")


# Budgets and costs ---------------------------------------------------------------------------
class BudgetSerializer(serializers.ModelSerializer):
    use_case_reference = serializers.CharField(source="use_case.reference", read_only=True)
    spent_this_month = serializers.SerializerMethodField()

    class Meta:
        model = Budget
        fields = [
            "use_case",
            "use_case_reference",
            "monthly_amount",
            "spent_this_month",
            "updated_at",
        ]
        read_only_fields = fields

    def get_spent_this_month(self, budget) -> float:
        return float(self.context.get("spent", {}).get(budget.use_case_id, 0.0))


class BudgetSetSerializer(serializers.Serializer):
    monthly_amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        allow_null=True,
        help_text="The monthly amount; null removes the budget.",
    )


class CostRowSerializer(serializers.Serializer):
    period = serializers.DateField()
    use_case_id = serializers.IntegerField(required=False)
    deployment_id = serializers.IntegerField(required=False)
    tokens = serializers.FloatField()
    cost = serializers.FloatField()


# The push API --------------------------------------------------------------------------------
class PushSampleSerializer(serializers.Serializer):
    """For the schema only: samples are parsed by monitoring.services.samples.parse_samples,
    which names each bad sample by its index."""

    metric = serializers.CharField(help_text="e.g. error_rate, latency_ms, drift.psi")
    feature = serializers.CharField(required=False, allow_blank=True)
    at = serializers.CharField(help_text="ISO 8601 with an offset, or seconds since 1970.")
    value = serializers.FloatField()


class PushSamplesSerializer(serializers.Serializer):
    samples = PushSampleSerializer(many=True)


class PushReceivedSerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="Samples in the batch.")
    new = serializers.IntegerField(help_text="Samples not stored before (repeats are ignored).")


class PushDistributionSerializer(serializers.Serializer):
    feature = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=DistributionKind.choices)
    current = serializers.JSONField(
        help_text='Raw values [..], binned {"edges": [..], "counts": [..]}, or categories '
        '{"counts": {"a": 3}}.'
    )
    reference = serializers.JSONField(
        required=False, help_text="Sets (or replaces) the reference distribution."
    )
    # JSONField, not CharField: epoch seconds arrive as a number and must stay one.
    at = serializers.JSONField(
        required=False, help_text="ISO 8601 with an offset, or seconds since 1970; default now."
    )


class PushDistributionResultSerializer(serializers.Serializer):
    figures = serializers.DictField(
        child=serializers.FloatField(), help_text="The drift figures written as samples."
    )


class MaterialRuleSerializer(serializers.ModelSerializer):
    # Not the model's SlugField: its pattern in the schema refused the "" a firm's own rule has.
    builtin = serializers.CharField(
        read_only=True, help_text='The key of a rule the portal ships; "" for your own rules.'
    )
    cause = serializers.CharField(read_only=True, help_text="The cause of the flags it raises.")
    condition_text = serializers.CharField(read_only=True)

    class Meta:
        model = MaterialChangeRule
        fields = [
            "id",
            "name",
            "description",
            "change",
            "condition",
            "value",
            "condition_text",
            "severity",
            "start_draft",
            "enabled",
            "builtin",
            "cause",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["builtin", "created_at", "updated_at"]
        validators: list = []


class SupersededSerializer(serializers.Serializer):
    """An assessment signed off on an older version of a template."""

    assessment = serializers.CharField(source="reference")
    template_version = serializers.IntegerField(source="template.version")
    use_case = serializers.IntegerField(source="use_case_id")
    use_case_reference = serializers.CharField(source="use_case.reference")
    valid_until = serializers.DateField(allow_null=True)
    already_flagged = serializers.BooleanField()
    can_flag = serializers.BooleanField()


class TemplateChangeFlagSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=500, default="", help_text="Added to why."
    )
