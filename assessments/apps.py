from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_builtin_templates(sender, **kwargs) -> None:
    from assessments.services import sync_builtin_templates

    sync_builtin_templates()


class AssessmentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "assessments"

    def ready(self) -> None:
        # The shipped templates are files in the repository; each migrate (and each test
        # database flush) loads the versions the database does not hold yet.
        post_migrate.connect(_load_builtin_templates, sender=self)
