"""People in the API: admins list, invite, edit roles and units, deactivate and reactivate,
through the same services as the pages. Everyone else is refused (403)."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from people import services
from people.selectors import with_details
from people.serializers import (
    PersonAccountSerializer,
    PersonInviteSerializer,
    PersonReasonSerializer,
    PersonUpdateSerializer,
)
from portal.api_views import RecordViewSet

User = get_user_model()
MANAGE = "people.manage"


@extend_schema(tags=["people"])
@extend_schema_view(
    list=extend_schema(summary="People (admins)"),
    retrieve=extend_schema(summary="One person (admins)"),
    create=extend_schema(
        summary="Invite someone: creates them without a password and emails a link",
        request=PersonInviteSerializer,
        responses={201: PersonAccountSerializer},
    ),
    partial_update=extend_schema(
        summary="Change names, email, roles or business units (with a reason)",
        request=PersonUpdateSerializer,
        responses={200: PersonAccountSerializer},
    ),
)
class PersonViewSet(mixins.CreateModelMixin, RecordViewSet):
    serializer_class = PersonAccountSerializer
    action_rules = {
        "list": MANAGE,
        "retrieve": MANAGE,
        "create": MANAGE,
        "partial_update": MANAGE,
        "deactivate": MANAGE,
        "reactivate": MANAGE,
        "invitation": MANAGE,
    }
    filter_backends: list = []

    def get_queryset(self):
        return with_details(User.objects.all()).order_by("pk")

    def _answer(self, person, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=person.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    def create(self, request, *args, **kwargs):
        data = PersonInviteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        person = services.person_invite(
            actor=request.user,
            email=values["email"],
            first_name=values.get("first_name", ""),
            last_name=values.get("last_name", ""),
            username=values.get("username", ""),
            roles=values.get("roles", []),
            units=values.get("business_units", []),
            reason=values.get("reason", ""),
        )
        return self._answer(person, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        person = self.get_object()
        data = PersonUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        fields = {k: values[k] for k in ("first_name", "last_name", "email") if k in values}
        services.person_update(
            actor=request.user,
            person=person,
            reason=values.get("reason", ""),
            roles=values.get("roles"),
            units=values.get("business_units"),
            **fields,
        )
        return self._answer(person)

    @extend_schema(
        summary="Deactivate (not yourself, not the last admin)",
        request=PersonReasonSerializer,
        responses={200: PersonAccountSerializer},
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        person = self.get_object()
        data = PersonReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.person_deactivate(
            actor=request.user, person=person, reason=data.validated_data["reason"]
        )
        return self._answer(person)

    @extend_schema(
        summary="Reactivate",
        request=PersonReasonSerializer,
        responses={200: PersonAccountSerializer},
    )
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        person = self.get_object()
        data = PersonReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.person_reactivate(
            actor=request.user, person=person, reason=data.validated_data["reason"]
        )
        return self._answer(person)

    @extend_schema(
        summary="Send a new invitation (earlier links stop working)",
        request=None,
        responses={200: PersonAccountSerializer},
    )
    @action(detail=True, methods=["post"])
    def invitation(self, request, pk=None):
        person = self.get_object()
        services.invitation_resend(actor=request.user, person=person)
        return self._answer(person)


def register(router) -> None:
    router.register("people", PersonViewSet, basename="api-person")
