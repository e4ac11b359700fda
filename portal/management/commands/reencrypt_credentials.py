"""manage.py reencrypt_credentials: put every stored secret under the newest credential key.

Run it after putting a new key first in MONITORING_CREDENTIAL_KEYS (and restarting the web
processes and workers); once it reports nothing unreadable, the old keys may be removed from
the list. It exits 1 when some secret no configured key opens (enter those again).
"""

from django.core.management.base import BaseCommand, CommandError

from portal import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypt metric-source credentials and webhook secrets under the first key of "
        "MONITORING_CREDENTIAL_KEYS."
    )

    def handle(self, *args, **options):
        report = crypto.reencrypt_all()
        for field, counts in report.items():
            self.stdout.write(
                f"{field}: {counts['rotated']:,} re-encrypted, {counts['unreadable']:,} unreadable"
            )
        unreadable = sum(counts["unreadable"] for counts in report.values())
        if unreadable:
            raise CommandError(
                f"{unreadable:,} stored secrets cannot be decrypted with the configured keys: "
                "keep the old keys, or enter those secrets again."
            )
        self.stdout.write("Every stored secret is under the newest key; older keys may go.")
