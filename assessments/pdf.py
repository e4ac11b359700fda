"""The one-page summary of an assessment for leadership, and its full report.

The summary must fit one A4 page however long the answers are. Texts are clipped and lists
capped (each says so and points to the full report); then the page is laid out and its
pages counted, and while it runs over, it is laid out again with tighter limits. At the
last limits every text and list is short (the rest are names and labels the models bound),
so the page fits, as the tests check with 20,000-character answers and 40 risks. Should a
change to the template or its styles ever break that, the first page alone is kept: it
still carries the heading, the result and the pointer to the full report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from assessments import engine, services
from assessments.models import Assessment, Comment, ReviewAssignment, SignOff, Status
from portal.pdf import render_pdf, render_pdfs_until_fit

logger = logging.getLogger(__name__)

SUMMARY_TEMPLATE = "assessments/pdf/summary.html"
FULL_TEMPLATE = "assessments/pdf/full.html"
CUT = "see the full report"


def summary_available(assessment: Assessment) -> bool:
    """A summary is of something put forward for review: never of a draft being written."""
    return assessment.status != Status.DRAFT


def full_report_url(assessment: Assessment) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("assessments:pdf-full", args=[assessment.pk])


def person(user) -> str:
    return (user.get_full_name() or user.username) if user is not None else ""


# Clipping -------------------------------------------------------------------------------------
def clip(text, limit: int) -> SafeString:
    """The text on one run of lines, cut at a word near ``limit`` with a pointer to the rest."""
    flat = " ".join(str(text or "").split())
    if len(flat) <= limit:
        return format_html("{}", flat)
    cut = flat[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return format_html('{}… <span class="cut">{}</span>', cut.rstrip(" ,;:.-"), CUT)


@dataclass(frozen=True)
class Capped:
    items: list
    more: int  # how many were left out


def cap(items: list, limit: int) -> Capped:
    return Capped(items[:limit], max(0, len(items) - limit))


@dataclass(frozen=True)
class Limits:
    text: int  # a risk and its measures
    line: int  # a line in a list: a reason, an issue, why a reviewer was asked
    basis: int  # the use case's purpose, its risk tier's basis, the sign-off statement
    risks: int
    reasons: int
    issues: int
    reviews: int
    why: int  # reasons shown per reviewer


SUMMARY_LIMITS = (
    Limits(text=120, line=150, basis=200, risks=5, reasons=5, issues=4, reviews=8, why=2),
    Limits(text=90, line=110, basis=140, risks=5, reasons=4, issues=3, reviews=6, why=1),
    Limits(text=70, line=80, basis=100, risks=4, reasons=3, issues=2, reviews=5, why=1),
    Limits(text=50, line=60, basis=60, risks=3, reasons=2, issues=1, reviews=4, why=1),
)


# What both documents read -------------------------------------------------------------------
def _risk_rows(assessment: Assessment, shown: set[str]) -> list[dict]:
    """Every risk of every shown risk table, highest residual (then inherent) first."""
    rows = []
    for q in engine.questions(assessment.definition):
        if q.type != "risk_table" or q.key not in shown:
            continue
        for row in assessment.answers.get(q.key) or []:
            rows.append({**row, "question": q.label})
    order = engine.RATING_ORDER
    rows.sort(
        key=lambda r: (order[r.get("residual") or r["inherent"]], order[r["inherent"]]),
        reverse=True,  # sorted() stays stable in reverse: equal risks keep their order
    )
    return rows


def _reviews(assessment: Assessment) -> list[ReviewAssignment]:
    return sorted(assessment.reviews.all(), key=lambda a: (a.stage != "review", a.pk))


def _sign_off(assessment: Assessment) -> SignOff | None:
    return SignOff.objects.filter(assessment=assessment).select_related("signed_by").first()


def _awaiting(reviews: list[ReviewAssignment]) -> list[str]:
    return [
        a.reviewer_label
        for a in reviews
        if a.stage == "approve" and a.decision == ReviewAssignment.Decision.PENDING
    ]


def _reason(reason: dict, qmap: dict) -> dict:
    """A reason for the result: what it cites, and the question and answer behind it."""
    q = qmap.get(reason.get("question") or "")
    answer = reason.get("answer") or ""
    if q is not None and answer == q.label:  # a yes that counted: the engine gives the label
        answer = "Yes"
    said = f"{q.label} {answer}".strip() if q else answer
    return {"cite": reason.get("cite") or "", "said": said}


def _facts(assessment: Assessment, today: date) -> dict:
    """Everything read from the database and the engine, once, before any layout."""
    definition, answers = assessment.definition, assessment.answers
    shown = engine.visible_keys(definition, answers)
    qmap = engine.question_map(definition)
    result = assessment.result or {}
    reviews = _reviews(assessment)
    open_threads = list(
        Comment.objects.filter(assessment=assessment, parent__isnull=True, resolved=False)
        .select_related("author")
        .order_by("created_at", "pk")
    )

    def on(key: str) -> str:
        return qmap[key].label if key in qmap else "the assessment as a whole"

    issues = (
        [
            f"Open comment on “{on(c.question_key)}” by {person(c.author)}: {c.body}"
            for c in open_threads
        ]
        + [
            f"Evidence expired {item['expires']}: {item['title']} ({item['label']})"
            for item in engine.expired_evidence(definition, answers, today)
            if item["question"] in shown
        ]
        + [
            f"Required question not answered: {q.label}"
            for q in engine.missing_required(definition, answers)
        ]
    )
    return {
        "assessment": assessment,
        "use_case": assessment.use_case,
        "template": assessment.template,
        "result": result,
        "scores": list((result.get("scores") or {}).values()),
        "adjustments": result.get("adjustments") or [],
        "reasons": [_reason(r, qmap) for r in result.get("reasons") or []],
        "risks": _risk_rows(assessment, shown),
        "issues": issues,
        "reviews": reviews,
        "sign_off": _sign_off(assessment),
        "awaiting": _awaiting(reviews),
        "full_report_url": full_report_url(assessment),
        "generated_at": timezone.now(),
        "site_name": settings.SITE_NAME,
        "owner": person(assessment.use_case.owner),
        "author": person(assessment.author),
        "cut": CUT,
        "shown": shown,
        "qmap": qmap,
    }


# The one-page summary -----------------------------------------------------------------------
def summary_context(facts: dict, limits: Limits) -> dict:
    use_case = facts["use_case"]
    risks = cap(facts["risks"], limits.risks)
    reviews = cap(facts["reviews"], limits.reviews)
    sign_off = facts["sign_off"]
    return {
        **facts,
        "title": clip(use_case.title, 160),
        "purpose": clip(use_case.purpose, limits.basis),
        "override_reason": clip(facts["assessment"].tier_override_reason, limits.line),
        "risk_total": len(facts["risks"]),
        "scores": cap(
            [{**s, "label": clip(s.get("label"), limits.line)} for s in facts["scores"]],
            limits.reasons,
        ),
        "tier_basis": clip(use_case.risk_tier_basis, limits.basis),
        "reasons": cap(
            [
                {"cite": clip(r["cite"], limits.line), "said": clip(r["said"], limits.line)}
                for r in facts["reasons"]
            ],
            limits.reasons,
        ),
        "adjustments": cap([clip(a, limits.line) for a in facts["adjustments"]], limits.reasons),
        "risks": Capped(
            [
                {
                    "risk": clip(r["risk"], limits.text),
                    "inherent": r["inherent"],
                    "measures": clip(r.get("measures"), limits.text),
                    "effect": r.get("effect") or "",
                    "residual": r.get("residual") or "",
                }
                for r in risks.items
            ],
            risks.more,
        ),
        "issues": cap([clip(i, limits.line) for i in facts["issues"]], limits.issues),
        "reviews": Capped(
            [
                {
                    "stage": a.get_stage_display(),
                    "reviewer": a.reviewer_label,
                    "decision": a.get_decision_display(),
                    "decision_value": a.decision,
                    "by": person(a.decided_by),
                    "at": a.decided_at,
                    "why": cap([clip(w, limits.line) for w in a.reasons], limits.why),
                }
                for a in reviews.items
            ],
            reviews.more,
        ),
        "statement": clip(sign_off.statement, limits.basis) if sign_off else "",
        "signer": person(sign_off.signed_by) if sign_off else "",
    }


def summary_pdf(assessment: Assessment) -> bytes:
    """One A4 page for leadership; see the module's docstring for how it stays one page."""
    facts = _facts(assessment, timezone.localdate())
    rendered = render_pdfs_until_fit(
        SUMMARY_TEMPLATE, [summary_context(facts, limits) for limits in SUMMARY_LIMITS], max_pages=1
    )
    if rendered.fitted is None:
        logger.warning(
            "The summary of %s ran to %d pages at the tightest limits; kept the first",
            assessment.reference,
            rendered.pages,
        )
    return rendered.content


# The full report ----------------------------------------------------------------------------
def _threads(assessment: Assessment) -> dict[str, list[dict]]:
    """Comment threads per question key ("" for the assessment as a whole)."""
    comments = list(
        Comment.objects.filter(assessment=assessment)
        .select_related("author")
        .order_by("created_at", "pk")
    )
    replies: dict[int, list[Comment]] = {}
    for c in comments:
        if c.parent_id:
            replies.setdefault(c.parent_id, []).append(c)
    threads: dict[str, list[dict]] = {}
    for c in comments:
        if not c.parent_id:
            threads.setdefault(c.question_key, []).append(
                {"comment": c, "author": person(c.author), "replies": replies.get(c.pk, [])}
            )
    for thread_list in threads.values():
        for t in thread_list:
            t["replies"] = [{"comment": r, "author": person(r.author)} for r in t["replies"]]
    return threads


def _answer_view(q: engine.Question, value, today: date) -> dict:
    view = {"type": q.type, "answered": engine.is_answered(value), "text": ""}
    if not view["answered"]:
        return view
    if q.type == "risk_table":
        view["rows"] = [
            {
                **row,
                "likelihood_label": dict(engine.LIKELIHOOD).get(row["likelihood"], ""),
                "severity_label": dict(engine.SEVERITY).get(row["severity"], ""),
                "effect_label": dict(engine.EFFECTS).get(row.get("effect") or "", ""),
            }
            for row in value
        ]
    elif q.type == "evidence":
        view["items"] = [
            {
                **item,
                "expired": bool(item.get("expires"))
                and date.fromisoformat(item["expires"]) < today,
            }
            for item in value
        ]
    elif q.type == "multi_choice":
        view["items"] = [q.choice_label(v) for v in value]
    else:
        view["text"] = engine.display_answer(q, value)
    return view


def full_context(assessment: Assessment, today: date | None = None) -> dict:
    today = today or timezone.localdate()
    facts = _facts(assessment, today)
    shown, answers = facts["shown"], assessment.answers
    threads = _threads(assessment)
    sections = []
    placed: set[str] = set()
    for section in assessment.definition.get("sections", []):
        items = []
        for spec in section.get("questions", []):
            q = facts["qmap"][spec["key"]]
            if q.key not in shown:
                continue
            placed.add(q.key)
            items.append(
                {
                    "question": q,
                    "answer": _answer_view(q, answers.get(q.key), today),
                    "threads": threads.get(q.key, []),
                }
            )
        hidden = len(section.get("questions", [])) - len(items)
        sections.append({"title": section.get("title", ""), "items": items, "hidden": hidden})
    other_threads = [t for key, ts in threads.items() if key == "" or key not in placed for t in ts]
    sign_off = facts["sign_off"]
    return {
        **facts,
        "sections": sections,
        "other_threads": other_threads,
        "signer": person(sign_off.signed_by) if sign_off else "",
        "sign_off_verified": services.sign_off_verified(assessment) if sign_off else False,
        "reviews": [
            {
                "assignment": a,
                "by": person(a.decided_by),
            }
            for a in facts["reviews"]
        ],
    }


def full_pdf(assessment: Assessment) -> bytes:
    return render_pdf(FULL_TEMPLATE, full_context(assessment))
