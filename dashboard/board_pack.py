"""The board pack: a PDF of two to four A4 pages for a period, for the board.

It is a firm-wide document: leadership and admins make and sign one, and they, risk officers
and auditors read them (dashboard/rules.py). Making one freezes the firm's KPIs for the
period (``kpis.compute``, the figures the API gives someone who reads everything) and the
lists it shows; the PDF is drawn from what was frozen, so it reads the same every time.
Signing works as an assessment's sign-off: the signer re-enters their password (under the
same limit on guessing), and ``content`` keeps the canonical JSON of exactly what was signed
(the figures, the lists, the period, the signer, the time, their note) with its SHA-256.
A scheduled task makes last month's pack on the first days of a month and emails leadership
a link (SITE_URL).
"""

from __future__ import annotations

import calendar
import json
import logging
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from assessments.models import Assessment, Status, canonical_json, sha256_of
from dashboard import charts, kpis, snapshots
from dashboard.models import BoardPack, KpiSnapshot
from monitoring.models import Flag, FlagStatus
from portal import notify, throttle
from portal.access import require
from portal.models import Role
from portal.pdf import render_pdfs_until_fit
from portal.records import next_reference, save_with_history
from registry.models import RiskTier, UseCase

logger = logging.getLogger(__name__)
TEMPLATE = "dashboard/pdf/board_pack.html"
# The appendix is capped so the pack stays within four pages; tighter caps are tried in turn.
APPENDIX_CAPS = (60, 40, 25, 12)
LIST_CAPS = (8, 6, 4, 3)


def _extras(start: date, end: date) -> dict:
    """The lists the pack shows, frozen with it."""
    high_flags = [
        {
            "reference": f.reference,
            "use_case": f.use_case.reference,
            "severity": f.severity,
            "raised": f.raised_at.date().isoformat(),
            "reason": (f.evidence or {}).get("reason", "") if isinstance(f.evidence, dict) else "",
        }
        for f in Flag.objects.filter(
            status=FlagStatus.OPEN, severity__in=["high", "critical"]
        ).select_related("use_case")[:50]
    ]
    decisions = [
        {
            "reference": a.reference,
            "kind": a.get_kind_display(),
            "use_case": a.use_case.reference,
            "title": a.use_case.title,
        }
        for a in Assessment.objects.filter(status=Status.APPROVED)
        .select_related("use_case")
        .order_by("approved_at", "pk")[:50]
    ]
    failing = [
        {"reference": uc.reference, "title": uc.title, "unit": uc.business_unit.name}
        for uc in kpis.live_failing_gate(kpis.Scope(), limit=50)
    ]
    top_risks = [
        {
            "reference": uc.reference,
            "title": uc.title,
            "tier": RiskTier(uc.risk_tier).label,
            "lifecycle": uc.get_lifecycle_display(),
        }
        for uc in UseCase.objects.filter(risk_tier__in=[RiskTier.PROHIBITED, RiskTier.HIGH])
        .exclude(lifecycle="retired")
        .order_by("risk_tier", "reference")[:50]
    ]
    register = [
        {
            "reference": r["reference"],
            "title": r["title"],
            "tier": RiskTier(r["risk_tier"]).label,
            "lifecycle": r["lifecycle"],
            "unit": r["business_unit__name"],
        }
        for r in UseCase.objects.order_by("risk_tier", "reference").values(
            "reference", "title", "risk_tier", "lifecycle", "business_unit__name"
        )[:200]
    ]
    return {
        "high_flags": high_flags,
        "decisions": decisions,
        "failing": failing,
        "top_risks": top_risks,
        "register": register,
        "register_total": UseCase.objects.count(),
    }


def previous_month(today: date) -> tuple[date, date]:
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


@transaction.atomic
def board_pack_make(*, actor, start: date, end: date) -> BoardPack:
    """Freeze the firm's KPIs and lists for ``start``..``end`` into a new pack."""
    if actor is not None:
        require(actor, "dashboard.add_board_pack")
    if start > end:
        raise ValidationError({"end": "The end comes after the start."})
    if end > timezone.localdate():
        raise ValidationError({"end": "The period ends today at the latest."})
    figures = kpis.compute(kpis.Scope(start=start, end=end))
    pack = BoardPack(
        reference=next_reference("BP"),
        period_start=start,
        period_end=end,
        figures=figures,
        extras=_extras(start, end),
        created_by=actor,
    )
    save_with_history(pack, actor=actor, reason=f"Board pack made for {start} to {end}")
    return pack


def content_to_sign(pack: BoardPack, *, signer, at, note: str) -> dict:
    """Exactly what a board pack's signature covers; its canonical JSON is what is hashed."""
    return {
        "reference": pack.reference,
        "period": {"start": pack.period_start.isoformat(), "end": pack.period_end.isoformat()},
        "figures": pack.figures,
        "lists": pack.extras,
        "signed_by": signer.username,
        "signed_by_id": signer.pk,
        "signed_at": at.isoformat(),
        "note": note,
    }


def board_pack_sign(*, actor, pack: BoardPack, password: str, note: str = "") -> BoardPack:
    require(actor, "dashboard.sign_board_pack", pack)
    # Outside the transaction: a wrong password must count towards the limit on guessing.
    throttle.check_signer(actor, password)
    return _sign(actor, pack, note.strip())


@transaction.atomic
def _sign(actor, pack: BoardPack, note: str) -> BoardPack:
    pack = BoardPack.objects.select_for_update().get(pk=pack.pk)
    if pack.is_signed:
        raise ValidationError({"__all__": f"{pack.reference} is already signed."})
    now = timezone.now()
    content = canonical_json(content_to_sign(pack, signer=actor, at=now, note=note))
    pack.signed_by, pack.signed_at, pack.note = actor, now, note
    pack.content, pack.sha256 = content, sha256_of(content)
    save_with_history(pack, actor=actor, reason=f"Signed by {actor.get_full_name() or actor}")
    return pack


def verified(pack: BoardPack) -> bool:
    """The stored content hashes right and still holds the pack's figures and lists."""
    if not pack.is_signed or sha256_of(pack.content) != pack.sha256:
        return False
    stored = json.loads(pack.content)
    return stored.get("figures") == pack.figures and stored.get("lists") == pack.extras


def filename(pack: BoardPack) -> str:
    return f"{pack.reference}-board-pack-{'signed' if pack.is_signed else 'draft'}.pdf"


def _link(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _what_changed(pack: BoardPack) -> list[str]:
    """The headline figures against the month before the period ends (its snapshot)."""
    before = snapshots.add_months(snapshots.month_start(pack.period_end), -1)
    row = KpiSnapshot.objects.filter(month=before, business_unit=None).first()
    if row is None:
        return ["No snapshot of the month before to compare with."]
    then, now = row.figures, pack.figures
    lines = []
    for label, (kpi, key) in {
        "Use cases": ("tiers", "total"),
        "Live use cases": ("gate", "live"),
        "Passing the gate (%)": ("gate", "percent"),
        "With a current sign-off (%)": ("signed_off", "percent"),
        "Overdue reviews and re-assessments": ("overdue", "total"),
        "Open flags": ("flags", "open"),
    }.items():
        a, b = (then.get(kpi) or {}).get(key), (now.get(kpi) or {}).get(key)
        if a is None or b is None:
            continue
        delta = round(b - a, 1)
        lines.append(f"{label}: {b} ({'+' if delta > 0 else ''}{delta} on {before:%B %Y})")
    return lines


def render(pack: BoardPack) -> bytes:
    figures, extras = pack.figures, pack.extras
    trend = snapshots.trend(None, months=12, today=pack.period_end)
    labels = [r["month"].strftime("%b %y") for r in trend]
    chart = {
        "tiers": charts.bars(
            "Use cases by risk tier",
            [(RiskTier(t).label, n) for t, n in figures["tiers"]["by_tier"].items()],
        ),
        "gate": charts.columns(
            "Passing the go-live gate (%), by month",
            labels,
            [("Passing (%)", [r.get("gate.percent") for r in trend])],
            unit="%",
        ),
        "flags": charts.columns(
            "Flags raised and incidents opened, by month",
            labels,
            [
                ("Flags", [r.get("flags.raised_in_period") for r in trend]),
                ("Incidents", [r.get("incidents.opened_in_period") for r in trend]),
            ],
        ),
    }
    base = {
        "pack": pack,
        "figures": figures,
        "charts": chart,
        "changed": _what_changed(pack),
        "link": _link(reverse("board-pack", args=[pack.pk])),
        "site_name": settings.SITE_NAME,
        "generated_at": timezone.now(),
        "signer": (pack.signed_by.get_full_name() or pack.signed_by.username)
        if pack.signed_by
        else "",
    }
    contexts = []
    for appendix, cap in zip(APPENDIX_CAPS, LIST_CAPS, strict=True):
        contexts.append(
            {
                **base,
                "register": extras["register"][:appendix],
                "register_more": extras["register_total"] - min(appendix, len(extras["register"])),
                "high_flags": extras["high_flags"][:cap],
                "high_flags_more": max(0, len(extras["high_flags"]) - cap),
                "decisions": extras["decisions"][:cap],
                "decisions_more": max(0, len(extras["decisions"]) - cap),
                "failing": extras["failing"][:cap],
                "failing_more": max(0, len(extras["failing"]) - cap),
                "top_risks": extras["top_risks"][:cap],
                "top_risks_more": max(0, len(extras["top_risks"]) - cap),
            }
        )
    rendered = render_pdfs_until_fit(TEMPLATE, contexts, max_pages=4)
    if rendered.fitted is None:
        logger.warning("Board pack %s ran to %d pages; kept four", pack.reference, rendered.pages)
    return rendered.content


def send_monthly(*, today: date | None = None) -> BoardPack | None:
    """Make last month's pack if there is none yet and email leadership a link to it."""
    today = today or timezone.localdate()
    start, end = previous_month(today)
    if BoardPack.objects.filter(period_start=start, period_end=end).exists():
        return None
    pack = board_pack_make(actor=None, start=start, end=end)
    leaders = (
        get_user_model().objects.filter(Q(groups__name=Role.LEADERSHIP), is_active=True).distinct()
    )
    notify.email(
        list(leaders),
        f"Board pack {pack.reference} for {start:%B %Y} is ready to sign",
        f"The board pack for {start:%d %b %Y} to {end:%d %b %Y} is ready: read it and sign "
        f"it here:\n\n{_link(reverse('board-pack', args=[pack.pk]))}",
        url=reverse("board-pack", args=[pack.pk]),
    )
    return pack
