"""OpenAPI descriptions of views whose own module does not carry them yet.

drf-spectacular cannot guess what a plain ``APIView`` answers ("unable to guess serializer
... Ignoring view for now"), and the schema must build without warnings. A view describes
itself with ``@extend_schema`` where it is defined; one that does not yet is described here
with an ``OpenApiViewExtension`` (registered when this module is imported, from
``PortalConfig.ready``). Move a description onto its view when that module is next edited.
"""

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from portal.params import MAX_ID


class KpiViewSchema(OpenApiViewExtension):
    """``GET /api/v1/kpis/`` (dashboard.portfolio.KpiView)."""

    target_class = "dashboard.portfolio.KpiView"

    def view_replacement(self):
        class Described(self.target_class):
            @extend_schema(
                tags=["kpis"],
                summary="The governance KPIs over what you may see",
                description="Every KPI (keyed as in ``definitions``) for the firm, a business "
                "unit or an owner over a period (``period`` back from today, or ``start`` and "
                "``end``), the live use cases failing the go-live gate, each KPI's definition "
                "and the monthly trend.",
                parameters=[
                    OpenApiParameter("unit", OpenApiTypes.INT, description="A business unit's id."),
                    OpenApiParameter(
                        "owner",
                        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        description="An owner's (person's) id.",
                    ),
                    OpenApiParameter(
                        "period",
                        OpenApiTypes.STR,
                        enum=["30d", "90d", "365d"],
                        description="A span back from today (30 days when left out).",
                    ),
                    OpenApiParameter("start", OpenApiTypes.DATE, description="First day."),
                    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (today)."),
                ],
                responses={
                    200: OpenApiResponse(
                        OpenApiTypes.OBJECT,
                        description="scope, period, one object per KPI, live_failing_gate, "
                        "definitions and trend.",
                    ),
                    400: OpenApiResponse(description="A filter is invalid; the body names it."),
                },
            )
            def get(self, request, *args, **kwargs):
                return super().get(request, *args, **kwargs)

        return Described
