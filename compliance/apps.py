from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_builtin_frameworks(sender, **kwargs) -> None:
    # Imported when called: services import models, which are not ready at import time.
    from compliance.services.frameworks import (  # noqa: PLC0415
        sync_assessment_templates,
        sync_builtin_frameworks,
    )

    sync_builtin_frameworks()
    sync_assessment_templates()


class ComplianceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "compliance"

    def ready(self) -> None:
        # Imported here: hooks import the models, which are loaded only once apps are ready.
        from compliance import hooks  # noqa: PLC0415

        hooks.register_all()
        # The shipped framework files are in the repository; each migrate (and each test
        # database flush) loads the versions the database does not hold yet.
        post_migrate.connect(_load_builtin_frameworks, sender=self)
