from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The top of the app graph: the dashboard, the URL root and the evidence pack, which
    reach every app."""

    name = "dashboard"

    def ready(self) -> None:
        # Imported here: hooks import the models, which are loaded only once apps are ready.
        from django.db.models.signals import post_migrate  # noqa: PLC0415

        from dashboard import hooks, work_store  # noqa: PLC0415

        hooks.register_all()
        # My work's change log: its triggers on every table the kept list is read from.
        post_migrate.connect(
            work_store.install_triggers, sender=self, dispatch_uid="dashboard:work-triggers"
        )
