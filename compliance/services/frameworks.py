"""Framework files: checking, importing, exporting and shipping them.

A file is one version of a framework (or of the crosswalk). A version nothing refers to yet may
be replaced in place; a used version never changes: a changed file under its number is refused
with a message asking for the next number, so every applicability, control and piece of
evidence keeps meaning what it meant.
"""

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from assessments.models import AssessmentTemplate, canonical_json, sha256_of
from assessments.services import template_import
from compliance.models import (
    Applicability,
    CrosswalkLink,
    Framework,
    FrameworkKind,
    Obligation,
    Scope,
)
from portal.access import require
from portal.parsers import JSONTooDeep, loads_bounded
from portal.records import save_with_history

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "frameworks"
# Assessment templates this app ships (the Art. 27 FRIA), loaded through assessments' import.
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "assessment_templates"
FORMAT = 1
MAX_ITEMS = 2_000


def _fail(message: str) -> ValidationError:
    return ValidationError({"file": [message]})


def check_definition(definition) -> dict:
    """The definition, or ValidationError naming each fault (with its place)."""
    if not isinstance(definition, dict):
        raise _fail("A framework file is a JSON object.")
    errors = []
    if definition.get("format") != FORMAT:
        errors.append(f"format: must be {FORMAT}.")
    kind = definition.get("kind")
    if kind not in FrameworkKind.values:
        errors.append(f"kind: one of {', '.join(FrameworkKind.values)}.")
    key = definition.get("key")
    if not isinstance(key, str) or not key or len(key) > 80:
        errors.append("key: a name of at most 80 characters.")
    version = definition.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        errors.append("version: a whole number from 1.")
    title = definition.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        errors.append("title: text of at most 200 characters.")
    for name in ("description", "source"):
        if not isinstance(definition.get(name, ""), str):
            errors.append(f"{name}: text.")
    if kind == FrameworkKind.FRAMEWORK:
        if definition.get("scope", Scope.ORGANISATION) not in Scope.values:
            errors.append(f"scope: one of {', '.join(Scope.values)}.")
        items = definition.get("items")
        if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
            errors.append(f"items: a list of 1 to {MAX_ITEMS} items.")
            items = []
        seen = set()
        for i, item in enumerate(items):
            where = f"items[{i}]"
            if not isinstance(item, dict):
                errors.append(f"{where}: an object.")
                continue
            ikey = item.get("key")
            if not isinstance(ikey, str) or not ikey or len(ikey) > 80:
                errors.append(f"{where}.key: a name of at most 80 characters.")
            elif ikey in seen:
                errors.append(f"{where}.key: {ikey} appears twice.")
            seen.add(ikey)
            for name, limit in (("ref", 80), ("title", 300), ("group", 80), ("text", 10_000)):
                value = item.get(name, "")
                if not isinstance(value, str) or len(value) > limit:
                    errors.append(f"{where}.{name}: text of at most {limit} characters.")
            if not isinstance(item.get("applies_when", {}), dict):
                errors.append(f"{where}.applies_when: an object.")
    elif kind == FrameworkKind.CROSSWALK:
        links = definition.get("links")
        if not isinstance(links, list) or len(links) > MAX_ITEMS * 4:
            errors.append("links: a list.")
            links = []
        if not isinstance(definition.get("frameworks"), dict):
            errors.append("frameworks: an object of framework keys and versions.")
        for i, link in enumerate(links):
            ends = [link.get(end) if isinstance(link, dict) else None for end in ("from", "to")]
            if not all(
                isinstance(e, dict)
                and isinstance(e.get("framework"), str)
                and isinstance(e.get("item"), str)
                for e in ends
            ):
                errors.append(f"links[{i}]: from and to, each a framework and an item.")
    if errors:
        raise ValidationError({"file": errors})
    return definition


def parse_framework_file(raw: bytes | str) -> dict:
    """The definition in an uploaded file, or ValidationError saying what is wrong with it."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        definition = loads_bounded(text)
    except JSONTooDeep as exc:
        raise _fail(str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"This is not a JSON file: {exc}.") from None
    return check_definition(definition)


def framework_in_use(framework: Framework) -> bool:
    obligations = framework.obligations.all()
    return (
        Applicability.objects.filter(obligation__in=obligations).exists()
        or obligations.filter(controls__isnull=False).exists()
        or obligations.filter(evidence__isnull=False).exists()
        or CrosswalkLink.objects.filter(source__in=obligations).exists()
        or CrosswalkLink.objects.filter(target__in=obligations).exists()
        or (framework.kind == FrameworkKind.CROSSWALK and framework.links.exists())
    )


def _framework_of(key: str, version) -> Framework:
    found = Framework.objects.filter(key=key, kind=FrameworkKind.FRAMEWORK)
    found = found.filter(version=version) if version else found.filter(active=True)
    framework = found.first()
    if framework is None:
        raise _fail(f"The crosswalk names {key} v{version}, which is not imported.")
    return framework


def _write_items(framework: Framework, definition: dict) -> None:
    groups = {g.get("key"): g.get("title", "") for g in definition.get("groups", [])}
    Obligation.objects.bulk_create(
        Obligation(
            framework=framework,
            key=item["key"],
            ref=item.get("ref") or item["key"],
            title=item.get("title") or item.get("ref") or item["key"],
            text=item.get("text", ""),
            group=item.get("group", ""),
            group_title=groups.get(item.get("group"), ""),
            order=i,
            applies_when=item.get("applies_when", {}),
        )
        for i, item in enumerate(definition["items"])
    )


def _write_links(crosswalk: Framework, definition: dict) -> None:
    versions = definition.get("frameworks", {})
    frameworks = {key: _framework_of(key, v) for key, v in versions.items()}
    items = {
        (o.framework.key, o.key): o
        for o in Obligation.objects.filter(framework__in=frameworks.values()).select_related(
            "framework"
        )
    }
    links, missing = [], []
    for link in definition["links"]:
        ends = []
        for end in (link["from"], link["to"]):
            found = items.get((end["framework"], end["item"]))
            if found is None:
                missing.append(f"{end['framework']}:{end['item']}")
            ends.append(found)
        if all(ends):
            links.append(CrosswalkLink(crosswalk=crosswalk, source=ends[0], target=ends[1]))
    if missing:
        raise ValidationError(
            {"file": [f"The crosswalk names items no framework has: {', '.join(missing[:20])}."]}
        )
    CrosswalkLink.objects.bulk_create(links, ignore_conflicts=True)


@transaction.atomic
def framework_import(*, actor, definition: dict, builtin: bool = False) -> tuple[Framework, str]:
    """Store a framework (or crosswalk) version. Returns (framework, what happened)."""
    if actor is not None:
        require(actor, "compliance.manage_frameworks")
    check_definition(definition)
    key, version = definition["key"], definition["version"]
    digest = sha256_of(canonical_json(definition))
    existing = Framework.objects.select_for_update().filter(key=key, version=version).first()
    if existing is not None and existing.sha256 == digest:
        return existing, "unchanged"
    if existing is not None and framework_in_use(existing):
        raise _fail(
            f"{key} version {version} is in use and never changes: give the changed file "
            f"version {version + 1}."
        )
    outcome = "replaced" if existing is not None else "created"
    framework = existing or Framework(key=key, version=version)
    if existing is not None:
        existing.links.all().delete()
        existing.obligations.all().delete()
    framework.kind = definition["kind"]
    framework.scope = definition.get("scope", Scope.ORGANISATION)
    framework.title = definition["title"].strip()
    framework.description = definition.get("description", "")
    framework.source = definition.get("source", "")
    framework.definition = definition
    framework.sha256 = digest
    framework.builtin = builtin
    framework.active = True
    if framework.pk is None:
        framework.created_by = actor
    save_with_history(framework, actor=actor, reason=f"Framework file {outcome}")
    if framework.kind == FrameworkKind.FRAMEWORK:
        _write_items(framework, definition)
    else:
        _write_links(framework, definition)
    for older in Framework.objects.filter(key=key, active=True).exclude(pk=framework.pk):
        if older.version < framework.version:
            older.active = False
            save_with_history(older, actor=actor, reason=f"Version {framework.version} replaces it")
    return framework, outcome


def framework_export(framework: Framework) -> str:
    return json.dumps(framework.definition, indent=1, ensure_ascii=False) + "\n"


def _builtin_files() -> list[dict]:
    files = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(BUILTIN_DIR.glob("*.json"))]
    # Frameworks before the crosswalks that join them.
    return sorted(files, key=lambda d: (d.get("kind") == FrameworkKind.CROSSWALK, d["key"]))


def sync_builtin_frameworks() -> list[str]:
    """Load the framework files shipped in compliance/frameworks/ the database lacks."""
    loaded = []
    for definition in _builtin_files():
        versions = Framework.objects.filter(key=definition["key"])
        if versions.filter(builtin=False).exists():
            continue  # the firm imported its own version (e.g. ISO text it licenses)
        if versions.filter(version__gte=definition["version"]).exists():
            continue
        framework, outcome = framework_import(actor=None, definition=definition, builtin=True)
        if outcome != "unchanged":
            loaded.append(f"{framework.key} v{framework.version}: {outcome}")
    return loaded


def sync_assessment_templates() -> list[str]:
    """Load the assessment templates in compliance/assessment_templates/ (the Art. 27 FRIA)
    that the database lacks, as built-in templates routed and signed like the others."""
    loaded = []
    for path in sorted(TEMPLATES_DIR.glob("*.json")):
        definition = json.loads(path.read_text(encoding="utf-8"))
        versions = AssessmentTemplate.objects.filter(key=definition["key"])
        if versions.filter(builtin=False).exists():
            continue
        if versions.filter(version__gte=definition["version"]).exists():
            continue
        template, outcome = template_import(actor=None, definition=definition, builtin=True)
        loaded.append(f"{template.key} v{template.version}: {outcome}")
    return loaded
