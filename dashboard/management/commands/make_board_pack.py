"""Make a board pack (dashboard/board_pack.py): last month's by default, or a given period."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dashboard import board_pack


class Command(BaseCommand):
    help = "Make a board pack for a period (default: last month), unsigned."

    def add_arguments(self, parser):
        parser.add_argument("--start", type=date.fromisoformat, default=None)
        parser.add_argument("--end", type=date.fromisoformat, default=None)

    def handle(self, *args, start=None, end=None, **options):
        default_start, default_end = board_pack.previous_month(timezone.localdate())
        try:
            pack = board_pack.board_pack_make(
                actor=None, start=start or default_start, end=end or default_end
            )
        except Exception as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Made {pack.reference} for {pack.period_start} to {pack.period_end}.")
