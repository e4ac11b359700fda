"""The template format and scoring engine: pure functions over dicts, no database."""

import copy
from datetime import date

import pytest

from assessments import engine


def _definition() -> dict:
    """A small valid template; each test changes a fresh copy."""
    return copy.deepcopy(
        {
            "format": 1,
            "key": "sample",
            "version": 1,
            "kind": "other",
            "title": "Sample",
            "sections": [
                {
                    "key": "first",
                    "title": "First",
                    "questions": [
                        {
                            "key": "automated",
                            "type": "yes_no",
                            "label": "Does it decide alone?",
                            "weights": {"impact": 3},
                            "cite": "Article 22",
                        },
                        {
                            "key": "why",
                            "type": "text",
                            "label": "Why?",
                            "required": True,
                            "show_if": {"question": "automated", "equals": "yes"},
                        },
                        {
                            "key": "appeal",
                            "type": "yes_no",
                            "label": "Can people appeal?",
                            "required": True,
                            "weights": {"impact": 2},
                            "show_if": {"question": "why", "answered": True},
                        },
                    ],
                },
                {
                    "key": "second",
                    "title": "Second",
                    "questions": [
                        {
                            "key": "scale",
                            "type": "single_choice",
                            "label": "How many people?",
                            "required": True,
                            "choices": [
                                {"value": "few", "label": "Few", "weights": {"impact": 1}},
                                {"value": "many", "label": "Many", "weights": {"impact": 4}},
                            ],
                        },
                        {
                            "key": "groups",
                            "type": "multi_choice",
                            "label": "Who is affected?",
                            "choices": [
                                {"value": "staff", "label": "Staff", "weights": {"impact": 1}},
                                {
                                    "value": "children",
                                    "label": "Children",
                                    "weights": {"impact": 2},
                                    "cite": "Recital 38",
                                },
                            ],
                        },
                        {"key": "risks", "type": "risk_table", "label": "Risks"},
                    ],
                },
            ],
            "scoring": {
                "scores": [{"key": "impact", "label": "Impact"}],
                "result": {
                    "outcomes": [
                        {
                            "value": "high",
                            "label": "High",
                            "when": {"score": "impact", "share_gte": 50},
                            "cite_from": ["impact"],
                        },
                        {"value": "low", "label": "Low", "cite": "Nothing applies"},
                    ]
                },
            },
            "validity_months": {"default": 24, "high": 6},
        }
    )


def _errors(definition) -> list[str]:
    with pytest.raises(engine.TemplateError) as exc:
        engine.check_definition(definition)
    return exc.value.errors


def _question(definition, key) -> engine.Question:
    return engine.question_map(definition)[key]


# check_definition -----------------------------------------------------------------------------
def test_a_valid_template_is_returned_unchanged():
    definition = _definition()
    assert engine.check_definition(definition) is definition


def _set(path, value):
    def change(d):
        target = d
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _q(section, index, **changes):
    def change(d):
        d["sections"][section]["questions"][index].update(changes)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(["format"], 2), "format: only format 1 is understood."),
        (
            _set(["key"], "Has Spaces"),
            "key: give a short name of lower-case letters, digits and dashes.",
        ),
        (_set(["version"], True), "version: give a whole number from 1."),
        (_set(["version"], 0), "version: give a whole number from 1."),
        (
            _set(["kind"], "survey"),
            "kind: choose one of screening, dpia, impact, model_review, other.",
        ),
        (_set(["title"], "  "), "title: give the template a title."),
        (_set(["sections"], []), "sections: give at least one section."),
        (_set(["sections", 1, "key"], "first"), "sections[1].key: 'first' is used twice."),
        (_set(["sections", 1, "key"], "Second"), "sections[1].key: use lower-case letters"),
        (_set(["sections", 0, "title"], ""), "sections[0].title: give the section a title."),
        (
            _set(["sections", 0, "questions"], []),
            "sections[0].questions: give at least one question.",
        ),
        (
            _q(0, 0, type="slider"),
            "sections[0].questions[0].type: choose one of text, long_text, single_choice, "
            "multi_choice, yes_no, number, date, risk_table, evidence.",
        ),
        (_q(1, 0, key="automated"), "sections[1].questions[0].key: 'automated' is used twice."),
        (_q(0, 1, key="Why?"), "sections[0].questions[1].key: use lower-case letters"),
        (_q(0, 0, label=""), "sections[0].questions[0].label: give the question a label."),
        (
            _q(0, 0, show_if={"question": "scale", "equals": "many"}),
            "sections[0].questions[0].show_if.question: 'scale' is not an earlier question.",
        ),
        (
            _q(0, 0, show_if={"question": "automated", "equals": "yes"}),
            "sections[0].questions[0].show_if.question: 'automated' is not an earlier question.",
        ),
        (
            _q(0, 1, show_if={"question": "automated"}),
            "sections[0].questions[1].show_if: say equals, in, includes or answered.",
        ),
        (
            _q(0, 1, show_if={"score": "impact", "gte": 1}),
            "sections[0].questions[1].show_if: a question can only depend on earlier answers.",
        ),
        (
            _q(0, 1, show_if={"any": []}),
            "sections[0].questions[1].show_if.any: give a list of conditions.",
        ),
        (
            _q(0, 1, show_if={"not": {"colour": "red"}}),
            "sections[0].questions[1].show_if.not: a condition names a question, a score, a risk, "
            "or all/any/not.",
        ),
        (
            _q(0, 0, weights={"nope": 1}),
            "sections[0].questions[0].weights: nope is not a score in scoring.scores.",
        ),
        (
            _q(0, 0, weights={"impact": "3"}),
            "sections[0].questions[0].weights: map a score name to a number.",
        ),
        (
            _q(1, 0, choices=[{"value": "few", "label": "Few", "weights": {"risk": 1}}]),
            "sections[1].questions[0].choices[0].weights: risk is not a score in scoring.scores.",
        ),
        (
            _q(1, 0, choices=[{"value": "a", "label": "A"}, {"value": "a", "label": "B"}]),
            "sections[1].questions[0].choices: values must differ.",
        ),
        (_q(1, 0, choices=[]), "sections[1].questions[0].choices: give at least one choice."),
        (
            _q(1, 0, choices=[{"label": "No value"}]),
            "sections[1].questions[0].choices: each choice needs a value and a label.",
        ),
        (
            _q(1, 1, choices=[{"value": "none", "label": "Nobody", "exclusive": "yes"}]),
            "sections[1].questions[1].choices[0].exclusive: say true or false.",
        ),
        (
            _q(1, 1, choices=[{"value": "a", "label": "A"}, {"value": "b", "exclusive": 1}]),
            "sections[1].questions[1].choices[1].exclusive: say true or false.",
        ),
        (
            _q(0, 0, type="number", weights={"impact": 1}),
            "sections[0].questions[0].max: a weighted number needs a maximum.",
        ),
        (_set(["scoring"], "impact"), "scoring: must be an object."),
        (_set(["scoring", "scores"], "impact"), "scoring.scores: give a list of scores."),
        (
            _set(["scoring", "scores"], [{"label": "No key"}]),
            "scoring.scores: each score needs a key and a label.",
        ),
        (
            _set(["scoring", "adjustments"], [{"score": "nope", "reduce_pct": 10}]),
            "scoring.adjustments[0].score: name a score to adjust.",
        ),
        (
            _set(
                ["scoring", "adjustments"],
                [{"score": "impact", "reduce_pct": 150, "when": {"score": "impact", "gte": 1}}],
            ),
            "scoring.adjustments[0].reduce_pct: give a percentage from 0 to 100.",
        ),
        (
            _set(["scoring", "adjustments"], [{"score": "impact", "reduce_pct": 10}]),
            "scoring.adjustments[0].when: must be a condition object.",
        ),
        (
            _set(
                ["scoring", "result", "outcomes", 0, "when"], {"score": "impact", "gte": 1, "lt": 5}
            ),
            "scoring.result.outcomes[0].when: compare with one of gte, gt, lte, lt, share_gte, "
            "share_gt, share_lt, share_lte and a number.",
        ),
        (
            _set(["scoring", "result", "outcomes", 0, "when"], {"score": "size", "gte": 1}),
            "scoring.result.outcomes[0].when.score: 'size' is not a score.",
        ),
        (
            _set(
                ["scoring", "result", "outcomes", 0, "when"], {"risk": "residual", "at_least": "x"}
            ),
            "scoring.result.outcomes[0].when.at_least: say low, medium or high.",
        ),
        (
            _set(
                ["scoring", "result", "outcomes", 0, "when"], {"risk": "gross", "at_least": "high"}
            ),
            "scoring.result.outcomes[0].when.risk: say inherent or residual.",
        ),
        (
            _set(["scoring", "result", "outcomes"], [{"value": "low"}, {"value": "high"}]),
            "scoring.result.outcomes[0].when: only the last outcome may have no condition.",
        ),
        (
            _set(["scoring", "result", "outcomes", 0, "cite_from"], ["size"]),
            "scoring.result.outcomes[0].cite_from: 'size' is not a score.",
        ),
        (
            _set(["scoring", "result", "outcomes", 1], {"label": "No value"}),
            "scoring.result.outcomes[1].value: give the outcome a value.",
        ),
        (_set(["scoring", "result", "outcomes"], []), "scoring.result.outcomes: give at least one"),
        (
            _set(["validity_months"], {"default": 0}),
            "validity_months: map a level (or 'default') to a number of months.",
        ),
    ],
)
def test_check_definition_names_the_place_of_each_fault(change, message):
    definition = _definition()
    change(definition)
    errors = _errors(definition)
    assert any(e.startswith(message) for e in errors), errors


def test_check_definition_reports_every_fault_at_once():
    definition = _definition()
    definition["sections"][0]["questions"][0]["type"] = "slider"
    definition["sections"][1]["questions"][0]["key"] = "why"
    definition["scoring"]["result"]["outcomes"].reverse()
    errors = _errors(definition)
    assert errors == [
        "sections[0].questions[0].type: choose one of text, long_text, single_choice, "
        "multi_choice, yes_no, number, date, risk_table, evidence.",
        "sections[1].questions[0].key: 'why' is used twice.",
        "scoring.result.outcomes[0].when: only the last outcome may have no condition.",
    ]


def test_check_definition_rejects_a_definition_that_is_not_an_object():
    assert _errors(["not", "an", "object"]) == ["The template must be a JSON object."]


@pytest.mark.parametrize(
    "garbage",
    [
        {"scoring": "x"},
        {"scoring": {"scores": ["x", {"key": ["list"]}]}},
        {"scoring": {"adjustments": 5}},
        {"scoring": {"result": {"outcomes": [{"value": "a", "cite_from": 3}]}}},
        {"sections": [{"key": {"a": 1}, "title": "S", "questions": [{"key": "a"}]}]},
    ],
)
def test_malformed_parts_are_template_errors_not_crashes(garbage):
    definition = {**_definition(), **garbage}
    assert _errors(definition)


# clean_answer ---------------------------------------------------------------------------------
def _typed(type_, **spec) -> engine.Question:
    return engine.Question("q", type_, "Q", "s", {"key": "q", "type": type_, "label": "Q", **spec})


@pytest.mark.parametrize("empty", [None, "", []])
def test_an_empty_answer_is_stored_as_none(empty):
    assert engine.clean_answer(_typed("text"), empty) is None
    assert engine.clean_answer(_typed("multi_choice", choices=[{"value": "a"}]), empty) is None


def test_text_is_trimmed_and_limited():
    assert engine.clean_answer(_typed("text"), "  Ticket triage \n") == "Ticket triage"
    assert engine.clean_answer(_typed("text"), "   ") is None
    assert engine.clean_answer(_typed("text"), "x" * 500) == "x" * 500
    with pytest.raises(ValueError, match=r"^Keep this under 500 characters \(it has 501\)\.$"):
        engine.clean_answer(_typed("text"), "x" * 501)
    with pytest.raises(ValueError, match=r"Keep this under 10 characters \(it has 11\)"):
        engine.clean_answer(_typed("text", max_length=10), "x" * 11)
    assert len(engine.clean_answer(_typed("long_text"), "y" * 20000)) == 20000
    with pytest.raises(ValueError, match="Keep this under 20000 characters"):
        engine.clean_answer(_typed("long_text"), "y" * 20001)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("yes", "yes"), ("no", "no"), (True, "yes"), (False, "no"), ("true", "yes"), ("false", "no")],
)
def test_yes_no_accepts_yes_no_and_booleans(raw, stored):
    assert engine.clean_answer(_typed("yes_no"), raw) == stored


@pytest.mark.parametrize("raw", ["maybe", "Yes", 2, ["yes"], {"yes": True}])
def test_yes_no_refuses_anything_else(raw):
    with pytest.raises(ValueError, match="^Answer yes or no.$"):
        engine.clean_answer(_typed("yes_no"), raw)


def test_single_choice_takes_one_of_the_values():
    q = _question(_definition(), "scale")
    assert engine.clean_answer(q, "many") == "many"
    for bad in ("Many", "lots", ["many"], 4):
        with pytest.raises(ValueError, match="^Choose one of the options.$"):
            engine.clean_answer(q, bad)


def test_multi_choice_keeps_the_template_order_and_refuses_unknown_values():
    q = _question(_definition(), "groups")
    assert engine.clean_answer(q, ["children", "staff"]) == ["staff", "children"]
    assert engine.clean_answer(q, "staff") == ["staff"]
    with pytest.raises(ValueError, match="^pets, robots is not one of the options.$"):
        engine.clean_answer(q, ["staff", "pets", "robots"])
    with pytest.raises(ValueError, match="^Choose from the options.$"):
        engine.clean_answer(q, 7)


def test_an_exclusive_choice_cannot_be_combined_with_another():
    definition = _definition()
    groups = definition["sections"][1]["questions"][1]
    groups["choices"].append({"value": "none", "label": "None of these", "exclusive": True})
    groups["choices"][0]["exclusive"] = False  # false is the same as leaving it out
    engine.check_definition(definition)
    q = _question(definition, "groups")
    assert engine.clean_answer(q, ["none"]) == ["none"]
    assert engine.clean_answer(q, "none") == ["none"]
    assert engine.clean_answer(q, ["children", "staff"]) == ["staff", "children"]
    for combined in (["staff", "none"], ["none", "children"], ["staff", "children", "none"]):
        with pytest.raises(ValueError) as exc:
            engine.clean_answer(q, combined)
        assert str(exc.value) == "“None of these” cannot be combined with other choices."
    # Ticking the same exclusive choice twice is still one choice.
    assert engine.clean_answer(q, ["none", "none"]) == ["none"]


def test_number_reads_separators_and_checks_its_range():
    q = _typed("number", min=0, max=5000)
    assert engine.clean_answer(q, "1,200") == 1200
    assert engine.clean_answer(q, " 0.5 ") == 0.5
    assert engine.clean_answer(q, 12) == 12
    for bad in ("twelve", "nan", "Infinity", [1]):
        with pytest.raises(ValueError, match=r"^Enter a number, e\.g\. 1200 or 0\.5\.$"):
            engine.clean_answer(q, bad)
    with pytest.raises(ValueError, match="^Enter 0 or more.$"):
        engine.clean_answer(q, "-1")
    with pytest.raises(ValueError, match="^Enter 5000 or less.$"):
        engine.clean_answer(q, "5000.5")


def test_date_is_stored_as_iso():
    assert engine.clean_answer(_typed("date"), " 2025-08-02 ") == "2025-08-02"
    for bad in ("02/08/2025", "2025-02-30", "tomorrow"):
        with pytest.raises(ValueError, match="^Enter a date as YYYY-MM-DD.$"):
            engine.clean_answer(_typed("date"), bad)


def test_risk_rows_get_their_inherent_rating_and_empty_rows_are_dropped():
    q = _typed("risk_table")
    rows = engine.clean_answer(
        q,
        [
            {
                "risk": " Wrongly declined loan ",
                "likelihood": "possible",
                "severity": "severe",
                "measures": "Human review of declines",
                "effect": "reduced",
                "residual": "medium",
                "approved": "on",
            },
            {"risk": "", "measures": "", "approved": False},  # the blank row a form offers
        ],
    )
    assert rows == [
        {
            "risk": "Wrongly declined loan",
            "likelihood": "possible",
            "severity": "severe",
            "measures": "Human review of declines",
            "effect": "reduced",
            "residual": "medium",
            "approved": True,
            "inherent": "high",
        }
    ]
    assert engine.clean_answer(q, [{"risk": ""}]) is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"likelihood": "possible", "severity": "severe"}, "Risk 2: describe the risk."),
        (
            {"risk": "r", "likelihood": "likely", "severity": "severe"},
            "Risk 2: rate its likelihood (remote, possible or probable).",
        ),
        (
            {"risk": "r", "likelihood": ["possible"], "severity": "severe"},
            "Risk 2: rate its likelihood (remote, possible or probable).",
        ),
        (
            {"risk": "r", "likelihood": "possible", "severity": "bad"},
            "Risk 2: rate its severity (minimal, significant or severe).",
        ),
        (
            {"risk": "r", "likelihood": "possible", "severity": "severe", "effect": "gone"},
            "Risk 2: the effect is eliminated, reduced or accepted.",
        ),
        (
            {"risk": "r", "likelihood": "possible", "severity": "severe", "residual": "none"},
            "Risk 2: the residual risk is low, medium or high.",
        ),
        ("a string", "Risk 2: give the row as an object."),
    ],
)
def test_risk_rows_name_the_row_at_fault(row, message):
    good = {"risk": "ok", "likelihood": "remote", "severity": "minimal"}
    with pytest.raises(ValueError) as exc:
        engine.clean_answer(_typed("risk_table"), [good, row])
    assert str(exc.value) == message


def test_risk_table_must_be_a_list():
    with pytest.raises(ValueError, match="^Give the risks as a list of rows.$"):
        engine.clean_answer(_typed("risk_table"), {"risk": "r"})


def test_evidence_takes_links_and_files():
    q = _typed("evidence")
    assert engine.clean_answer(
        q,
        [
            {"url": "https://wiki.example.com/dfd", "title": "Data flow", "expires": "2026-01-31"},
            {"file": "7", "filename": "lia.pdf", "sha256": "ab"},
            {"title": "", "url": ""},
        ],
    ) == [
        {"title": "Data flow", "url": "https://wiki.example.com/dfd", "expires": "2026-01-31"},
        {
            "title": "File",
            "url": None,
            "expires": None,
            "file": 7,
            "filename": "lia.pdf",
            "sha256": "ab",
        },
    ]
    assert engine.clean_answer(q, {"url": "http://x.example"})[0]["title"] == "http://x.example"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"title": "Policy"}, "Evidence 1: give a link or upload a file."),
        (
            {"url": "ftp://files.example.com/a"},
            "Evidence 1: a link starts with https:// or http://.",
        ),
        (
            {"url": "https://x.example", "expires": "next year"},
            "Evidence 1: enter the expiry date as YYYY-MM-DD.",
        ),
        ({"file": "abc"}, "Evidence 1: that is not a file uploaded here."),
        ("https://x.example", "Evidence 1: give a link or a file."),
    ],
)
def test_evidence_explains_what_is_wrong(item, message):
    with pytest.raises(ValueError) as exc:
        engine.clean_answer(_typed("evidence"), [item])
    assert str(exc.value) == message


def test_expired_evidence_is_found():
    definition = _definition()
    definition["sections"][1]["questions"].append(
        {"key": "proof", "type": "evidence", "label": "Proof"}
    )
    answers = {
        "proof": [
            {"title": "Old", "url": "https://a.example", "expires": "2025-01-01"},
            {"title": "Fresh", "url": "https://b.example", "expires": "2027-01-01"},
        ]
    }
    found = engine.expired_evidence(definition, answers, date(2026, 6, 1))
    assert [(e["question"], e["title"]) for e in found] == [("proof", "Old")]


# visibility -----------------------------------------------------------------------------------
def test_a_question_shows_when_its_condition_holds():
    definition = _definition()
    assert engine.visible_keys(definition, {}) == {"automated", "scale", "groups", "risks"}
    shown = engine.visible_keys(definition, {"automated": "yes"})
    assert shown == {"automated", "why", "scale", "groups", "risks"}
    shown = engine.visible_keys(definition, {"automated": "yes", "why": "Speed"})
    assert "appeal" in shown


def test_a_hidden_questions_dependants_are_hidden_even_with_stale_answers():
    definition = _definition()
    # "why" still holds an answer from before "automated" was changed to no.
    answers = {"automated": "no", "why": "Speed", "appeal": "yes", "scale": "few"}
    assert engine.visible_keys(definition, answers) == {"automated", "scale", "groups", "risks"}


def test_hidden_answers_score_nothing_but_still_count_towards_the_maximum():
    definition = _definition()
    shown_answers = {"automated": "yes", "why": "Speed", "appeal": "yes", "scale": "few"}
    result = engine.score(definition, shown_answers)
    # automated 3 + appeal 2 + few 1 = 6 of a maximum 3 + 2 + 4 + (1 + 2) = 12
    assert result.scores["impact"] == {
        "label": "Impact",
        "raw": 6,
        "value": 6,
        "max": 12,
        "share": 50,
    }
    assert result.value == "high"

    hidden = engine.score(definition, {**shown_answers, "automated": "no"})
    assert hidden.scores["impact"]["raw"] == 1  # only "few": appeal is hidden with "why"
    assert hidden.scores["impact"]["max"] == 12
    assert hidden.value == "low"


def test_an_outcome_does_not_read_a_hidden_answer():
    definition = _definition()
    definition["scoring"]["result"]["outcomes"].insert(
        0, {"value": "appealable", "when": {"question": "appeal", "equals": "yes"}}
    )
    engine.check_definition(definition)
    visible = {"automated": "yes", "why": "Speed", "appeal": "yes"}
    assert engine.score(definition, visible).value == "appealable"
    assert engine.score(definition, {**visible, "automated": "no"}).value == "low"


def test_condition_forms():
    answers = {"scale": "many", "groups": ["staff", "children"], "automated": "no"}
    holds = engine._holds  # the one evaluator used by show_if, adjustments and outcomes
    assert holds({"question": "scale", "equals": "many"}, answers)
    assert holds({"question": "scale", "in": ["few", "many"]}, answers)
    assert holds({"question": "groups", "includes": "children"}, answers)
    assert not holds({"question": "scale", "includes": "many"}, answers)  # not a list
    assert holds({"question": "why", "answered": False}, answers)
    many = {"question": "scale", "equals": "many"}
    few = {"question": "scale", "equals": "few"}
    automated = {"question": "automated", "equals": "yes"}
    staff = {"question": "groups", "includes": "staff"}
    assert holds({"all": [many, {"not": automated}]}, answers)
    assert not holds({"all": [many, automated]}, answers)
    assert holds({"any": [few, staff]}, answers)
    assert not holds({"any": [few, automated]}, answers)


def test_missing_required_lists_only_shown_questions():
    definition = _definition()
    assert [q.key for q in engine.missing_required(definition, {})] == ["scale"]
    missing = engine.missing_required(definition, {"automated": "yes"})
    assert [q.key for q in missing] == ["why", "scale"]
    missing = engine.missing_required(definition, {"automated": "yes", "why": "Speed"})
    assert [q.key for q in missing] == ["appeal", "scale"]
    complete = {"automated": "yes", "why": "Speed", "appeal": "no", "scale": "few"}
    assert engine.missing_required(definition, complete) == []


def test_progress_counts_shown_questions_per_section():
    definition = _definition()
    assert engine.progress(definition, {"automated": "yes", "scale": "few"}) == {
        "first": (1, 2),
        "second": (1, 3),
    }


# risk matrix ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("likelihood", "severity", "rating"),
    [
        ("remote", "minimal", "low"),
        ("remote", "significant", "low"),
        ("remote", "severe", "medium"),
        ("possible", "minimal", "low"),
        ("possible", "significant", "medium"),
        ("possible", "severe", "high"),
        ("probable", "minimal", "medium"),
        ("probable", "significant", "high"),
        ("probable", "severe", "high"),
    ],
)
def test_the_ico_risk_matrix(likelihood, severity, rating):
    assert engine.DEFAULT_MATRIX[likelihood][severity] == rating
    row = {"risk": "r", "likelihood": likelihood, "severity": severity}
    assert engine.clean_answer(_typed("risk_table"), [row])[0]["inherent"] == rating


def test_highest_risks_use_residual_or_else_inherent():
    definition = _definition()
    risks = engine.clean_answer(
        _question(definition, "risks"),
        [
            {"risk": "a", "likelihood": "probable", "severity": "severe", "residual": "low"},
            {"risk": "b", "likelihood": "possible", "severity": "significant"},
        ],
    )
    result = engine.score(definition, {"risks": risks})
    assert (result.highest_inherent, result.highest_residual) == ("high", "medium")


def test_risk_conditions_compare_at_least():
    definition = _definition()
    definition["scoring"]["result"]["outcomes"] = [
        {"value": "consult", "when": {"risk": "residual", "at_least": "high"}},
        {"value": "watch", "when": {"risk": "inherent", "at_least": "medium"}},
        {"value": "fine"},
    ]
    engine.check_definition(definition)
    q = _question(definition, "risks")

    def outcome(*rows):
        return engine.score(definition, {"risks": engine.clean_answer(q, list(rows))}).value

    assert outcome({"risk": "a", "likelihood": "probable", "severity": "severe"}) == "consult"
    reduced = {"risk": "a", "likelihood": "probable", "severity": "severe", "residual": "low"}
    assert outcome(reduced) == "watch"
    assert outcome({"risk": "a", "likelihood": "remote", "severity": "minimal"}) == "fine"
    assert engine.score(definition, {}).value == "fine"  # no risks at all


# scoring --------------------------------------------------------------------------------------
def _mitigated() -> dict:
    """Impact up to 100 and mitigation up to 1000, so shares can be checked to a tenth."""
    return {
        "key": "mitigated",
        "version": 1,
        "kind": "impact",
        "title": "Mitigated",
        "sections": [
            {
                "key": "s",
                "title": "S",
                "questions": [
                    {
                        "key": "harm",
                        "type": "number",
                        "label": "Harm",
                        "max": 100,
                        "weights": {"impact": 1},
                    },
                    {
                        "key": "care",
                        "type": "number",
                        "label": "Care",
                        "max": 1000,
                        "weights": {"mitigation": 1},
                    },
                ],
            }
        ],
        "scoring": {
            "scores": [
                {"key": "impact", "label": "Impact"},
                {"key": "mitigation", "label": "Mitigation"},
            ],
            "adjustments": [
                {
                    "score": "impact",
                    "reduce_pct": 15,
                    "when": {"score": "mitigation", "share_gte": 80},
                }
            ],
            "result": {
                "outcomes": [
                    {"value": "high", "when": {"score": "impact", "share_gte": 50}},
                    {"value": "low"},
                ]
            },
        },
    }


def test_an_adjustment_applies_from_exactly_its_threshold():
    definition = engine.check_definition(_mitigated())
    below = engine.score(definition, {"harm": 55, "care": 799})
    assert below.scores["mitigation"]["share"] == 79.9
    assert below.adjustments == []
    assert below.scores["impact"] == {
        "label": "Impact",
        "raw": 55,
        "value": 55,
        "max": 100,
        "share": 55,
    }
    assert below.value == "high"

    at = engine.score(definition, {"harm": 55, "care": 800})
    assert at.scores["mitigation"]["share"] == 80
    assert at.adjustments == ["Impact lowered by 15% (55 → 46.75)"]
    assert at.scores["impact"] == {
        "label": "Impact",
        "raw": 55,
        "value": 46.75,
        "max": 100,
        "share": 46.75,
    }
    assert at.value == "low"


def test_a_number_answer_scores_up_to_its_maximum():
    definition = engine.check_definition(_mitigated())
    assert engine.score(definition, {"harm": 40}).scores["impact"]["raw"] == 40
    # clean_answer refuses more than the maximum; scoring caps it as well
    assert engine.score(definition, {"harm": 150}).scores["impact"]["raw"] == 100


def test_a_choice_scores_its_weights_and_cites_them():
    definition = _definition()
    result = engine.score(
        definition, {"automated": "yes", "scale": "many", "groups": ["staff", "children"]}
    )
    # 3 + 4 + 1 + 2 = 10 of 12
    assert result.scores["impact"]["raw"] == 10
    assert result.scores["impact"]["share"] == 83.33
    assert result.value == "high"
    assert result.label == "High"
    assert result.reasons == [
        {"question": "automated", "answer": "Does it decide alone?", "cite": "Article 22"},
        {"question": "scale", "answer": "Many", "cite": ""},
        {"question": "groups", "answer": "Staff", "cite": ""},
        {"question": "groups", "answer": "Children", "cite": "Recital 38"},
    ]


def test_the_last_outcome_is_the_default_and_carries_its_cite():
    result = engine.score(_definition(), {"scale": "few"})
    assert (result.value, result.label) == ("low", "Low")
    assert result.reasons == [{"question": None, "answer": "", "cite": "Nothing applies"}]


def test_a_template_without_scoring_has_no_result():
    definition = _definition()
    del definition["scoring"]
    for q in engine.questions(definition):
        q.spec.pop("weights", None)
        for c in q.spec.get("choices", []):
            c.pop("weights", None)
    engine.check_definition(definition)
    result = engine.score(definition, {"automated": "yes"})
    assert (result.value, result.scores) == (None, {})


def test_display_answer_reads_like_a_person_would_write_it():
    definition = _definition()
    assert engine.display_answer(_question(definition, "automated"), "yes") == "Yes"
    assert engine.display_answer(_question(definition, "groups"), ["staff", "children"]) == (
        "Staff; Children"
    )
    assert engine.display_answer(_question(definition, "scale"), None) == ""
    rows = engine.clean_answer(
        _question(definition, "risks"),
        [{"risk": "Leak", "likelihood": "possible", "severity": "severe", "residual": "low"}],
    )
    assert engine.display_answer(_question(definition, "risks"), rows) == (
        "Leak — possible × severe = high; residual low"
    )
