"""The nightly check: statuses as of today, evidence about to expire, exceptions that expired.

Evidence that is the proof an obligation of a live use case is met, and expires within
``COMPLIANCE_EXPIRY_NOTICE_DAYS``, tells the owners of its controls (and whoever attested it)
once, ahead of time, and flags each such use case through monitoring's flags (a cause flag,
``obligation:evidence-expiring:<reference>``). An accepted exception past its date flags its
use case (``obligation:exception-expired:<obligation>``) once; the gate stops counting it the
same day.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compliance.models import Applicability, Evidence, ObligationException, Status
from compliance.services.applicability import statuses_refresh
from monitoring.models import Severity
from monitoring.services.flags import raise_cause_flag
from portal import notify
from portal.records import save_with_history
from registry.models.usecases import LIVE_LIFECYCLES


def notice_days() -> int:
    return getattr(settings, "COMPLIANCE_EXPIRY_NOTICE_DAYS", 30)


def _resting_on(evidence: Evidence):
    """The applicable rows of live use cases whose 'met' rests on this evidence."""
    ref = evidence.reference
    return (
        Applicability.objects.filter(
            applicable=True,
            status=Status.MET,
            use_case__lifecycle__in=LIVE_LIFECYCLES,
        )
        .filter(Q(status_detail=ref) | Q(status_detail__startswith=f"{ref} "))
        .select_related("use_case__owner", "obligation")
    )


@transaction.atomic
def notify_expiring_evidence(*, today: datetime.date | None = None) -> int:
    """Tell owners and flag use cases about evidence expiring soon; once per evidence."""
    today = today or timezone.localdate()
    due = Evidence.objects.filter(
        expires_on__gte=today,
        expires_on__lte=today + datetime.timedelta(days=notice_days()),
        expiry_notified_on__isnull=True,
    ).select_related("attested_by")
    told = 0
    for evidence in due.select_for_update(of=("self",)):
        rows = list(_resting_on(evidence))
        by_use_case: dict[int, list[Applicability]] = {}
        for row in rows:
            by_use_case.setdefault(row.use_case_id, []).append(row)
        owners = {c.owner for c in evidence.controls.select_related("owner")}
        owners.add(evidence.attested_by)
        expires_on = evidence.expires_on
        assert expires_on is not None  # ``due`` holds only evidence that expires
        when = f"{expires_on:%d %b %Y}"
        lines = [
            f"{evidence.reference} {evidence.title} expires on {when}.",
            "Attach its successor before then, or the obligations it meets become unmet.",
        ]
        for use_case_rows in by_use_case.values():
            use_case = use_case_rows[0].use_case
            refs = ", ".join(r.obligation.ref for r in use_case_rows)
            lines.append(f"{use_case.reference} {use_case.title}: {refs}")
            raise_cause_flag(
                use_case=use_case,
                cause=f"obligation:evidence-expiring:{evidence.reference.lower()}",
                severity=Severity.MEDIUM,
                reason=f"Evidence {evidence.reference} expires on {when}; it meets {refs}.",
                evidence={
                    "evidence": evidence.reference,
                    "expires_on": expires_on.isoformat(),
                    "obligations": [r.obligation.ref for r in use_case_rows],
                },
            )
        link = settings.SITE_URL.rstrip("/") + evidence.get_absolute_url()
        notify.email(
            sorted(owners, key=lambda u: u.pk),
            f"{evidence.reference} expires on {when}",
            "\n".join([*lines, "", link]),
            url=link,
        )
        evidence.expiry_notified_on = today
        save_with_history(
            evidence,
            actor=None,
            reason=f"Owners told it expires on {when}; {len(by_use_case)} use case(s) flagged",
            update_fields=["expiry_notified_on", "updated_at"],
        )
        told += 1
    return told


@transaction.atomic
def flag_expired_exceptions(*, today: datetime.date | None = None) -> int:
    """Flag the use case of each exception that expired while its obligation is still unmet."""
    today = today or timezone.localdate()
    expired = ObligationException.objects.filter(
        expires_on__lt=today, expiry_flagged_on__isnull=True
    ).select_related("applicability__use_case__owner", "applicability__obligation", "accepted_by")
    flagged = 0
    for exc in expired.select_for_update(of=("self",)):
        row = exc.applicability
        renewed = row.exceptions.filter(expires_on__gte=today).exists()
        if row.applicable and row.status != Status.MET and not renewed:
            who = exc.accepted_by.get_full_name() or exc.accepted_by.username
            raise_cause_flag(
                use_case=row.use_case,
                cause=f"obligation:exception-expired:{row.obligation.key.lower()}",
                severity=Severity.HIGH,
                reason=(
                    f"The exception to {row.obligation.ref} {row.obligation.title} accepted by "
                    f"{who} expired on {exc.expires_on:%d %b %Y}; it is still "
                    f"{row.get_status_display().lower()}."
                ),
                evidence={
                    "obligation": row.obligation.ref,
                    "accepted_by": exc.accepted_by.username,
                    "expired_on": exc.expires_on.isoformat(),
                    "reason": exc.reason,
                },
            )
            flagged += 1
        exc.expiry_flagged_on = today
        save_with_history(
            exc,
            actor=None,
            reason=f"Expired on {exc.expires_on:%d %b %Y}",
            update_fields=["expiry_flagged_on"],
        )
    return flagged


def nightly(*, today: datetime.date | None = None) -> dict[str, int]:
    today = today or timezone.localdate()
    return {
        "statuses": statuses_refresh(why="Nightly check", today=today),
        "evidence_notices": notify_expiring_evidence(today=today),
        "exceptions_flagged": flag_expired_exceptions(today=today),
    }
