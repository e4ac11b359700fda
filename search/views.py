"""The search results page: what the navigation bar's box submits to."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from portal import textsearch
from portal.params import as_id
from search import selectors
from search.sources import BY_KIND, SOURCES

MAX_PAGE = 200  # deeper than this is not browsing; it is scraping


def read_request(params) -> tuple[textsearch.Terms, str | None, int, dict[str, str]]:
    """The terms, the kind (None: every kind) and the page a request asks for, and errors
    by parameter. Shared by the page and the API so both read input one way."""
    errors: dict[str, str] = {}
    terms = textsearch.parse(params.get("q"))
    kind = (params.get("kind") or "").strip() or None
    if kind is not None and kind not in BY_KIND:
        errors["kind"] = "Choose one of: " + ", ".join(BY_KIND) + "."
        kind = None
    raw_page = (params.get("page") or "").strip()
    page = as_id(raw_page) if raw_page else 1
    if page is None or page > MAX_PAGE:
        errors["page"] = f"Give a page number from 1 to {MAX_PAGE}."
        page = 1
    return terms, kind, page, errors


@login_required
def search_page(request: HttpRequest) -> HttpResponse:
    terms, kind, page, errors = read_request(request.GET)
    sources = (BY_KIND[kind],) if kind else SOURCES
    limit = selectors.PAGE if kind else selectors.PER_KIND
    groups = selectors.search(request.user, terms, sources=sources, limit=limit, page=page)

    def link(**params) -> str:
        return "?" + urlencode({"q": terms.text, **params})

    for group in groups:
        group.more_url = link(kind=group.kind) if not kind else link(kind=kind, page=page + 1)
    return render(
        request,
        "search/results.html",
        {
            "terms": terms,
            "q": request.GET.get("q", "")[: textsearch.MAX_LENGTH],
            "kind": BY_KIND.get(kind or ""),
            "page": page,
            "previous_url": link(kind=kind, page=page - 1) if kind and page > 1 else "",
            "everything_url": link(),
            "groups": groups,
            "found": any(g.hits for g in groups),
            "errors": errors,
            "sources": SOURCES,
        },
        status=400 if errors else 200,
    )
