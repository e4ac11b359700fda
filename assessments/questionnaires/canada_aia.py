"""Canada's Algorithmic Impact Assessment as a template that scores as its official tool does.

The AIA is a SurveyJS file (``survey-enfr.json`` in the Government of Canada's
``canada-ca/aia-eia-js``, MIT licence) whose scoring lives in the tool's code
(``src/store.ts``), not in the file. ``convert_canada_aia`` turns such a file into a
template that scores as the tool does:

- every question (pages, panels, ``visibleIf``), text and comment questions included;
- a choice's weight is the number after the last ``-`` of its value (``item2-3`` weighs 3; no
  number, 0), as the tool's ``parseEmbeddedValue`` reads it; values are kept as they are, so
  the tool's saved answers convert by renaming the questions only;
- a radio group, drop-down or checkbox question counts towards the raw impact score when its
  name, or else its panel's or page's name, ends in ``-RS``, and towards the mitigation score
  when it ends in ``-MS``; a maximum is the highest choice (radio, drop-down) or all choices
  (checkbox), over every question whether shown or not;
- when mitigation reaches 80% of half its maximum (the tool halves it because only one of the
  design and implementation forks is ever answered), impact is lowered by 15% and rounded
  half up (JavaScript's ``Math.round``);
- the level is I up to 25% of the impact maximum, II up to 50%, III up to 75%, else IV, each
  bound included, as the tool compares ``total <= max * 0.25`` and so on.

The tool's score bar counts every answer in its data while a person answers; on "Complete"
SurveyJS clears the answers of questions then hidden (``clearInvisibleValues: "onComplete"``,
its default), so the results page counts only shown questions: ``hidden_answers`` is
``ignored`` by default, and ``scored`` gives the score bar's figures instead.

Pure functions over plain data, like ``assessments.engine``; the command
``import_questionnaire`` reads and writes the files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from assessments import engine
from assessments.questionnaires.surveyjs import (
    ConditionReader,
    ConversionError,
    both,
    js_number,
    plain_text,
    question_key,
)
from portal.limits import LONG_TEXT

FORMATS = ("canada-aia",)
LANGUAGES = ("en", "fr")
# The tool's constants (store.ts, calculateFinalScore).
MITIGATION_SHARE = 80  # percent of half the mitigation maximum
DEDUCTION_PCT = 15
LEVELS = (
    ("I", 25, "Level I — little to no impact"),
    ("II", 50, "Level II — moderate impact"),
    ("III", 75, "Level III — high impact"),
    ("IV", None, "Level IV — very high impact"),
)
SOURCE = (
    "Government of Canada, Algorithmic Impact Assessment tool (canada-ca/aia-eia-js on GitHub, "
    "MIT licence), for the Treasury Board Directive on Automated Decision-Making. Converted by "
    "Steward's import_questionnaire command; scoring as in the tool's src/store.ts."
)
SCORED_TYPES = ("radiogroup", "dropdown", "checkbox")
QUESTION_TYPES = {
    "radiogroup": "single_choice",
    "dropdown": "single_choice",
    "checkbox": "multi_choice",
    "text": "text",
    "comment": "long_text",
}


@dataclass
class Conversion:
    definition: dict
    # The source's question names by template key, and the reverse.
    names: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def answers(self, data: dict) -> dict:
        """The tool's answers (its ``data``, or a saved file holding ``data``) as template
        answers: the same values under the template's question keys; names the template does
        not ask (SurveyJS ``-Comment`` extras and the like) are left out."""
        if isinstance(data.get("data"), dict):
            data = data["data"]
        return {self.keys[name]: value for name, value in data.items() if name in self.keys}


def embedded_weight(value: Any) -> float:
    """The tool's ``getValue`` for one choice value: a number as it is, else the number after
    the last ``-`` (JavaScript's ``Number``: blank is 0, anything else that is not a number
    is 0)."""
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or "-" not in value:
        return 0.0
    return js_number(value[value.rindex("-") + 1 :])


def _score_type(name: str) -> str | None:
    """The tool's getScoreTypeHelper: impact (-RS), mitigation (-MS), none (-NS), or unsaid."""
    if name.endswith("-RS"):
        return "impact"
    if name.endswith("-MS"):
        return "mitigation"
    if name.endswith("-NS"):
        return "none"
    return None


# Converting ----------------------------------------------------------------------------------
def convert_canada_aia(
    source: dict,
    *,
    key: str = "canada-aia",
    version: int = 1,
    title: str | None = None,
    lang: str = "en",
    hidden_answers: str = "ignored",
) -> Conversion:
    """A template scoring as Canada's AIA tool scores ``source`` (its survey-enfr.json).

    Raises ConversionError naming each place it cannot convert faithfully, and
    engine.TemplateError if the result breaks the template format.
    """
    if lang not in LANGUAGES:
        raise ConversionError([f"lang: choose one of {', '.join(LANGUAGES)}."])
    if hidden_answers not in engine.HIDDEN_ANSWERS:
        raise ConversionError(
            [f"hidden_answers: choose one of {', '.join(engine.HIDDEN_ANSWERS)}."]
        )
    pages = source.get("pages") if isinstance(source, dict) else None
    if not isinstance(pages, list) or not pages:
        raise ConversionError(["pages: a SurveyJS file has a list of pages."])
    conversion = Conversion(definition={})
    errors: list[str] = []
    known: dict[str, dict] = {}
    sections: list[dict] = []
    intro = ""
    for p_index, page in enumerate(pages):
        where = f"pages[{p_index}]"
        if not isinstance(page, dict):
            errors.append(f"{where}: must be an object.")
            continue
        page_name = str(page.get("name") or f"page{p_index + 1}")
        page_cond = None
        if page.get("visibleIf"):
            try:
                page_cond = ConditionReader(page["visibleIf"], known).read()
            except ValueError as exc:
                errors.append(f"{where}.visibleIf: {exc}.")
        section: dict = {
            "key": question_key(page_name),
            "title": plain_text(page.get("title"), lang) or page_name,
            "questions": [],
        }
        texts: list[str] = []
        _convert_elements(
            page.get("elements") or [],
            where=where,
            parent_name=page_name,
            panel_titles=[],
            page_cond=page_cond,
            lang=lang,
            section=section,
            texts=texts,
            known=known,
            conversion=conversion,
            errors=errors,
        )
        if not section["questions"]:
            intro = intro or "\n".join(texts)
            if texts or page.get("elements"):
                conversion.notes.append(f"page {page_name!r} asks no question: its text is kept")
            continue
        if texts:
            section["description"] = _bounded("\n".join(texts))
        sections.append(section)
    if errors:
        raise ConversionError(errors)
    if not sections:
        raise ConversionError(["pages: no question to convert."])

    definition: dict = {
        "format": engine.FORMAT,
        "key": key,
        "version": version,
        "kind": "impact",
        "title": title or _title(intro, lang),
        "description": "",
        "source": SOURCE,
        "sections": sections,
        "scoring": _scoring(hidden_answers),
    }
    maxima = engine.score(definition, {}).scores
    definition["description"] = _bounded(_description(maxima, intro, lang))
    conversion.definition = engine.check_definition(definition)
    fractional = sorted(
        {
            conversion.names[q.key]
            for q in engine.questions(definition)
            for c in q.choices
            for w in (c.get("weights") or {}).values()
            if not float(w).is_integer()
        }
    )
    if fractional:
        # Whole weights make the tool's floating-point comparisons and Steward's exact ones
        # agree at every boundary (tests/assessments/test_canada_aia.py checks it); with
        # fractions they may differ when a score lands exactly on a threshold.
        conversion.notes.append(
            "weights that are not whole numbers (" + ", ".join(fractional[:5]) + "): a score "
            "exactly on a threshold is compared in decimal, not in the tool's floating point"
        )
    return conversion


def _convert_elements(
    elements: list,
    *,
    where: str,
    parent_name: str,
    panel_titles: list[str],
    page_cond: dict | None,
    lang: str,
    section: dict,
    texts: list[str],
    known: dict[str, dict],
    conversion: Conversion,
    errors: list[str],
) -> None:
    for e_index, element in enumerate(elements):
        at = f"{where}.elements[{e_index}]"
        if not isinstance(element, dict):
            errors.append(f"{at}: must be an object.")
            continue
        kind = element.get("type")
        name = str(element.get("name") or "")
        if kind == "html":
            text = plain_text(element.get("html"), lang)
            if text:
                texts.append(text)
            continue
        if kind == "panel":
            title = plain_text(element.get("title"), lang)
            if title and not section["questions"] and not panel_titles:
                section["title"] = f"{section['title']} — {title}"
            cond = page_cond
            if element.get("visibleIf"):
                try:
                    cond = both(page_cond, ConditionReader(element["visibleIf"], known).read())
                except ValueError as exc:
                    errors.append(f"{at}.visibleIf: {exc}.")
            _convert_elements(
                element.get("elements") or [],
                where=at,
                parent_name=name,
                panel_titles=[*panel_titles, title] if title else panel_titles,
                page_cond=cond,
                lang=lang,
                section=section,
                texts=texts,
                known=known,
                conversion=conversion,
                errors=errors,
            )
            continue
        if kind not in QUESTION_TYPES:
            errors.append(f"{at} ({name}): SurveyJS type {kind!r} has no template equivalent.")
            continue
        question = _question(element, at, parent_name, page_cond, lang, known, errors)
        if question is None:
            continue
        if question["key"] in conversion.names:
            errors.append(
                f"{at} ({name}): its key {question['key']!r} is also "
                f"{conversion.names[question['key']]!r}'s."
            )
            continue
        if name in known:
            errors.append(f"{at} ({name}): the name is used twice.")
            continue
        conversion.names[question["key"]] = name
        conversion.keys[name] = question["key"]
        known[name] = question
        section["questions"].append(question)


def _question(
    element: dict,
    at: str,
    parent_name: str,
    page_cond: dict | None,
    lang: str,
    known: dict[str, dict],
    errors: list[str],
) -> dict | None:
    name = str(element.get("name") or "")
    kind = element["type"]
    if not name:
        errors.append(f"{at}: a question needs a name.")
        return None
    question: dict = {
        "key": question_key(name),
        "type": QUESTION_TYPES[kind],
        "label": plain_text(element.get("title"), lang) or name,
    }
    help_text = "\n".join(
        t
        for t in (
            plain_text(element.get("description"), lang),
            plain_text(element.get("help"), lang),
        )
        if t
    )
    if help_text:
        question["help"] = _bounded(help_text)
    if element.get("isRequired") is True:
        question["required"] = True
    if kind in SCORED_TYPES:
        score = _score_type(name) or _score_type(parent_name)
        score = None if score == "none" else score
        choices = []
        for c_index, raw in enumerate(element.get("choices") or []):
            value = raw.get("value") if isinstance(raw, dict) else raw
            if value is None or isinstance(value, bool | dict | list):
                errors.append(f"{at}.choices[{c_index}] ({name}): a choice needs a value.")
                continue
            label = plain_text(raw.get("text"), lang) if isinstance(raw, dict) else ""
            choice: dict = {"value": str(value), "label": label or str(value)}
            weight = embedded_weight(value)
            if score and math.isnan(weight):
                errors.append(f"{at}.choices[{c_index}] ({name}): {value!r} weighs Infinity.")
                continue
            if score and weight:
                if weight < 0:
                    errors.append(
                        f"{at}.choices[{c_index}] ({name}): {value!r} weighs {weight}; "
                        "a template weight is not negative."
                    )
                    continue
                choice["weights"] = {score: int(weight) if weight.is_integer() else weight}
            choices.append(choice)
        if element.get("choicesOrder") in ("asc", "desc"):
            choices.sort(key=lambda c: c["label"].casefold())
            if element["choicesOrder"] == "desc":
                choices.reverse()
        question["choices"] = choices
    if element.get("visibleIf"):
        try:
            own = ConditionReader(element["visibleIf"], known).read()
        except ValueError as exc:
            errors.append(f"{at}.visibleIf ({name}): {exc}.")
            return None
        question["show_if"] = both(page_cond, own)
    elif page_cond is not None:
        question["show_if"] = page_cond
    return question


def _scoring(hidden_answers: str) -> dict:
    outcomes: list[dict] = [
        {
            "value": value,
            "label": label,
            "when": {"score": "impact", "share_lte": bound},
            "cite_from": ["impact"],
        }
        for value, bound, label in LEVELS
        if bound is not None
    ]
    value, _, label = LEVELS[-1]
    outcomes.append({"value": value, "label": label, "cite_from": ["impact"]})
    return {
        "hidden_answers": hidden_answers,
        "scores": [
            {"key": "impact", "label": "Impact", "round": {"mode": "half_up", "places": 0}},
            {"key": "mitigation", "label": "Mitigation", "share_of": "mitigation_half_max"},
        ],
        "derived": {
            "mitigation_half_max": {
                "label": "Half the mitigation maximum (one of two phase forks is answered)",
                "of": "mitigation",
                "max_times": 0.5,
            }
        },
        "adjustments": [
            {
                "score": "impact",
                "reduce_pct": DEDUCTION_PCT,
                "when": {"score": "mitigation", "share_gte": MITIGATION_SHARE},
            }
        ],
        "result": {"label": "Impact level", "outcomes": outcomes},
    }


def _title(intro: str, lang: str) -> str:
    first = intro.splitlines()[0] if intro else ""
    if first and len(first) <= 200:
        return first
    return (
        "Évaluation de l'incidence algorithmique"
        if lang == "fr"
        else ("Algorithmic Impact Assessment")
    )


def _description(maxima: dict, intro: str, lang: str) -> str:
    impact, mitigation = maxima["impact"]["max"], maxima["mitigation"]["max"]
    summary = (
        f"Canada's Algorithmic Impact Assessment, converted from the official tool's file. "
        f"Impact questions add up to a raw impact score (at most {impact}); mitigation "
        f"questions to a mitigation score (at most {mitigation}, of which one phase fork, at "
        f"most half, is answered). When mitigation reaches {MITIGATION_SHARE}% of half its "
        f"maximum, impact is lowered by {DEDUCTION_PCT}% and rounded half up. The level follows "
        "from the impact score as a share of its maximum: Level I up to 25%, Level II up to "
        "50%, Level III up to 75%, Level IV above."
    )
    return f"{summary}\n\n{intro}" if intro else summary


def _bounded(text: str) -> str:
    return text if len(text) <= LONG_TEXT else text[: LONG_TEXT - 1] + "…"
