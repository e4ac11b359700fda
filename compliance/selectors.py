"""Reads that depend on who asks: frameworks, controls, evidence, applicability and coverage.

Coverage is the share of applicable obligations met, per use case, per framework and per
business unit, over the use cases the person may see, counted in the database (a few grouped
queries whatever the number of use cases).
"""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from compliance.models import (
    Applicability,
    Control,
    Evidence,
    Framework,
    FrameworkKind,
    Obligation,
    ObligationException,
    Scope,
    SignedStatement,
    Status,
)
from portal.access import access_for, get_visible_or_404
from registry.models import UseCase
from registry.selectors import of_visible_use_cases, use_cases_visible_to

User = get_user_model()


def frameworks_visible_to(user) -> QuerySet[Framework]:
    if not user.is_authenticated:
        return Framework.objects.none()
    return Framework.objects.all()


def obligations_visible_to(user) -> QuerySet[Obligation]:
    if not user.is_authenticated:
        return Obligation.objects.none()
    return Obligation.objects.select_related("framework")


def controls_visible_to(user) -> QuerySet[Control]:
    if not user.is_authenticated:
        return Control.objects.none()
    return Control.objects.select_related("owner")


def evidence_visible_to(user) -> QuerySet[Evidence]:
    if not user.is_authenticated:
        return Evidence.objects.none()
    qs = Evidence.objects.select_related("attested_by", "uploaded_by")
    if access_for(user).reads_everything:
        return qs
    scoped = Evidence.use_cases.through.objects.filter(evidence_id=OuterRef("pk"))
    visible = scoped.filter(usecase_id__in=use_cases_visible_to(user).values("pk"))
    return qs.filter(~Exists(scoped) | Exists(visible))


def applicability_visible_to(user) -> QuerySet[Applicability]:
    return Applicability.objects.filter(
        use_case__in=use_cases_visible_to(user).values("pk")
    ).select_related("obligation__framework", "use_case")


def signed_statements_visible_to(user) -> QuerySet[SignedStatement]:
    """Frameworks' signed statements for everyone signed in; a use case's for whoever sees
    the use case."""
    if not user.is_authenticated:
        return SignedStatement.objects.none()
    if access_for(user).reads_everything:
        return SignedStatement.objects.all()
    return SignedStatement.objects.filter(
        Q(use_case__isnull=True) | Q(use_case__in=use_cases_visible_to(user).values("pk"))
    )


def live_exceptions() -> QuerySet[ObligationException]:
    return ObligationException.objects.filter(expires_on__gte=timezone.localdate())


def use_case_obligations(use_case: UseCase) -> list[Applicability]:
    """The use case's rows of the frameworks in force, each with its live exception (if any)."""
    rows = list(
        Applicability.objects.filter(use_case=use_case, obligation__framework__active=True)
        .select_related("obligation__framework")
        .order_by("obligation__framework__key", "obligation__order")
    )
    accepted: dict[int, ObligationException] = {}
    for exc in (
        live_exceptions()
        .filter(applicability__in=[r.pk for r in rows])
        .select_related("accepted_by")
        .order_by("expires_on")
    ):
        accepted.setdefault(exc.applicability_id, exc)
    for row in rows:
        row.live_exception = accepted.get(row.pk)  # type: ignore[attr-defined]
    return rows


def access_use_case_obligations(user, pk: int) -> UseCase:
    return get_visible_or_404(use_cases_visible_to(user), user, pk=pk)


def access_control(user, pk: int) -> Control:
    return get_visible_or_404(controls_visible_to(user), user, pk=pk)


def access_evidence(user, pk: int) -> Evidence:
    return get_visible_or_404(evidence_visible_to(user), user, pk=pk)


def access_framework(user, pk: int) -> Framework:
    return get_visible_or_404(frameworks_visible_to(user), user, pk=pk)


# Coverage ----------------------------------------------------------------------------------
@dataclass
class Share:
    label: str
    applicable: int = 0
    met: int = 0
    overdue: int = 0
    accepted: int = 0
    key: str = ""
    missing: list[str] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return round(100 * self.met / self.applicable) if self.applicable else 100

    @property
    def open(self) -> int:
        return self.applicable - self.met

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "applicable": self.applicable,
            "met": self.met,
            "missing": self.open,
            "overdue": self.overdue,
            "accepted": self.accepted,
            "percent": self.percent,
        }


# Each row counted once: no join multiplies them (an exception is asked with EXISTS), so no
# COUNT(DISTINCT), whose sort was most of the coverage page's time at 10,000 use cases.
COUNTS = {
    "applicable": Count("pk"),
    "met": Count("pk", filter=Q(status=Status.MET)),
    "overdue": Count("pk", filter=Q(status=Status.OVERDUE)),
}


def _applicable(user) -> QuerySet[Applicability]:
    rows = Applicability.objects.filter(applicable=True, obligation__framework__active=True)
    return of_visible_use_cases(user, rows)


def _counts() -> dict:
    live = ObligationException.objects.filter(
        applicability=OuterRef("pk"), expires_on__gte=timezone.localdate()
    )
    return {**COUNTS, "accepted": Count("pk", filter=~Q(status=Status.MET) & Q(Exists(live)))}


def _grouped(rows: QuerySet[Applicability], *fields: str) -> Any:
    """The rows grouped by ``fields``, each group with its counts. (Typed Any: the type
    checker's plugin cannot see the keys that annotate() adds from a dict.)"""
    return rows.values(*fields).annotate(**_counts())


def _per_framework(rows: QuerySet[Applicability]) -> list[Share]:
    return [
        Share(
            r["obligation__framework__title"],
            key=r["obligation__framework__key"],
            applicable=r["applicable"],
            met=r["met"],
            overdue=r["overdue"],
            accepted=r["accepted"],
        )  # fmt: skip
        for r in _grouped(
            rows, "obligation__framework__key", "obligation__framework__title"
        ).order_by("obligation__framework__key")
    ]


def coverage(user, *, unit: int | None = None) -> dict:
    """Coverage over the use cases the person sees: overall, per business unit, per framework
    (use-case scoped ones), and the use cases with the most obligations open."""
    rows = _applicable(user)
    if unit is not None:
        rows = rows.filter(use_case__business_unit_id=unit)
    per_unit = [
        Share(
            r["use_case__business_unit__name"],
            key=str(r["use_case__business_unit_id"]),
            applicable=r["applicable"],
            met=r["met"],
            overdue=r["overdue"],
            accepted=r["accepted"],
        )  # fmt: skip
        for r in _grouped(
            rows, "use_case__business_unit_id", "use_case__business_unit__name"
        ).order_by("use_case__business_unit__name")
    ]
    # The whole as the sum of its units (one query fewer than counting it apart).
    total = _summed("All use cases", per_unit)
    per_framework = _per_framework(rows)
    worst = [
        Share(
            f"{r['use_case__reference']} {r['use_case__title']}",
            key=str(r["use_case_id"]),
            applicable=r["applicable"],
            met=r["met"],
            overdue=r["overdue"],
            accepted=r["accepted"],
        )  # fmt: skip
        for r in _grouped(rows, "use_case_id", "use_case__reference", "use_case__title")
        .filter(Q(overdue__gt=0) | Q(applicable__gt=0))
        .order_by("-overdue", "met", "use_case_id")[:20]
    ]
    per_obligation = [
        Share(
            f"{r['obligation__ref']} {r['obligation__title']}",
            key=r["obligation__key"],
            applicable=r["applicable"],
            met=r["met"],
            overdue=r["overdue"],
            accepted=r["accepted"],
        )  # fmt: skip
        for r in _grouped(
            rows, "obligation__key", "obligation__ref", "obligation__title", "obligation__order"
        ).order_by("obligation__order")
    ]
    return {
        "total": total,
        "units": per_unit,
        "frameworks": per_framework,
        "use_cases": worst,
        "obligations": per_obligation,
    }


def coverage_total(user) -> Share:
    """The one line the dashboard shows: share met across what the person sees (one query)."""
    return Share("All use cases", **_applicable(user).aggregate(**_counts()))


def _summed(label: str, shares: list[Share]) -> Share:
    """The share of all of ``shares`` together: each applicable row belongs to one obligation
    and so to one framework (or one unit), so the groups add up to the whole exactly."""
    return Share(
        label,
        applicable=sum(s.applicable for s in shares),
        met=sum(s.met for s in shares),
        overdue=sum(s.overdue for s in shares),
        accepted=sum(s.accepted for s in shares),
    )


def coverage_over(use_cases: QuerySet[UseCase] | None) -> dict:
    """Coverage over these use cases (a KPI's scope; None: every use case): per framework,
    and overall as their sum, in one query."""
    rows = Applicability.objects.filter(applicable=True, obligation__framework__active=True)
    if use_cases is not None:
        rows = rows.filter(use_case__in=use_cases.values("pk"))
    frameworks = _per_framework(rows)
    return {"total": _summed("All use cases", frameworks), "frameworks": frameworks}


def use_case_coverage(use_case: UseCase) -> Share:
    counts = _counts()
    found = Applicability.objects.filter(
        use_case=use_case, applicable=True, obligation__framework__active=True
    ).aggregate(**counts)
    return Share(str(use_case), key=str(use_case.pk), **found)


def organisation_frameworks() -> QuerySet[Framework]:
    return Framework.objects.filter(
        active=True, kind=FrameworkKind.FRAMEWORK, scope=Scope.ORGANISATION
    )
