"""The nightly re-check of the go-live gate for every use case in production.

A use case passed the gate once, on the day it went live; since then its runbook's review may
have lapsed, its signed-off assessment expired, its model's approval been withdrawn. Each
night every production use case is asked the same gate (registry.gate.check_go_live) as the
move to production asks, and each failing check raises a flag (cause ``gate:<check key>``,
e.g. ``gate:runbook``, ``gate:impact``, ``gate:models``) with the check's own words as the
reason: once per cause, since ``raise_cause_flag`` returns the open flag while one is.

What was chosen:
- Only production use cases are checked: the gate is what production asks for; a pilot has
  not passed it yet. A use case whose kill switch is engaged fails "in service" on purpose:
  that check raises nothing.
- A gate flag resolves itself when its check passes again on a later night (by the system,
  with the date), so the dashboard's "live but failing the gate" lists only what still
  fails; the use case stays marked for re-assessment until a person clears it, as with any
  flag.
"""

from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.utils import timezone

from monitoring.models import Flag, FlagStatus, Severity
from monitoring.services.flags import raise_cause_flag, resolve_cause_flag
from registry.gate import check_go_live
from registry.models import Lifecycle, UseCase

CAUSE_PREFIX = "gate:"
# Checks whose failure is a deliberate state, not a lapse.
NOT_A_LAPSE = frozenset({"in_service"})


@dataclass
class GateWatchReport:
    checked: int = 0
    failing: int = 0
    raised: list[str] = field(default_factory=list)
    still_open: int = 0
    resolved: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "checked": self.checked,
            "failing": self.failing,
            "raised": self.raised,
            "still_open": self.still_open,
            "resolved": self.resolved,
        }


def live_use_cases():
    return UseCase.objects.filter(lifecycle=Lifecycle.PRODUCTION).order_by("pk")


def gate_watch(*, today: date | None = None) -> GateWatchReport:
    """Re-check the gate of every production use case; flag what fails, once per cause."""
    today = today or timezone.localdate()
    report = GateWatchReport()
    open_flags: dict[int, set[str]] = {}
    for use_case_id, cause in Flag.objects.filter(
        status=FlagStatus.OPEN, rule__isnull=True, cause__startswith=CAUSE_PREFIX
    ).values_list("use_case_id", "cause"):
        open_flags.setdefault(use_case_id, set()).add(cause)
    for use_case in live_use_cases().select_related("owner", "business_unit").iterator(500):
        report.checked += 1
        _watch_one(use_case, today, open_flags.get(use_case.pk, set()), report)
    return report


@transaction.atomic
def _watch_one(use_case: UseCase, today: date, already: set[str], report: GateWatchReport):
    result = check_go_live(use_case, today)
    failing = {c.key: c for c in result.missing if c.key not in NOT_A_LAPSE}
    if failing:
        report.failing += 1
    for key, check in failing.items():
        cause = CAUSE_PREFIX + key
        if cause in already:
            report.still_open += 1
            continue
        raised = raise_cause_flag(
            use_case=use_case,
            cause=cause,
            severity=Severity.HIGH,
            reason=f"Live but failing the go-live gate: {check.label}: {check.detail}",
            evidence={
                "check": check.label,
                "detail": check.detail,
                "items": check.items,
                "checked_on": today.isoformat(),
            },
        )
        report.raised.append(raised.reference)
    for cause in sorted(already - {CAUSE_PREFIX + key for key in failing}):
        flag = resolve_cause_flag(
            use_case=use_case,
            cause=cause,
            actor=None,
            resolution=f"The gate check passes again (nightly check of {today.isoformat()}).",
        )
        if flag is not None:
            report.resolved.append(flag.reference)


def failing_gate_flags():
    """Open gate flags, for the dashboard's "live but failing the gate"."""
    return Flag.objects.filter(
        status=FlagStatus.OPEN,
        rule__isnull=True,
        cause__startswith=CAUSE_PREFIX,
        use_case__lifecycle=Lifecycle.PRODUCTION,
    )
