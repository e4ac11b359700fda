"""The API's notifications: each person lists and marks read their own (another person's
answers 404, as a missing one does)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from portal import notify
from portal.api_views import RecordViewSet
from portal.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    read = serializers.BooleanField(source="is_read", read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "subject", "body", "url", "created_at", "read", "read_at"]
        read_only_fields = fields


class NotificationViewSet(RecordViewSet):
    """``GET /api/v1/notifications/`` (``?unread=true`` for the unread only), one by id,
    ``POST .../<id>/read/`` and ``POST .../read-all/``."""

    serializer_class = NotificationSerializer
    # Everything is filtered to the person asking, so no rule beyond being signed in.
    action_rules = {"list": None, "retrieve": None, "read": None, "read_all": None}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema is drawn with nobody signed in
            return Notification.objects.none()
        qs = Notification.objects.filter(recipient=self.request.user)
        if self.request.query_params.get("unread") in ("true", "1", "yes"):
            qs = qs.filter(read_at__isnull=True)
        return qs

    @extend_schema(
        parameters=[OpenApiParameter("unread", bool, description="Only the unread notifications.")]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = self.get_object()
        notify.mark_read(notification)
        return Response(NotificationSerializer(notification).data)

    @extend_schema(
        request=None,
        responses=inline_serializer("NotificationsMarked", {"marked": serializers.IntegerField()}),
    )
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        marked = notify.mark_all_read(request.user)
        return Response({"marked": marked}, status=status.HTTP_200_OK)
