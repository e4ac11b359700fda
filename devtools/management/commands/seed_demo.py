"""Seed a believable firm: three business units, a person per role, data sources of every
classification and about 25 use cases across the lifecycle. Safe to run twice."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from devtools.demo import ai_models as ai_models_demo
from devtools.demo import assessments as assessments_demo
from devtools.demo import compliance as compliance_demo
from devtools.demo import inbox as inbox_demo
from devtools.demo import incidents as incidents_demo
from devtools.demo import leadership as leadership_demo
from devtools.demo import monitoring as monitoring_demo
from devtools.demo import register as register_demo
from devtools.demo.register import DEMO_PASSWORD, PEOPLE
from portal.models import Role
from registry.models import UseCase


class Command(BaseCommand):
    help = "Seed a demo firm with people, data sources and use cases. Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DEBUG off. The demo makes a superuser `admin` and people "
            "whose password is public: never on a database real people use.",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError(
                "Refusing to seed demo data with DEBUG off: this looks like a production "
                "database, and the demo creates a superuser 'admin' and other people whose "
                f"password ({DEMO_PASSWORD}) is published. Run it with DEBUG=true on a "
                "development database, or add --allow-production if this database really "
                "is a throw-away demo."
            )
        # The demo's reviews would otherwise print a dozen notification emails here.
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        with transaction.atomic():
            created = self._seed()
        if created:
            self.stdout.write(self.style.SUCCESS("Demo data created."))
        else:
            self.stdout.write("Demo data already present.")
        self.stdout.write(f"\nDemo sign-ins (password for all: {DEMO_PASSWORD})")
        for username, first, last, roles, units, _ in PEOPLE:
            label = ", ".join(dict(Role.choices).get(r, r) for r in roles)
            where = ", ".join(units) or "all units (read-only)"
            name = f"{first} {last}"
            self.stdout.write(f"  {username:<18} {name:<15} {label:<24} {where}")
        self.stdout.write(f"\nOpen {settings.SITE_URL}/ and sign in.")

    def _seed(self) -> bool:
        if UseCase.objects.exists():
            return False
        people = register_demo.seed()
        ai_models_demo.seed(people)
        assessments_demo.seed(people, DEMO_PASSWORD)
        monitoring_demo.seed(people)
        incidents_demo.seed(people)
        compliance_demo.seed(people)
        leadership_demo.seed(people)  # its snapshots and board pack read everything
        inbox_demo.seed(people)  # last: the notifications everything above sent
        return True
