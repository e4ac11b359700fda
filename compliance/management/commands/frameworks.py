"""Import and export framework files: ``manage.py frameworks import FILE...``,
``manage.py frameworks export KEY [--version N] [-o FILE]``, ``manage.py frameworks list``.

Imports go through the same service as the page and the API; a used version never changes,
so a changed file under its number is refused with the message to give it the next one.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from compliance.models import Framework
from compliance.services.frameworks import (
    framework_export,
    framework_import,
    parse_framework_file,
)


class Command(BaseCommand):
    help = "Import, export or list framework and crosswalk files (compliance)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        imp = sub.add_parser("import", help="Import framework files (JSON).")
        imp.add_argument("files", nargs="+")
        exp = sub.add_parser("export", help="Write a framework version's file.")
        exp.add_argument("key")
        exp.add_argument("--version", type=int, default=None, help="Default: the one in force.")
        exp.add_argument("-o", "--output", default="-", help="A file; '-' for standard output.")
        sub.add_parser("list", help="List the framework versions held.")

    def handle(self, *args, what: str, **options):
        if what == "import":
            for name in options["files"]:
                try:
                    definition = parse_framework_file(Path(name).read_bytes())
                    framework, outcome = framework_import(actor=None, definition=definition)
                except OSError as exc:
                    raise CommandError(f"{name}: {exc}") from None
                except ValidationError as exc:
                    raise CommandError(f"{name}: {'; '.join(exc.messages)}") from None
                self.stdout.write(f"{framework.key} v{framework.version}: {outcome}")
        elif what == "export":
            found = Framework.objects.filter(key=options["key"])
            found = (
                found.filter(version=options["version"])
                if options["version"]
                else found.filter(active=True)
            )
            chosen = found.first()
            if chosen is None:
                raise CommandError(f"No framework {options['key']} of that version.")
            text = framework_export(chosen)
            if options["output"] == "-":
                self.stdout.write(text, ending="")
            else:
                Path(options["output"]).write_text(text, encoding="utf-8")
        else:
            for f in Framework.objects.order_by("kind", "key", "version"):
                state = "in force" if f.active else "replaced"
                self.stdout.write(f"{f.key} v{f.version} ({f.kind}, {state}): {f.title}")
