"""The Statement of Applicability: every obligation or control of a framework (or of one use
case), applicable or not with the reason, its status, owners and evidence; as a page, a CSV
and a PDF.

The use case's statement rests on its signed-off screening: the PDF carries that sign-off
(who signed, when, and the SHA-256 of what was signed, as assessments/ keeps it) and the
SHA-256 of the statement's own rows, so a reader can tell which signed screening it follows
and that the rows were not changed.
"""

import datetime
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import Min
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from assessments.models import Kind, SignOff, canonical_json, sha256_of
from assessments.models import Status as AssessmentStatus
from compliance import selectors
from compliance.models import (
    Applicability,
    Exclusion,
    Framework,
    Scope,
    SignedStatement,
    Status,
)
from compliance.services.applicability import CoverageIndex
from portal.access import access_for
from portal.pdf import render_pdf
from registry.models import BusinessUnit, UseCase

HEADER = [
    "Framework",
    "Reference",
    "Title",
    "Applicable",
    "Reason",
    "Status",
    "Detail",
    "Controls",
    "Owners",
    "Evidence",
]


@dataclass
class Row:
    framework: str
    ref: str
    title: str
    applicable: str
    reason: str
    status: str
    detail: str = ""
    controls: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def cells(self) -> list:
        return [
            self.framework,
            self.ref,
            self.title,
            self.applicable,
            self.reason,
            self.status,
            self.detail,
            ", ".join(self.controls),
            ", ".join(self.owners),
            ", ".join(self.evidence),
        ]


@dataclass
class Statement:
    title: str
    subject: str
    rows: list[Row]
    as_of: datetime.date
    basis: dict | None = None  # the signed screening it rests on
    signed: "SignedStatement | None" = None  # when read back from a signature

    def frozen(self) -> dict:
        """What a signature keeps of the statement (JSON)."""
        basis = dict(self.basis) if self.basis else None
        if basis and isinstance(basis.get("signed_at"), datetime.datetime):
            basis["signed_at"] = basis["signed_at"].isoformat()
        return {
            "title": self.title,
            "subject": self.subject,
            "as_of": self.as_of.isoformat(),
            "rows": [asdict(r) for r in self.rows],
            "rows_sha256": self.sha256,
            "basis": basis,
        }

    @classmethod
    def from_signed(cls, signed: "SignedStatement") -> "Statement":
        """The statement exactly as it was signed, with its signature."""
        basis = dict(signed.basis) if signed.basis else None
        if basis and basis.get("signed_at"):
            basis["signed_at"] = parse_datetime(basis["signed_at"])
        rows = [Row(**r) for r in signed.rows]
        return cls(signed.title, signed.subject, rows, signed.as_of, basis, signed)

    @property
    def sha256(self) -> str:
        return sha256_of(canonical_json([r.cells() for r in self.rows]))

    @property
    def counts(self) -> dict:
        applicable = [r for r in self.rows if r.applicable == "Yes"]
        met = sum(1 for r in applicable if r.status == Status.MET.label)
        return {"items": len(self.rows), "applicable": len(applicable), "met": met}


def _label(status: str) -> str:
    return Status(status).label


def framework_statement(user, framework: Framework) -> Statement:
    """Per framework: items scoped to use cases count the use cases (the person sees) each
    applies to; items of the firm as a whole are met by the firm's controls."""
    index = CoverageIndex()
    today = timezone.localdate()
    rows: list[Row] = []
    items = list(framework.obligations.all())
    if framework.scope == Scope.USE_CASE:
        per: dict[int, Any] = {
            r["obligation_id"]: r
            for r in selectors.applicability_visible_to(user)
            .filter(obligation__framework=framework)
            .order_by()
            .values("obligation_id")
            .annotate(**selectors.COUNTS)
        }
        # One reason for each item that applies nowhere (the use cases' reasons differ only
        # in their tier or role).
        reasons = dict(
            Applicability.objects.filter(obligation__in=items, applicable=False)
            .order_by()
            .values("obligation_id")
            .annotate(reason=Min("reason"))
            .values_list("obligation_id", "reason")
        )
        for item in items:
            found = per.get(item.pk)
            explained = index.explain(item.pk, None)
            if found and found["applicable"]:
                status = (
                    Status.MET
                    if found["met"] == found["applicable"]
                    else Status.OVERDUE
                    if found["overdue"]
                    else Status.IN_PROGRESS
                )
                rows.append(
                    Row(
                        framework.title,
                        item.ref,
                        item.title,
                        "Yes",
                        f"Applies to {found['applicable']} use case(s).",
                        _label(status),
                        f"{found['met']} met, {found['overdue']} overdue",
                        **explained,
                    )  # fmt: skip
                )
            else:
                why = reasons.get(item.pk) or "Applies to none of the use cases screened."
                rows.append(
                    Row(
                        framework.title,
                        item.ref,
                        item.title,
                        "No",
                        why,
                        _label(Status.NOT_APPLICABLE),
                        **explained,
                    )  # fmt: skip
                )
    else:
        excluded = {
            e.obligation_id: e
            for e in Exclusion.objects.filter(obligation__in=items).select_related("excluded_by")
        }
        for item in items:
            exclusion = excluded.get(item.pk)
            if exclusion is not None:
                who = exclusion.excluded_by.get_full_name() or exclusion.excluded_by.username
                rows.append(
                    Row(
                        framework.title,
                        item.ref,
                        item.title,
                        "No",
                        exclusion.reason,
                        _label(Status.NOT_APPLICABLE),
                        f"Excluded by {who} on {exclusion.excluded_at:%d %b %Y}.",
                    )  # fmt: skip
                )
                continue
            firm_status, detail = index.status(
                item.pk, None, applicable=True, due_on=None, today=today
            )
            rows.append(
                Row(
                    framework.title,
                    item.ref,
                    item.title,
                    "Yes",
                    "The firm adopts this framework for its AI management system.",
                    _label(firm_status),
                    detail,
                    **index.explain(item.pk, None),
                )  # fmt: skip
            )
    title = f"Statement of Applicability: {framework.title}"
    return Statement(title, _subject(user, framework), rows, today)


def _subject(user, framework: Framework) -> str:
    """Whom a framework's statement covers: the firm, or (use-case items read by someone who
    sees some units only) the use cases of those units."""
    access = access_for(user)
    if framework.scope != Scope.USE_CASE or access.reads_everything:
        return "the firm"
    units = ", ".join(
        BusinessUnit.objects.filter(pk__in=access.unit_ids)
        .order_by("name")
        .values_list("name", flat=True)
    )
    return f"the firm; use cases as seen by {user.get_full_name() or user} ({units or 'no unit'})"


def use_case_statement(use_case: UseCase) -> Statement:
    index = CoverageIndex()
    rows = []
    for row in selectors.use_case_obligations(use_case):
        detail = row.status_detail
        exc = row.live_exception  # type: ignore[attr-defined]
        if exc is not None and row.status != Status.MET:
            who = exc.accepted_by.get_full_name() or exc.accepted_by.username
            detail = (
                f"{detail} Accepted by {who} until {exc.expires_on:%d %b %Y}: {exc.reason}"
            ).strip()
        rows.append(
            Row(
                row.obligation.framework.title,
                row.obligation.ref,
                row.obligation.title,
                "Yes" if row.applicable else "No",
                row.reason,
                row.get_status_display(),
                detail,
                **index.explain(row.obligation_id, use_case.pk),
            )  # fmt: skip
        )
    signed = (
        SignOff.objects.filter(
            assessment__use_case=use_case,
            assessment__kind=Kind.SCREENING,
            assessment__status=AssessmentStatus.SIGNED_OFF,
        )
        .select_related("signed_by", "assessment")
        .order_by("-signed_at")
        .first()
    )
    basis = None
    if signed is not None:
        basis = {
            "assessment": signed.assessment.reference,
            "signed_by": signed.signed_by.get_full_name() or signed.signed_by.username,
            "signed_at": signed.signed_at,
            "sha256": signed.sha256,
            "intact": signed.content_intact,
        }
    return Statement(
        f"Statement of Applicability: {use_case.reference} {use_case.title}",
        f"{use_case.reference} {use_case.title}",
        rows,
        timezone.localdate(),
        basis,
    )


def statement_pdf(statement: Statement) -> bytes:
    return render_pdf("compliance/pdf/soa.html", {"statement": statement})
