"""The template format's scoring (issue 14): rounding, derived quantities, hidden answers,
and one open assessment per template rather than per kind."""

import copy

import pytest
from django.core.exceptions import ValidationError

from assessments import engine, services
from assessments.models import Assessment
from tests.assessments.builders import TINY, draft, tiny_template


def _aia_like(**scoring) -> dict:
    """The shape of Canada's AIA: raw impact, a 15% reduction when mitigation is high enough,
    and levels by the adjusted score."""
    return {
        "format": 1,
        "key": "aia-like",
        "version": 1,
        "kind": "impact",
        "title": "AIA-like",
        "sections": [
            {
                "key": "impact",
                "title": "Impact",
                "questions": [
                    {
                        "key": "points",
                        "type": "number",
                        "label": "Impact points",
                        "min": 0,
                        "max": 100,
                        "weights": {"impact": 1},
                    },
                    {
                        "key": "fork",
                        "type": "single_choice",
                        "label": "Which phase?",
                        "choices": [
                            {"value": "design", "label": "Design"},
                            {"value": "built", "label": "Built"},
                        ],
                    },
                    {
                        "key": "design_controls",
                        "type": "number",
                        "label": "Design controls",
                        "min": 0,
                        "max": 10,
                        "weights": {"mitigation": 1},
                        "show_if": {"question": "fork", "equals": "design"},
                    },
                    {
                        "key": "built_controls",
                        "type": "number",
                        "label": "Built controls",
                        "min": 0,
                        "max": 10,
                        "weights": {"mitigation": 1},
                        "show_if": {"question": "fork", "equals": "built"},
                    },
                ],
            }
        ],
        "scoring": {
            "scores": [
                {"key": "impact", "label": "Impact", "round": {"mode": "half_up"}},
                {"key": "mitigation", "label": "Mitigation"},
            ],
            "adjustments": [
                {"score": "impact", "reduce_pct": 15, "when": {"score": "mitigation", "gte": 0}}
            ],
            "result": {
                "outcomes": [
                    {"value": "II", "label": "Level II", "when": {"score": "impact", "gte": 42}},
                    {"value": "I", "label": "Level I"},
                ]
            },
            **scoring,
        },
    }


def _adjusted(definition: dict, points: float) -> float:
    result = engine.score(definition, {"points": points})
    return result.scores["impact"]["value"]


# Rounding ------------------------------------------------------------------------------------
def test_half_up_rounds_the_aia_boundary_to_level_ii():
    definition = engine.check_definition(_aia_like())
    result = engine.score(definition, {"points": 49})
    # 0.85 × 49 = 41.65: the official tool shows 42, level II.
    assert result.scores["impact"]["value"] == 42
    assert result.value == "II"


@pytest.mark.parametrize(
    ("mode", "points", "expected"),
    [
        ("half_up", 90, 77),  # 76.5
        ("half_even", 90, 76),
        ("floor", 90, 76),
        ("ceil", 90, 77),
        ("half_up", 49, 42),  # 41.65
        ("half_even", 49, 42),
        ("floor", 49, 41),
        ("ceil", 49, 42),
        ("half_even", 30, 26),  # 25.5 → the even 26
        ("half_up", 10, 9),  # 8.5
        ("half_even", 10, 8),
    ],
)
def test_each_rounding_mode_at_its_boundary(mode, points, expected):
    definition = _aia_like()
    definition["scoring"]["scores"][0]["round"] = {"mode": mode}
    assert _adjusted(engine.check_definition(definition), points) == expected


def test_rounding_to_decimal_places():
    definition = _aia_like()
    definition["scoring"]["scores"][0]["round"] = {"mode": "half_up", "places": 1}
    assert _adjusted(engine.check_definition(definition), 49) == 41.7
    definition["scoring"]["scores"][0]["round"] = {"mode": "floor", "places": 1}
    assert _adjusted(definition, 49) == 41.6


def test_half_up_is_javascripts_math_round_on_negatives():
    assert engine.round_number(-2.5, {"mode": "half_up"}) == -2
    assert engine.round_number(2.675, {"mode": "half_up", "places": 2}) == 2.68
    assert engine.round_number(-2.5, {"mode": "half_even"}) == -2
    assert engine.round_number(-2.4, {"mode": "ceil"}) == -2


def test_the_old_round_shorthand_is_refused_with_the_documented_form():
    definition = _aia_like()
    definition["scoring"]["scores"][0]["round"] = "half_up"
    with pytest.raises(engine.TemplateError) as exc:
        engine.check_definition(definition)
    assert exc.value.errors == [
        'scoring.scores[0].round: give an object such as {"mode": "half_up", "places": 0}; '
        "mode is one of half_up, half_even, floor, ceil."
    ]


# Derived quantities --------------------------------------------------------------------------
def _mitigation_rule() -> dict:
    definition = _aia_like(
        derived={
            "mitigation_half_max": {
                "label": "Half the mitigation maximum",
                "of": "mitigation",
                "max_times": 0.5,
            }
        }
    )
    definition["scoring"]["scores"][1]["share_of"] = "mitigation_half_max"
    # The AIA's rule: mitigation at 80% or more of half its maximum lowers impact by 15%.
    definition["scoring"]["adjustments"][0]["when"] = {"score": "mitigation", "share_gte": 80}
    return engine.check_definition(definition)


def test_a_share_of_a_derived_quantity_decides_a_threshold():
    definition = _mitigation_rule()
    # Only one fork is ever answered: 8 of the 20 maximum is 40%, but 80% of half of it.
    result = engine.score(definition, {"points": 90, "fork": "built", "built_controls": 8})
    assert result.scores["mitigation"]["share"] == 80
    assert result.derived["mitigation_half_max"] == {
        "label": "Half the mitigation maximum",
        "value": 10,
    }
    assert result.scores["impact"]["value"] == 77
    below = engine.score(definition, {"points": 90, "fork": "built", "built_controls": 7})
    assert below.scores["mitigation"]["share"] == 70
    assert below.scores["impact"]["value"] == 90


def test_a_derived_quantity_can_be_compared_directly():
    definition = _aia_like(derived={"impact_cut": {"of": "impact", "value_times": 0.5}})
    definition["scoring"]["result"]["outcomes"][0]["when"] = {"derived": "impact_cut", "gte": 20}
    engine.check_definition(definition)
    # 0.85 × 49 = 41.65 → 42; half of that is 21.
    assert engine.score(definition, {"points": 49}).value == "II"
    assert engine.score(definition, {"points": 45}).value == "I"


# Hidden answers -----------------------------------------------------------------------------
def test_a_template_may_say_hidden_answers_score():
    answers = {"fork": "design", "built_controls": 8, "design_controls": 2}
    # By default the hidden fork's answer counts nothing.
    assert engine.score(_aia_like(), answers).scores["mitigation"]["value"] == 2
    definition = engine.check_definition(_aia_like(hidden_answers="scored"))
    assert engine.score(definition, answers).scores["mitigation"]["value"] == 10


def test_hidden_answers_are_dropped_when_saved(use_case, product_owner):
    template = tiny_template()
    assessment = draft(
        use_case, product_owner, template, answers={"automated": "yes", "why_automated": "Speed"}
    )
    assert assessment.answers["why_automated"] == "Speed"
    assessment = services.assessment_save_answers(
        actor=product_owner,
        assessment=assessment,
        answers={"automated": "no"},
        base_revision=assessment.revision,
    )
    assessment.refresh_from_db()
    assert assessment.answers == {"automated": "no"}


def test_hidden_answers_are_kept_when_the_template_scores_them(use_case, product_owner):
    definition = copy.deepcopy(TINY)
    definition["scoring"]["hidden_answers"] = "scored"
    template = tiny_template(key="tiny-scored", scoring=definition["scoring"])
    assessment = draft(use_case, product_owner, template, answers={"automated": "no"})
    assessment = services.assessment_save_answers(
        actor=product_owner,
        assessment=assessment,
        answers={"why_automated": "Speed"},
        base_revision=assessment.revision,
    )
    assessment.refresh_from_db()
    assert assessment.answers == {"automated": "no", "why_automated": "Speed"}


# One open assessment per template ------------------------------------------------------------
def test_two_templates_of_one_kind_each_hold_an_open_assessment(use_case, product_owner):
    builtin_like = tiny_template()
    imported = tiny_template(key="firm-dpia", title="Firm DPIA")
    first = draft(use_case, product_owner, builtin_like)
    second = draft(use_case, product_owner, imported)
    assert first.kind == second.kind == "dpia"
    assert set(Assessment.objects.filter(use_case=use_case).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }
    with pytest.raises(ValidationError) as exc:
        draft(use_case, product_owner, imported)
    assert "“Firm DPIA” in progress" in str(exc.value.message_dict["template"])
