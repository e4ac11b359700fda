"""A model card as one document, exported as HTML, Markdown and PDF.

The document is built once (the ten sections, what the registry already knows, the
completeness score and what is missing) and each format renders it. The page and the API
answer with the same files.

Card text is whatever a person typed, so each format neutralises it: the HTML export and the
PDF escape it (Django's autoescaping); the Markdown export keeps the text as written but
escapes what would change the document's structure or pull content in when it is rendered
(raw HTML, links and images, tables, and a line that would open a heading, a list, a quote
or a code fence). The HTML export is a single file with its styles inline, loading nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

from portal.pdf import pdf_response, render_pdf
from registry.models import MODEL_CARD_SECTIONS, Deployment, ModelCard, ModelVersion
from registry.models.ai import CARD_SECTION_MIN_CHARS
from registry.selectors import use_cases_visible_to

HTML_TEMPLATE = "registry/models/card_export.html"
PDF_TEMPLATE = "registry/models/pdf/card.html"
NOT_WRITTEN = "Not written yet"

# Format → (file extension, content type).
FORMATS = {
    "html": ("html", "text/html; charset=utf-8"),
    "md": ("md", "text/markdown; charset=utf-8"),
    "pdf": ("pdf", "application/pdf"),
}


def _person(user) -> str:
    return (user.get_full_name() or user.username) if user else ""


def card_facts(version: ModelVersion, user) -> list[tuple[str, str]]:
    """What the registry already knows about the version, filled into its card by itself.

    Deployments are those of the use cases the person may see, so a card downloaded by
    someone from another business unit does not name use cases hidden from them."""
    model = version.model
    versions = list(model.versions.order_by("-created_at", "-pk").values_list("version", "stage"))
    deployments = Deployment.objects.filter(model_version=version, active=True).filter(
        use_case__in=use_cases_visible_to(user).values("pk")
    )
    served = [
        f"{d.use_case.reference} ({d.get_environment_display().lower()}, {d.traffic_share}%)"
        for d in deployments.select_related("use_case")
    ]
    return [
        ("Model", f"{model.reference} {model.name}"),
        ("Version", f"{version.version} ({version.get_stage_display()})"),
        ("Provider", model.provider),
        ("Vendor", model.vendor or "—"),
        ("Licence", model.licence or "—"),
        ("Hosting", model.get_hosting_pattern_display()),
        ("Data sent to it goes to", model.get_data_destination_display()),
        ("Owner", f"{_person(model.owner)} ({model.business_unit.name})"),
        ("Risk tier", model.get_risk_tier_display()),
        (
            "Approval",
            model.get_approval_status_display()
            + (f" by {_person(model.approved_by)}" if model.approved_by else ""),
        ),
        ("All versions", ", ".join(f"{v} ({s})" for v, s in versions)),
        ("Deployed in", ", ".join(served) or "Not deployed"),
    ]


@dataclass(frozen=True)
class CardSection:
    key: str
    title: str
    help_text: str
    text: str
    written: bool  # says enough to count towards completeness


@dataclass(frozen=True)
class CardDocument:
    version: ModelVersion
    sections: list[CardSection]
    facts: list[tuple[str, str]]
    completeness: int
    missing: list[str]
    threshold: int
    edited_at: datetime | None
    generated_at: datetime
    site_name: str

    @property
    def model(self):
        return self.version.model

    @property
    def title(self) -> str:
        return f"Model card: {self.model.reference} {self.model.name} {self.version.version}"


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def evaluation_sections(version: ModelVersion) -> dict[str, str]:
    """What the version's evaluation records say, for the card's metrics, evaluation data
    and quantitative analyses (fairness per group) sections; the newest five records."""
    records = list(version.evaluations.select_related("ran_by")[:5])
    if not records:
        return {}
    metrics, data, groups = [], [], []
    for r in records:
        when = f"{timezone.localtime(r.ran_at):%d %b %Y}"
        head = f"{r.name} ({when}, {r.ran_by_name or r.get_source_display().lower()})"
        data.append(f"{head}: evaluated on {r.dataset}.")
        for m in r.metrics:
            limit = ""
            if m.get("threshold") is not None:
                sign = "<=" if m.get("direction") == "max" else ">="
                verdict = "pass" if m.get("passed") else "fail"
                limit = f" (threshold {sign} {_fmt(m['threshold'])}: {verdict})"
            metrics.append(f"{head}: {m['name']} = {_fmt(m['value'])}{limit}.")
        for g in r.fairness:
            verdict = "pass" if g.get("passed") else "FAIL"
            groups.append(
                f"{head}: {g['attribute']} {g['group']}, {g['metric']} = {_fmt(g['value'])}, "
                f"gap {_fmt(g['gap'])} against a threshold of {_fmt(g['threshold'])}: {verdict}."
            )
    out = {"metrics": "\n".join(metrics), "evaluation_data": "\n".join(data)}
    if groups:
        out["quantitative_analyses"] = "\n".join(groups)
    return {k: v for k, v in out.items() if v}


def card_document(version: ModelVersion, user) -> CardDocument:
    """The card of a version as the person asking may see it: every export reads this. The
    metrics, evaluation data and quantitative analyses sections are filled from the
    version's evaluation records, after what was typed."""
    card = ModelCard.objects.filter(model_version=version).first()
    shown = card or ModelCard(model_version=version)
    from_records = evaluation_sections(version)
    sections = []
    for key, title, help_text in MODEL_CARD_SECTIONS:
        text = str(shown.sections.get(key) or "").strip()
        if key in from_records:
            recorded = "From the evaluation records:\n" + from_records[key]
            text = f"{text}\n\n{recorded}" if text else recorded
        sections.append(
            CardSection(key, title, help_text, text, len(text) >= CARD_SECTION_MIN_CHARS)
        )
    return CardDocument(
        version=version,
        sections=sections,
        facts=card_facts(version, user),
        completeness=shown.completeness,
        missing=shown.missing,
        threshold=settings.MODEL_CARD_MIN_COMPLETENESS,
        edited_at=card.updated_at if card is not None else None,
        generated_at=timezone.now(),
        site_name=settings.SITE_NAME,
    )


def filename(version: ModelVersion, fmt: str) -> str:
    """e.g. AI-0003-1.2-model-card.md, in plain ASCII whatever the version is called."""
    ext = FORMATS[fmt][0]
    raw = f"{version.model.reference}-{version.version}-model-card.{ext}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw)


# HTML and PDF --------------------------------------------------------------------------------
def _context(doc: CardDocument) -> dict:
    return {"doc": doc, "model": doc.model, "version": doc.version, "not_written": NOT_WRITTEN}


def card_html(doc: CardDocument) -> str:
    return render_to_string(HTML_TEMPLATE, _context(doc))


def card_pdf(doc: CardDocument) -> bytes:
    return render_pdf(PDF_TEMPLATE, _context(doc))


# Markdown ------------------------------------------------------------------------------------
# Inline: raw HTML and autolinks (<), links and images ([ ]), table cells (|), and the
# backslash itself so an escape typed in the text cannot undo ours.
_INLINE = re.compile(r"([\\<>\[\]|])")
# Single-line values (facts, the title) escape emphasis and headings' closing #s too.
_INLINE_STRICT = re.compile(r"([\\<>\[\]|`*_#!])")
# A line that would open a block: heading, quote, list, thematic break or setext underline,
# code fence, or an ordered list ("1." / "1)").
_BLOCK_START = re.compile(r"^([#>+\-*=_`~])")
_ORDERED = re.compile(r"^(\d{1,9})([.)])")


def md_inline(value) -> str:
    """One line of a heading or a table cell."""
    return _INLINE_STRICT.sub(r"\\\1", " ".join(str(value).split()))


def md_block(text: str) -> str:
    """Card text as paragraphs, as written, with nothing that opens a block of its own."""
    lines = []
    for line in str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        # Leading spaces would make an indented code block or continue a list; drop them.
        line = _INLINE.sub(r"\\\1", line.strip())
        line = _BLOCK_START.sub(r"\\\1", line)
        line = _ORDERED.sub(r"\1\\\2", line)
        lines.append(line)
    # Runs of blank lines become one paragraph break; a line break within a paragraph is kept
    # with a trailing backslash (CommonMark's hard line break).
    paragraphs, current = [], []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return "\n\n".join("\\\n".join(p) for p in paragraphs)


def card_markdown(doc: CardDocument) -> str:
    when = timezone.localtime(doc.generated_at)
    out = [
        f"# {md_inline(doc.title)}",
        "",
        f"Exported from {md_inline(doc.site_name)} on {when:%d %b %Y at %H:%M %Z}."
        + (
            f" Card last edited {timezone.localtime(doc.edited_at):%d %b %Y}."
            if doc.edited_at
            else " The card has not been edited yet."
        ),
        "",
        f"**Completeness: {doc.completeness}%** (the go-live gate asks for at least "
        f"{doc.threshold}%).",
        "",
    ]
    if doc.missing:
        out += ["Still missing:", ""] + [f"- {md_inline(t)}" for t in doc.missing] + [""]
    else:
        out += ["Every section is written.", ""]
    out += [
        "## What the registry knows",
        "",
        "| Fact | Value |",
        "| --- | --- |",
    ]
    out += [f"| {md_inline(label)} | {md_inline(value)} |" for label, value in doc.facts]
    out.append("")
    for section in doc.sections:
        out += [f"## {md_inline(section.title)}", ""]
        if section.text:
            out += [md_block(section.text), ""]
            if not section.written:
                out += ["_Too short to count as written._", ""]
        else:
            out += [f"_{NOT_WRITTEN}._", ""]
    return "\n".join(out)


# Responses -----------------------------------------------------------------------------------
def export_response(doc: CardDocument, fmt: str) -> HttpResponse:
    """The card as a download in one of FORMATS; an unknown format is not found."""
    if fmt not in FORMATS:
        raise Http404("No such export format.")
    name = filename(doc.version, fmt)
    if fmt == "pdf":
        return pdf_response(card_pdf(doc), name)
    body = card_html(doc) if fmt == "html" else card_markdown(doc)
    response = HttpResponse(body.encode("utf-8"), content_type=FORMATS[fmt][1])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    # As confidential as the page it comes from: no shared cache keeps it.
    response["Cache-Control"] = "private"
    return response
