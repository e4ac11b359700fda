"""htmx: pages that update in place (filters, tables) and still work without JavaScript."""

from django.utils.cache import patch_vary_headers


def is_htmx(request) -> bool:
    """An in-place update; a history restore (the Back button) needs the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def vary_on_htmx(response):
    """The same URL answers a fragment or a page: caches must keep them apart."""
    patch_vary_headers(response, ["HX-Request"])
    return response
