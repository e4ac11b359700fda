"""History endpoints of the REST API: a record's versions, and a comparison of two of them.

The same registry, selectors and change builder as the history pages; a record the person
may not view answers 404, exactly like one that does not exist.
"""

from django.http import Http404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from portal.history.changes import build_versions, compare
from portal.history.selectors import versions_of
from portal.history.tracked import HISTORY_REGISTRY, access_history_record


# Serializers ---------------------------------------------------------------------------------
class HistoryFieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field's name.")
    label = serializers.CharField(help_text="The field's readable name.")
    old = serializers.CharField(allow_blank=True, help_text="Readable value before.")
    new = serializers.CharField(allow_blank=True, help_text="Readable value after.")
    many = serializers.BooleanField(help_text="True for a list of related records.")
    added = serializers.ListField(child=serializers.CharField(), help_text="Items added.")
    removed = serializers.ListField(child=serializers.CharField(), help_text="Items removed.")


class HistoryVersionSummarySerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    date = serializers.DateTimeField()
    user_id = serializers.IntegerField(allow_null=True)
    user = serializers.CharField(source="user_label", help_text='Name, or "System".')
    change_type = serializers.CharField(help_text="+ created, ~ changed, - deleted.")
    change_type_label = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)


class HistoryVersionSerializer(HistoryVersionSummarySerializer):
    changes = HistoryFieldChangeSerializer(
        many=True,
        help_text="What changed from the previous version (for the first: the "
        "values it was created with).",
    )


class HistoryCompareQuerySerializer(serializers.Serializer):
    a = serializers.IntegerField(min_value=1, help_text="history_id of one version.")
    b = serializers.IntegerField(min_value=1, help_text="history_id of another version.")

    def validate(self, data):
        if data["a"] == data["b"]:
            raise serializers.ValidationError("Choose two different versions to compare.")
        return data


class HistoryCompareSerializer(serializers.Serializer):
    older = HistoryVersionSummarySerializer(help_text="The earlier of the two versions.")
    newer = HistoryVersionSummarySerializer(help_text="The later of the two versions.")
    changes = HistoryFieldChangeSerializer(many=True, help_text="Every field that differs.")


# Views ---------------------------------------------------------------------------------------
RECORD_PARAMETERS = [
    OpenApiParameter(
        "model",
        OpenApiTypes.STR,
        OpenApiParameter.PATH,
        enum=sorted(HISTORY_REGISTRY),
        description="The kind of record.",
    ),
    # drf-spectacular names the ``pk`` path segment ``id``.
    OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Its id."),
]


class RecordHistoryView(GenericAPIView):
    serializer_class = HistoryVersionSerializer
    filter_backends: list = []

    @extend_schema(
        operation_id="history_versions_list",
        summary="Every version of a record, newest first, with its field changes",
        tags=["history"],
        parameters=RECORD_PARAMETERS,
        responses={
            200: HistoryVersionSerializer(many=True),
            404: OpenApiResponse(description="No such record, or not yours to see."),
        },
    )
    def get(self, request, model: str, pk: int):
        entry, _record = access_history_record(request.user, model, pk)
        page = self.paginate_queryset(versions_of(entry, pk))
        versions = build_versions(entry, page)
        return self.get_paginated_response(self.get_serializer(versions, many=True).data)


class RecordCompareView(GenericAPIView):
    serializer_class = HistoryCompareSerializer
    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        operation_id="history_versions_compare",
        summary="Compare two versions of a record",
        tags=["history"],
        parameters=[*RECORD_PARAMETERS, HistoryCompareQuerySerializer],
        responses={
            200: HistoryCompareSerializer,
            400: OpenApiResponse(description="a or b missing, not a number, or the same."),
            404: OpenApiResponse(description="No such record or version, or not yours."),
        },
    )
    def get(self, request, model: str, pk: int):
        entry, _record = access_history_record(request.user, model, pk)
        query = HistoryCompareQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        ids = [query.validated_data["a"], query.validated_data["b"]]
        rows = list(versions_of(entry, pk).filter(history_id__in=ids))
        if len(rows) != 2:
            raise Http404("No such version of this record.")
        older, newer, changes = compare(entry, *rows)
        data = {"older": older, "newer": newer, "changes": changes}
        return Response(self.get_serializer(data).data)


urlpatterns = [
    path(
        "history/<slug:model>/<int:pk>/",
        RecordHistoryView.as_view(),
        name="api-history",
    ),
    path(
        "history/<slug:model>/<int:pk>/compare/",
        RecordCompareView.as_view(),
        name="api-history-compare",
    ),
]
