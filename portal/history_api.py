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
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from portal.api import datetimes
from portal.history.asof import DELETED, parse_moment, version_at
from portal.history.changes import compare, related_in_memory, snapshot
from portal.history.selectors import (
    RecordVersions,
    VersionPage,
    VersionPaginator,
    page_versions,
    versions_of,
)
from portal.history.tracked import HISTORY_REGISTRY, access_history_record


# Serializers ---------------------------------------------------------------------------------
class HistoryFieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field's name.")
    label = serializers.CharField(  # type: ignore[assignment]  # DRF pops declared fields
        help_text="The field's readable name."
    )
    old = serializers.CharField(allow_blank=True, help_text="Readable value before.")
    new = serializers.CharField(allow_blank=True, help_text="Readable value after.")
    many = serializers.BooleanField(  # type: ignore[assignment]  # DRF pops declared fields
        help_text="True for a list of related records."
    )
    added = serializers.ListField(child=serializers.CharField(), help_text="Items added.")
    removed = serializers.ListField(child=serializers.CharField(), help_text="Items removed.")

    def to_representation(self, change) -> dict:
        return _change(change)


# A page of history is a few dozen small objects, each of which DRF's generic rendering would
# walk field by field (after building the fields); these give the same JSON directly
# (tests/portal/test_history.py compares the two). A field added above must be added here.


def _change(change) -> dict:
    return {
        "field": change.field,
        "label": change.label,
        "old": change.old,
        "new": change.new,
        "many": change.many,
        "added": list(change.added),
        "removed": list(change.removed),
    }


def _version_summary(serializer, version) -> dict:
    date = None if version.date is None else datetimes(serializer).to_representation(version.date)
    return {
        "history_id": version.history_id,
        "date": date,
        "user_id": version.user_id,
        "user": version.user_label,
        "change_type": version.change_type,
        "change_type_label": version.change_type_label,
        "reason": version.reason,
    }


class HistoryVersionSummarySerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    date = serializers.DateTimeField()
    user_id = serializers.IntegerField(allow_null=True)
    user = serializers.CharField(source="user_label", help_text='Name, or "System".')
    change_type = serializers.CharField(help_text="+ created, ~ changed, - deleted.")
    change_type_label = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)

    def to_representation(self, version) -> dict:
        return _version_summary(self, version)


class HistoryVersionSerializer(HistoryVersionSummarySerializer):
    changes = HistoryFieldChangeSerializer(
        many=True,
        help_text="What changed from the previous version (for the first: the "
        "values it was created with).",
    )

    def to_representation(self, version) -> dict:
        return {**_version_summary(self, version), "changes": [_change(c) for c in version.changes]}


class HistoryCompareQuerySerializer(serializers.Serializer):
    a = serializers.IntegerField(min_value=1, help_text="history_id of one version.")
    b = serializers.IntegerField(min_value=1, help_text="history_id of another version.")

    def validate(self, data):
        if data["a"] == data["b"]:
            raise serializers.ValidationError("Choose two different versions to compare.")
        return data


class HistoryAsOfQuerySerializer(serializers.Serializer):
    at = serializers.CharField(
        help_text="An ISO date (the end of that day in the portal's time zone) or date and "
        "time; a time without an offset is in the portal's time zone."
    )

    def validate_at(self, value):
        try:
            return parse_moment(value)
        except ValueError:
            raise serializers.ValidationError(
                "Enter a date (2024-03-31) or a date and time (2024-03-31T14:30)."
            ) from None


class HistoryFieldValueSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field's name.")
    label = serializers.CharField(  # type: ignore[assignment]  # DRF pops declared fields
        help_text="The field's readable name."
    )
    value = serializers.CharField(allow_blank=True, help_text="Readable value then.")
    raw = serializers.JSONField(
        help_text="The stored value (a related record's id; a list of ids for a list)."
    )
    many = serializers.BooleanField(  # type: ignore[assignment]  # DRF pops declared fields
        help_text="True for a list of related records."
    )
    items = serializers.ListField(
        child=serializers.CharField(), help_text="For a list: each related record then."
    )


class HistoryAsOfSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="The moment asked for.")
    deleted = serializers.BooleanField(help_text="True if the record had been deleted by then.")
    version = HistoryVersionSummarySerializer(help_text="The version in force at that moment.")
    fields = HistoryFieldValueSerializer(  # type: ignore[assignment]  # DRF pops declared fields
        many=True, help_text="Every tracked field then."
    )


class HistoryCompareSerializer(serializers.Serializer):
    older = HistoryVersionSummarySerializer(help_text="The earlier of the two versions.")
    newer = HistoryVersionSummarySerializer(help_text="The later of the two versions.")
    changes = HistoryFieldChangeSerializer(many=True, help_text="Every field that differs.")


# Paging --------------------------------------------------------------------------------------
class VersionPagination(PageNumberPagination):
    django_paginator_class = VersionPaginator


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
    pagination_class = VersionPagination

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
        entry, record = access_history_record(request.user, model, pk)
        paginator = self.paginator
        assert isinstance(paginator, VersionPagination)
        paginator.paginate_queryset(RecordVersions(entry, pk), request, view=self)
        assert isinstance(paginator.page, VersionPage)  # VersionPaginator's
        versions = page_versions(entry, paginator.page, related_in_memory(record))
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


class RecordAsOfView(GenericAPIView):
    serializer_class = HistoryAsOfSerializer
    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        operation_id="history_as_of",
        summary="A record as it stood at a moment, from its history",
        tags=["history"],
        parameters=[*RECORD_PARAMETERS, HistoryAsOfQuerySerializer],
        responses={
            200: HistoryAsOfSerializer,
            400: OpenApiResponse(description="at missing, or not a date or date and time."),
            404: OpenApiResponse(
                description="No such record, not yours to see, or not yet created by then."
            ),
        },
    )
    def get(self, request, model: str, pk: int):
        entry, _record = access_history_record(request.user, model, pk)
        query = HistoryAsOfQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        moment = query.validated_data["at"]
        row = version_at(entry, pk, moment)
        if row is None:
            raise Http404("This record did not exist yet at that moment.")
        version, values = snapshot(entry, row)
        data = {
            "at": moment,
            "deleted": row.history_type == DELETED,
            "version": version,
            "fields": values,
        }
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
    path(
        "history/<slug:model>/<int:pk>/as-of/",
        RecordAsOfView.as_view(),
        name="api-history-as-of",
    ),
]
