"""The project's URLs under another path, for tests/portal/test_links.py."""

from django.urls import include, path

urlpatterns = [path("elsewhere/", include("dashboard.urls"))]
