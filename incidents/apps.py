from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "incidents"

    def ready(self) -> None:
        # Imported here: hooks import the models, which are loaded only once apps are ready.
        from incidents import hooks  # noqa: PLC0415

        hooks.register_all()
