from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The top of the app graph: the dashboard, the URL root and the evidence pack, which
    reach every app."""

    name = "dashboard"

    def ready(self) -> None:
        # Imported here: hooks import the models, which are loaded only once apps are ready.
        from dashboard import hooks  # noqa: PLC0415

        hooks.register_all()
