"""manage.py ledger_backfill: record rows written without the ledger hearing of them.

migrate runs it by itself (history from before the ledger existed); run it after a bulk
import that bypassed the services' signals. It never changes a recorded entry.
"""

from django.core.management.base import BaseCommand

from portal.ledger import chain


class Command(BaseCommand):
    help = "Record in the ledger every history or append-only row it does not hold yet, and seal."

    def handle(self, *args, **options):
        recorded = chain.backfill()
        sealed = chain.seal(full=True)
        self.stdout.write(f"Recorded {recorded:,} rows; sealed {sealed:,} entries.")
