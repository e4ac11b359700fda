"""Import registered models and their versions from an MLflow tracking server."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry import services
from registry.mlflow import MLflowError
from registry.models import BusinessUnit
from registry.tasks import import_mlflow_models


class Command(BaseCommand):
    help = (
        "Import MLflow's registered models as AI models (under evaluation) and their versions. "
        "A re-import updates what it imported before."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--tracking-uri",
            default="",
            help="The MLflow server, e.g. http://127.0.0.1:5000 (default: MLFLOW_TRACKING_URI).",
        )
        parser.add_argument("--unit", required=True, help="Code of the business unit, e.g. RETAIL.")
        parser.add_argument("--owner", required=True, help="Username of the new models' owner.")
        parser.add_argument(
            "--actor", help="Username the import is recorded as (default: the owner)."
        )
        parser.add_argument(
            "--queue", action="store_true", help="Send it to the Celery workers instead."
        )

    def handle(self, *args, **options):
        users = get_user_model().objects
        tracking_uri = options["tracking_uri"] or settings.MLFLOW_TRACKING_URI
        if not tracking_uri:
            raise CommandError("Give --tracking-uri or set MLFLOW_TRACKING_URI.")
        try:
            unit = BusinessUnit.objects.get(code=options["unit"])
            owner = users.get(username=options["owner"])
            actor = users.get(username=options["actor"]) if options["actor"] else owner
        except (BusinessUnit.DoesNotExist, users.model.DoesNotExist) as exc:
            raise CommandError(str(exc)) from exc
        if options["queue"]:
            sent = import_mlflow_models.delay(
                actor_id=actor.pk,
                business_unit_id=unit.pk,
                owner_id=owner.pk,
                tracking_uri=tracking_uri,
            )
            self.stdout.write(f"Queued MLflow import as task {sent.id}.")
            return
        try:
            report = services.models_import_mlflow(
                actor=actor, tracking_uri=tracking_uri, business_unit=unit, owner=owner
            )
        except (MLflowError, PermissionDenied, ValidationError) as exc:
            raise CommandError(f"Nothing was imported: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"MLflow import: {report.summary()}."))
        for ref in report.versions_missing:
            self.stdout.write(f"No longer in MLflow, left as it was: {ref}")
