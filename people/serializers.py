from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from people.selectors import assignable_groups, newest_invitation, person_status
from registry.models import BusinessUnit

User = get_user_model()


class _RoleField(serializers.SlugRelatedField):
    """A role by its name; a name with a NUL character names no role (PostgreSQL refuses NUL
    in a query, from a form body as much as from JSON)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value="(a NUL character)")
        return super().to_internal_value(data)


def _roles_field(**kwargs):
    return _RoleField(many=True, slug_field="name", queryset=assignable_groups(), **kwargs)


def _units_field(**kwargs):
    return serializers.PrimaryKeyRelatedField(
        many=True, queryset=BusinessUnit.objects.all(), **kwargs
    )


class PersonInvitationSerializer(serializers.Serializer):
    sent_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    withdrawn_at = serializers.DateTimeField(allow_null=True)
    state = serializers.SerializerMethodField()

    def get_state(self, obj) -> str:
        return obj.state().value


class PersonAccountSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()
    business_units = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    invitation = serializers.SerializerMethodField()
    url = serializers.HyperlinkedIdentityField(view_name="api-person-detail")

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_active",
            "status",
            "roles",
            "business_units",
            "invitation",
            "last_login",
            "date_joined",
            "url",
        ]
        read_only_fields = fields

    def get_roles(self, obj) -> list[str]:
        return sorted(g.name for g in obj.groups.all())

    def get_business_units(self, obj) -> list[int]:
        return sorted(u.pk for u in obj.business_units.all())

    def get_status(self, obj) -> str:
        return person_status(obj)

    @extend_schema_field(PersonInvitationSerializer(allow_null=True))
    def get_invitation(self, obj) -> dict | None:
        invitation = newest_invitation(obj)
        return PersonInvitationSerializer(invitation).data if invitation else None


class PersonInviteSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    username = serializers.CharField(
        max_length=150, required=False, allow_blank=True, help_text="Defaults to the email."
    )
    roles = _roles_field(required=False, help_text="Role or reviewer group names.")
    business_units = _units_field(required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class PersonUpdateSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False)
    roles = _roles_field(required=False, help_text="The full list: replaces the current one.")
    business_units = _units_field(required=False, help_text="The full list.")
    reason = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="Needed when anything changes."
    )


class PersonReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
