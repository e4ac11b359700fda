"""The register's records over REST: what the API reads and renders for use cases, data
sources and business units. Serializers parse input and render; the services write."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from portal.api import datetimes
from registry import services
from registry.models import BusinessUnit, DataSource, PeopleAffected, UseCase
from registry.selectors import data_sources_visible_to

User = get_user_model()


def _person_name(user) -> str:
    return user.get_full_name() or user.get_username()


# Where the API's querysets put a use case's data-source ids (one array per row, read in the
# same query as the row: registry/api/use_cases.py), instead of a prefetch of the relation.
SOURCE_IDS = "data_source_ids"

# Where the list's queryset puts each row's unit name and owner's names (registry/api/
# use_cases.py): columns of the row, read without making a unit and a person for each row.
# The unit's name; the owner's first name, last name and username.
LISTED_NAMES = ("listed_unit", "listed_owner")


def _unit_and_owner(use_case) -> tuple[str, str]:
    """The unit's name and the owner's name: from the row's own columns where the list read
    them (LISTED_NAMES), else from the unit and the person."""
    if not hasattr(use_case, "listed_unit"):
        return use_case.business_unit.name, _person_name(use_case.owner)
    first, last, username = use_case.listed_owner
    # As User.get_full_name, else the username (_person_name).
    return use_case.listed_unit, f"{first} {last}".strip() or username


# The output format of the declared date fields, shared by the hand-written representation
# below (it holds no state).
_DATE = serializers.DateField()


def _datetime(serializer: serializers.BaseSerializer, value):
    return None if value is None else datetimes(serializer).to_representation(value)


def _listed(value):
    return None if value is None else list(value)


def _record_url(serializer, view_name: str, pk) -> str:
    """The record's API address, as ``RecordUrlField`` gives it, reversed once per response."""
    request = serializer.context.get("request")
    fmt = serializer.context.get("format")
    key = (view_name, fmt, id(request))
    cached = getattr(serializer, "_url_template", None)
    if cached is None or cached[0] != key:
        stand_in = RecordUrlField.STAND_IN
        url = reverse(view_name, kwargs={"pk": stand_in}, request=request, format=fmt)
        cached = (key, *url.rsplit(str(stand_in), 1))
        serializer._url_template = cached
    _key, head, tail = cached
    return f"{head}{pk}{tail}"


class RecordUrlField(serializers.HyperlinkedIdentityField):
    """A record's API address, reversed once per response rather than once per row.

    The first row's address is reversed with a stand-in id; each row then puts its own id in
    its place (the same string ``reverse`` would give, at a fraction of the cost)."""

    STAND_IN = 918273645

    def get_url(self, obj, view_name, request, format):
        if self.lookup_field != "pk" or getattr(obj, "pk", None) in (None, ""):
            return super().get_url(obj, view_name, request, format)
        key = (view_name, format, id(request))
        cached = getattr(self, "_url_template", None)
        if cached is None or cached[0] != key:
            url = self.reverse(
                view_name,
                kwargs={self.lookup_url_kwarg: self.STAND_IN},
                request=request,
                format=format,
            )
            cached = (key, *url.rsplit(str(self.STAND_IN), 1))
            self._url_template = cached
        _key, head, tail = cached
        return f"{head}{obj.pk}{tail}"


class _VisibleDataSourceField(serializers.PrimaryKeyRelatedField):
    """Only data sources the requesting person may see can be chosen."""

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return DataSource.objects.none()
        return data_sources_visible_to(request.user)


class UseCaseSerializer(serializers.ModelSerializer):
    business_unit = serializers.PrimaryKeyRelatedField(queryset=BusinessUnit.objects.all())
    business_unit_name = serializers.CharField(source="business_unit.name", read_only=True)
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    owner_name = serializers.SerializerMethodField()
    people_affected = serializers.ListField(
        child=serializers.ChoiceField(choices=PeopleAffected.choices),
        allow_empty=False,
        help_text="Everyone whose life or work the AI's output touches.",
    )
    data_sources = _VisibleDataSourceField(many=True, required=False)
    change_reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text="Why it changed; kept in the history (an edit summary is used if empty).",
    )
    url = RecordUrlField(view_name="api-use-case-detail")

    class Meta:
        model = UseCase
        fields = [
            "id",
            "reference",
            "title",
            "purpose",
            "business_unit",
            "business_unit_name",
            "owner",
            "owner_name",
            "lifecycle",
            "risk_tier",
            "people_affected",
            "decision_impact",
            "human_oversight",
            "data_sources",
            "next_review_date",
            "needs_reassessment",
            "reassessment_reasons",
            "kill_switch_engaged",
            "created_at",
            "updated_at",
            "url",
            "change_reason",
        ]
        read_only_fields = [
            "reference",
            "lifecycle",
            "risk_tier",
            "needs_reassessment",
            "reassessment_reasons",
            "kill_switch_engaged",
            "created_at",
            "updated_at",
        ]

    def get_owner_name(self, use_case) -> str:
        return _person_name(use_case.owner)

    def to_representation(self, use_case) -> dict:
        """The fields above, read straight off the row.

        DRF's generic rendering asks each of the twenty-odd fields in turn (and builds them
        from the model first), the larger part of a list's time; this gives the same JSON
        (tests/registry/test_api.py compares the two) at a fraction of the cost. A field
        added to Meta.fields must be added here too: the comparison fails until it is.
        """
        sources = getattr(use_case, SOURCE_IDS, None)
        if sources is None:
            sources = [] if use_case.pk is None else [s.pk for s in use_case.data_sources.all()]
        unit_name, owner_name = _unit_and_owner(use_case)
        return {
            "id": use_case.pk,
            "reference": use_case.reference,
            "title": use_case.title,
            "purpose": use_case.purpose,
            "business_unit": use_case.business_unit_id,
            "business_unit_name": unit_name,
            "owner": use_case.owner_id,
            "owner_name": owner_name,
            "lifecycle": use_case.lifecycle,
            "risk_tier": use_case.risk_tier,
            "people_affected": _listed(use_case.people_affected),
            "decision_impact": use_case.decision_impact,
            "human_oversight": use_case.human_oversight,
            "data_sources": sources,
            "next_review_date": _DATE.to_representation(use_case.next_review_date),
            "needs_reassessment": use_case.needs_reassessment,
            "reassessment_reasons": use_case.reassessment_reasons,
            "kill_switch_engaged": use_case.kill_switch_engaged,
            "created_at": _datetime(self, use_case.created_at),
            "updated_at": _datetime(self, use_case.updated_at),
            "url": None
            if use_case.pk is None
            else _record_url(self, "api-use-case-detail", use_case.pk),
        }

    def service_data(self) -> dict:
        data = dict(self.validated_data)
        data.pop("change_reason", None)
        return data


class TransitionSerializer(serializers.Serializer):
    action = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # DRF pops declared fields
    target = serializers.CharField()
    reason_required = serializers.BooleanField()


class FlagRaisedSerializer(serializers.Serializer):
    """A flag a material change raised (registry/changes.py); read-only."""

    use_case = serializers.IntegerField()
    reference = serializers.CharField()
    cause = serializers.CharField()
    reason = serializers.CharField()
    severity = serializers.CharField()
    url = serializers.CharField(help_text="The flag's page.")
    reassessment = serializers.CharField(
        allow_null=True, help_text="The re-assessment draft it started, if the rule starts one."
    )


def _flags_raised(record) -> list[dict]:
    return list(getattr(record, "flags_raised", []))


class UseCaseDetailSerializer(UseCaseSerializer):
    available_transitions = serializers.SerializerMethodField()
    flags_raised = serializers.SerializerMethodField(
        help_text="On an edit: the flags this change raised (a material change); else []."
    )

    class Meta(UseCaseSerializer.Meta):
        fields = [*UseCaseSerializer.Meta.fields, "available_transitions", "flags_raised"]

    @extend_schema_field(FlagRaisedSerializer(many=True))
    def get_flags_raised(self, use_case) -> list[dict]:
        return _flags_raised(use_case)

    def to_representation(self, use_case) -> dict:
        data = super().to_representation(use_case)
        data["available_transitions"] = self.get_available_transitions(use_case)
        data["flags_raised"] = self.get_flags_raised(use_case)
        return data

    @extend_schema_field(TransitionSerializer(many=True))
    def get_available_transitions(self, use_case) -> list[dict]:
        request = self.context["request"]
        return [
            {
                "action": name,
                "label": t.label,
                "target": t.target,
                "reason_required": t.reason_required,
            }
            for name, t in services.available_transitions(use_case, request.user)
        ]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class KillSwitchSerializer(ReasonSerializer):
    engaged = serializers.BooleanField(help_text="true switches the AI off; false back on.")


class DataSourceSerializer(serializers.ModelSerializer):
    business_unit = serializers.PrimaryKeyRelatedField(queryset=BusinessUnit.objects.all())
    business_unit_name = serializers.CharField(source="business_unit.name", read_only=True)
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    owner_name = serializers.SerializerMethodField()
    url = RecordUrlField(view_name="api-data-source-detail")
    flags_raised = serializers.SerializerMethodField(
        help_text="On an edit: the flags this change raised on the use cases using it; else []."
    )

    class Meta:
        model = DataSource
        fields = [
            "id",
            "reference",
            "name",
            "description",
            "business_unit",
            "business_unit_name",
            "owner",
            "owner_name",
            "classification",
            "personal_data",
            "allowed_destination",
            "retention_days",
            "retention_notes",
            "created_at",
            "updated_at",
            "url",
            "flags_raised",
        ]
        read_only_fields = ["reference", "created_at", "updated_at"]

    def get_owner_name(self, source) -> str:
        return _person_name(source.owner)

    @extend_schema_field(FlagRaisedSerializer(many=True))
    def get_flags_raised(self, source) -> list[dict]:
        return _flags_raised(source)


class BusinessUnitSerializer(serializers.ModelSerializer):
    members = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=User.objects.filter(is_active=True)
    )
    url = serializers.HyperlinkedIdentityField(view_name="api-business-unit-detail")

    class Meta:
        model = BusinessUnit
        fields = ["id", "name", "code", "description", "members", "created_at", "updated_at", "url"]
        read_only_fields = ["created_at", "updated_at"]
