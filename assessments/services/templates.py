"""Importing, exporting and shipping assessment templates."""

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from assessments import engine
from assessments.models import AssessmentTemplate, canonical_json, sha256_of
from portal.access import require
from portal.parsers import JSONTooDeep, loads_bounded
from portal.records import save_with_history

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "builtin_templates"


def parse_template_file(raw: bytes | str) -> dict:
    """The definition in an uploaded file, or ValidationError saying what is wrong with it."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        definition = loads_bounded(text)
    except JSONTooDeep as exc:
        raise ValidationError({"file": str(exc)}) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError({"file": f"This is not a JSON file: {exc}."}) from None
    try:
        return engine.check_definition(definition)
    except engine.TemplateError as exc:
        raise ValidationError({"file": exc.errors}) from None


@transaction.atomic
def template_import(*, actor, definition: dict, builtin: bool = False):
    """Store a template version. Returns (template, what happened).

    A version no assessment has used yet is replaced in place; a used version is never
    changed: a changed definition under its number becomes the next version.
    """
    if actor is not None:
        require(actor, "assessments.manage_templates")
    try:
        engine.check_definition(definition)
    except engine.TemplateError as exc:
        raise ValidationError({"file": exc.errors}) from None
    key, version = definition["key"], definition["version"]
    digest = sha256_of(canonical_json(definition))
    existing = (
        AssessmentTemplate.objects.select_for_update().filter(key=key, version=version).first()
    )
    if existing is not None and existing.sha256 == digest:
        return existing, "unchanged"
    if existing is not None and existing.assessments.exists():
        latest = AssessmentTemplate.objects.filter(key=key).aggregate(v=Max("version"))["v"]
        definition = {**definition, "version": latest + 1}
        digest = sha256_of(canonical_json(definition))
        existing, outcome = (
            None,
            f"version {version} is in use, so this became version {latest + 1}",
        )
    else:
        outcome = "replaced" if existing is not None else "created"
    template = existing or AssessmentTemplate(key=key, version=definition["version"])
    template.kind = definition["kind"]
    template.title = definition["title"].strip()
    template.description = definition.get("description", "")
    template.definition = definition
    template.sha256 = digest
    template.builtin = builtin
    template.active = True
    if template.pk is None:
        template.created_by = actor
    save_with_history(template, actor=actor, reason=f"Template {outcome}")
    # Only the newest version of a key is offered for new assessments.
    for older in AssessmentTemplate.objects.filter(key=key, active=True).exclude(pk=template.pk):
        if older.version < template.version:
            older.active = False
            save_with_history(older, actor=actor, reason=f"Version {template.version} replaces it")
    return template, outcome


def template_export(template: AssessmentTemplate) -> str:
    return json.dumps(template.definition, indent=2, ensure_ascii=False) + "\n"


def sync_builtin_templates() -> list[str]:
    """Load the templates shipped in builtin_templates/ that the database does not hold yet."""
    loaded = []
    for path in sorted(BUILTIN_DIR.glob("*.json")):
        definition = json.loads(path.read_text(encoding="utf-8"))
        versions = AssessmentTemplate.objects.filter(key=definition["key"])
        # A firm that has imported its own version of a built-in keeps it: shipping the
        # file again must not replace the firm's choice.
        if versions.filter(builtin=False).exists():
            continue
        # Already holding this file's content (under whatever number it was stored)?
        latest = versions.filter(builtin=True).order_by("-version").first()
        if latest is not None and _without_version(latest.definition) == _without_version(
            definition
        ):
            continue
        template, outcome = template_import(actor=None, definition=definition, builtin=True)
        if outcome != "unchanged":
            loaded.append(f"{template.key} v{template.version}: {outcome}")
    return loaded


def _without_version(definition: dict) -> dict:
    return {k: v for k, v in definition.items() if k != "version"}
