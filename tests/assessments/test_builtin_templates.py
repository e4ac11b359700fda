"""The templates Steward ships, scored on worked examples written from the texts they follow."""

import json
from pathlib import Path

import pytest

from assessments import engine, services
from assessments.models import AssessmentTemplate
from assessments.services import templates as template_services
from tests.assessments.builders import tiny_template

BUILTIN_DIR = Path(engine.__file__).resolve().parent / "builtin_templates"


def _load(key: str) -> dict:
    return json.loads((BUILTIN_DIR / f"{key}.json").read_text(encoding="utf-8"))


def _clean(definition: dict, raw: dict) -> dict:
    """Answers as the form stores them: every one goes through clean_answer."""
    by_key = engine.question_map(definition)
    return {key: engine.clean_answer(by_key[key], value) for key, value in raw.items()}


def _cites(result: engine.Result) -> list[str]:
    return [reason["cite"] for reason in result.reasons]


@pytest.mark.parametrize(
    ("key", "version", "kind", "values"),
    [
        (
            "eu-ai-act-screening",
            2,  # version 2 lists every ground and duty (issue 14)
            "screening",
            [
                "outside",
                "prohibited",
                "high",
                "high",
                "limited",
                "outside",
                "minimal",
                "minimal",
                "minimal",
            ],
        ),
        ("ico-dpia", 1, "dpia", ["high", "medium", "low"]),
        ("ai-impact-assessment", 1, "impact", ["IV", "III", "II", "I"]),
    ],
)
def test_each_builtin_template_follows_the_format(key, version, kind, values):
    definition = engine.check_definition(_load(key))
    assert (definition["key"], definition["version"], definition["kind"]) == (key, version, kind)
    assert definition["source"].strip()
    outcomes = definition["scoring"]["result"]["outcomes"]
    assert [o["value"] for o in outcomes] == values
    assert set(definition["validity_months"]) == {"default", *values}
    assert all(q.label.strip() for q in engine.questions(definition))


@pytest.mark.parametrize("key", ["eu-ai-act-screening", "ico-dpia", "ai-impact-assessment"])
def test_every_none_of_these_in_a_multiple_choice_is_exclusive(key):
    definition = _load(key)
    for q in engine.questions(definition):
        for choice in q.choices if q.type == "multi_choice" else []:
            assert choice.get("exclusive", False) is (choice["value"] == "none"), q.key


def test_the_shipped_files_are_exactly_the_three_builtins():
    assert sorted(p.name for p in BUILTIN_DIR.glob("*.json")) == [
        "ai-impact-assessment.json",
        "eu-ai-act-screening.json",
        "ico-dpia.json",
    ]


# EU AI Act screening: tests/assessments/test_eu_ai_act_screening.py


# ICO DPIA -------------------------------------------------------------------------------------
DPIA = _load("ico-dpia")

DPIA_ANSWERS = {
    "project_aims": "Score incoming loan applications to speed up underwriting.",
    "high_risk_indicators": ["innovative_technology", "denial_of_service"],
    "why_dpia": "Automated decisions about access to credit using a new model.",
    "nature": "Application data from the web form, bureau data; kept 6 years.",
    "scope": "About 40,000 applicants a year in the UK.",
    "special_category": "no",
    "context": "Applicants expect a credit check; some are in financial difficulty.",
    "children_or_vulnerable": "yes",
    "purposes": "Faster, more consistent decisions.",
    "automated_decisions": "no",
    "individuals_views": "Customer panel in March; complaints data reviewed.",
    "internal_consultation": "Credit risk, security, legal.",
    "lawful_basis": "contract",
    "achieves_purpose": "Yes; manual review alone cannot keep up.",
    "minimisation": "Only the fields the scorecard uses.",
    "information_and_rights": "Privacy notice updated; human review on request.",
    "international_transfers": "no",
    "measures_plan": "Actions in the project plan, owned by the product owner, by 1 June.",
    "measures_approved_by": "Head of Credit Risk",
    "residual_risks_approved_by": "Chief Risk Officer",
    "dpo_advice": "Proceed once the review queue is staffed.",
    "dpo_advice_followed": "yes",
    "consultation_reviewed_by": "DPO",
    "kept_under_review_by": "DPO",
}


def _risk(likelihood, severity, residual=None, **extra):
    return {
        "risk": "Applicant wrongly declined",
        "likelihood": likelihood,
        "severity": severity,
        "measures": "Underwriter reviews every decline",
        "effect": "reduced",
        "residual": residual,
        "approved": True,
        **extra,
    }


def _dpia(**changes):
    answers = _clean(DPIA, {**DPIA_ANSWERS, **changes})
    return answers, engine.score(DPIA, answers)


def test_dpia_steps_are_the_icos_seven():
    assert [s["title"] for s in DPIA["sections"]] == [
        "Step 1: Identify the need for a DPIA",
        "Step 2: Describe the processing",
        "Step 3: Consultation process",
        "Step 4: Assess necessity and proportionality",
        "Step 5: Identify and assess risks",
        "Step 6: Identify measures to reduce risk",
        "Step 7: Sign off and record outcomes",
    ]
    assert engine.question_map(DPIA)["risks"].type == "risk_table"


def test_a_high_residual_risk_means_consulting_the_ico():
    answers, result = _dpia(
        risks=[
            _risk("probable", "severe", "high"),  # measures could not bring it down
            _risk("possible", "significant", "low"),
        ]
    )
    assert engine.missing_required(DPIA, answers) == []
    assert (result.highest_inherent, result.highest_residual) == ("high", "high")
    assert result.value == "high"
    assert result.label == (
        "High residual risk — consult the ICO before processing (UK GDPR Article 36)"
    )
    assert _cites(result) == ["UK GDPR Article 36(1)"]


def test_all_residual_risks_low_is_low():
    answers, result = _dpia(
        risks=[_risk("probable", "severe", "low"), _risk("possible", "significant", "low")]
    )
    assert (result.highest_inherent, result.highest_residual) == ("high", "low")
    assert result.value == "low"


def test_an_unrated_residual_risk_counts_as_its_inherent_rating():
    # possible × significant = medium, and no residual rating was given
    _, result = _dpia(risks=[_risk("possible", "significant", None), _risk("remote", "minimal")])
    assert (result.highest_residual, result.value) == ("medium", "medium")


def test_dpia_help_puts_the_measures_in_the_step_5_risk_table():
    # The form's risk table (step 5) holds the rating and the measures, effect, residual risk
    # and approval; step 6 holds the plan for the measures.
    qs = engine.question_map(DPIA)
    assert (qs["risks"].section, qs["measures_plan"].section) == ("risks", "measures")
    risks_help = qs["risks"].help
    for column in ("likelihood", "severity", "measures", "effect", "residual risk", "approved"):
        assert column in risks_help, column
    assert "step 6" not in risks_help.lower()
    assert "step 5 risk table" in qs["measures_plan"].help


def test_dpia_none_of_these_cannot_be_ticked_with_a_kind_of_processing():
    q = engine.question_map(DPIA)["high_risk_indicators"]
    with pytest.raises(ValueError) as exc:
        engine.clean_answer(q, ["tracking", "none"])
    assert str(exc.value) == (
        "“None of these (explain below why you are doing a DPIA)” cannot be combined with "
        "other choices."
    )


def test_a_dpia_without_risks_cannot_be_completed():
    answers, _ = _dpia()
    assert [q.key for q in engine.missing_required(DPIA, answers)] == ["risks"]


def test_overruling_the_dpo_asks_for_reasons():
    answers, _ = _dpia(risks=[_risk("remote", "minimal", "low")], dpo_advice_followed="no")
    assert "dpo_overruled_reasons" in engine.visible_keys(DPIA, answers)
    assert [q.key for q in engine.missing_required(DPIA, answers)] == ["dpo_overruled_reasons"]
    answers["dpo_overruled_reasons"] = "The COO accepted the risk: the queue is staffed by June."
    assert engine.missing_required(DPIA, answers) == []

    followed, _ = _dpia(risks=[_risk("remote", "minimal", "low")])
    assert "dpo_overruled_reasons" not in engine.visible_keys(DPIA, followed)
    assert engine.missing_required(DPIA, followed) == []


@pytest.mark.parametrize(
    ("change", "needed"),
    [
        ({"lawful_basis": "legitimate_interests"}, "legitimate_interests_assessment"),
        ({"special_category": "yes"}, "special_category_condition"),
        ({"international_transfers": "yes"}, "transfer_safeguards"),
    ],
)
def test_follow_up_questions_become_required_when_they_show(change, needed):
    answers, _ = _dpia(risks=[_risk("remote", "minimal", "low")], **change)
    assert [q.key for q in engine.missing_required(DPIA, answers)] == [needed]


# AI impact assessment -------------------------------------------------------------------------
AIA = _load("ai-impact-assessment")

# Every impact question at its lowest; every mitigation measure absent.
AIA_FLOOR = {
    "decision_description": "-",
    "decision_role": "information",
    "decision_area": "internal",
    "vulnerable_people": "no",
    "scale": "under_100",
    "reversibility": "reversible",
    "impact_rights": "little",
    "impact_equality": "little",
    "impact_health": "little",
    "impact_economic": "little",
    "personal_data": "none",
    "data_linking": "no",
    "opacity": "rules",
    "changes_in_production": "no",
    "human_override": "always",
    "consulted_specialists": "no",
    "consulted_affected": "no",
    "data_quality_checks": "no",
    "bias_testing": "no",
    "human_review": "no",
    "explanation": "no",
    "recourse": "no",
    "documentation": "no",
    "monitoring": "no",
    "fallback": "no",
}

# Raw impact 9 of 36 = 25%: an LLM drafting replies to customer e-mails that staff send.
EMAIL_ASSISTANT = {
    "decision_role": "recommends",  # 1
    "decision_area": "service",  # 1
    "scale": "under_1m",  # 2
    "impact_economic": "moderate",  # 1
    "personal_data": "personal",  # 1
    "opacity": "opaque",  # 3
}

# Raw impact 18 of 36 = 50%: an affordability model that recommends mortgage decisions.
AFFORDABILITY = {
    "decision_role": "recommends",  # 1
    "decision_area": "essential",  # 3
    "vulnerable_people": "yes",  # 2
    "scale": "under_1m",  # 2
    "reversibility": "likely_reversible",  # 1
    "impact_rights": "moderate",  # 1
    "impact_equality": "moderate",  # 1
    "impact_economic": "high",  # 2
    "personal_data": "personal",  # 1
    "data_linking": "yes",  # 1
    "opacity": "explained",  # 2
    "human_override": "sometimes",  # 1
}

# Raw impact 27 of 36 = 75%: CV screening that rejects applicants with no human review.
AUTO_REJECT = {
    "decision_role": "decides_alone",  # 3
    "decision_area": "essential",  # 3
    "scale": "under_1m",  # 2
    "reversibility": "difficult",  # 2
    "impact_rights": "high",  # 2
    "impact_equality": "very_high",  # 3
    "impact_health": "moderate",  # 1
    "impact_economic": "very_high",  # 3
    "personal_data": "sensitive",  # 2
    "data_linking": "yes",  # 1
    "opacity": "opaque",  # 3
    "human_override": "never",  # 2
}

# Mitigation 16 of 20 = 80%.
MITIGATED = {
    "consulted_specialists": "yes",  # 1
    "data_quality_checks": "yes",  # 2
    "bias_testing": "yes",  # 3
    "human_review": "yes",  # 3
    "explanation": "yes",  # 2
    "recourse": "yes",  # 2
    "documentation": "yes",  # 2
    "fallback": "yes",  # 1
}
# Mitigation 15 of 20 = 75%: the nearest share below 80% the template's whole weights allow.
NEARLY_MITIGATED = {**MITIGATED, "fallback": "no"}


def _aia(*parts: dict) -> engine.Result:
    raw = dict(AIA_FLOOR)
    for part in parts:
        raw.update(part)
    answers = _clean(AIA, raw)
    assert engine.missing_required(AIA, answers) == []
    return engine.score(AIA, answers)


def test_aia_maxima_are_36_impact_and_20_mitigation():
    # impact: role 3 + area 3 + vulnerable 2 + scale 3 + reversibility 3 + four effects 4 × 3
    #         + personal data 2 + linking 1 + opacity 3 + changes in production 2 + override 2
    # mitigation: 1 + 2 + 2 + 3 + 3 + 2 + 2 + 2 + 2 + 1
    floor = _aia()
    assert floor.scores["impact"] == {
        "label": "Impact",
        "raw": 0,
        "value": 0,
        "max": 36,
        "share": 0,
    }
    assert floor.scores["mitigation"]["max"] == 20
    assert floor.value == "I"
    weighted = [q for q in engine.questions(AIA) if q.type != "long_text"]
    assert len(weighted) == 24


@pytest.mark.parametrize(
    ("example", "raw", "share", "level"),
    [
        ({**EMAIL_ASSISTANT, "impact_economic": "little"}, 8, 22.22, "I"),
        (EMAIL_ASSISTANT, 9, 25, "II"),
        ({**AFFORDABILITY, "human_override": "always"}, 17, 47.22, "II"),
        (AFFORDABILITY, 18, 50, "III"),
        ({**AUTO_REJECT, "impact_health": "little"}, 26, 72.22, "III"),
        (AUTO_REJECT, 27, 75, "IV"),
    ],
)
def test_aia_levels_start_exactly_at_25_50_and_75_percent(example, raw, share, level):
    result = _aia(example)
    assert result.scores["impact"]["raw"] == raw
    assert result.scores["impact"]["value"] == raw
    assert result.scores["impact"]["share"] == share
    assert result.adjustments == []
    assert result.value == level
    assert result.label.startswith(f"Level {level} — ")


@pytest.mark.parametrize(
    ("example", "raw", "lowered", "share", "level"),
    [
        (AUTO_REJECT, 27, 22.95, 63.75, "III"),
        (AFFORDABILITY, 18, 15.3, 42.5, "II"),
        (EMAIL_ASSISTANT, 9, 7.65, 21.25, "I"),
    ],
)
def test_80_percent_mitigation_lowers_impact_by_15_percent_and_the_level(
    example, raw, lowered, share, level
):
    result = _aia(example, MITIGATED)
    assert result.scores["mitigation"]["value"] == 16
    assert result.scores["mitigation"]["share"] == 80
    assert result.scores["impact"]["raw"] == raw
    assert result.scores["impact"]["value"] == lowered
    assert result.scores["impact"]["share"] == share
    assert result.adjustments == [f"Impact lowered by 15% ({raw} → {lowered})"]
    assert result.value == level


def test_mitigation_below_80_percent_changes_nothing():
    result = _aia(AUTO_REJECT, NEARLY_MITIGATED)
    assert result.scores["mitigation"]["share"] == 75
    assert result.adjustments == []
    assert (result.scores["impact"]["value"], result.value) == (27, "IV")


def test_aia_reasons_list_what_drove_the_impact():
    result = _aia(EMAIL_ASSISTANT)
    assert [r["question"] for r in result.reasons] == [
        "decision_role",
        "decision_area",
        "scale",
        "impact_economic",
        "personal_data",
        "opacity",
    ]
    assert result.reasons[0]["answer"] == "It recommends; a person decides"


# The documented example (docs/template-format.md) --------------------------------------------
def _readme_example() -> dict:
    guide = (BUILTIN_DIR.parent.parent / "docs" / "template-format.md").read_text(encoding="utf-8")
    section = guide.split("## An example", 1)[1]
    return json.loads(section.split("```json", 1)[1].split("```", 1)[0])


def test_the_documented_example_is_valid_and_scores_as_the_guide_says():
    example = engine.check_definition(_readme_example())
    uk = engine.score(example, {"personal_data": "yes", "location": "uk"})
    assert uk.scores["exposure"] == {
        "label": "Exposure",
        "raw": 3,
        "value": 3,
        "max": 6,
        "share": 50,
    }
    assert uk.value == "high"
    signed = engine.score(example, {"personal_data": "yes", "location": "uk", "dpa_signed": "yes"})
    assert (signed.scores["exposure"]["value"], signed.scores["exposure"]["share"]) == (1.5, 25)
    assert signed.adjustments == ["Exposure lowered by 50% (3 → 1.5)"]
    assert signed.value == "low"
    none = engine.score(example, {"personal_data": "no", "location": "other"})
    assert (none.scores["exposure"]["value"], none.value) == (0, "low")
    assert _cites(none) == ["No exposure found"]


# Shipping the built-ins again ---------------------------------------------------------------------
@pytest.mark.django_db
def test_shipping_a_built_in_again_keeps_a_firms_own_version():
    template = AssessmentTemplate.objects.get(key="ico-dpia", version=1)
    mine = {**template.definition, "title": "Our DPIA"}
    services.template_import(actor=None, definition=mine)  # the firm's, in place (unused)
    for _ in range(2):
        services.sync_builtin_templates()
    versions = AssessmentTemplate.objects.filter(key="ico-dpia")
    assert list(versions.values_list("version", "title")) == [(1, "Our DPIA")]
    tiny_template()


@pytest.mark.django_db
def test_a_built_in_shipped_with_new_content_twice_makes_two_new_versions(
    use_case, product_owner, tmp_path, monkeypatch
):
    v1 = AssessmentTemplate.objects.get(key="ico-dpia", version=1)
    services.assessment_start(actor=product_owner, use_case=use_case, template=v1)  # in use
    monkeypatch.setattr(template_services, "BUILTIN_DIR", tmp_path)
    for title in ("ICO DPIA (2027 wording)", "ICO DPIA (2028 wording)"):
        # A release ships the file with new wording, still numbered 1.
        (tmp_path / "ico-dpia.json").write_text(json.dumps({**v1.definition, "title": title}))
        services.sync_builtin_templates()
        services.sync_builtin_templates()  # and migrate runs again: nothing more
    titles = list(
        AssessmentTemplate.objects.filter(key="ico-dpia")
        .order_by("version")
        .values_list("version", "title")
    )
    assert titles == [
        (1, v1.title),
        (2, "ICO DPIA (2027 wording)"),
        (3, "ICO DPIA (2028 wording)"),
    ]
