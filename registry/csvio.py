"""The register as CSV: export rows, and the all-or-nothing import of a firm's spreadsheet.

The import runs every row through ``services.use_case_register`` - the same checks as the
pages and the API - inside a transaction. A row whose ``reference`` names a use case already
the person may see edits it through ``services.use_case_update`` instead (the exported
register, edited and imported back), so a material change made in a spreadsheet raises its
flags as the page and the API do; any other reference is ignored and the row registered anew
(an export imported into another, empty register). The preview rolls the whole transaction
back and reports each row's errors; the import commits only when no row has an error.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from portal.access import can
from portal.csvexport import unsafe_cell
from registry import services
from registry.models import (
    BusinessUnit,
    DataSource,
    DecisionImpact,
    HumanOversight,
    Lifecycle,
    PeopleAffected,
    RegisterImport,
    UseCase,
)
from registry.selectors import (
    SOURCES_THEN,
    data_sources_visible_to,
    units_user_can_register_in,
    use_cases_visible_to,
)

User = get_user_model()

REGISTER_COLUMNS = [
    "reference",
    "title",
    "purpose",
    "business_unit",
    "owner",
    "lifecycle",
    "people_affected",
    "decision_impact",
    "human_oversight",
    "data_sources",
    "next_review_date",
    "risk_tier",
    "needs_reassessment",
    "reassessment_reasons",
    "kill_switch_engaged",
    "updated_at",
]
IMPORT_REQUIRED = [
    "title",
    "purpose",
    "business_unit",
    "owner",
    "decision_impact",
    "human_oversight",
    "people_affected",
]
IMPORT_OPTIONAL = ["lifecycle", "data_sources", "next_review_date"]
# A reference (UC-0003) of a use case the person may see makes the row an edit of it.
UPDATE_KEY = "reference"
LIST_SEPARATOR = ";"


def _data_sources(use_case) -> Iterable[DataSource]:
    """A use case's data sources; for a version of one (the register as of a day), those
    linked then (``use_cases_as_of(..., with_sources=True)``)."""
    if isinstance(use_case, UseCase):
        return use_case.data_sources.all()
    links = getattr(use_case, SOURCES_THEN)
    sources = [link.datasource for link in links if link.datasource is not None]
    return sorted(sources, key=lambda source: (source.name, source.pk))  # DataSource's order


def register_rows(use_cases: Iterable) -> Iterator[list]:
    """A row per use case, or per version of one (the register as of a day)."""
    for uc in use_cases:
        yield [
            uc.reference,
            uc.title,
            uc.purpose,
            uc.business_unit.code,
            uc.owner.username,
            uc.lifecycle,
            LIST_SEPARATOR.join(uc.people_affected),
            uc.decision_impact,
            uc.human_oversight,
            LIST_SEPARATOR.join(ds.reference for ds in _data_sources(uc)),
            uc.next_review_date.isoformat() if uc.next_review_date else "",
            uc.risk_tier,
            "yes" if uc.needs_reassessment else "no",
            uc.reassessment_reasons,
            "yes" if uc.kill_switch_engaged else "no",
            timezone.localtime(uc.updated_at).isoformat(timespec="seconds"),
        ]


def template_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_REQUIRED + IMPORT_OPTIONAL)
    writer.writerow(
        [
            "Contract clause extraction",
            "Pulls key clauses from supplier contracts for the legal team to check.",
            "LEGAL",
            "jdoe",
            "assists",
            "before_action",
            "staff",
            "pilot",
            "DS-0001;DS-0002",
            "2027-06-30",
        ]
    )
    return out.getvalue()


@dataclass
class RowResult:
    number: int  # the line in the file, counting the header as line 1
    values: dict
    errors: list[str] = field(default_factory=list)
    reference: str = ""
    updated: bool = False
    flags_raised: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportReport:
    rows: list[RowResult]
    file_errors: list[str]

    @property
    def error_count(self) -> int:
        return len(self.file_errors) + sum(1 for r in self.rows if not r.ok)

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and bool(self.rows)

    def to_json(self) -> dict:
        return {
            "file_errors": self.file_errors,
            "rows": [
                {
                    "number": r.number,
                    "values": r.values,
                    "errors": r.errors,
                    "updated": r.updated,
                    "flags_raised": r.flags_raised,
                }
                for r in self.rows
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> "ImportReport":
        rows = [RowResult(**row) for row in data.get("rows", [])]
        return cls(rows=rows, file_errors=data.get("file_errors", []))


class _RollBack(Exception):
    pass


def _choice(value: str, choices, column: str) -> str:
    wanted = value.strip().lower()
    for key, label in choices:
        if wanted in (key.lower(), label.lower()):
            return key
    options = ", ".join(key for key, _ in choices)
    raise ValidationError({column: f"{value!r} is not one of: {options}."})


class _Resolver:
    """Looks up units, people and data sources once per file, not once per row."""

    def __init__(self) -> None:
        self.units = {u.code.lower(): u for u in BusinessUnit.objects.all()}
        self.units.update({u.name.lower(): u for u in self.units.values()})
        self._users: dict[str, object] = {}
        self._sources: dict[str, DataSource] = {}

    def prepare(self, rows: list[dict]) -> None:
        names = {r.get("owner", "").strip().lower() for r in rows} - {""}
        for user in User.objects.filter(is_active=True):
            for key in (user.username.lower(), (user.email or "").lower()):
                if key in names:
                    self._users[key] = user
        refs: set[str] = set()
        for r in rows:
            refs.update(x.strip().upper() for x in r.get("data_sources", "").split(LIST_SEPARATOR))
        refs.discard("")
        self._sources = {d.reference: d for d in DataSource.objects.filter(reference__in=refs)}

    def parse(self, row: dict, visible_source_pks: set[int]) -> dict:
        errors: dict[str, str] = {}
        data: dict = {
            "title": row.get("title", "").strip(),
            "purpose": row.get("purpose", "").strip(),
        }
        for column in IMPORT_REQUIRED:
            if not row.get(column, "").strip():
                errors[column] = "This column is required."
        unit_key = row.get("business_unit", "").strip().lower()
        if unit_key:
            data["business_unit"] = self.units.get(unit_key)
            if data["business_unit"] is None:
                errors["business_unit"] = f"No business unit {row['business_unit']!r}."
        owner_key = row.get("owner", "").strip().lower()
        if owner_key:
            data["owner"] = self._users.get(owner_key)
            if data["owner"] is None:
                errors["owner"] = f"No active person with user name or email {row['owner']!r}."
        for column, choices in (
            ("decision_impact", DecisionImpact.choices),
            ("human_oversight", HumanOversight.choices),
        ):
            if row.get(column, "").strip():
                try:
                    data[column] = _choice(row[column], choices, column)
                except ValidationError as exc:
                    errors.update({k: v[0] for k, v in exc.message_dict.items()})
        people = [p for p in row.get("people_affected", "").split(LIST_SEPARATOR) if p.strip()]
        try:
            data["people_affected"] = [
                _choice(p, PeopleAffected.choices, "people_affected") for p in people
            ]
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
        lifecycle = row.get("lifecycle", "").strip()
        try:
            data["lifecycle"] = (
                _choice(lifecycle, Lifecycle.choices, "lifecycle") if lifecycle else None
            )
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
        sources = []
        for ref in row.get("data_sources", "").split(LIST_SEPARATOR):
            ref = ref.strip().upper()
            if not ref:
                continue
            source = self._sources.get(ref)
            if source is None or source.pk not in visible_source_pks:
                errors["data_sources"] = f"No data source {ref} that you can see."
            else:
                sources.append(source)
        data["data_sources"] = sources
        review = row.get("next_review_date", "").strip()
        data["next_review_date"] = None
        if review:
            try:
                data["next_review_date"] = date.fromisoformat(review)
            except ValueError:
                errors["next_review_date"] = f"{review!r} is not a date like 2027-06-30."
        if errors:
            raise ValidationError(errors)
        return data


def _format(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        out = []
        for column, messages in exc.message_dict.items():
            for message in messages:
                out.append(message if column == NON_FIELD_ERRORS else f"{column}: {message}")
        return out
    return list(exc.messages)


def read_csv(content: str) -> tuple[list[dict], list[str]]:
    """The file's rows, or why it cannot be read; at most ``settings.IMPORT_MAX_ROWS`` rows.

    Each row is checked by running the register's service (and rolled back for the preview),
    which is what makes an import slow: the file is read row by row and refused as soon as it
    has too many, before any row is checked, so a large file costs neither minutes nor memory.
    """
    limit = settings.IMPORT_MAX_ROWS
    reader = csv.DictReader(io.StringIO(content))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if not header:
            return [], ["The file is empty."]
        missing = [c for c in IMPORT_REQUIRED if c not in header]
        if missing:
            return [], [f"Missing columns: {', '.join(missing)}."]
        reader.fieldnames = header
        rows: list[dict] = []
        for row in reader:
            if None in row:
                row.pop(None)
                row["__extra__"] = "1"
            if any((v or "").strip() for k, v in row.items() if k != "__extra__"):
                if len(rows) == limit:
                    return [], [
                        f"The file has more than {limit} rows: split it into files of at most "
                        f"{limit} rows and import each."
                    ]
                rows.append({k: unsafe_cell(v or "") for k, v in row.items()})
    except csv.Error as exc:
        # e.g. a cell longer than the csv module's limit (128 KB): a file error, not a crash.
        # line_num counts the lines read before the one that failed.
        return [], [f"Line {reader.line_num + 1} could not be read as CSV: {exc}."]
    if not rows:
        return [], ["The file has a header but no rows."]
    return rows, []


def run_import(*, actor, content: str, commit: bool) -> ImportReport:
    """Validate (and, with ``commit``, import) every row; one bad row imports nothing."""
    if not can(actor, "registry.import_usecases"):
        raise PermissionDenied
    rows, file_errors = read_csv(content)
    if file_errors:
        return ImportReport(rows=[], file_errors=file_errors)
    resolver = _Resolver()
    resolver.prepare(rows)
    visible = set(data_sources_visible_to(actor).values_list("pk", flat=True))
    allowed_units = set(units_user_can_register_in(actor).values_list("pk", flat=True))
    existing = {
        (t.lower(), u)
        for t, u in UseCase.objects.filter(business_unit__in=allowed_units).values_list(
            "title", "business_unit_id"
        )
    }
    seen: set[tuple[str, int]] = set()
    seen_refs: set[str] = set()
    results: list[RowResult] = []
    try:
        with transaction.atomic():
            for number, row in enumerate(rows, start=2):
                result = RowResult(number=number, values=row)
                results.append(result)
                if row.get("__extra__"):
                    result.errors.append("This row has more cells than the header.")
                    continue
                try:
                    data = resolver.parse(row, visible)
                    if data["business_unit"].pk not in allowed_units:
                        raise ValidationError(
                            {"business_unit": f"You cannot register in {data['business_unit']}."}
                        )
                    key = (data["title"].lower(), data["business_unit"].pk)
                    reference = row.get(UPDATE_KEY, "").strip().upper()
                    if (
                        reference
                        and use_cases_visible_to(actor).filter(reference=reference).exists()
                    ):
                        if reference in seen_refs:
                            raise ValidationError({UPDATE_KEY: "Appears twice in this file."})
                        seen_refs.add(reference)
                        with transaction.atomic():
                            use_case = _update_row(actor, reference, data)
                        result.updated = True
                        result.flags_raised = [
                            f["reference"] for f in getattr(use_case, "flags_raised", [])
                        ]
                        result.reference = use_case.reference
                        continue
                    if key in existing:
                        raise ValidationError({"title": "Already in the register for this unit."})
                    if key in seen:
                        raise ValidationError({"title": "Appears twice in this file."})
                    seen.add(key)
                    lifecycle = data.pop("lifecycle")
                    with transaction.atomic():
                        use_case = services.use_case_register(
                            actor=actor, data=data, lifecycle=lifecycle
                        )
                    result.reference = use_case.reference
                except ValidationError as exc:
                    result.errors.extend(_format(exc))
                except PermissionDenied as exc:
                    result.errors.append(str(exc))
            report = ImportReport(rows=results, file_errors=[])
            if not commit or not report.ok:
                raise _RollBack
    except _RollBack:
        for r in results:
            r.reference = ""
            r.flags_raised = []
    return ImportReport(rows=results, file_errors=[])


def _update_row(actor, reference: str, data: dict) -> UseCase:
    """Edit the use case a row names, through the same service as its page."""
    use_case = use_cases_visible_to(actor).get(reference=reference)
    lifecycle = data.pop("lifecycle")
    if lifecycle and lifecycle != use_case.lifecycle:
        raise ValidationError(
            {"lifecycle": "An import does not move a use case's lifecycle: use its page."}
        )
    return services.use_case_update(actor=actor, use_case=use_case, data=data)


def import_preview(*, actor, filename: str, content: str) -> tuple[RegisterImport, ImportReport]:
    report = run_import(actor=actor, content=content, commit=False)
    batch = RegisterImport.objects.create(
        created_by=actor,
        filename=filename[:255],
        content=content,
        row_count=len(report.rows),
        error_count=report.error_count,
        report=report.to_json(),
    )
    return batch, report


@transaction.atomic
def import_commit(*, actor, batch: RegisterImport) -> ImportReport:
    batch = RegisterImport.objects.select_for_update().get(pk=batch.pk)
    if batch.status == RegisterImport.Status.IMPORTED:
        raise ValidationError("This file has already been imported.")
    report = run_import(actor=actor, content=batch.content, commit=True)
    if report.ok:
        batch.status = RegisterImport.Status.IMPORTED
        batch.imported_at = timezone.now()
        batch.imported_references = [r.reference for r in report.rows]
    else:
        batch.status = RegisterImport.Status.FAILED
    batch.error_count = report.error_count
    batch.report = report.to_json()
    batch.save()
    return report
