"""The one-page summary of an assessment for leadership, and its full report.

The summary is written for an executive who has a minute: it opens with the decision asked
of them and what signing commits the firm to, then the result in plain words with what the
risk tier means, the duties that follow (a screening) or the top risks with their residual
ratings (every other kind), the reasons, the reviewers' open questions and, once signed,
the signer's own conditions and the hash of what was signed. Scores are shown only where
they mean something: a screening's scores count the questions that pointed at each ground,
and a share of those reads as a level of risk it is not, so a screening shows none.

Until it is signed, the page carries a DRAFT watermark and downloads as
``<reference>-summary-draft.pdf``; once signed, as ``<reference>-summary-signed.pdf``.

It must fit one A4 page however long the answers are. Texts are summarised at sentence
boundaries (whole sentences that fit; a reason is never cut mid-sentence) with a pointer to
the full text, which is one link away (the full report, at SITE_URL), and lists are capped
(each says so). The page is laid out and its pages counted, and while it runs over, it is
laid out again with tighter limits. At the last limits every text and list is short, so the
page fits, as the tests check with 20,000-character answers, 40 risks and a dozen open
questions. Should a change to the template or its styles ever break that, the first page
alone is kept: it opens with the decision, the result and the pointer to the full report.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from assessments import engine, services
from assessments.models import Assessment, Comment, Kind, ReviewAssignment, SignOff, Status
from portal.pdf import render_pdf, render_pdfs_until_fit
from registry.models import RiskTier

logger = logging.getLogger(__name__)

SUMMARY_TEMPLATE = "assessments/pdf/summary.html"
FULL_TEMPLATE = "assessments/pdf/full.html"
CUT = "see the full report"


def summary_available(assessment: Assessment) -> bool:
    """A summary is of something put forward for review: never of a draft being written."""
    return assessment.status != Status.DRAFT


def is_signed(assessment: Assessment) -> bool:
    """Signed once the sign-off record exists (a superseded assessment stays signed)."""
    return SignOff.objects.filter(assessment=assessment).exists()


def summary_filename(assessment: Assessment, signed: bool | None = None) -> str:
    """A signed copy and a draft never share a file name."""
    signed = is_signed(assessment) if signed is None else signed
    return f"{assessment.reference}-summary-{'signed' if signed else 'draft'}.pdf"


def site_link(path: str) -> str:
    """An absolute link for a PDF or an email: SITE_URL, which `make run` sets to its port."""
    return settings.SITE_URL.rstrip("/") + path


def full_report_url(assessment: Assessment) -> str:
    return site_link(reverse("assessments:pdf-full", args=[assessment.pk]))


def person(user) -> str:
    return (user.get_full_name() or user.username) if user is not None else ""


# What a tier means, in plain words -------------------------------------------------------------
# The consequence of each EU AI Act tier for a firm that uses the system (a deployer), and the
# duties that follow, shown when the screening's own result names none.
TIER_CONSEQUENCES = {
    "prohibited": "The practice is banned in the EU (Article 5): the system must not be put "
    "into service or used, so it has to be stopped or redesigned.",
    "high": "The AI Act's high-risk requirements apply before and during use: the firm must "
    "use it as its provider instructs, with trained people overseeing it, monitor it, keep "
    "its logs and inform the people it affects.",
    "limited": "Transparency duties apply (Article 50): people must be told they are dealing "
    "with AI, and AI-generated content must be marked.",
    "minimal": "No specific AI Act duties beyond AI literacy for the staff who use it (Article 4).",
    "outside": "The AI Act does not apply (Article 2); the reason must stay true and is "
    "checked again at the next screening.",
    "unscreened": "Not screened yet: its AI Act tier, and so its duties, are unknown.",
}
TIER_DUTIES = {
    "prohibited": ["Stop using it; it must not be put into service or used (Article 5)."],
    "high": [
        "Use it as its provider's instructions say (Article 26(1)).",
        "Assign human oversight to people with the competence and authority (Article 26(2)).",
        "Monitor its operation; report serious incidents (Articles 26(5) and 73).",
        "Keep the logs it generates for at least six months (Article 26(6)).",
        "Inform workers and the people it makes decisions about (Articles 26(7) and 26(11)).",
        "Assess the impact on fundamental rights where Article 27 applies.",
    ],
    "limited": [
        "Tell people they are interacting with an AI system (Article 50(1)).",
        "Mark AI-generated or manipulated content as such (Article 50(2) and 50(4)).",
    ],
    "minimal": ["Make sure the staff who use it are AI-literate (Article 4)."],
    "outside": ["Record why the Act does not apply, and check it again at each screening."],
}


def summary_tier(assessment: Assessment) -> str:
    """The tier the summary speaks of: a screening's own result (or its recorded override),
    otherwise the use case's tier."""
    if assessment.kind == Kind.SCREENING:
        value = assessment.tier_override or assessment.result_value
        if value in TIER_CONSEQUENCES:
            return value
    return assessment.use_case.risk_tier


def _duty_text(item) -> str:
    """A ground or duty from the engine's result, whatever shape it takes."""
    if isinstance(item, dict):
        text = item.get("text") or item.get("label") or item.get("duty") or ""
        cite = item.get("cite") or item.get("article") or ""
        return f"{text} ({cite})" if cite and cite not in text else str(text)
    return str(item or "")


def result_duties(result: dict) -> list[str]:
    """What the screening's result says follows from it, through the engine's stored result:
    its findings (each a label and a citation), or ``duties``/``obligations`` if it names them."""
    items = result.get("findings") or result.get("duties") or result.get("obligations") or []
    return [t for t in (_duty_text(i) for i in items if i) if t]


def result_grounds(result: dict) -> list[str]:
    """The grounds the screening's result names, if it names them apart from its reasons."""
    return [t for t in (_duty_text(i) for i in result.get("grounds") or [] if i) if t]


# Summarising at sentence boundaries -----------------------------------------------------------
# A sentence ends at . ! ? followed by a space and a capital or an opening quote; "Art. 6"
# and "e.g. the" stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[A-Z“\"'(\[])")
_CLAUSE_END = re.compile(r"[;:—–]\s|,\s")


def sentences(text: str) -> list[str]:
    flat = " ".join(str(text or "").split())
    return [s for s in _SENTENCE_END.split(flat) if s] if flat else []


@dataclass(frozen=True)
class Summary:
    text: str
    cut: bool

    def __str__(self) -> str:
        return self.text


def summarise(text, limit: int) -> Summary:
    """Whole sentences of ``text`` that fit ``limit`` characters, and whether any were left out.

    A first sentence longer than the limit is shortened at its last clause boundary (then
    at a word) and ends with an ellipsis: what is shown is never half a sentence passed off
    as whole, and the pointer says where the rest is.
    """
    parts = sentences(text)
    if not parts:
        return Summary("", False)
    kept: list[str] = []
    size = 0
    for sentence in parts:
        extra = len(sentence) + (1 if kept else 0)
        if size + extra > limit:
            break
        kept.append(sentence)
        size += extra
    if kept:
        return Summary(" ".join(kept), len(kept) < len(parts))
    first = parts[0][:limit]
    clauses = [m.start() for m in _CLAUSE_END.finditer(first) if m.start() > limit * 0.4]
    if clauses:
        first = first[: clauses[-1]]
    else:
        space = first.rfind(" ")
        if space > limit * 0.4:
            first = first[:space]
    return Summary(first.rstrip(" ,;:.-—–") + "…", True)


def clip(text, limit: int) -> SafeString:
    """``text`` summarised to ``limit`` at sentence boundaries, with a pointer to the rest."""
    summary = summarise(text, limit)
    if not summary.cut:
        return format_html("{}", summary.text)
    return format_html('{} <span class="cut">({})</span>', summary.text, CUT)


@dataclass(frozen=True)
class Capped:
    items: list
    more: int  # how many were left out


def cap(items: list, limit: int) -> Capped:
    return Capped(items[:limit], max(0, len(items) - limit))


@dataclass(frozen=True)
class Limits:
    text: int  # a risk and its measures
    line: int  # a line in a list: a reason, a duty, an open question, a condition
    basis: int  # the use case's purpose, the result's label, the sign-off statement
    risks: int
    reasons: int
    issues: int  # open reviewer questions, and other open points
    reviews: int
    why: int  # reasons shown per reviewer
    duties: int = 8
    conditions: int = 600  # the signer's conditions, printed whole unless very long


SUMMARY_LIMITS = (
    Limits(text=160, line=240, basis=320, risks=5, reasons=5, issues=4, reviews=6, why=1),
    Limits(
        text=120,
        line=170,
        basis=220,
        risks=5,
        reasons=4,
        issues=3,
        reviews=5,
        why=1,
        duties=6,
        conditions=400,
    ),
    Limits(
        text=90,
        line=120,
        basis=150,
        risks=4,
        reasons=3,
        issues=3,
        reviews=4,
        why=1,
        duties=5,
        conditions=300,
    ),
    Limits(
        text=60,
        line=80,
        basis=90,
        risks=3,
        reasons=2,
        issues=2,
        reviews=3,
        why=0,
        duties=4,
        conditions=160,
    ),
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


def open_questions(assessment: Assessment) -> list[Comment]:
    """The reviewers' open questions: comments that start a thread and are not resolved."""
    return list(
        Comment.objects.filter(assessment=assessment, parent__isnull=True, resolved=False)
        .select_related("author")
        .order_by("created_at", "pk")
    )


def _conditions(reviews: list[ReviewAssignment]) -> list[dict]:
    """What each signer wrote with their signature: the conditions the firm signed up to."""
    return [
        {"by": person(a.decided_by), "text": a.note}
        for a in reviews
        if a.stage == "approve"
        and a.decision == ReviewAssignment.Decision.SIGNED_OFF
        and a.note.strip()
    ]


def _facts(assessment: Assessment, today: date) -> dict:
    """Everything read from the database and the engine, once, before any layout."""
    definition, answers = assessment.definition, assessment.answers
    shown = engine.visible_keys(definition, answers)
    qmap = engine.question_map(definition)
    result = assessment.result or {}
    reviews = _reviews(assessment)
    questions = open_questions(assessment)

    def on(key: str) -> str:
        return qmap[key].label if key in qmap else "the assessment as a whole"

    other_issues = [
        f"Evidence expired {item['expires']}: {item['title']} ({item['label']})"
        for item in engine.expired_evidence(definition, answers, today)
        if item["question"] in shown
    ] + [
        f"Required question not answered: {q.label}"
        for q in engine.missing_required(definition, answers)
    ]
    sign_off = _sign_off(assessment)
    screening = assessment.kind == Kind.SCREENING
    tier = summary_tier(assessment)
    return {
        "assessment": assessment,
        "use_case": assessment.use_case,
        "template": assessment.template,
        "result": result,
        "screening": screening,
        "tier": tier,
        "tier_label": RiskTier(tier).label if tier in RiskTier.values else tier,
        "tier_consequence": TIER_CONSEQUENCES.get(tier, ""),
        "scores": [] if screening else list((result.get("scores") or {}).values()),
        "adjustments": result.get("adjustments") or [],
        "reasons": [_reason(r, qmap) for r in result.get("reasons") or []],
        "grounds": result_grounds(result),
        "duties": result_duties(result) or (TIER_DUTIES.get(tier, []) if screening else []),
        "duties_from_result": bool(result_duties(result)),
        "risks": _risk_rows(assessment, shown),
        "questions": [
            {"on": on(c.question_key), "by": person(c.author), "body": c.body, "at": c.created_at}
            for c in questions
        ],
        "issues": [
            f"Open comment on “{on(c.question_key)}” by {person(c.author)}: {c.body}"
            for c in questions
        ]
        + other_issues,
        "other_issues": other_issues,
        "reviews": reviews,
        "sign_off": sign_off,
        "signed": sign_off is not None,
        "conditions": _conditions(reviews) if sign_off is not None else [],
        "awaiting": _awaiting(reviews),
        "valid_until": assessment.valid_until or services.valid_until_for(assessment, today),
        "full_report_url": full_report_url(assessment),
        "assessment_url": site_link(assessment.get_absolute_url()),
        "generated_at": timezone.now(),
        "site_name": settings.SITE_NAME,
        "owner": person(assessment.use_case.owner),
        "author": person(assessment.author),
        "cut": CUT,
        "shown": shown,
        "qmap": qmap,
    }


# The one-page summary -----------------------------------------------------------------------
def decision(facts: dict) -> dict:
    """The decision asked of leadership (or taken), and what signing commits the firm to."""
    a, uc = facts["assessment"], facts["use_case"]
    what = f"{a.get_kind_display()} {a.reference} (version {a.version}) of {uc.reference}"
    until = facts["valid_until"]
    if facts["screening"]:
        commits = (
            f"treating {uc.reference} as {facts['tier_label'].lower()} under the EU AI Act "
            f"and meeting the duties listed below until it is screened again"
        )
    else:
        highest = (a.result or {}).get("highest_residual")
        commits = (
            "accepting the residual risks listed below"
            + (f" (the highest rated {highest})" if highest else "")
            + " and carrying out the measures recorded against them"
        )
    if until:
        commits += f", with a re-assessment due by {until:%d %b %Y}"
    sign_off = facts["sign_off"]
    if sign_off is not None:
        head = "Decision taken"
        line = (
            f"{person(sign_off.signed_by)} signed off {what} on "
            f"{timezone.localtime(sign_off.signed_at):%d %b %Y}"
        )
        commit_head = "This commits the firm to"
    elif a.status == Status.REJECTED:
        head, line, commit_head = "No decision requested", f"{what} was rejected", ""
    elif a.status == Status.SUPERSEDED:
        head, line, commit_head = "No decision requested", f"{what} was superseded", ""
    elif a.status == Status.APPROVED:
        who = ", ".join(facts["awaiting"]) or "leadership"
        head = "Decision requested"
        line = f"{who}: sign off {what}, or reject it"
        commit_head = "Signing commits the firm to"
    else:
        who = ", ".join(facts["awaiting"]) or "leadership"
        head = "Decision to come"
        line = f"once every reviewer has approved, {who} will be asked to sign off {what}"
        commit_head = "Signing would commit the firm to"
    return {"head": head, "line": line, "commit_head": commit_head, "commits": commits}


def summary_context(facts: dict, limits: Limits) -> dict:
    use_case = facts["use_case"]
    risks = cap(facts["risks"], limits.risks)
    reviews = cap(facts["reviews"], limits.reviews)
    sign_off = facts["sign_off"]
    return {
        **facts,
        "decision": decision(facts),
        "title": clip(use_case.title, 160),
        "purpose": clip(use_case.purpose, min(limits.basis, 240)),
        "result_label": clip(facts["result"].get("label"), limits.basis),
        "override_reason": clip(facts["assessment"].tier_override_reason, limits.line),
        "risk_total": len(facts["risks"]),
        "scores": cap(
            [{**s, "label": clip(s.get("label"), limits.line)} for s in facts["scores"]],
            limits.reasons,
        ),
        "reasons": cap(
            [
                {"cite": clip(r["cite"], limits.line), "said": clip(r["said"], limits.line)}
                for r in facts["reasons"]
            ],
            limits.reasons,
        ),
        "grounds": cap([clip(g, limits.line) for g in facts["grounds"]], limits.reasons),
        "duties": cap([clip(d, limits.line) for d in facts["duties"]], limits.duties),
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
        "questions": Capped(
            [
                {**q, "body": clip(q["body"], limits.line)}
                for q in facts["questions"][: limits.issues]
            ],
            max(0, len(facts["questions"]) - limits.issues),
        ),
        "other_issues": cap([clip(i, limits.line) for i in facts["other_issues"]], limits.issues),
        "conditions": [
            {**c, "text": clip(c["text"], limits.conditions)} for c in facts["conditions"]
        ],
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
