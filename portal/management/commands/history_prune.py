"""manage.py history_prune: apply HISTORY_RETENTION_DAYS, on the record.

Nothing is pruned by itself: this command removes history versions older than the
retention period (each record keeps its newest version) and records a tombstone in the
ledger listing them. Without HISTORY_RETENTION_DAYS (the default: keep forever) it does
nothing.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.ledger import erasure


class Command(BaseCommand):
    help = "Remove history versions older than HISTORY_RETENTION_DAYS, recorded in the ledger."

    def add_arguments(self, parser):
        parser.add_argument("--by", required=True, help="The user name of who runs it.")

    def handle(self, *args, by, **options):
        days = settings.HISTORY_RETENTION_DAYS
        if not days:
            self.stdout.write("HISTORY_RETENTION_DAYS is not set: history is kept forever.")
            return
        actor = get_user_model().objects.filter(username=by).first()
        if actor is None:
            raise CommandError(f"No user {by!r}.")
        cutoff = timezone.now() - timedelta(days=days)
        erased = erasure.prune_before(
            actor=actor, cutoff=cutoff, reason=f"Retention: history older than {days} days"
        )
        self.stdout.write(
            f"Removed {erased.rows} history versions older than {cutoff:%Y-%m-%d %H:%M %Z}"
            + (f"; tombstone entry id {erased.tombstone.pk}." if erased.tombstone else ".")
        )
