"""Assessment templates as data: checking a template, showing its questions, scoring answers.

Pure functions over plain dicts, so pages, the API, imports, PDFs and tests all read a
template and its answers the same way. The format is documented in the README
("Assessment templates"); ``check_definition`` is its reference.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from portal.limits import ANSWER_TEXT, LONG_TEXT, SHORT_TEXT
from portal.parsers import depth as json_depth

FORMAT = 1
KINDS = ("screening", "dpia", "impact", "model_review", "other")
QUESTION_TYPES = (
    "text",
    "long_text",
    "single_choice",
    "multi_choice",
    "yes_no",
    "number",
    "date",
    "risk_table",
    "evidence",
)
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# The ICO's DPIA scales. A template may name its own, but these are what the ICO uses.
LIKELIHOOD = [("remote", "Remote"), ("possible", "Possible"), ("probable", "Probable")]
SEVERITY = [("minimal", "Minimal"), ("significant", "Significant"), ("severe", "Severe")]
RATINGS = [("low", "Low"), ("medium", "Medium"), ("high", "High")]
RATING_ORDER = {value: i for i, (value, _) in enumerate(RATINGS)}
EFFECTS = [("eliminated", "Eliminated"), ("reduced", "Reduced"), ("accepted", "Accepted")]
# likelihood × severity on 1-3 scales: 1-2 low, 3-4 medium, 6-9 high.
DEFAULT_MATRIX = {
    lk: {
        sv: ("low" if (i + 1) * (j + 1) <= 2 else "medium" if (i + 1) * (j + 1) <= 4 else "high")
        for j, (sv, _) in enumerate(SEVERITY)
    }
    for i, (lk, _) in enumerate(LIKELIHOOD)
}
# Answers are bounded like every free text (portal/limits.py): a long answer at most
# ANSWER_TEXT characters (a template may set less), risks and evidence as below.
MAX_RISK_ROWS = 200
MAX_EVIDENCE_ITEMS = 100
MAX_URL = 2_000
MAX_TITLE = 300
RISK_ROW_FIELDS = ("risk", "likelihood", "severity", "measures", "effect", "residual", "approved")

# What a template may hold. A key outside these is refused (a typo would otherwise be
# ignored silently, as an undocumented "round" once was), and so is a file past these sizes:
# the largest published questionnaire we know (Canada's AIA) has 295 questions.
MAX_DEPTH = 24
MAX_SECTIONS = 200
MAX_QUESTIONS = 2_000
MAX_CHOICES = 500
MAX_CONDITION_DEPTH = 12
MAX_WEIGHT = 1e9
MAX_THRESHOLD = 1e9
ROUND_MODES = ("half_up", "half_even", "floor", "ceil")
MAX_ROUND_PLACES = 6
HIDDEN_ANSWERS = ("ignored", "scored")
TOP_KEYS = frozenset(
    {"format", "key", "version", "kind", "title", "description", "source", "sections"}
    | {"scoring", "validity_months"}
)
SECTION_KEYS = frozenset({"key", "title", "description", "questions"})
QUESTION_KEYS = frozenset(
    {"key", "type", "label", "help", "required", "show_if", "cite", "weights", "choices"}
    | {"min", "max", "max_length", "matrix"}
)
CHOICE_KEYS = frozenset({"value", "label", "weights", "cite", "exclusive"})
SCORING_KEYS = frozenset({"scores", "derived", "adjustments", "result", "hidden_answers"})
SCORE_KEYS = frozenset({"key", "label", "round", "share_of"})
DERIVED_KEYS = frozenset({"label", "of", "max_times", "value_times", "round"})
ROUND_KEYS = frozenset({"mode", "places"})
ADJUSTMENT_KEYS = frozenset({"score", "reduce_pct", "when", "label"})
RESULT_KEYS = frozenset({"label", "outcomes", "findings"})
OUTCOME_KEYS = frozenset({"value", "label", "when", "cite", "cite_from"})
FINDING_KEYS = frozenset({"key", "label", "when", "cite", "cite_from"})


class TemplateError(ValueError):
    """A template definition that does not follow the format; ``errors`` name each place."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


# Reading a template --------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    key: str
    type: str
    label: str
    section: str
    spec: dict

    @property
    def required(self) -> bool:
        return bool(self.spec.get("required"))

    @property
    def help(self) -> str:
        return self.spec.get("help", "")

    @property
    def choices(self) -> list[dict]:
        if self.type == "yes_no":
            return [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}]
        return self.spec.get("choices", [])

    def choice_label(self, value) -> str:
        for choice in self.choices:
            if choice["value"] == value:
                return choice.get("label", value)
        return str(value)

    @property
    def matrix(self) -> dict:
        return self.spec.get("matrix") or DEFAULT_MATRIX


def questions(definition: dict) -> list[Question]:
    return [
        Question(q["key"], q["type"], q["label"], section["key"], q)
        for section in definition.get("sections", [])
        for q in section.get("questions", [])
    ]


def question_map(definition: dict) -> dict[str, Question]:
    return {q.key: q for q in questions(definition)}


# Checking a template -------------------------------------------------------------------------
def check_definition(definition: Any) -> dict:
    """The definition if it follows the format; else TemplateError naming each fault."""
    errors: list[str] = []
    if not isinstance(definition, dict):
        raise TemplateError(["The template must be a JSON object."])
    nesting = json_depth(definition)
    if nesting > MAX_DEPTH:
        raise TemplateError(
            [f"template: nests {nesting} levels deep; a template nests at most {MAX_DEPTH}."]
        )
    errors.extend(_unknown_keys(definition, TOP_KEYS, ""))
    if definition.get("format", FORMAT) != FORMAT:
        errors.append(f"format: only format {FORMAT} is understood.")
    key = definition.get("key")
    if not isinstance(key, str) or not re.match(r"^[a-z0-9][a-z0-9-]{1,79}$", key):
        errors.append("key: give a short name of lower-case letters, digits and dashes.")
    version = definition.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        errors.append("version: give a whole number from 1.")
    if definition.get("kind") not in KINDS:
        errors.append(f"kind: choose one of {', '.join(KINDS)}.")
    if not str(definition.get("title") or "").strip():
        errors.append("title: give the template a title.")
    errors.extend(_check_text_lengths(definition, ""))
    sections = definition.get("sections")
    if not isinstance(sections, list) or not sections:
        errors.append("sections: give at least one section.")
        raise TemplateError(errors)
    if len(sections) > MAX_SECTIONS:
        errors.append(f"sections: a template has at most {MAX_SECTIONS} sections.")
        raise TemplateError(errors)
    count = sum(
        len(s["questions"])
        for s in sections
        if isinstance(s, dict) and isinstance(s.get("questions"), list)
    )
    if count > MAX_QUESTIONS:
        errors.append(f"sections: a template has at most {MAX_QUESTIONS} questions ({count} here).")
        raise TemplateError(errors)

    seen_sections: set[str] = set()
    check = _Checking(scoring=definition.get("scoring"))
    for s_index, section in enumerate(sections):
        where = f"sections[{s_index}]"
        if not isinstance(section, dict):
            errors.append(f"{where}: must be an object.")
            continue
        errors.extend(_unknown_keys(section, SECTION_KEYS, where))
        s_key = section.get("key")
        if not isinstance(s_key, str) or not KEY_RE.match(s_key):
            errors.append(f"{where}.key: use lower-case letters, digits and underscores.")
        elif s_key in seen_sections:
            errors.append(f"{where}.key: {s_key!r} is used twice.")
        else:
            seen_sections.add(s_key)
        if not str(section.get("title") or "").strip():
            errors.append(f"{where}.title: give the section a title.")
        qs = section.get("questions")
        if not isinstance(qs, list) or not qs:
            errors.append(f"{where}.questions: give at least one question.")
            continue
        for q_index, q in enumerate(qs):
            errors.extend(_check_question(q, f"{where}.questions[{q_index}]", check))
    errors.extend(_check_scoring(definition.get("scoring"), check))
    validity = definition.get("validity_months", {})
    if not isinstance(validity, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1200 for v in validity.values()
    ):
        errors.append("validity_months: map a level (or 'default') to a number of months.")
    if errors:
        raise TemplateError(errors)
    return definition


@dataclass
class _Checking:
    """What a template declares, as the checks below need it."""

    scoring: Any
    seen: dict[str, dict] = field(default_factory=dict)
    score_keys: list[str] = field(default_factory=list)
    derived: set[str] = field(default_factory=set)
    share_of: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        scoring = self.scoring if isinstance(self.scoring, dict) else {}
        scores = scoring.get("scores")
        for s in scores if isinstance(scores, list) else []:
            if isinstance(s, dict) and isinstance(s.get("key"), str):
                self.score_keys.append(s["key"])
                if isinstance(s.get("share_of"), str):
                    self.share_of[s["key"]] = s["share_of"]
        derived = scoring.get("derived")
        if isinstance(derived, dict):
            self.derived = {k for k in derived if isinstance(k, str)}


def _unknown_keys(item: dict, allowed: frozenset, where: str) -> list[str]:
    return [
        f"{where + '.' if where else ''}{name}: not part of the template format "
        "(docs/template-format.md); remove it or check its spelling."
        for name in sorted(set(item) - allowed)
    ]


def _check_text_lengths(value: Any, where: str) -> list[str]:
    """Every text in a template (titles, labels, help) at most LONG_TEXT characters."""
    errors: list[str] = []
    stack = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str) and len(item) > LONG_TEXT:
            errors.append(f"{at or 'template'}: keep this under {LONG_TEXT} characters.")
        elif isinstance(item, dict):
            stack.extend((v, f"{at}.{k}" if at else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(item))
    return sorted(errors)


def _check_question(q: Any, where: str, check: _Checking) -> list[str]:
    errors: list[str] = []
    if not isinstance(q, dict):
        return [f"{where}: must be an object."]
    errors.extend(_unknown_keys(q, QUESTION_KEYS, where))
    key = q.get("key")
    if not isinstance(key, str) or not KEY_RE.match(key):
        errors.append(f"{where}.key: use lower-case letters, digits and underscores.")
    elif key in check.seen:
        errors.append(f"{where}.key: {key!r} is used twice.")
    if q.get("type") not in QUESTION_TYPES:
        errors.append(f"{where}.type: choose one of {', '.join(QUESTION_TYPES)}.")
    if not str(q.get("label") or "").strip():
        errors.append(f"{where}.label: give the question a label.")
    score_keys = set(check.score_keys)
    if q.get("type") in ("single_choice", "multi_choice"):
        choices = q.get("choices")
        if not isinstance(choices, list) or not choices:
            errors.append(f"{where}.choices: give at least one choice.")
        elif len(choices) > MAX_CHOICES:
            errors.append(f"{where}.choices: a question has at most {MAX_CHOICES} choices.")
        else:
            values = [c.get("value") for c in choices if isinstance(c, dict)]
            if len(values) != len(choices) or not all(isinstance(v, str) and v for v in values):
                errors.append(f"{where}.choices: each choice needs a value and a label.")
            elif len(set(values)) != len(values):
                errors.append(f"{where}.choices: values must differ.")
            for c_index, c in enumerate(choices):
                if not isinstance(c, dict):
                    continue
                at = f"{where}.choices[{c_index}]"
                errors.extend(_unknown_keys(c, CHOICE_KEYS, at))
                errors.extend(_check_weights(c.get("weights"), at, score_keys))
                if "exclusive" in c and not isinstance(c["exclusive"], bool):
                    errors.append(f"{at}.exclusive: say true or false.")
    if q.get("type") in ("yes_no", "number"):
        errors.extend(_check_weights(q.get("weights"), where, score_keys))
    if q.get("type") == "number" and q.get("weights") and not _is_number(q.get("max")):
        errors.append(f"{where}.max: a weighted number needs a maximum.")
    for bound in ("min", "max"):
        if bound in q and not (_is_number(q[bound]) and abs(q[bound]) <= MAX_THRESHOLD):
            errors.append(f"{where}.{bound}: give a number between -1e9 and 1e9.")
    if "max_length" in q:
        limit = q["max_length"]
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= ANSWER_TEXT:
            errors.append(f"{where}.max_length: a whole number from 1 to {ANSWER_TEXT}.")
    if "required" in q and not isinstance(q["required"], bool):
        errors.append(f"{where}.required: say true or false.")
    if "show_if" in q:
        errors.extend(_check_condition(q["show_if"], f"{where}.show_if", check, scores=False))
    if isinstance(key, str):
        check.seen[key] = q
    return errors


def _check_weights(weights: Any, where: str, score_keys: set) -> list[str]:
    if weights is None:
        return []
    if not isinstance(weights, dict) or not all(_is_number(v) for v in weights.values()):
        return [f"{where}.weights: map a score name to a number."]
    errors = [
        f"{where}.weights.{k}: give a number from 0 to 1e9 ({v!r} is not)."
        for k, v in sorted(weights.items())
        if not 0 <= v <= MAX_WEIGHT
    ]
    unknown = set(weights) - score_keys
    if unknown:
        errors.append(
            f"{where}.weights: {', '.join(sorted(unknown))} is not a score in scoring.scores."
        )
    return errors


def _check_round(spec: Any, where: str) -> list[str]:
    if not isinstance(spec, dict):
        return [
            f"{where}: give an object such as "
            '{"mode": "half_up", "places": 0}; '
            f"mode is one of {', '.join(ROUND_MODES)}."
        ]
    errors = _unknown_keys(spec, ROUND_KEYS, where)
    if spec.get("mode") not in ROUND_MODES:
        errors.append(f"{where}.mode: choose one of {', '.join(ROUND_MODES)}.")
    places = spec.get("places", 0)
    if (
        not isinstance(places, int)
        or isinstance(places, bool)
        or not 0 <= places <= MAX_ROUND_PLACES
    ):
        errors.append(f"{where}.places: a whole number from 0 to {MAX_ROUND_PLACES}.")
    return errors


def _check_scoring(scoring: Any, check: _Checking) -> list[str]:
    if scoring is None:
        return []
    if not isinstance(scoring, dict):
        return ["scoring: must be an object."]
    errors: list[str] = _unknown_keys(scoring, SCORING_KEYS, "scoring")
    if scoring.get("hidden_answers", "ignored") not in HIDDEN_ANSWERS:
        errors.append(f"scoring.hidden_answers: choose one of {', '.join(HIDDEN_ANSWERS)}.")
    scores = scoring.get("scores", [])
    if not isinstance(scores, list):
        errors.append("scoring.scores: give a list of scores.")
        scores = []
    keys = [s.get("key") for s in scores if isinstance(s, dict)]
    if len(keys) != len(scores) or not all(isinstance(k, str) and KEY_RE.match(k) for k in keys):
        errors.append("scoring.scores: each score needs a key and a label.")
    elif len(set(keys)) != len(keys):
        errors.append("scoring.scores: each score needs a key of its own.")
    derived = scoring.get("derived", {})
    if not isinstance(derived, dict):
        errors.append("scoring.derived: map a name to a derived quantity.")
        derived = {}
    for i, s in enumerate(scores):
        if not isinstance(s, dict):
            continue
        where = f"scoring.scores[{i}]"
        errors.extend(_unknown_keys(s, SCORE_KEYS, where))
        if "round" in s:
            errors.extend(_check_round(s["round"], f"{where}.round"))
        if "share_of" in s and s["share_of"] not in derived:
            errors.append(f"{where}.share_of: {s['share_of']!r} is not in scoring.derived.")
    for name, spec in derived.items():
        where = f"scoring.derived.{name}"
        if not KEY_RE.match(name) or name in keys:
            errors.append(
                f"{where}: name it with lower-case letters, digits and underscores, "
                "unlike any score."
            )
        if not isinstance(spec, dict):
            errors.append(f"{where}: must be an object.")
            continue
        errors.extend(_unknown_keys(spec, DERIVED_KEYS, where))
        if spec.get("of") not in keys:
            errors.append(f"{where}.of: name a score in scoring.scores.")
        factors = [k for k in ("max_times", "value_times") if k in spec]
        if len(factors) != 1:
            errors.append(f"{where}: give either max_times or value_times.")
        elif not _is_number(spec[factors[0]]) or not 0 <= spec[factors[0]] <= MAX_WEIGHT:
            errors.append(f"{where}.{factors[0]}: give a number from 0 to 1e9.")
        if "round" in spec:
            errors.extend(_check_round(spec["round"], f"{where}.round"))
    adjustments = scoring.get("adjustments", [])
    if not isinstance(adjustments, list):
        errors.append("scoring.adjustments: give a list of adjustments.")
        adjustments = []
    for i, adj in enumerate(adjustments):
        where = f"scoring.adjustments[{i}]"
        if not isinstance(adj, dict) or adj.get("score") not in keys:
            errors.append(f"{where}.score: name a score to adjust.")
            continue
        errors.extend(_unknown_keys(adj, ADJUSTMENT_KEYS, where))
        if not _is_number(adj.get("reduce_pct")) or not 0 <= adj["reduce_pct"] <= 100:
            errors.append(f"{where}.reduce_pct: give a percentage from 0 to 100.")
        errors.extend(_check_condition(adj.get("when"), f"{where}.when", check, scores=True))
    result = scoring.get("result")
    if result is not None:
        outcomes = result.get("outcomes") if isinstance(result, dict) else None
        if isinstance(result, dict):
            errors.extend(_unknown_keys(result, RESULT_KEYS, "scoring.result"))
        if not isinstance(outcomes, list) or not outcomes:
            errors.append("scoring.result.outcomes: give at least one outcome.")
        else:
            errors.extend(_check_outcomes(outcomes, keys, check))
        if isinstance(result, dict) and "findings" in result:
            errors.extend(_check_findings(result["findings"], keys, check))
    return errors


def _check_findings(findings: Any, keys: list, check: _Checking) -> list[str]:
    """Findings: every one whose ``when`` holds is listed beside the outcome."""
    if not isinstance(findings, list):
        return ["scoring.result.findings: give a list of findings."]
    errors: list[str] = []
    seen: set[str] = set()
    for i, finding in enumerate(findings):
        where = f"scoring.result.findings[{i}]"
        if not isinstance(finding, dict):
            errors.append(f"{where}: must be an object.")
            continue
        errors.extend(_unknown_keys(finding, FINDING_KEYS, where))
        key = finding.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            errors.append(f"{where}.key: use lower-case letters, digits and underscores.")
        elif key in seen:
            errors.append(f"{where}.key: {key!r} is used twice.")
        else:
            seen.add(key)
        if not isinstance(finding.get("label"), str) or not finding["label"].strip():
            errors.append(f"{where}.label: say what the finding is.")
        if "cite" in finding and not isinstance(finding["cite"], str):
            errors.append(f"{where}.cite: give the citation as text.")
        if "when" in finding:
            errors.extend(_check_condition(finding["when"], f"{where}.when", check, scores=True))
        cite_from = finding.get("cite_from", [])
        if not isinstance(cite_from, list):
            errors.append(f"{where}.cite_from: give a list of score names.")
            continue
        errors.extend(
            f"{where}.cite_from: {name!r} is not a score." for name in cite_from if name not in keys
        )
    return errors


def _check_outcomes(outcomes: list, keys: list, check: _Checking) -> list[str]:
    errors: list[str] = []
    for i, outcome in enumerate(outcomes):
        where = f"scoring.result.outcomes[{i}]"
        if not isinstance(outcome, dict) or not outcome.get("value"):
            errors.append(f"{where}.value: give the outcome a value.")
            continue
        errors.extend(_unknown_keys(outcome, OUTCOME_KEYS, where))
        if not isinstance(outcome["value"], str):
            errors.append(f"{where}.value: give the value as text.")
        if "when" in outcome:
            errors.extend(_check_condition(outcome["when"], f"{where}.when", check, scores=True))
        elif i != len(outcomes) - 1:
            errors.append(f"{where}.when: only the last outcome may have no condition.")
        cite_from = outcome.get("cite_from", [])
        if not isinstance(cite_from, list):
            errors.append(f"{where}.cite_from: give a list of score names.")
            continue
        for name in cite_from:
            if name not in keys:
                errors.append(f"{where}.cite_from: {name!r} is not a score.")
    if all(isinstance(o, dict) and "when" in o for o in outcomes):
        errors.append(
            f"scoring.result.outcomes[{len(outcomes) - 1}]: the last outcome is the default, "
            "so it has no when: an assessment must always have a result."
        )
    return errors


_QUESTION_OPS = ("equals", "in", "includes", "answered")


def _check_condition(
    cond: Any, where: str, check: _Checking, *, scores: bool, level: int = 1
) -> list[str]:
    if level > MAX_CONDITION_DEPTH:
        return [f"{where}: conditions nest at most {MAX_CONDITION_DEPTH} levels deep."]
    if not isinstance(cond, dict) or not cond:
        return [f"{where}: must be a condition object."]
    for combinator in ("all", "any"):
        if combinator in cond:
            parts = cond[combinator]
            extra = _unknown_keys(cond, frozenset({combinator}), where)
            if not isinstance(parts, list) or not parts:
                return [*extra, f"{where}.{combinator}: give a list of conditions."]
            return extra + [
                e
                for i, part in enumerate(parts)
                for e in _check_condition(
                    part, f"{where}.{combinator}[{i}]", check, scores=scores, level=level + 1
                )
            ]
    if "not" in cond:
        return _unknown_keys(cond, frozenset({"not"}), where) + _check_condition(
            cond["not"], f"{where}.not", check, scores=scores, level=level + 1
        )
    if "question" in cond:
        return _check_question_condition(cond, where, check)
    if "score" in cond or "derived" in cond:
        if not scores:
            return [f"{where}: a question can only depend on earlier answers."]
        return _check_score_condition(cond, where, check)
    if "risk" in cond:
        errors = _unknown_keys(cond, frozenset({"risk", "at_least"}), where)
        if cond["risk"] not in ("inherent", "residual"):
            errors.append(f"{where}.risk: say inherent or residual.")
        if cond.get("at_least") not in list(RATING_ORDER):
            errors.append(f"{where}.at_least: say low, medium or high.")
        return errors
    return [f"{where}: a condition names a question, a score, a risk, or all/any/not."]


def _check_question_condition(cond: dict, where: str, check: _Checking) -> list[str]:
    name = cond["question"]
    if not isinstance(name, str) or name not in check.seen:
        return [f"{where}.question: {name!r} is not an earlier question."]
    ops = set(cond) & set(_QUESTION_OPS)
    if not ops:
        return [f"{where}: say equals, in, includes or answered."]
    if len(ops) > 1:
        return [f"{where}: say only one of equals, in, includes or answered."]
    errors = _unknown_keys(cond, frozenset({"question", *_QUESTION_OPS}), where)
    op = ops.pop()
    target = cond[op]
    spec = check.seen[name]
    kind = spec.get("type")
    values: list | None
    if kind == "yes_no":
        values = ["yes", "no"]
    elif kind in ("single_choice", "multi_choice") and isinstance(spec.get("choices"), list):
        values = [c.get("value") for c in spec["choices"] if isinstance(c, dict)]
    else:
        values = None
    if op == "answered":
        if not isinstance(target, bool):
            errors.append(f"{where}.answered: say true or false.")
        return errors
    if op == "includes" and kind != "multi_choice":
        return [*errors, f"{where}.includes: {name!r} is not a multiple choice; use equals or in."]
    if op == "equals" and kind == "multi_choice":
        return [*errors, f"{where}.equals: {name!r} is a multiple choice; use includes."]
    if op == "in" and (not isinstance(target, list) or not target):
        return [*errors, f"{where}.in: give a list of values."]
    if values is not None:
        wanted = target if op == "in" else [target]
        for value in wanted:
            if value not in values:
                errors.append(
                    f"{where}.{op}: {value!r} is not a choice of {name!r} "
                    f"({', '.join(map(str, values))}), so this never holds."
                )
    return errors


def _check_score_condition(cond: dict, where: str, check: _Checking) -> list[str]:
    subject = "score" if "score" in cond else "derived"
    name = cond[subject]
    errors = _unknown_keys(cond, frozenset({subject, *_COMPARE}), where)
    if subject == "score" and name not in check.score_keys:
        return [*errors, f"{where}.score: {name!r} is not a score."]
    if subject == "derived" and name not in check.derived:
        return [*errors, f"{where}.derived: {name!r} is not in scoring.derived."]
    ops = set(cond) & set(_COMPARE)
    if len(ops) != 1 or not _is_number(cond[next(iter(ops))]):
        return [*errors, f"{where}: compare with one of {', '.join(_COMPARE)} and a number."]
    op = ops.pop()
    target = cond[op]
    if op.startswith("share_"):
        if subject == "derived":
            return [
                *errors,
                f"{where}.{op}: a derived quantity has no share; use gte, gt, lte or lt.",
            ]
        top = 1000 if name in check.share_of else 100
        if not 0 <= target <= top:
            errors.append(f"{where}.{op}: a share is a percentage from 0 to {top}.")
    elif abs(target) > MAX_THRESHOLD:
        errors.append(f"{where}.{op}: give a number between -1e9 and 1e9.")
    return errors


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# Answers -------------------------------------------------------------------------------------
def clean_answer(question: Question, raw: Any) -> Any:
    """The stored form of one answer, or ValueError with a message for the person."""
    if raw is None or raw == "" or raw == []:
        return None
    t = question.type
    if t in ("text", "long_text"):
        text = str(raw).strip()
        limit = min(
            question.spec.get("max_length", 500 if t == "text" else ANSWER_TEXT), ANSWER_TEXT
        )
        if len(text) > limit:
            raise ValueError(f"Keep this under {limit} characters (it has {len(text)}).")
        return text or None
    if t == "yes_no":
        value = raw
        if isinstance(raw, str | bool):
            value = {"true": "yes", "false": "no", True: "yes", False: "no"}.get(raw, raw)
        if value not in ("yes", "no"):
            raise ValueError("Answer yes or no.")
        return value
    if t == "single_choice":
        if not isinstance(raw, str) or raw not in {c["value"] for c in question.choices}:
            raise ValueError("Choose one of the options.")
        return raw
    if t == "multi_choice":
        if not isinstance(raw, str | list | tuple):
            raise ValueError("Choose from the options.")
        values = [raw] if isinstance(raw, str) else list(raw)
        allowed = [c["value"] for c in question.choices]
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ValueError(f"{', '.join(map(str, unknown))} is not one of the options.")
        chosen = [v for v in allowed if v in values]
        for choice in question.choices:
            if choice.get("exclusive") is True and choice["value"] in chosen and len(chosen) > 1:
                label = choice.get("label", choice["value"])
                raise ValueError(f"“{label}” cannot be combined with other choices.")
        return chosen or None
    if t == "number":
        try:
            number = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError("Enter a number, e.g. 1200 or 0.5.") from None
        if not number.is_finite():
            raise ValueError("Enter a number, e.g. 1200 or 0.5.")
        low, high = question.spec.get("min"), question.spec.get("max")
        if low is not None and number < Decimal(str(low)):
            raise ValueError(f"Enter {low} or more.")
        if high is not None and number > Decimal(str(high)):
            raise ValueError(f"Enter {high} or less.")
        return int(number) if number == number.to_integral_value() else float(number)
    if t == "date":
        try:
            return date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValueError("Enter a date as YYYY-MM-DD.") from None
    if t == "risk_table":
        return _clean_risks(question, raw)
    if t == "evidence":
        return _clean_evidence(raw)
    raise ValueError(f"Unknown question type {t}.")


def _clean_risks(question: Question, raw: Any) -> list[dict] | None:
    if not isinstance(raw, list):
        raise ValueError("Give the risks as a list of rows.")
    if len(raw) > MAX_RISK_ROWS:
        raise ValueError(f"Give at most {MAX_RISK_ROWS} risks.")
    likelihoods = [v for v, _ in LIKELIHOOD]
    severities = [v for v, _ in SEVERITY]
    rows = []
    for n, row in enumerate(raw, start=1):
        if not isinstance(row, dict):
            raise ValueError(f"Risk {n}: give the row as an object.")
        row = {k: row.get(k) for k in RISK_ROW_FIELDS}
        row["risk"] = str(row.get("risk") or "").strip()
        row["measures"] = str(row.get("measures") or "").strip()
        if not any(row[k] for k in RISK_ROW_FIELDS if k != "approved"):
            continue  # an empty row the form always offers
        if not row["risk"]:
            raise ValueError(f"Risk {n}: describe the risk.")
        for name in ("risk", "measures"):
            if len(row[name]) > SHORT_TEXT:
                raise ValueError(f"Risk {n}: keep the {name} under {SHORT_TEXT} characters.")
        if row["likelihood"] not in likelihoods:
            raise ValueError(f"Risk {n}: rate its likelihood (remote, possible or probable).")
        if row["severity"] not in severities:
            raise ValueError(f"Risk {n}: rate its severity (minimal, significant or severe).")
        if row["effect"] not in (None, "", *[v for v, _ in EFFECTS]):
            raise ValueError(f"Risk {n}: the effect is eliminated, reduced or accepted.")
        if row["residual"] not in (None, "", *RATING_ORDER):
            raise ValueError(f"Risk {n}: the residual risk is low, medium or high.")
        row["effect"] = row["effect"] or None
        row["residual"] = row["residual"] or None
        row["approved"] = row["approved"] in (True, "true", "yes", "on", "1")
        row["inherent"] = question.matrix[row["likelihood"]][row["severity"]]
        rows.append(row)
    return rows or None


def _clean_evidence(raw: Any) -> list[dict] | None:
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > MAX_EVIDENCE_ITEMS:
        raise ValueError(f"Give at most {MAX_EVIDENCE_ITEMS} pieces of evidence.")
    cleaned = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"Evidence {n}: give a link or a file.")
        url = str(item.get("url") or "").strip()
        file_id = item.get("file")
        title = str(item.get("title") or "").strip()
        if not url and not file_id and not title:
            continue
        if len(url) > MAX_URL or len(title) > MAX_TITLE:
            raise ValueError(
                f"Evidence {n}: keep the link under {MAX_URL} and the title under {MAX_TITLE} "
                "characters."
            )
        if not url and not file_id:
            raise ValueError(f"Evidence {n}: give a link or upload a file.")
        if url and not re.match(r"^https?://", url):
            raise ValueError(f"Evidence {n}: a link starts with https:// or http://.")
        expires = item.get("expires") or None
        if expires:
            try:
                expires = date.fromisoformat(str(expires)).isoformat()
            except ValueError:
                raise ValueError(f"Evidence {n}: enter the expiry date as YYYY-MM-DD.") from None
        entry: dict[str, Any] = {
            "title": title or url or "File",
            "url": url or None,
            "expires": expires,
        }
        if file_id:
            try:
                entry["file"] = int(file_id)
            except (TypeError, ValueError):
                raise ValueError(f"Evidence {n}: that is not a file uploaded here.") from None
            entry["filename"] = str(item.get("filename") or "")
            entry["sha256"] = str(item.get("sha256") or "")
        cleaned.append(entry)
    return cleaned or None


def is_answered(value: Any) -> bool:
    return value not in (None, "", [])


def visible_keys(definition: dict, answers: dict) -> set[str]:
    """Questions shown for these answers: a hidden question's own dependants are hidden too."""
    shown: set[str] = set()
    for q in questions(definition):
        cond = q.spec.get("show_if")
        if cond is None or _holds(cond, answers, shown=shown):
            shown.add(q.key)
    return shown


def missing_required(definition: dict, answers: dict) -> list[Question]:
    shown = visible_keys(definition, answers)
    return [
        q
        for q in questions(definition)
        if q.key in shown and q.required and not is_answered(answers.get(q.key))
    ]


def progress(definition: dict, answers: dict) -> dict[str, tuple[int, int]]:
    """Per section: (answered, shown) questions."""
    shown = visible_keys(definition, answers)
    counts: dict[str, list[int]] = {}
    for q in questions(definition):
        if q.key not in shown:
            continue
        done, total = counts.setdefault(q.section, [0, 0])
        counts[q.section] = [done + is_answered(answers.get(q.key)), total + 1]
    return {k: (v[0], v[1]) for k, v in counts.items()}


def expired_evidence(definition: dict, answers: dict, today: date) -> list[dict]:
    found = []
    for q in questions(definition):
        if q.type != "evidence":
            continue
        for item in answers.get(q.key) or []:
            if item.get("expires") and date.fromisoformat(item["expires"]) < today:
                found.append({"question": q.key, "label": q.label, **item})
    return found


# Scoring -------------------------------------------------------------------------------------
_COMPARE_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "gte": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "lte": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
}
# The share_ keys compare a score's share of its maximum (in %) with the operators above.
_COMPARE: dict[str, Callable[[Any, Any], bool] | None] = {
    **_COMPARE_OPS,
    "share_gte": None,
    "share_gt": None,
    "share_lt": None,
    "share_lte": None,
}


@dataclass
class Result:
    scores: dict[str, dict] = field(default_factory=dict)
    adjustments: list[str] = field(default_factory=list)
    value: str | None = None
    label: str = ""
    reasons: list[dict] = field(default_factory=list)
    highest_inherent: str | None = None
    highest_residual: str | None = None
    derived: dict[str, dict] = field(default_factory=dict)
    # Every finding whose condition holds, beside the one outcome: {key, label, cite, reasons}.
    findings: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "scores": self.scores,
            **({"derived": self.derived} if self.derived else {}),
            **({"findings": self.findings} if self.findings else {}),
            "adjustments": self.adjustments,
            "value": self.value,
            "label": self.label,
            "reasons": self.reasons,
            "highest_inherent": self.highest_inherent,
            "highest_residual": self.highest_residual,
        }


def score(definition: dict, answers: dict) -> Result:
    """Scores, adjustments and the outcome for these answers.

    A hidden question's answer counts nothing unless the template says
    ``"hidden_answers": "scored"``; each score is rounded as its ``round`` says.
    """
    scoring = definition.get("scoring") or {}
    specs = {s["key"]: s for s in scoring.get("scores", [])}
    keys = list(specs)
    labels = {k: s.get("label", k) for k, s in specs.items()}
    raw = dict.fromkeys(keys, 0.0)
    maximum = dict.fromkeys(keys, 0.0)
    cites: dict[str, list[dict]] = {k: [] for k in keys}
    shown = visible_keys(definition, answers)
    counted = {q.key for q in questions(definition)} if hidden_answers_score(definition) else shown
    inherent, residual = [], []

    for q in questions(definition):
        for k, most in _max_weights(q).items():
            maximum[k] += most
        if q.key not in counted or not is_answered(answers.get(q.key)):
            continue
        value = answers[q.key]
        if q.type == "risk_table":
            for row in value:
                inherent.append(row["inherent"])
                residual.append(row.get("residual") or row["inherent"])
            continue
        for k, w, cite, text in _contributions(q, value):
            raw[k] += w
            if w and (cite or text):
                cites[k].append({"question": q.key, "answer": text, "cite": cite})

    result = Result(
        highest_inherent=max(inherent, key=RATING_ORDER.__getitem__) if inherent else None,
        highest_residual=max(residual, key=RATING_ORDER.__getitem__) if residual else None,
    )
    raw = {k: round_number(v, specs[k].get("round")) for k, v in raw.items()}
    adjusted = dict(raw)
    derived = scoring.get("derived") or {}
    for adj in scoring.get("adjustments", []):
        ctx = _ScoreContext(adjusted, maximum, result, derived, specs)
        if _holds(adj["when"], answers, shown=shown, scores=ctx):
            before = adjusted[adj["score"]]
            adjusted[adj["score"]] = round_number(
                before * (1 - adj["reduce_pct"] / 100), specs[adj["score"]].get("round")
            )
            result.adjustments.append(
                adj.get("label")
                or f"{labels[adj['score']]} lowered by {adj['reduce_pct']}% "
                f"({_fmt(before)} → {_fmt(adjusted[adj['score']])})"
            )
    ctx = _ScoreContext(adjusted, maximum, result, derived, specs)
    for k in keys:
        whole = ctx.share_base(k)
        result.scores[k] = {
            "label": labels[k],
            "raw": _fmt(raw[k]),
            "value": _fmt(adjusted[k]),
            "max": _fmt(maximum[k]),
            "share": _fmt(100 * adjusted[k] / whole) if whole else 0,
        }
    for name, spec in derived.items():
        result.derived[name] = {"label": spec.get("label", name), "value": _fmt(ctx.derived(name))}

    outcome_spec = scoring.get("result")
    if outcome_spec:
        for outcome in outcome_spec["outcomes"]:
            if "when" not in outcome or _holds(outcome["when"], answers, shown=shown, scores=ctx):
                result.value = outcome["value"]
                result.label = outcome.get("label", outcome["value"])
                if outcome.get("cite"):
                    result.reasons.append({"question": None, "answer": "", "cite": outcome["cite"]})
                for name in outcome.get("cite_from", []):
                    result.reasons.extend(cites[name])
                break
        for finding in outcome_spec.get("findings", []):
            if "when" in finding and not _holds(finding["when"], answers, shown=shown, scores=ctx):
                continue
            result.findings.append(
                {
                    "key": finding["key"],
                    "label": finding["label"],
                    "cite": finding.get("cite", ""),
                    "reasons": [r for name in finding.get("cite_from", []) for r in cites[name]],
                }
            )
    return result


def cited(result: dict) -> list[str]:
    """Every citation a stored result rests on, once each, in order: the outcome's reasons,
    then each finding's citation and the answers behind it."""
    cites = [r.get("cite") for r in result.get("reasons") or []]
    for finding in result.get("findings") or []:
        cites.append(finding.get("cite"))
        cites.extend(r.get("cite") for r in finding.get("reasons") or [])
    return list(dict.fromkeys(c for c in cites if c))


def hidden_answers_score(definition: dict) -> bool:
    """Whether this template counts (and so keeps) answers to questions now hidden."""
    return (definition.get("scoring") or {}).get("hidden_answers", "ignored") == "scored"


_ROUNDING = {"half_even": ROUND_HALF_EVEN, "floor": ROUND_FLOOR, "ceil": ROUND_CEILING}


def round_number(value: float, spec: dict | None) -> float:
    """``value`` rounded as a template's ``round`` says; unchanged without one.

    Rounding works on the number as written in decimal (41.65, not the binary float just
    below it), so a half is a half. ``half_up`` is JavaScript's Math.round, which official
    scoring tools use: a half goes up, towards +infinity (-2.5 → -2).
    """
    if not spec:
        return value
    step = Decimal(1).scaleb(-int(spec.get("places", 0)))
    number = Decimal(repr(float(value)))
    if spec["mode"] == "half_up":
        rounded = ((number / step) + Decimal("0.5")).to_integral_value(ROUND_FLOOR) * step
    else:
        rounded = number.quantize(step, rounding=_ROUNDING[spec["mode"]])
    return float(rounded)


def _fmt(number: float) -> float | int:
    rounded = round(number, 2)
    return int(rounded) if rounded == int(rounded) else rounded


def _max_weights(q: Question) -> dict[str, float]:
    if q.type == "single_choice":
        best: dict[str, float] = {}
        for c in q.choices:
            for k, w in (c.get("weights") or {}).items():
                best[k] = max(best.get(k, 0.0), w)
        return best
    if q.type == "multi_choice":
        total: dict[str, float] = {}
        for c in q.choices:
            for k, w in (c.get("weights") or {}).items():
                total[k] = total.get(k, 0.0) + max(w, 0)
        return total
    if q.type == "yes_no":
        return {k: max(w, 0) for k, w in (q.spec.get("weights") or {}).items()}
    if q.type == "number":
        return {k: max(w * q.spec["max"], 0) for k, w in (q.spec.get("weights") or {}).items()}
    return {}


def _contributions(q: Question, value) -> list[tuple[str, float, str, str]]:
    """(score, weight, citation, answer text) for one answer."""
    out = []
    if q.type in ("single_choice", "multi_choice"):
        chosen = [value] if isinstance(value, str) else value
        for c in q.choices:
            if c["value"] in chosen:
                for k, w in (c.get("weights") or {}).items():
                    out.append((k, w, c.get("cite", ""), c.get("label", c["value"])))
    elif q.type == "yes_no" and value == "yes":
        for k, w in (q.spec.get("weights") or {}).items():
            out.append((k, w, q.spec.get("cite", ""), q.label))
    elif q.type == "number":
        for k, w in (q.spec.get("weights") or {}).items():
            out.append((k, w * min(float(value), q.spec["max"]), q.spec.get("cite", ""), ""))
    return out


@dataclass
class _ScoreContext:
    values: dict[str, float]
    maximum: dict[str, float]
    result: Result
    derived_specs: dict = field(default_factory=dict)
    score_specs: dict = field(default_factory=dict)

    def derived(self, name: str) -> float:
        spec = self.derived_specs[name]
        if "max_times" in spec:
            number = self.maximum[spec["of"]] * spec["max_times"]
        else:
            number = self.values[spec["of"]] * spec["value_times"]
        return round_number(number, spec.get("round"))

    def share_base(self, key: str) -> float:
        """What a score's share is a percentage of: its maximum, or its ``share_of``."""
        share_of = (self.score_specs.get(key) or {}).get("share_of")
        return self.derived(share_of) if share_of else self.maximum[key]


def _holds(cond: dict, answers: dict, *, shown: set | None = None, scores=None) -> bool:
    if "all" in cond:
        return all(_holds(c, answers, shown=shown, scores=scores) for c in cond["all"])
    if "any" in cond:
        return any(_holds(c, answers, shown=shown, scores=scores) for c in cond["any"])
    if "not" in cond:
        return not _holds(cond["not"], answers, shown=shown, scores=scores)
    if "question" in cond:
        key = cond["question"]
        if shown is not None and key not in shown:
            return False
        value = answers.get(key)
        if "answered" in cond:
            return is_answered(value) == bool(cond["answered"])
        if "equals" in cond:
            return value == cond["equals"]
        if "in" in cond:
            return value in cond["in"]
        if "includes" in cond:
            return isinstance(value, list) and cond["includes"] in value
        return False
    if "derived" in cond and scores is not None:
        value = scores.derived(cond["derived"])
        for op, target in cond.items():
            if op in _COMPARE_OPS:
                return _COMPARE_OPS[op](round(value, 6), target)
        return False
    if "score" in cond and scores is not None:
        value = scores.values[cond["score"]]
        most = scores.share_base(cond["score"])
        for op, target in cond.items():
            if op not in _COMPARE:
                continue
            if op.startswith("share_"):
                share = 100 * value / most if most else 0
                return _COMPARE_OPS[op.removeprefix("share_")](round(share, 6), target)
            return _COMPARE_OPS[op](round(value, 6), target)
    if "risk" in cond and scores is not None:
        level = (
            scores.result.highest_inherent
            if cond["risk"] == "inherent"
            else scores.result.highest_residual
        )
        return level is not None and RATING_ORDER[level] >= RATING_ORDER[cond["at_least"]]
    return False


def display_answer(question: Question, value) -> str:
    """An answer as a person reads it (used by compare, PDFs and exports)."""
    if not is_answered(value):
        return ""
    if question.type in ("single_choice", "yes_no"):
        return question.choice_label(value)
    if question.type == "multi_choice":
        return "; ".join(question.choice_label(v) for v in value)
    if question.type == "risk_table":
        return "\n".join(
            f"{row['risk']} — {row['likelihood']} × {row['severity']} = {row['inherent']}"
            + (f"; measures: {row['measures']}" if row.get("measures") else "")
            + (f"; residual {row['residual']}" if row.get("residual") else "")
            for row in value
        )
    if question.type == "evidence":
        return "\n".join(
            item["title"] + (f" (expires {item['expires']})" if item.get("expires") else "")
            for item in value
        )
    return str(value)
