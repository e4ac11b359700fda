from django.apps import AppConfig


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"

    def ready(self) -> None:
        # Imported here: hooks import the models, which are loaded only once apps are ready.
        from registry import hooks  # noqa: PLC0415

        hooks.register_all()
