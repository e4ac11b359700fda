"""Reading a section of an assessment from a posted form, and shaping it for the page.

Questions come from a template, not from Django form classes, so the form is built here:
each question posts under ``q-<key>`` (risk-table and evidence rows under
``q-<key>-<row>-<field>``), and a page re-shows what was typed when a save is refused.
"""

import json
from dataclasses import dataclass, field

from django import forms

from assessments import engine
from assessments.models import AssessmentTemplate
from portal.forms import SignForm, StyledFormMixin
from portal.limits import SHORT_TEXT
from registry.models import RiskTier

BLANK_ROWS = 1  # empty rows offered under a risk table or evidence list


def section_questions(definition: dict, section_key: str) -> list[engine.Question]:
    return [q for q in engine.questions(definition) if q.section == section_key]


def raw_answers(questions: list[engine.Question], post) -> dict:
    """What the person typed for these questions, as the engine's clean_answer expects it."""
    raw: dict = {}
    for q in questions:
        name = f"q-{q.key}"
        if q.type == "multi_choice":
            if f"{name}-present" in post:
                raw[q.key] = post.getlist(name)
        elif q.type == "risk_table":
            raw[q.key] = _rows(post, name, engine.RISK_ROW_FIELDS)
        elif q.type == "evidence":
            raw[q.key] = _rows(
                post, name, ("title", "url", "expires", "file", "filename", "sha256")
            )
        elif name in post:
            raw[q.key] = post.get(name, "")
    return raw


def _rows(post, name: str, fields) -> list[dict]:
    # A row number is ASCII digits: "¹" passes isdigit() but not int().
    numbers = {k[len(name) + 1 :].split("-", 1)[0] for k in post if k.startswith(name + "-")}
    indexes = sorted(int(n) for n in numbers if n.isascii() and n.isdigit() and len(n) <= 6)
    rows = []
    for i in indexes:
        row = {f: post.get(f"{name}-{i}-{f}", "") for f in fields}
        if post.get(f"{name}-{i}-delete"):
            continue
        rows.append(row)
    return rows


@dataclass
class QuestionView:
    """One question as the page draws it: its answer (or what was typed) and its error."""

    question: engine.Question
    value: object = None
    error: str = ""
    visible: bool = True
    comments: list = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.question.key

    @property
    def name(self) -> str:
        return f"q-{self.question.key}"

    @property
    def rows(self) -> list[dict]:
        """Risk-table or evidence rows, with blank ones to add more."""
        rows = list(self.value) if isinstance(self.value, list) else []
        return rows + [{} for _ in range(BLANK_ROWS)]

    @property
    def selected(self) -> list:
        if isinstance(self.value, list):
            return self.value
        return [] if self.value in (None, "") else [self.value]

    @property
    def display(self) -> str:
        return engine.display_answer(self.question, self.value)

    @property
    def matrix_json(self) -> str:
        return json.dumps(self.question.matrix)

    @property
    def show_if_json(self) -> str:
        cond = self.question.spec.get("show_if")
        return json.dumps(cond) if cond else ""


def question_views(
    definition: dict,
    section_key: str,
    answers: dict,
    *,
    typed: dict | None = None,
    errors: dict | None = None,
    comments=None,
) -> list[QuestionView]:
    visible = engine.visible_keys(definition, {**answers, **(typed or {})})
    by_question: dict[str, list] = {}
    for c in comments or []:
        by_question.setdefault(c.question_key, []).append(c)
    views = []
    for q in section_questions(definition, section_key):
        value = (typed or {}).get(q.key, answers.get(q.key))
        views.append(
            QuestionView(
                question=q,
                value=value,
                error=(errors or {}).get(q.key, ""),
                visible=q.key in visible,
                comments=by_question.get(q.key, []),
            )
        )
    return views


class StartForm(StyledFormMixin, forms.Form):
    template = forms.ModelChoiceField(
        queryset=AssessmentTemplate.objects.none(),
        empty_label=None,
        widget=forms.RadioSelect,
        help_text="Each template is a versioned file; the newest version of each is offered.",
    )

    def __init__(self, *args, templates=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates
        self.fields["template"].label_from_instance = lambda t: (
            f"{t.title} (version {t.version}, {t.question_count} questions)"
        )


class SignOffForm(SignForm):
    # One box per open reviewer question; the service refuses a signature that leaves one out.
    acknowledged_questions = forms.TypedMultipleChoiceField(
        label="Open reviewer questions",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, open_questions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["acknowledged_questions"].choices = [
            (c.pk, f"I have read this question and sign with it open (comment {c.pk})")
            for c in open_questions
        ]


class OverrideTierForm(forms.Form):
    tier = forms.ChoiceField(
        label="Tier", choices=[c for c in RiskTier.choices if c[0] != RiskTier.UNSCREENED]
    )
    justification = forms.CharField(max_length=SHORT_TEXT, widget=forms.Textarea(attrs={"rows": 3}))


class TemplateImportForm(forms.Form):
    file = forms.FileField(
        label="Template file (JSON)",
        help_text="The format is described in the README under “Assessment templates”.",
    )
