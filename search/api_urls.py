"""The search API's route, included by name from dashboard/api_urls.py (under /api/v1/)."""

from django.urls import path

from search.api import SearchView

urlpatterns = [path("search/", SearchView.as_view(), name="api-search")]
