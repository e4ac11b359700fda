from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"

    def ready(self) -> None:
        # Imported here: hooks import the models, which are loaded only once apps are ready.
        from monitoring import hooks  # noqa: PLC0415

        hooks.register_all()
