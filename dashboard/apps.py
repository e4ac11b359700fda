from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The top of the app graph: the dashboard and the URL root, which reach every app."""

    name = "dashboard"
