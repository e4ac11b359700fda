"""``manage.py import_questionnaire --format canada-aia SOURCE``: a published questionnaire
as a Steward template (see docs/questionnaires.md).

Converts the file (``assessments.questionnaires``), checks the result as strictly as any
import, then writes it (``-o``), imports it as a template version through the same service
as the import page (``--import``), or both. ``--answers`` converts answers saved by the
official tool, so a firm's existing assessments can be keyed in unchanged.
"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from assessments import engine, questionnaires
from assessments.services import template_import
from portal.parsers import JSONTooDeep, loads_bounded


class Command(BaseCommand):
    help = "Convert a published questionnaire (Canada's AIA) into a template; write or import it."

    def add_arguments(self, parser):
        parser.add_argument("source", help="The questionnaire file (the AIA's survey-enfr.json).")
        parser.add_argument("--format", choices=questionnaires.FORMATS, default="canada-aia")
        parser.add_argument("-o", "--output", help="Write the template here ('-': the output).")
        parser.add_argument(
            "--import",
            dest="do_import",
            action="store_true",
            help="Import it as a template version (as the import page does).",
        )
        parser.add_argument(
            "--actor", help="Username recorded as importing it; needs template management."
        )
        parser.add_argument("--key", default="canada-aia", help="The template key.")
        parser.add_argument("--template-version", dest="template_version", type=int, default=1)
        parser.add_argument("--title", help="The template title (default: the source's).")
        parser.add_argument("--lang", choices=questionnaires.LANGUAGES, default="en")
        parser.add_argument(
            "--hidden-answers",
            choices=engine.HIDDEN_ANSWERS,
            default="ignored",
            help="ignored: score as the tool's results page; scored: as its live score bar.",
        )
        parser.add_argument(
            "--answers",
            help="Also convert answers saved by the official tool (its JSON file) and write "
            "them as template answers to the output.",
        )

    def handle(self, *args, **options):
        if not options["output"] and not options["do_import"] and not options["answers"]:
            raise CommandError("Say what to do: -o FILE, --import, or --answers FILE.")
        source = _read_json(options["source"])
        try:
            conversion = questionnaires.convert_canada_aia(
                source,
                key=options["key"],
                version=options["template_version"],
                title=options["title"],
                lang=options["lang"],
                hidden_answers=options["hidden_answers"],
            )
        except (questionnaires.ConversionError, engine.TemplateError) as exc:
            raise CommandError("\n".join(["The file cannot be converted:", *exc.errors])) from None
        definition = conversion.definition
        maxima = engine.score(definition, {}).scores
        summary = (
            f"{definition['key']} v{definition['version']}: {len(definition['sections'])} "
            f"sections, {len(engine.questions(definition))} questions; impact at most "
            f"{maxima['impact']['max']}, mitigation at most {maxima['mitigation']['max']}."
        )
        if options["output"]:
            text = json.dumps(definition, indent=2, ensure_ascii=False) + "\n"
            if options["output"] == "-":
                self.stdout.write(text, ending="")
            else:
                Path(options["output"]).write_text(text, encoding="utf-8")
                self.stderr.write(f"Wrote {options['output']}: {summary}")
        if options["do_import"]:
            actor = _actor(options["actor"])
            try:
                template, outcome = template_import(actor=actor, definition=definition)
            except PermissionDenied:
                raise CommandError(f"{actor} may not manage templates.") from None
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            self.stderr.write(f"Imported {template.key} v{template.version} ({outcome}): {summary}")
        if options["answers"]:
            answers = conversion.answers(_read_json(options["answers"]))
            self.stdout.write(json.dumps(answers, indent=2, ensure_ascii=False))
        for note in conversion.notes:
            self.stderr.write(f"Note: {note}.")


def _read_json(path: str) -> dict:
    try:
        data = loads_bounded(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}.") from None
    except (JSONTooDeep, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"{path}: not a JSON file we can read ({exc}).") from None
    if not isinstance(data, dict):
        raise CommandError(f"{path}: expected a JSON object.")
    return data


def _actor(username: str | None):
    if not username:
        return None
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise CommandError(f"No user {username!r}.") from None
