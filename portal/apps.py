from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _guard_append_only(sender, using="default", **kwargs) -> None:
    # Imported when migrate has run: the guard lists every history model there is then.
    from portal.ledger import chain, triggers  # noqa: PLC0415

    triggers.install(using)
    # History written before the ledger existed (an upgrade) is recorded once, then chained.
    if chain.backfill():
        chain.seal(full=True)


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # Imported here: the ledger and records read models, loaded only once apps are ready.
        from portal import ledger, records  # noqa: PLC0415

        ledger.connect()
        records.connect()
        post_migrate.connect(_guard_append_only, sender=self, dispatch_uid="ledger:triggers")
