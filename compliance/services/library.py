"""Every write to controls, evidence and exceptions. Pages, the API and the demo call these.

Each write that changes what is met recomputes the statuses it touches in the same
transaction, so the use-case page, coverage and the gate agree the moment it commits.
"""

import datetime
import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.models import (
    Applicability,
    Control,
    Evidence,
    Exclusion,
    Obligation,
    ObligationException,
    Scope,
)
from compliance.services.applicability import applicability_compute, statuses_refresh
from portal.access import can, require
from portal.records import assign_fields, delete_with_history, next_reference, save_with_history
from registry.models import UseCase

CONTROL_FIELDS = ("title", "kind", "description", "owner", "frequency", "active")
EVIDENCE_FIELDS = ("title", "description", "url", "effective_on", "expires_on", "attested_by")


def _check_links(obligations, use_cases) -> None:
    if any(not isinstance(o, Obligation) for o in obligations):
        raise ValidationError({"obligations": "Choose obligations from the frameworks."})
    if any(not isinstance(u, UseCase) for u in use_cases):
        raise ValidationError({"use_cases": "Choose use cases from the register."})


def _refresh(why: str, actor) -> None:
    statuses_refresh(why=why, actor=actor)


@transaction.atomic
def control_create(*, actor, data: dict, obligations=(), use_cases=()) -> Control:
    require(actor, "compliance.manage_controls")
    _check_links(obligations, use_cases)
    control = Control(reference=next_reference("CT"))
    assign_fields(control, data, CONTROL_FIELDS)
    control.full_clean(exclude=["reference"])
    save_with_history(
        control,
        actor=actor,
        reason="Control created",
        m2m={"obligations": list(obligations), "use_cases": list(use_cases)},
    )
    _refresh(f"Control {control.reference} created", actor)
    return control


@transaction.atomic
def control_update(
    *, actor, control: Control, data: dict, obligations=None, use_cases=None, reason: str = ""
) -> Control:
    require(actor, "compliance.manage_controls", control)
    control = Control.objects.select_for_update().get(pk=control.pk)
    changed = assign_fields(control, data, CONTROL_FIELDS)
    m2m = {}
    if obligations is not None:
        _check_links(obligations, [])
        m2m["obligations"] = list(obligations)
    if use_cases is not None:
        _check_links([], use_cases)
        m2m["use_cases"] = list(use_cases)
    control.full_clean()
    what = ", ".join(changed + list(m2m)) or "nothing"
    save_with_history(
        control, actor=actor, reason=reason or f"Control changed: {what}", m2m=m2m or None
    )
    _refresh(f"Control {control.reference} changed", actor)
    return control


def _hash_upload(upload) -> str:
    if upload.size > settings.EVIDENCE_MAX_BYTES:
        limit = settings.EVIDENCE_MAX_BYTES // (1024 * 1024)
        raise ValidationError({"file": f"Files up to {limit} MB can be attached."})
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _check_evidence(evidence: Evidence) -> None:
    errors = {}
    if not evidence.file and not evidence.url:
        errors["file"] = "Attach a file or give a link."
    if (
        evidence.expires_on is not None
        and evidence.effective_on is not None
        and evidence.expires_on < evidence.effective_on
    ):
        errors["expires_on"] = "It cannot expire before it takes effect."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def evidence_add(
    *, actor, data: dict, upload=None, controls=(), obligations=(), use_cases=()
) -> Evidence:
    """Attach evidence once; it supports every control and obligation named, and through the
    crosswalk the obligations linked to them."""
    require(actor, "compliance.add_evidence")
    if any(not isinstance(c, Control) for c in controls):
        raise ValidationError({"controls": "Choose controls from the library."})
    _check_links(obligations, use_cases)
    evidence = Evidence(reference="", uploaded_by=actor)
    assign_fields(evidence, data, EVIDENCE_FIELDS)
    if evidence.attested_by_id is None:
        evidence.attested_by = actor
    if upload is not None:
        evidence.sha256 = _hash_upload(upload)
        evidence.filename = upload.name[:255]
        evidence.file.save(upload.name, upload, save=False)
    _check_evidence(evidence)
    evidence.full_clean(exclude=["reference", "file"])
    evidence.reference = next_reference("EV")
    save_with_history(
        evidence,
        actor=actor,
        reason="Evidence attached",
        m2m={
            "controls": list(controls),
            "obligations": list(obligations),
            "use_cases": list(use_cases),
        },
    )
    _refresh(f"Evidence {evidence.reference} attached", actor)
    return evidence


@transaction.atomic
def evidence_update(
    *, actor, evidence: Evidence, data: dict, controls=None, obligations=None, use_cases=None
) -> Evidence:
    require(actor, "compliance.change_evidence", evidence)
    evidence = Evidence.objects.select_for_update().get(pk=evidence.pk)
    changed = assign_fields(evidence, data, EVIDENCE_FIELDS)
    m2m = {}
    if controls is not None:
        m2m["controls"] = list(controls)
    if obligations is not None:
        m2m["obligations"] = list(obligations)
    if use_cases is not None:
        m2m["use_cases"] = list(use_cases)
    _check_evidence(evidence)
    evidence.full_clean(exclude=["file"])
    if "expires_on" in changed:
        evidence.expiry_notified_on = None
    what = ", ".join(changed + list(m2m)) or "nothing"
    save_with_history(evidence, actor=actor, reason=f"Evidence changed: {what}", m2m=m2m or None)
    _refresh(f"Evidence {evidence.reference} changed", actor)
    return evidence


@transaction.atomic
def exception_accept(
    *, actor, applicability: Applicability, reason: str, expires_on: datetime.date
) -> ObligationException:
    """A named risk officer accepts that an applicable obligation is not met, until a date."""
    require(actor, "compliance.accept_exception", applicability.use_case)
    errors = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "Say why the obligation may stay unmet."
    today = timezone.localdate()
    if expires_on is None or expires_on <= today:
        errors["expires_on"] = "An exception expires on a date after today."
    elif expires_on > today + datetime.timedelta(days=366):
        errors["expires_on"] = "An exception lasts at most a year; accept it again then."
    if not applicability.applicable:
        errors["applicability"] = "It does not apply: there is nothing to accept."
    if errors:
        raise ValidationError(errors)
    exc = ObligationException(
        applicability=applicability, accepted_by=actor, reason=reason, expires_on=expires_on
    )
    exc.full_clean()
    save_with_history(
        exc,
        actor=actor,
        reason=f"Accepted until {expires_on:%d %b %Y}: {reason}",
    )
    return exc


@transaction.atomic
def exclusion_set(*, actor, obligation: Obligation, reason: str) -> Exclusion:
    """Mark an item of a firm-wide framework not applicable to the firm, with why."""
    require(actor, "compliance.manage_frameworks")
    reason = (reason or "").strip()
    if obligation.framework.scope != Scope.ORGANISATION:
        raise ValidationError(
            {
                "obligation": f"{obligation.ref} applies per use case, as each one's screening "
                "says: it is not excluded by hand."
            }
        )
    if not reason:
        raise ValidationError({"reason": "Say why it does not apply to the firm."})
    exclusion = Exclusion.objects.filter(obligation=obligation).first()
    if exclusion is None:
        exclusion = Exclusion(obligation=obligation, excluded_by=actor, reason=reason)
    elif exclusion.reason == reason:
        return exclusion
    else:
        exclusion.reason, exclusion.excluded_by = reason, actor
    exclusion.full_clean()
    save_with_history(exclusion, actor=actor, reason=f"Not applicable: {reason}")
    return exclusion


@transaction.atomic
def exclusion_remove(*, actor, obligation: Obligation, reason: str = "") -> None:
    """The item applies to the firm again."""
    require(actor, "compliance.manage_frameworks")
    exclusion = Exclusion.objects.filter(obligation=obligation).first()
    if exclusion is not None:
        why = (reason or "").strip() or "It applies to the firm again."
        delete_with_history(exclusion, actor=actor, reason=why)


@transaction.atomic
def applicability_recompute(*, actor, use_case: UseCase) -> dict[str, int]:
    """Recompute one use case's applicability on request (a risk officer's button)."""
    require(actor, "compliance.recompute_applicability", use_case)
    return applicability_compute(use_cases=[use_case], why="Recomputed on request", actor=actor)


def may_accept(user, use_case: UseCase) -> bool:
    return can(user, "compliance.accept_exception", use_case)
