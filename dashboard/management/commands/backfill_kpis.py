"""Fill past months' KPI snapshots from history (dashboard/snapshots.py)."""

from django.core.management.base import BaseCommand

from dashboard import snapshots


class Command(BaseCommand):
    help = "Backfill monthly KPI snapshots from history; months already taken are kept."

    def add_arguments(self, parser):
        parser.add_argument(
            "--months", type=int, default=None, help="How many months back (default: all)."
        )
        parser.add_argument(
            "--with-current",
            action="store_true",
            help="Also take the current month's snapshot now.",
        )

    def handle(self, *args, months=None, with_current=False, **options):
        kept = snapshots.backfill(months=months)
        if with_current:
            kept += snapshots.take_snapshots(source="on_demand")
        self.stdout.write(f"Kept {kept} snapshot(s).")
