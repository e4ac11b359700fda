"""GET /api/v1/search/?q=: the search page's results as JSON, for scripts and the CLI."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from search import selectors
from search.sources import BY_KIND, SOURCES
from search.views import read_request


class HitSerializer(serializers.Serializer):
    reference = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField(help_text="The record's page in the portal.")
    facts = serializers.ListField(child=serializers.CharField(), help_text="State, unit, …")
    snippet = serializers.CharField(help_text="Part of the record's longer text, plain.")


class GroupSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(BY_KIND))
    # A field named "label" shadows an attribute of DRF's Field in the stubs only.
    label = serializers.CharField()  # type: ignore[assignment]
    results = HitSerializer(many=True)
    more = serializers.BooleanField(help_text="More hits than listed: ask for the next page.")


class SearchSerializer(serializers.Serializer):
    q = serializers.CharField(help_text="What was searched for, as read.")
    shortened = serializers.BooleanField(help_text="The query was cut to its first 200 chars.")
    page = serializers.IntegerField()
    groups = GroupSerializer(many=True)


class SearchView(APIView):
    """Search use cases, AI models, assessments, incidents and data sources you may see."""

    @extend_schema(
        summary="Search across the register",
        description="Every word must start a word of the record (use case title or purpose, "
        "model name or provider, incident title or description, data source name or "
        "description), or the text must occur in its reference (UC-0042). An assessment "
        "matches by its reference or its use case. Only records you may see are returned, "
        "newest first, a reference typed in full first; at most 5 of each kind, or 50 of "
        "one kind (``kind``) a page.",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, required=True, description="2-200 chars."),
            OpenApiParameter(
                "kind", OpenApiTypes.STR, enum=list(BY_KIND), description="One kind only."
            ),
            OpenApiParameter("page", OpenApiTypes.INT, description="With kind: 1, 2, …"),
        ],
        responses={
            200: SearchSerializer,
            400: OpenApiResponse(description="No query, too short, or a bad kind or page."),
            401: OpenApiResponse(description="Not signed in and no token."),
        },
    )
    def get(self, request):
        terms, kind, page, errors = read_request(request.query_params)
        if not terms:
            errors["q"] = terms.problem
        if errors:
            raise ValidationError({name: [message] for name, message in errors.items()})
        limit = selectors.PAGE if kind else selectors.PER_KIND
        groups = selectors.search(
            request.user,
            terms,
            sources=(BY_KIND[kind],) if kind else SOURCES,
            limit=limit,
            page=page,
        )
        return Response(
            {
                "q": terms.text,
                "shortened": terms.shortened,
                "page": page,
                "groups": [
                    {
                        "kind": g.kind,
                        "label": g.label,
                        "more": g.more,
                        "results": [
                            {
                                "reference": h.reference,
                                "title": h.title,
                                "url": h.url,
                                "facts": h.facts,
                                "snippet": h.snippet,
                            }
                            for h in g.hits
                        ],
                    }
                    for g in groups
                ],
            }
        )
