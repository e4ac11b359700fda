from django.apps import AppConfig
from django.conf import settings
from django.core.management import call_command
from django.db.models.signals import post_migrate


def _create_cache_table(sender, using="default", **kwargs) -> None:
    # The default cache is a database table (settings.CACHES; the limits on guessing count
    # there), so migrate makes it too: no separate createcachetable step to forget.
    call_command("createcachetable", database=using, verbosity=0)


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
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            # The embedded broker's queues: there before anything is sent or received.
            for folder in ("broker", "broker-done", "broker-control"):
                (settings.STATE_DIR / folder).mkdir(parents=True, exist_ok=True)
        # Imported here: the ledger and records read models, loaded only once apps are ready.
        from portal import (  # noqa: PLC0415
            checks,
            health,
            ledger,
            metrics,
            records,
            revocation,
        )
        from portal.history import managers  # noqa: PLC0415

        managers.keep()
        checks.register_all()
        metrics.connect()
        metrics.register_gauges(health.gauges)
        ledger.connect()
        records.connect()
        revocation.connect()
        post_migrate.connect(_guard_append_only, sender=self, dispatch_uid="ledger:triggers")
        post_migrate.connect(_create_cache_table, sender=self, dispatch_uid="portal:cache-table")
