"""Canada's Algorithmic Impact Assessment, converted from its published file, scores exactly as
the official tool does (issue 14).

The expected numbers are the official tool's: devtools/questionnaires/canada-aia/ holds the
tool's questionnaire and 116 answer sets with what the tool's own scoring code
(``calculateFinalScore`` in its ``src/store.ts``, run over SurveyJS 1.7.23) gives each, on its
results page (``completed``) and its live score bar (``live``). See that folder's README.
"""

import copy
import json
import math
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assessments import engine, questionnaires, services
from assessments.models import Assessment, AssessmentTemplate
from tests.assessments.builders import draft

ROOT = Path(__file__).resolve().parent.parent.parent
AIA_DIR = ROOT / "devtools" / "questionnaires" / "canada-aia"
SOURCE = AIA_DIR / "survey-enfr.json"
OFFICIAL = json.loads((AIA_DIR / "official-scores.json").read_text(encoding="utf-8"))
CASES = {case["name"]: case for case in OFFICIAL["cases"]}
LEVELS = ["I", "II", "III", "IV"]


def _source() -> dict:
    return json.loads(SOURCE.read_text(encoding="utf-8"))


CONVERSION = questionnaires.convert_canada_aia(_source())
AIA = CONVERSION.definition


def _scored(definition: dict, data: dict) -> list:
    """[raw impact, mitigation, current score, level], as the official tool reports them."""
    result = engine.score(definition, CONVERSION.answers(data))
    return [
        result.scores["impact"]["raw"],
        result.scores["mitigation"]["value"],
        result.scores["impact"]["value"],
        LEVELS.index(result.value) + 1,
    ]


def _source_questions(elements) -> list[dict]:
    found = []
    for element in elements:
        if element.get("type") == "panel":
            found.extend(_source_questions(element["elements"]))
        elif element.get("type") != "html":
            found.append(element)
    return found


# The conversion ------------------------------------------------------------------------------
def test_every_question_of_the_published_file_is_converted_in_order():
    source = [q for page in _source()["pages"] for q in _source_questions(page["elements"])]
    converted = engine.questions(AIA)
    assert len(converted) == len(source) == 295
    assert [CONVERSION.names[q.key] for q in converted] == [q["name"] for q in source]
    by_name = {CONVERSION.names[q.key]: q for q in converted}
    department = by_name["projectDetailsDepartment-NS"]
    assert department.type == "single_choice"
    assert department.label == "Department"
    phase = by_name["projectDetailsPhase"]
    assert [c["value"] for c in phase.choices] == ["item1", "item2"]
    # Choices keep their official values and labels; the weight is the value's suffix.
    choices = by_name["riskProfile4"].choices
    assert [(c["value"], c.get("weights")) for c in choices] == [
        ("item1-0", None),
        ("item2-0", None),
        ("item3-4", {"impact": 4}),
        ("item4-4", {"impact": 4}),
    ]
    assert choices[3]["label"] == "No assessment has been conducted."


def test_conditional_questions_keep_their_conditions_and_their_pages_phase():
    by_name = {CONVERSION.names[q.key]: q for q in engine.questions(AIA)}
    # {riskProfile4} = "item2-0" or {riskProfile4} = "item3-4"
    assert by_name["riskProfile4B"].spec["show_if"] == {
        "any": [
            {"question": "risk_profile4", "equals": "item2-0"},
            {"question": "risk_profile4", "equals": "item3-4"},
        ]
    }
    # {aboutSystem3} contains ["item2"] on a single answer is SurveyJS's substring test.
    assert by_name["aboutSystem3A"].spec["show_if"] == {
        "question": "about_system3",
        "in": ["item2-0"],
    }
    # On a multiple choice, contains is includes:
    # {aboutDataSource1} = "item1-2" and {aboutDataSource14} contains "item6-1"
    assert by_name["aboutDataSource14A"].spec["show_if"] == {
        "all": [
            {"question": "about_data_source1", "equals": "item1-2"},
            {"question": "about_data_source14", "includes": "item6-1"},
        ]
    }
    # A question on the design fork's pages needs the design phase and its own condition.
    design = {"question": "project_details_phase", "equals": "item1"}
    assert by_name["consultationDesign1"].spec["show_if"] == design
    assert by_name["dataQualityDesign11"].spec["show_if"] == {
        "all": [
            design,
            {
                "all": [
                    {"question": "data_quality_design1", "equals": "item1-3"},
                    {"question": "data_quality_design2", "equals": "item1-1"},
                ]
            },
        ]
    }
    conditional = [q for q in engine.questions(AIA) if "show_if" in q.spec]
    source = [q for page in _source()["pages"] for q in _source_questions(page["elements"])]
    on_fork_pages = sum(
        len(_source_questions(page["elements"]))
        for page in _source()["pages"]
        if page.get("visibleIf")
    )
    own = [q for q in source if q.get("visibleIf")]
    assert len(conditional) == len({q["name"] for q in own} | set(_fork_names()))
    assert on_fork_pages == len(_fork_names())


def _fork_names() -> list[str]:
    return [
        q["name"]
        for page in _source()["pages"]
        if page.get("visibleIf")
        for q in _source_questions(page["elements"])
    ]


def test_the_converted_template_passes_the_strict_validator_as_a_file():
    # Through JSON, as a file is imported.
    assert engine.check_definition(json.loads(json.dumps(AIA))) == AIA
    assert AIA["kind"] == "impact"
    assert AIA["key"] == "canada-aia"
    assert "MIT" in AIA["source"]


def test_the_maxima_are_the_official_tools():
    maxima = engine.score(AIA, {}).scores
    assert maxima["impact"]["max"] == OFFICIAL["maxima"]["raw_impact"] == 167
    assert maxima["mitigation"]["max"] == OFFICIAL["maxima"]["mitigation"] == 154


def test_the_scoring_is_the_official_rule():
    scoring = AIA["scoring"]
    assert scoring["scores"][0]["round"] == {"mode": "half_up", "places": 0}
    assert scoring["derived"]["mitigation_half_max"]["max_times"] == 0.5
    assert scoring["adjustments"] == [
        {
            "score": "impact",
            "reduce_pct": 15,
            "when": {"score": "mitigation", "share_gte": 80},
        }
    ]
    bounds = [o.get("when", {}).get("share_lte") for o in scoring["result"]["outcomes"]]
    assert bounds == [25, 50, 75, None]
    assert scoring["hidden_answers"] == "ignored"


# Scoring against the official tool -----------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_scores_match_the_official_results_page(name):
    case = CASES[name]
    assert _scored(AIA, case["data"]) == case["completed"]


def _is_scored(question: engine.Question) -> bool:
    return any(c.get("weights") for c in question.choices) if question.choices else False


def _names_in(condition: dict) -> set[str]:
    for combinator in ("all", "any"):
        if combinator in condition:
            return {n for part in condition[combinator] for n in _names_in(part)}
    if "not" in condition:
        return _names_in(condition["not"])
    return {condition["question"]}


@pytest.mark.parametrize("name", list(CASES))
def test_the_questions_shown_are_the_official_tools(name):
    """As on the official results page, with one difference that never changes a score.

    On "Complete" SurveyJS clears a hidden question's stale answer but does not evaluate
    conditions again, so a follow-up of that question (an "Other, specify" box) stays shown
    with its answer; Steward hides it, as a condition on a hidden question is false. Only
    such follow-ups differ, and none of them is scored.
    """
    case = CASES[name]
    answers = CONVERSION.answers(case["data"])
    shown = engine.visible_keys(AIA, answers)
    questions = engine.question_map(AIA)
    hidden = {CONVERSION.names[q] for q in questions if q not in shown}
    assert set(case["hidden"]) <= hidden
    for extra in hidden - set(case["hidden"]):
        question = questions[CONVERSION.keys[extra]]
        assert not _is_scored(question)
        assert any(
            named not in shown and named in answers for named in _names_in(question.spec["show_if"])
        ), extra


def test_no_scored_question_follows_a_conditional_question():
    """Why the difference above never changes a score: a scored question's condition names
    only questions shown whatever else is answered (or the phase)."""
    questions = engine.question_map(AIA)
    for question in questions.values():
        if not _is_scored(question) or "show_if" not in question.spec:
            continue
        for named in _names_in(question.spec["show_if"]) - {"project_details_phase"}:
            condition = questions[named].spec.get("show_if")
            assert condition is None or _names_in(condition) == {"project_details_phase"}


@pytest.mark.parametrize("name", list(CASES))
def test_scores_match_the_official_score_bar_when_hidden_answers_score(name):
    scored = questionnaires.convert_canada_aia(_source(), hidden_answers="scored").definition
    case = CASES[name]
    assert _scored(scored, case["data"]) == case["live"]


def test_the_cases_cover_the_rules_boundaries():
    completed = [case["completed"] for case in OFFICIAL["cases"]]
    assert [3, 0, 3, 1] in completed  # the tool's own unit test
    assert [49, 62, 42, 2] in completed  # 41.65 → 42: level II
    assert [90, 62, 77, 2] in completed  # 76.5 → 77
    assert [49, 61, 49, 2] in completed  # 61 < 61.6: no reduction
    reduced = [c for c in completed if c[2] != c[0]]
    assert len(reduced) >= 10
    assert {c[3] for c in completed} == {1, 2, 3, 4}
    # Stale answers from the other fork count on the score bar only.
    assert any(case["live"] != case["completed"] for case in OFFICIAL["cases"])


def test_raw_49_with_mitigation_is_41_65_rounded_to_42_level_ii():
    case = CASES["raw 49, mitigation 62 (design)"]
    result = engine.score(AIA, CONVERSION.answers(case["data"]))
    assert result.scores["impact"]["raw"] == 49
    assert result.scores["impact"]["value"] == 42
    assert result.adjustments == ["Impact lowered by 15% (49 → 42)"]
    assert result.value == "II"
    # Unrounded, 41.65 would be 24.9% of 167: level I, the wrong answer.
    assert 0.85 * 49 / 167 * 100 < 25


def test_76_5_is_rounded_up_to_77():
    result = engine.score(AIA, CONVERSION.answers(CASES["raw 90, mitigation 62"]["data"]))
    assert result.scores["impact"]["value"] == 77


def test_the_mitigation_share_is_of_half_the_maximum():
    result = engine.score(AIA, CONVERSION.answers(CASES["raw 49, mitigation 62 (design)"]["data"]))
    # 62 of 77 (half of 154) is 80.52%; of the whole 154 it would be 40.26%.
    assert result.scores["mitigation"]["share"] == 80.52
    assert result.derived["mitigation_half_max"]["value"] == 77
    below = engine.score(AIA, CONVERSION.answers(CASES["raw 49, mitigation 61"]["data"]))
    assert below.scores["mitigation"]["share"] == 79.22
    assert below.adjustments == []


def test_with_whole_weights_the_rules_boundaries_agree_with_the_tools_floating_point():
    """The tool compares in JavaScript's doubles (``m >= 0.8 * (max / 2)``,
    ``total <= max * 0.25``); the template compares percentages rounded to six decimals. For
    whole scores and maxima, as in every published version, both give the same answer."""
    for most in range(1, 3000):
        for points in {math.floor(0.4 * most) + d for d in (-1, 0, 1)}:
            tool = points >= 0.8 * (most / 2)
            template = round(100 * points / (most * 0.5), 6) >= 80
            assert tool == template, (most, points)
        for share, factor in ((25, 0.25), (50, 0.5), (75, 0.75)):
            for total in {math.floor(factor * most) + d for d in (-1, 0, 1)}:
                assert (total <= most * factor) == (round(100 * total / most, 6) <= share)


def test_fractional_weights_are_noted():
    survey = _tiny_survey("{first} notempty")
    survey["pages"][0]["elements"][0]["elements"][0]["choices"][0]["value"] = "item1-1.5"
    conversion = questionnaires.convert_canada_aia(survey)
    assert conversion.definition["sections"][0]["questions"][0]["choices"][0]["weights"] == {
        "impact": 1.5
    }
    assert any("not whole numbers (first)" in note for note in conversion.notes)
    assert not any("whole" in note for note in CONVERSION.notes)


# Converting pieces ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "weight"),
    [
        ("item1-3", 3),
        ("item6", 0),  # no hyphen
        ("item1-", 0),  # Number("") is 0
        ("item1-x", 0),  # NaN counts 0
        ("item1- 2", 2),  # Number trims
        ("a-b-4", 4),  # the last hyphen
        ("item1-1e1", 10),
        ("item1-0x10", 16),
        ("item1-2.5", 2.5),
        (7, 7),
    ],
)
def test_a_weight_is_read_as_the_tools_parse_embedded_value(value, weight):
    assert questionnaires.embedded_weight(value) == weight


def test_names_become_keys():
    assert questionnaires.question_key("projectDetailsDepartment-NS") == (
        "project_details_department_ns"
    )
    assert questionnaires.question_key("consultationDesign2-other") == (
        "consultation_design2_other"
    )


def _tiny_survey(visible_if: str, kind: str = "checkbox") -> dict:
    return {
        "pages": [
            {
                "name": "only",
                "title": "Only",
                "elements": [
                    {
                        "type": "panel",
                        "name": "onlyPanel-RS",
                        "elements": [
                            {
                                "type": kind,
                                "name": "first",
                                "title": "First",
                                "choices": [
                                    {"value": "item1-1", "text": "One"},
                                    {"value": "item2-2", "text": {"default": "Two", "fr": "Deux"}},
                                ],
                            },
                            {
                                "type": "comment",
                                "name": "second",
                                "title": "Second",
                                "visibleIf": visible_if,
                            },
                        ],
                    }
                ],
            }
        ]
    }


@pytest.mark.parametrize(
    ("kind", "expression", "condition"),
    [
        ("radiogroup", '{first} != "item1-1"', {"not": {"question": "first", "equals": "item1-1"}}),
        (
            "radiogroup",
            '{first} anyof ["item1-1", "item2-2"]',
            {"question": "first", "in": ["item1-1", "item2-2"]},
        ),
        # contains on a single answer is SurveyJS's substring test.
        ("radiogroup", '{first} contains "item2"', {"question": "first", "in": ["item2-2"]}),
        ("checkbox", "{first} notempty", {"question": "first", "answered": True}),
        # SurveyJS: an empty answer does not "notcontains" anything either.
        (
            "checkbox",
            '{first} notcontains "item1-1"',
            {
                "all": [
                    {"question": "first", "answered": True},
                    {"not": {"question": "first", "includes": "item1-1"}},
                ]
            },
        ),
        (
            "checkbox",
            '({first} contains "item1-1") and {first} contains "item2-2"',
            {
                "all": [
                    {"question": "first", "includes": "item1-1"},
                    {"question": "first", "includes": "item2-2"},
                ]
            },
        ),
    ],
)
def test_visible_if_expressions_become_conditions(kind, expression, condition):
    definition = questionnaires.convert_canada_aia(_tiny_survey(expression, kind)).definition
    assert definition["sections"][0]["questions"][1]["show_if"] == condition


def test_french_labels_on_request():
    definition = questionnaires.convert_canada_aia(
        _tiny_survey("{first} notempty"), lang="fr"
    ).definition
    assert [c["label"] for c in definition["sections"][0]["questions"][0]["choices"]] == [
        "One",
        "Deux",
    ]


@pytest.mark.parametrize(
    ("expression", "fault"),
    [
        ('{first} > "item1-1"', "pages[0].elements[0].elements[1].visibleIf (second): cannot read"),
        ('{nobody} = "x"', "{nobody} is not an earlier question"),
        ("{first} contains [1, 2]", "compare {first} with quoted values"),
        ('{first} and "x"', "expected a comparison after {first}"),
        ('{first} = "item1-1"', "compares a list; use contains"),
        ('{first} contains "item9-9"', "'item9-9' is not a choice of 'first'"),
    ],
)
def test_what_cannot_be_converted_faithfully_is_refused_by_place(expression, fault):
    with pytest.raises((questionnaires.ConversionError, engine.TemplateError)) as exc:
        questionnaires.convert_canada_aia(_tiny_survey(expression))
    assert any(fault in error for error in exc.value.errors), exc.value.errors


def test_saved_answers_from_the_tool_convert_by_name():
    saved = {
        "version": "v1.0.1",
        "currentPage": 3,
        "data": {"projectDetailsPhase": "item1", "riskProfile1": "item1-3", "unknown": "x"},
    }
    assert CONVERSION.answers(saved) == {
        "project_details_phase": "item1",
        "risk_profile1": "item1-3",
    }


# The command, the import and the assessment --------------------------------------------------
@pytest.mark.django_db
def test_the_command_writes_the_template(tmp_path):
    out = tmp_path / "aia.json"
    call_command("import_questionnaire", str(SOURCE), "--format", "canada-aia", "-o", str(out))
    assert json.loads(out.read_text(encoding="utf-8")) == AIA
    assert not AssessmentTemplate.objects.filter(key="canada-aia").exists()


@pytest.mark.django_db
def test_the_command_imports_it_as_a_firm_template(risk_officer):
    call_command("import_questionnaire", str(SOURCE), "--import", "--actor", risk_officer.username)
    template = AssessmentTemplate.objects.get(key="canada-aia")
    assert (template.version, template.kind, template.builtin) == (1, "impact", False)
    assert template.definition == AIA
    assert template.history.first().history_user == risk_officer
    # The same file again changes nothing.
    call_command("import_questionnaire", str(SOURCE), "--import", "--actor", risk_officer.username)
    assert AssessmentTemplate.objects.filter(key="canada-aia").count() == 1


@pytest.mark.django_db
def test_the_written_file_imports_through_the_page_and_the_api(tmp_path, client, risk_officer):
    out = tmp_path / "aia.json"
    call_command("import_questionnaire", str(SOURCE), "-o", str(out))
    client.force_login(risk_officer)
    response = client.post(
        reverse("assessments:template-import"),
        {"file": SimpleUploadedFile("aia.json", out.read_bytes())},
    )
    template = AssessmentTemplate.objects.get(key="canada-aia")
    assert response.status_code == 302 and response.url == template.get_absolute_url()
    exported = client.get(reverse("assessments:template-export", args=[template.pk]))
    assert json.loads(exported.content) == AIA
    token, _ = Token.objects.get_or_create(user=risk_officer)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    renamed = {**AIA, "key": "canada-aia-fr", "title": "AIA (API)"}
    response = api.post(
        "/api/v1/assessment-templates/import/", {"definition": renamed}, format="json"
    )
    assert response.status_code in (200, 201), response.content
    assert AssessmentTemplate.objects.get(key="canada-aia-fr").definition == renamed


@pytest.mark.django_db
def test_the_command_refuses_what_it_cannot_do(tmp_path, product_owner):
    with pytest.raises(CommandError, match="Say what to do"):
        call_command("import_questionnaire", str(SOURCE))
    with pytest.raises(CommandError, match="may not manage templates"):
        call_command(
            "import_questionnaire", str(SOURCE), "--import", "--actor", product_owner.username
        )
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(_tiny_survey('{first} > "x"')), encoding="utf-8")
    with pytest.raises(CommandError, match=r"visibleIf \(second\)"):
        call_command("import_questionnaire", str(broken), "-o", str(tmp_path / "out.json"))
    (tmp_path / "not.json").write_text("{", encoding="utf-8")
    with pytest.raises(CommandError, match="not a JSON file"):
        call_command("import_questionnaire", str(tmp_path / "not.json"), "-o", "-")
    assert not AssessmentTemplate.objects.filter(key="canada-aia").exists()


@pytest.mark.django_db
def test_the_command_converts_answers_saved_by_the_tool(tmp_path, capsys):
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"data": {"riskProfile1": "item1-3"}}), encoding="utf-8")
    call_command("import_questionnaire", str(SOURCE), "--answers", str(saved))
    assert json.loads(capsys.readouterr().out) == {"risk_profile1": "item1-3"}


def _imported(actor) -> AssessmentTemplate:
    template, _ = services.template_import(actor=actor, definition=copy.deepcopy(AIA))
    return template


@pytest.mark.django_db
def test_an_assessment_of_the_imported_aia_scores_as_the_official_tool(
    client, use_case, product_owner, risk_officer
):
    case = CASES["raw 49, mitigation 62 (implementation)"]
    assessment = draft(
        use_case, product_owner, _imported(risk_officer), CONVERSION.answers(case["data"])
    )
    assessment.refresh_from_db()
    assert assessment.result_value == "II"
    assert assessment.result["scores"]["impact"]["value"] == 42
    client.force_login(product_owner)
    page = client.get(reverse("assessments:detail", args=[assessment.pk])).content.decode()
    assert "80.52%" in page
    assert "40.26%" not in page
    assert "Impact lowered by 15% (49 → 42)" in page


@pytest.mark.django_db
def test_each_section_of_the_imported_aia_opens(client, use_case, product_owner, risk_officer):
    case = CASES["raw 49, mitigation 62 (design)"]
    assessment = draft(
        use_case, product_owner, _imported(risk_officer), CONVERSION.answers(case["data"])
    )
    client.force_login(product_owner)
    for section in AIA["sections"]:
        page = client.get(reverse("assessments:section", args=[assessment.pk, section["key"]]))
        assert page.status_code == 200, section["key"]
    page = client.get(reverse("assessments:section", args=[assessment.pk, "risk_profile"]))
    assert "Has the system been assessed to understand whether it would create" in (
        page.content.decode()
    )


@pytest.mark.django_db
def test_answers_from_the_other_fork_are_dropped_as_the_tool_drops_them_on_completion(
    use_case, product_owner, risk_officer
):
    changed = next(c for c in OFFICIAL["cases"] if c["live"] != c["completed"])
    assessment = draft(
        use_case, product_owner, _imported(risk_officer), CONVERSION.answers(changed["data"])
    )
    assessment.refresh_from_db()
    result = assessment.result
    assert [
        result["scores"]["impact"]["raw"],
        result["scores"]["mitigation"]["value"],
        result["scores"]["impact"]["value"],
        LEVELS.index(assessment.result_value) + 1,
    ] == changed["completed"]
    assert set(assessment.answers) < set(CONVERSION.answers(changed["data"]))


@pytest.mark.django_db
def test_the_imported_aia_runs_beside_the_built_in_impact_assessment(
    use_case, product_owner, risk_officer
):
    builtin = AssessmentTemplate.objects.get(key="ai-impact-assessment", active=True)
    ours = draft(use_case, product_owner, builtin)
    theirs = draft(use_case, product_owner, _imported(risk_officer))
    assert ours.kind == theirs.kind == "impact"
    assert set(
        Assessment.objects.filter(use_case=use_case).values_list("template__key", flat=True)
    ) == {"ai-impact-assessment", "canada-aia"}
    # Still one open assessment per template.
    with pytest.raises(ValidationError, match="in progress"):
        draft(use_case, product_owner, AssessmentTemplate.objects.get(key="canada-aia"))
