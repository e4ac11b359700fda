"""Applicability, computed: which obligations apply to each use case, and how far each is met.

``applicability_compute`` works out, from the use case and its latest signed-off screening
(compliance/engine.py), whether each obligation of the frameworks scoped to use cases applies,
and writes only what changed, each change a history version whose reason says why. It runs
when a screening is signed off and when a use case's tier, lifecycle or people affected
change (compliance/hooks.py), and in bulk for the benchmark and the nightly refresh.

``status_of`` says how far an applicable obligation is met, from the controls that cover it
(directly or through the crosswalk) and their evidence: met, in progress, not started,
overdue, or not applicable.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from assessments.models import Assessment, Kind
from assessments.models import Status as AssessmentStatus
from compliance import engine
from compliance.models import (
    FREQUENCY_DAYS,
    Applicability,
    Control,
    CrosswalkLink,
    Evidence,
    Framework,
    FrameworkKind,
    Obligation,
    Scope,
    Status,
)
from registry.models import UseCase


def due_days() -> int:
    return getattr(settings, "COMPLIANCE_DUE_DAYS", 90)


def use_case_obligations() -> list[Obligation]:
    """The items of the frameworks in force that are computed per use case (the EU AI Act)."""
    return list(
        Obligation.objects.filter(
            framework__active=True,
            framework__kind=FrameworkKind.FRAMEWORK,
            framework__scope=Scope.USE_CASE,
        )
        .select_related("framework")
        .order_by("framework__key", "order")
    )


def screening_answers(use_case_ids: Iterable[int]) -> dict[int, dict]:
    """The answers of each use case's latest signed-off screening."""
    found: dict[int, dict] = {}
    rows = (
        Assessment.objects.filter(
            use_case_id__in=list(use_case_ids),
            kind=Kind.SCREENING,
            status=AssessmentStatus.SIGNED_OFF,
        )
        .order_by("use_case_id", "-version", "-pk")
        .values_list("use_case_id", "answers")
    )
    for use_case_id, answers in rows:
        found.setdefault(use_case_id, answers or {})
    return found


def facts_of(use_case: UseCase, answers: dict | None) -> engine.Facts:
    return engine.facts_from(
        tier=use_case.risk_tier,
        lifecycle=use_case.lifecycle,
        people_affected=use_case.people_affected or [],
        answers=answers,
    )


# Coverage: which controls and evidence meet which obligation --------------------------------
@dataclass
class Proof:
    """One piece of evidence as it counts for an obligation (through a control or directly)."""

    evidence_id: int
    reference: str
    effective_on: datetime.date
    expires_on: datetime.date | None
    use_case_ids: frozenset[int]  # empty: every use case
    control_reference: str = ""
    frequency_days: int | None = None

    def current(self, today: datetime.date) -> bool:
        if self.effective_on > today:
            return False
        if self.expires_on is not None and self.expires_on < today:
            return False
        return not (
            self.frequency_days is not None
            and self.effective_on < today - datetime.timedelta(days=self.frequency_days)
        )

    def covers(self, use_case_id: int | None) -> bool:
        return not self.use_case_ids or use_case_id in self.use_case_ids


@dataclass
class Cover:
    control_refs: list[tuple[str, frozenset[int]]] = field(default_factory=list)
    proofs: list[Proof] = field(default_factory=list)


class CoverageIndex:
    """Every active control and piece of evidence, by the obligations they meet (read once)."""

    def __init__(self) -> None:
        self.neighbours: dict[int, set[int]] = defaultdict(set)
        for source, target in CrosswalkLink.objects.filter(crosswalk__active=True).values_list(
            "source_id", "target_id"
        ):
            self.neighbours[source].add(target)
            self.neighbours[target].add(source)
        self.by_obligation: dict[int, Cover] = defaultdict(Cover)
        self.owners: dict[str, str] = {}
        controls = (
            Control.objects.filter(active=True)
            .select_related("owner")
            .prefetch_related("obligations", "use_cases", "evidence__use_cases")
        )
        for control in controls:
            scope = frozenset(u.pk for u in control.use_cases.all())
            self.owners[control.reference] = control.owner.get_full_name() or control.owner.username
            covered = self.reach(o.pk for o in control.obligations.all())
            proofs = [
                self._proof(e, scope, control.reference, FREQUENCY_DAYS.get(control.frequency))
                for e in control.evidence.all()
            ]
            for obligation_id in covered:
                cover = self.by_obligation[obligation_id]
                cover.control_refs.append((control.reference, scope))
                cover.proofs.extend(proofs)
        # Obligations met by a signed-off assessment (Art. 27: the FRIA template).
        self.by_assessment: dict[int, str] = {
            pk: when["met_by_assessment"]
            for pk, when in Obligation.objects.filter(
                applies_when__has_key="met_by_assessment"
            ).values_list("pk", "applies_when")
        }
        self.signed: dict[tuple[int, str], str] = {}
        if self.by_assessment:
            for use_case_id, key, reference in (
                Assessment.objects.filter(
                    status=AssessmentStatus.SIGNED_OFF,
                    template__key__in=set(self.by_assessment.values()),
                )
                .order_by("pk")
                .values_list("use_case_id", "template__key", "reference")
            ):
                self.signed[(use_case_id, key)] = reference
        direct = Evidence.objects.filter(obligations__isnull=False).prefetch_related(
            "obligations", "use_cases"
        )
        for evidence in direct.distinct():
            proof = self._proof(evidence, frozenset(), "", None)
            for obligation_id in self.reach(o.pk for o in evidence.obligations.all()):
                self.by_obligation[obligation_id].proofs.append(proof)

    @staticmethod
    def _proof(evidence: Evidence, scope: frozenset[int], control: str, days) -> Proof:
        own = frozenset(u.pk for u in evidence.use_cases.all())
        # Evidence scoped to use cases counts only for those, within the control's scope.
        use_cases = (own & scope if scope else own) if own else scope
        return Proof(
            evidence.pk,
            evidence.reference,
            evidence.effective_on,
            evidence.expires_on,
            use_cases,
            control,
            days,
        )

    def reach(self, obligation_ids: Iterable[int]) -> set[int]:
        """The obligations and, one step through the crosswalk, those linked to them."""
        direct = set(obligation_ids)
        reached = set(direct)
        for obligation_id in direct:
            reached |= self.neighbours.get(obligation_id, set())
        return reached

    def explain(self, obligation_id: int, use_case_id: int | None) -> dict:
        """The controls (with owners) and evidence that count for an obligation, for the SoA."""
        cover = self.by_obligation.get(obligation_id) or Cover()
        controls = [
            ref for ref, scope in cover.control_refs if not scope or use_case_id is None
            or use_case_id in scope
        ]  # fmt: skip
        proofs = [p for p in cover.proofs if use_case_id is None or p.covers(use_case_id)]
        controls = list(dict.fromkeys(controls))
        return {
            "controls": controls,
            "owners": sorted({self.owners[c] for c in controls if c in self.owners}),
            "evidence": list(dict.fromkeys(p.reference for p in proofs)),
        }

    def status(
        self,
        obligation_id: int,
        use_case_id: int | None,
        *,
        applicable: bool,
        due_on: datetime.date | None,
        today: datetime.date,
    ) -> tuple[str, str]:
        if not applicable:
            return Status.NOT_APPLICABLE, ""
        template = self.by_assessment.get(obligation_id)
        if template and use_case_id is not None:
            signed = self.signed.get((use_case_id, template))
            if signed:
                return Status.MET, f"{signed} signed off"
        cover = self.by_obligation.get(obligation_id) or Cover()
        proofs = [p for p in cover.proofs if p.covers(use_case_id)]
        current = sorted(
            (p for p in proofs if p.current(today)), key=lambda p: p.expires_on or datetime.date.max
        )
        if current:
            best = current[-1]
            via = f" ({best.control_reference})" if best.control_reference else ""
            until = f" until {best.expires_on:%d %b %Y}" if best.expires_on else ""
            return Status.MET, f"{best.reference}{via}{until}"[:500]
        controls = [ref for ref, scope in cover.control_refs if not scope or use_case_id in scope]
        if due_on is not None and due_on < today:
            return Status.OVERDUE, f"Due {due_on:%d %b %Y}; no current evidence."
        if controls or proofs:
            names = ", ".join(dict.fromkeys(controls)) or "its evidence"
            return Status.IN_PROGRESS, f"{names}: no current evidence yet."[:500]
        if template:
            return Status.NOT_STARTED, f"Sign off the assessment {template} for it."
        return Status.NOT_STARTED, "No control covers it yet."


# Computing ----------------------------------------------------------------------------------
def _stamp(row: Applicability, actor, reason: str) -> None:
    row._change_reason = reason[:100_000]  # type: ignore[attr-defined]
    row._history_user = actor  # type: ignore[attr-defined]


@transaction.atomic
def applicability_compute(
    *,
    use_cases: Iterable[UseCase],
    why: str,
    actor=None,
    today: datetime.date | None = None,
    index: CoverageIndex | None = None,
    obligations: list[Obligation] | None = None,
) -> dict[str, int]:
    """Work out which obligations apply to each use case; write what changed, with ``why``.

    A use case not screened yet gets no rows (the screening computes them). Returns counts of
    rows created and changed.
    """
    today = today or timezone.localdate()
    use_cases = list(use_cases)
    obligations = use_case_obligations() if obligations is None else obligations
    if not use_cases or not obligations:
        return {"created": 0, "changed": 0}
    index = index or CoverageIndex()
    ids = [u.pk for u in use_cases]
    answers = screening_answers(ids)
    existing: dict[tuple[int, int], Applicability] = {
        (a.use_case_id, a.obligation_id): a
        # Whole rows: the history versions written below copy every field.
        for a in Applicability.objects.filter(use_case_id__in=ids, obligation__in=obligations)
    }
    create, update = [], []
    for use_case in use_cases:
        found = answers.get(use_case.pk)
        if found is None and use_case.risk_tier in ("unscreened", ""):
            continue
        facts = facts_of(use_case, found)
        for obligation in obligations:
            applicable, reason = engine.applies(obligation.applies_when, facts)
            row = existing.get((use_case.pk, obligation.pk))
            if row is None:
                row = Applicability(use_case=use_case, obligation=obligation)
                row.applicable, row.reason = applicable, reason
                if applicable:
                    row.applies_since = today
                    row.due_on = today + datetime.timedelta(days=due_days())
                row.status, row.status_detail = index.status(
                    obligation.pk, use_case.pk, applicable=applicable, due_on=row.due_on,
                    today=today,
                )  # fmt: skip
                verdict = "Applies" if applicable else "Does not apply"
                _stamp(row, actor, f"{why}: {verdict}. {reason}")
                create.append(row)
                continue
            changes = []
            if row.applicable != applicable:
                changes.append("now applies" if applicable else "no longer applies")
                row.applicable = applicable
                if applicable:
                    row.applies_since = today
                    row.due_on = today + datetime.timedelta(days=due_days())
            if row.reason != reason:
                row.reason = reason
                if not changes:
                    changes.append("reason changed")
            status, detail = index.status(
                obligation.pk, use_case.pk, applicable=row.applicable, due_on=row.due_on,
                today=today,
            )  # fmt: skip
            if (status, detail) != (row.status, row.status_detail):
                if status != row.status:
                    changes.append(f"status {Status(status).label.lower()}")
                row.status, row.status_detail = status, detail
            if changes:
                _stamp(row, actor, f"{why}: {', '.join(changes)}. {reason}")
                update.append(row)
    if create:
        bulk_create_with_history(create, Applicability, batch_size=2000)
    if update:
        bulk_update_with_history(
            update,
            Applicability,
            ["applicable", "reason", "status", "status_detail", "applies_since", "due_on"],
            batch_size=2000,
        )
    return {"created": len(create), "changed": len(update)}


def applicability_compute_all(
    *, why: str, actor=None, today=None, batch: int = 1000
) -> dict[str, int]:
    """Every use case, in batches sharing one read of the controls and obligations."""
    totals = {"created": 0, "changed": 0}
    index = CoverageIndex()
    obligations = use_case_obligations()
    queryset = UseCase.objects.only(
        "id", "reference", "risk_tier", "lifecycle", "people_affected"
    ).order_by("pk")
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last)[:batch])
        if not chunk:
            return totals
        counts = applicability_compute(
            use_cases=chunk, why=why, actor=actor, today=today, index=index,
            obligations=obligations,
        )  # fmt: skip
        for key in totals:
            totals[key] += counts[key]
        last = chunk[-1].pk


@transaction.atomic
def statuses_refresh(
    *,
    why: str,
    actor=None,
    use_case_ids: Iterable[int] | None = None,
    today: datetime.date | None = None,
) -> int:
    """Recompute how far each applicable obligation is met (evidence added or expired)."""
    today = today or timezone.localdate()
    index = CoverageIndex()
    rows = Applicability.objects.filter(obligation__framework__active=True)
    if use_case_ids is not None:
        rows = rows.filter(use_case_id__in=list(use_case_ids))
    changed = []
    for row in rows.iterator(chunk_size=5000):
        status, detail = index.status(
            row.obligation_id, row.use_case_id, applicable=row.applicable, due_on=row.due_on,
            today=today,
        )  # fmt: skip
        if (status, detail) != (row.status, row.status_detail):
            moved = status != row.status
            row.status, row.status_detail = status, detail
            label = Status(status).label.lower()
            _stamp(row, actor, f"{why}: {label}. {detail}" if moved else f"{why}: {detail}")
            changed.append(row)
    if changed:
        bulk_update_with_history(
            changed, Applicability, ["status", "status_detail"], batch_size=2000
        )
    return len(changed)


def framework_by_key(key: str) -> Framework | None:
    return Framework.objects.filter(key=key, active=True).first()
