"""Leadership's demo: a year of KPI snapshots from history plus this month's, and last
month's board pack (unsigned, for the leader to sign). Made through the dashboard's
management commands: the dashboard shares the top layer with devtools, which may not import
it."""

from django.core.management import call_command


def seed(people: dict) -> None:
    call_command("backfill_kpis", months=12, with_current=True, verbosity=0)
    call_command("make_board_pack", verbosity=0)
