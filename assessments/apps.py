from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_builtin_templates(sender, **kwargs) -> None:
    # Imported when called: services import models, which are not ready at import time.
    from assessments.services import sync_builtin_templates  # noqa: PLC0415

    sync_builtin_templates()


class AssessmentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "assessments"

    def ready(self) -> None:
        # Imported here: hooks import the models, which are loaded only once apps are ready.
        from assessments import hooks  # noqa: PLC0415

        hooks.register_all()
        # The shipped templates are files in the repository; each migrate (and each test
        # database flush) loads the versions the database does not hold yet.
        post_migrate.connect(_load_builtin_templates, sender=self)
