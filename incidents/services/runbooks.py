"""Runbooks: one per use case, every edit a version, confirmed as still right once a year.

The go-live gate asks ``runbook_is_current``: a production use case must have a runbook that
someone wrote or confirmed within ``RUNBOOK_VALID_MONTHS``. Saving a runbook unchanged is that
confirmation: it moves ``reviewed_at`` without a new version number.
"""

from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import timezone

from incidents.models import Runbook
from portal.access import require
from portal.records import save_with_history
from registry.models import UseCase

REQUIRED_FIELDS = ("disable_who", "disable_how", "rollback_how", "fallback")
TEXT_FIELDS = (
    *REQUIRED_FIELDS,
    "communicate_users",
    "communicate_dpo",
    "communicate_regulators",
)
CONTACT_KEYS = ("name", "role", "email", "phone")


def _clean_contacts(contacts) -> list[dict]:
    """Contacts in escalation order: each has a name and a way to reach them."""
    if not isinstance(contacts, list | tuple):
        raise ValidationError({"contacts": "Give the contacts as a list, first called first."})
    cleaned, errors = [], []
    for n, contact in enumerate(contacts, start=1):
        if not isinstance(contact, dict):
            errors.append(f"Contact {n}: give a name, role, email and phone.")
            continue
        unknown = set(contact) - set(CONTACT_KEYS)
        if unknown:
            errors.append(f"Contact {n}: unknown fields {', '.join(sorted(unknown))}.")
            continue
        row = {key: str(contact.get(key) or "").strip() for key in CONTACT_KEYS}
        if not any(row.values()):
            continue  # an empty row a form left behind
        if not row["name"]:
            errors.append(f"Contact {n}: say who it is.")
        if not (row["email"] or row["phone"]):
            errors.append(f"Contact {n}: give an email or a phone number.")
        if row["email"]:
            try:
                EmailValidator()(row["email"])
            except ValidationError:
                errors.append(f"Contact {n}: {row['email']} is not an email address.")
        cleaned.append(row)
    if not cleaned and not errors:
        errors.append("Give at least one contact to call when it goes wrong.")
    if errors:
        raise ValidationError({"contacts": errors})
    return cleaned


@transaction.atomic
def runbook_save(*, actor, use_case: UseCase, data: dict) -> Runbook:
    """Write the use case's runbook, or a new version of it; saving it unchanged confirms it."""
    use_case = UseCase.objects.select_for_update().get(pk=use_case.pk)
    require(actor, "incidents.change_runbook", use_case)
    runbook = Runbook.objects.filter(use_case=use_case).first()
    created = runbook is None
    if runbook is None:
        runbook = Runbook(use_case=use_case)

    values = {f: str(data.get(f, getattr(runbook, f)) or "").strip() for f in TEXT_FIELDS}
    errors: dict[str, str | list[str]] = {
        f: "Fill this in." for f in REQUIRED_FIELDS if not values[f]
    }
    try:
        contacts = _clean_contacts(data.get("contacts", runbook.contacts))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)

    changed = [f for f in TEXT_FIELDS if getattr(runbook, f) != values[f]]
    if runbook.contacts != contacts:
        changed.append("contacts")
    for field in TEXT_FIELDS:
        setattr(runbook, field, values[field])
    runbook.contacts = contacts
    runbook.reviewed_at = timezone.now()
    runbook.updated_by = actor
    if created:
        reason = "Runbook written (v1)"
    elif changed:
        runbook.version += 1
        labels = ", ".join(
            # Only concrete fields change, never a reverse relation.
            str(Runbook._meta.get_field(f).verbose_name)  # type: ignore[union-attr]
            for f in changed
        )
        reason = f"Runbook v{runbook.version}: changed {labels}"
    else:
        reason = f"Runbook v{runbook.version} confirmed as still right"
    save_with_history(runbook, actor=actor, reason=reason)
    return runbook


NO_RUNBOOK = (
    "No runbook yet: write who disables the AI and how, how to roll back, the fallback "
    "and who tells whom."
)


def runbook_is_current(
    use_case: UseCase, today: date | None = None, *, runbook: Runbook | None = None
) -> tuple[bool, str]:
    """Whether the use case has a runbook reviewed within RUNBOOK_VALID_MONTHS, and why (not).

    ``runbook`` saves a query when the caller has already read it (None means: read it).
    """
    today = today or timezone.localdate()
    if runbook is None:
        runbook = Runbook.objects.filter(use_case=use_case).first()
    if runbook is None:
        return False, NO_RUNBOOK
    reviewed = timezone.localdate(runbook.reviewed_at)
    due = timezone.localdate(runbook.review_due)
    if due < today:
        return (
            False,
            f"Runbook v{runbook.version} was last reviewed on {reviewed:%d %b %Y}: review it "
            f"(it was due by {due:%d %b %Y}).",
        )
    return True, f"Runbook v{runbook.version} reviewed {reviewed:%d %b %Y}, next by {due:%d %b %Y}."
