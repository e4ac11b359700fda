from django.apps import AppConfig


class PeopleConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "people"

    def ready(self) -> None:
        # Imported here: hooks import the models, which are loaded only once apps are ready.
        from people import hooks  # noqa: PLC0415

        hooks.register_all()
