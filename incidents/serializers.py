"""Serializers of the incidents API: they parse input and render records, no more.

Writes go through incidents.services. A kill-switch token and a webhook's signing secret
appear once, in the answer that made them.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from incidents.models import (
    Delivery,
    DetectedBy,
    EntryKind,
    Incident,
    KillSwitchToken,
    Runbook,
    SeriousHarm,
    Severity,
    TimelineEntry,
    WebhookEndpoint,
)
from incidents.services.deadlines import deadlines
from monitoring.models import Flag
from portal.limits import LONG_TEXT, SHORT_TEXT, plausible_moment
from registry.models import BusinessUnit, ModelVersion, UseCase
from registry.selectors import model_versions_visible_to, possible_owners


def _person(user) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.username


@extend_schema_field(OpenApiTypes.STR)
class PersonField(serializers.Field):
    """A person as their name (read-only)."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value):
        return _person(value)


# Runbooks ------------------------------------------------------------------------------------
class ContactSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, required=False, max_length=200)
    role = serializers.CharField(allow_blank=True, required=False, max_length=200)
    email = serializers.CharField(allow_blank=True, required=False, max_length=254)
    phone = serializers.CharField(allow_blank=True, required=False, max_length=60)


class RunbookSerializer(serializers.ModelSerializer):
    use_case: "serializers.SlugRelatedField[UseCase]" = serializers.SlugRelatedField(
        slug_field="reference", read_only=True
    )
    contacts = ContactSerializer(many=True, read_only=True, help_text="First called first.")
    updated_by = PersonField()
    review_due = serializers.DateTimeField(read_only=True)

    class Meta:
        model = Runbook
        fields = [
            "use_case",
            "version",
            "disable_who",
            "disable_how",
            "rollback_how",
            "fallback",
            "communicate_users",
            "communicate_dpo",
            "communicate_regulators",
            "contacts",
            "reviewed_at",
            "review_due",
            "updated_by",
            "updated_at",
        ]
        read_only_fields = fields


class RunbookWriteSerializer(serializers.Serializer):
    """A whole runbook: saved as a new version when it differs, as a confirmation when not."""

    disable_who = serializers.CharField(allow_blank=True, max_length=LONG_TEXT)
    disable_how = serializers.CharField(allow_blank=True, max_length=LONG_TEXT)
    rollback_how = serializers.CharField(allow_blank=True, max_length=LONG_TEXT)
    fallback = serializers.CharField(allow_blank=True, max_length=LONG_TEXT)
    communicate_users = serializers.CharField(
        allow_blank=True, required=False, default="", max_length=LONG_TEXT
    )
    communicate_dpo = serializers.CharField(
        allow_blank=True, required=False, default="", max_length=LONG_TEXT
    )
    communicate_regulators = serializers.CharField(
        allow_blank=True, required=False, default="", max_length=LONG_TEXT
    )
    contacts = ContactSerializer(many=True, help_text="In escalation order, first called first.")


# Incidents -----------------------------------------------------------------------------------
class DeadlineSerializer(serializers.Serializer):
    key = serializers.ChoiceField(choices=["ai_act", "gdpr"])
    label = serializers.CharField()  # type: ignore[assignment]  # DRF pops declared fields
    basis = serializers.CharField(help_text="The provision and its period.")
    due_at = serializers.DateTimeField()
    reported_at = serializers.DateTimeField(allow_null=True)
    state = serializers.ChoiceField(choices=["met", "met_late", "overdue", "near", "open"])


class IncidentSerializer(serializers.ModelSerializer):
    use_case: "serializers.SlugRelatedField[UseCase]" = serializers.SlugRelatedField(
        slug_field="reference", read_only=True
    )
    flag: "serializers.SlugRelatedField[Flag]" = serializers.SlugRelatedField(
        slug_field="reference", read_only=True, allow_null=True
    )
    owner_name = serializers.SerializerMethodField()
    opened_by = PersonField()
    review_written = serializers.BooleanField(read_only=True)
    deadlines = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "description",
            "use_case",
            "model_version",
            "detected_by",
            "flag",
            "severity",
            "status",
            "owner",
            "owner_name",
            "aware_at",
            "serious_harm",
            "personal_data_breach",
            "regulator_reported_at",
            "dpa_reported_at",
            "deadlines",
            "review_cause",
            "review_impact",
            "review_changes",
            "review_written",
            "opened_by",
            "opened_at",
            "closed_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_owner_name(self, incident) -> str:
        return _person(incident.owner) or ""

    @extend_schema_field(DeadlineSerializer(many=True))
    def get_deadlines(self, incident):
        return DeadlineSerializer(deadlines(incident, now=self.context.get("now")), many=True).data


@extend_schema_field(OpenApiTypes.INT)
class _OwnerField(serializers.PrimaryKeyRelatedField):
    """An owner by id, among the people who may own records (active members of a unit), as
    the page's form offers. The service then checks they see the use case; neither answer
    names the person, so an id typed in does not tell who it is."""

    def get_queryset(self):
        return possible_owners()


@extend_schema_field(OpenApiTypes.INT)
class _ModelVersionField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return ModelVersion.objects.none()
        return model_versions_visible_to(request.user)


class IncidentCreateSerializer(serializers.Serializer):
    use_case = serializers.CharField(
        max_length=40, help_text="The use case's id or reference (UC-0042)."
    )
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=Severity.choices)
    detected_by = serializers.ChoiceField(choices=DetectedBy.choices, default=DetectedBy.STAFF)
    description = serializers.CharField(
        allow_blank=True, required=False, default="", max_length=LONG_TEXT
    )
    owner = _OwnerField(required=False, allow_null=True, help_text="Default: the use case's owner.")
    model_version = _ModelVersionField(required=False, allow_null=True)
    aware_at = serializers.DateTimeField(
        validators=[plausible_moment],
        required=False,
        allow_null=True,
        help_text="When the firm became aware; default now.",
    )
    serious_harm = serializers.ChoiceField(
        choices=SeriousHarm.choices, required=False, allow_blank=True, default=""
    )
    personal_data_breach = serializers.BooleanField(required=False, default=False)


class IncidentUpdateSerializer(serializers.Serializer):
    """The fields a PATCH may change; a severity change is logged and announced."""

    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(allow_blank=True, required=False, max_length=LONG_TEXT)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    owner = _OwnerField(required=False)
    aware_at = serializers.DateTimeField(required=False, validators=[plausible_moment])
    serious_harm = serializers.ChoiceField(
        choices=SeriousHarm.choices, required=False, allow_blank=True
    )
    personal_data_breach = serializers.BooleanField(required=False)
    regulator_reported_at = serializers.DateTimeField(
        required=False, allow_null=True, validators=[plausible_moment]
    )
    dpa_reported_at = serializers.DateTimeField(
        required=False, allow_null=True, validators=[plausible_moment]
    )


class TransitionSerializer(serializers.Serializer):
    note = serializers.CharField(
        allow_blank=True, required=False, default="", max_length=SHORT_TEXT
    )


class NoteSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=5000)


class ReviewSerializer(serializers.Serializer):
    cause = serializers.CharField(allow_blank=True, max_length=LONG_TEXT)
    impact = serializers.CharField(allow_blank=True, max_length=LONG_TEXT)
    changes = serializers.CharField(
        allow_blank=True, max_length=LONG_TEXT, help_text="What changed as a result."
    )


class KillSwitchActionSerializer(serializers.Serializer):
    engaged = serializers.BooleanField(help_text="true switches the AI off, false back on.")
    reason = serializers.CharField(max_length=SHORT_TEXT)


class RollbackSerializer(serializers.Serializer):
    deployment = serializers.IntegerField(help_text="A deployment of the incident's use case.")
    reason = serializers.CharField(max_length=SHORT_TEXT)


class ReassessmentSerializer(serializers.Serializer):
    assessment = serializers.CharField(help_text="The new re-assessment draft's reference.")


class TimelineEntrySerializer(serializers.ModelSerializer):
    actor = PersonField()
    kind = serializers.ChoiceField(choices=EntryKind.choices, read_only=True)

    class Meta:
        model = TimelineEntry
        fields = ["id", "at", "actor", "kind", "text", "data"]
        read_only_fields = fields


# Kill-switch tokens --------------------------------------------------------------------------
class KillSwitchTokenSerializer(serializers.ModelSerializer):
    use_case: "serializers.SlugRelatedField[UseCase]" = serializers.SlugRelatedField(
        slug_field="reference", read_only=True
    )
    created_by = PersonField()

    class Meta:
        model = KillSwitchToken
        fields = [
            "id",
            "use_case",
            "name",
            "token_prefix",
            "created_by",
            "created_at",
            "revoked_at",
            "last_polled_at",
        ]
        read_only_fields = fields


class KillSwitchTokenCreateSerializer(serializers.Serializer):
    use_case = serializers.CharField(
        max_length=40, help_text="The use case's id or reference (UC-0042)."
    )
    name = serializers.CharField(max_length=120, help_text="The deployed system that polls.")


class KillSwitchTokenCreatedSerializer(KillSwitchTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="In this answer only: store it now.")

    class Meta(KillSwitchTokenSerializer.Meta):
        fields = [*KillSwitchTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


# Webhooks ------------------------------------------------------------------------------------
class WebhookEndpointSerializer(serializers.ModelSerializer):
    created_by = PersonField()

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "name", "url", "business_unit", "active", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]


class WebhookEndpointCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    url = serializers.CharField(max_length=500)
    business_unit = serializers.PrimaryKeyRelatedField(
        queryset=BusinessUnit.objects.all(),
        required=False,
        allow_null=True,
        help_text="Only this unit's events; empty for every unit.",
    )


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (whsec_...), in this answer only."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookActiveSerializer(serializers.Serializer):
    active = serializers.BooleanField(help_text="false pauses the endpoint, true resumes it.")


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "message_id",
            "event",
            "created_at",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "last_status",
            "last_error",
        ]
        read_only_fields = fields
