"""manage.py history_erase: remove every history version of one record, on the record.

For a data subject's erasure. The versions and their ledger payloads go; a tombstone in the
ledger says who, why, when and which rows, with the hashes of what they held.
"""

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.ledger import erasure


class Command(BaseCommand):
    help = "Erase every history version of one record (a data subject's erasure), on the record."

    def add_arguments(self, parser):
        parser.add_argument("model", help="The record's model, e.g. registry.usecase")
        parser.add_argument("pk", help="The record's id")
        parser.add_argument("--reason", required=True, help="Why (kept in the ledger).")
        parser.add_argument("--by", required=True, help="The user name of who decided it.")

    def handle(self, *args, model, pk, reason, by, **options):
        try:
            model_class = apps.get_model(model)
        except (LookupError, ValueError):
            raise CommandError(
                f"No model {model!r} (use app_label.model, e.g. registry.usecase)."
            ) from None
        actor = get_user_model().objects.filter(username=by).first()
        if actor is None:
            raise CommandError(f"No user {by!r}.")
        try:
            erased = erasure.erase_record(actor=actor, model=model_class, pk=pk, reason=reason)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if not erased.rows:
            self.stdout.write(f"{model} #{pk} has no history to erase.")
            return
        self.stdout.write(
            f"Erased {erased.rows} history versions of {model} #{pk}; "
            f"tombstone recorded in the ledger (entry id {erased.tombstone.pk})."
        )
