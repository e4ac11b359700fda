"""The templates Steward ships, scored on worked examples written from the texts they follow."""

import json
from pathlib import Path

import pytest

from assessments import engine, services
from assessments.models import AssessmentTemplate
from assessments.services import templates as template_services
from tests.assessments.builders import NOTHING_APPLIES, tiny_template

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
    ("key", "kind", "values"),
    [
        (
            "eu-ai-act-screening",
            "screening",
            ["minimal", "prohibited", "high", "high", "limited", "minimal", "minimal"],
        ),
        ("ico-dpia", "dpia", ["high", "medium", "low"]),
        ("ai-impact-assessment", "impact", ["IV", "III", "II", "I"]),
    ],
)
def test_each_builtin_template_follows_the_format(key, kind, values):
    definition = engine.check_definition(_load(key))
    assert (definition["key"], definition["version"], definition["kind"]) == (key, 1, kind)
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


# EU AI Act screening --------------------------------------------------------------------------
SCREENING = _load("eu-ai-act-screening")


def _screen(**changes) -> engine.Result:
    answers = _clean(SCREENING, {**NOTHING_APPLIES, **changes})
    assert engine.missing_required(SCREENING, answers) == []
    return engine.score(SCREENING, answers)


def test_every_screening_question_explains_itself_with_the_act():
    for q in engine.questions(SCREENING):
        assert "Article" in q.help or "Annex" in q.help, q.key


def test_screening_maxima():
    maxima = {k: v["max"] for k, v in engine.score(SCREENING, {}).scores.items()}
    assert maxima == {
        "out_of_scope": 5,  # Article 3(1), Article 2(1), and Article 2(3), 2(6) and 2(10)
        "prohibited": 8,  # Article 5(1)(a) to (h)
        "product_safety": 1,
        "annex_iii": 18,  # points 1(a)-(c), 2, 3(a)-(d), 4(a)-(b), 5(a)-(d), 6, 7, 8(a)-(b)
        "exception": 4,  # Article 6(3)(a) to (d)
        "profiling": 1,
        "transparency": 5,  # Article 50(1), (2), (3) and both subparagraphs of (4)
        "gpai": 3,
    }


def test_cv_sifting_is_high_risk_under_annex_iii_point_4a():
    # Ranks applicants for a vacancy and filters out the weakest: Annex III point 4(a), and
    # none of the Article 6(3) conditions holds because it shapes who is shortlisted.
    result = _screen(annex_iii_areas=["4a"], exceptions=["none"], profiling="no")
    assert result.value == "high"
    assert result.label.startswith("High risk — an Annex III use")
    assert _cites(result) == ["Article 6(2)", "Annex III point 4(a)"]
    assert (result.scores["annex_iii"]["value"], result.scores["exception"]["value"]) == (1, 0)


ASSESSMENT_RECORD = [{"url": "https://wiki.example.com/art-6-4", "title": "Article 6(4) note"}]


def test_a_narrow_procedural_task_in_an_annex_iii_area_is_not_high_risk():
    # Only turns CVs into structured fields for the HR system: Article 6(3)(a).
    result = _screen(
        annex_iii_areas=["4a"],
        exceptions=["narrow_procedural"],
        profiling="no",
        not_high_risk_record=ASSESSMENT_RECORD,
    )
    assert result.value == "minimal"
    assert result.scores["exception"]["value"] == 1
    assert _cites(result) == ["No ground in Articles 5, 6 or 50 applies"]


def test_profiling_keeps_an_annex_iii_system_high_risk_despite_an_exception():
    # Article 6(3), last subparagraph: profiling natural persons is always high risk.
    result = _screen(annex_iii_areas=["4a"], exceptions=["preparatory"], profiling="yes")
    assert result.value == "high"
    assert _cites(result) == [
        "Article 6(2)",
        "Annex III point 4(a)",
        "Article 6(3), last subparagraph",
    ]


def test_the_exception_and_profiling_questions_show_only_for_an_annex_iii_area():
    none = _clean(SCREENING, {**NOTHING_APPLIES, "exceptions": ["narrow_procedural"]})
    shown = engine.visible_keys(SCREENING, none)
    assert not {"exceptions", "profiling", "not_high_risk_record"} & shown
    assert engine.score(SCREENING, none).scores["exception"]["value"] == 0

    credit = {**NOTHING_APPLIES, "annex_iii_areas": ["5b"]}
    missing = engine.missing_required(SCREENING, _clean(SCREENING, credit))
    assert [q.key for q in missing] == ["exceptions", "profiling"]
    assert {"exceptions", "profiling"} <= engine.visible_keys(SCREENING, credit)
    assert "not_high_risk_record" not in engine.visible_keys(SCREENING, credit)
    relied_on = {**credit, "exceptions": ["detects_patterns"]}
    assert "not_high_risk_record" in engine.visible_keys(SCREENING, relied_on)


def test_claiming_an_exception_requires_the_documented_assessment_of_article_6_4():
    claimed = {
        **NOTHING_APPLIES,
        "annex_iii_areas": ["4a"],
        "exceptions": ["narrow_procedural"],
        "profiling": "no",
    }
    answers = _clean(SCREENING, claimed)
    assert "not_high_risk_record" in engine.visible_keys(SCREENING, answers)
    assert [q.key for q in engine.missing_required(SCREENING, answers)] == ["not_high_risk_record"]
    documented = _clean(SCREENING, {**claimed, "not_high_risk_record": ASSESSMENT_RECORD})
    assert engine.missing_required(SCREENING, documented) == []
    # No exception claimed, or profiling (high risk whatever the exception): no record asked.
    for change in ({"exceptions": ["none"]}, {"profiling": "yes"}):
        answers = _clean(SCREENING, {**claimed, **change})
        assert "not_high_risk_record" not in engine.visible_keys(SCREENING, answers)
        assert engine.missing_required(SCREENING, answers) == []


@pytest.mark.parametrize(
    ("question", "chosen", "label"),
    [
        ("exceptions", ["narrow_procedural", "none"], "None of these"),
        ("annex_iii_areas", ["4a", "none"], "None of these"),
        ("exclusions", ["research", "none"], "None of these"),
    ],
)
def test_none_of_these_cannot_be_ticked_with_another_choice(question, chosen, label):
    # Before, an exception ticked with "None of these" gave minimal and hid the Article 6(4)
    # record; now the answer is refused.
    q = engine.question_map(SCREENING)[question]
    with pytest.raises(ValueError) as exc:
        engine.clean_answer(q, chosen)
    assert str(exc.value) == f"“{label}” cannot be combined with other choices."
    assert engine.clean_answer(q, ["none"]) == ["none"]


def test_credit_scoring_is_high_risk_under_annex_iii_point_5b():
    result = _screen(annex_iii_areas=["5b"], exceptions=["none"], profiling="yes")
    assert result.value == "high"
    assert "Annex III point 5(b)" in _cites(result)


def test_a_customer_chatbot_is_limited_risk_under_article_50():
    # A support chatbot on a third-party LLM: it talks to people and writes text.
    result = _screen(interacts_with_people="yes", generates_content="yes", uses_gpai="yes")
    assert result.value == "limited"
    assert _cites(result) == ["Article 50(1)", "Article 50(2)"]
    # Using a general-purpose model is recorded but does not change the tier.
    assert result.scores["gpai"]["value"] == 1
    assert result.scores["transparency"] == {
        "label": "Transparency duties",
        "raw": 2,
        "value": 2,
        "max": 5,
        "share": 40,
    }


def test_a_gpai_model_provider_alone_stays_minimal_and_is_recorded():
    result = _screen(provides_gpai="yes", gpai_systemic_risk="yes")
    assert result.value == "minimal"
    assert result.scores["gpai"]["value"] == 2


def test_social_scoring_is_prohibited_under_article_5_1_c():
    # Rates customers on their social-media behaviour and refuses them unrelated services.
    result = _screen(
        social_scoring="yes", annex_iii_areas=["5b"], exceptions=["none"], profiling="yes"
    )
    assert result.value == "prohibited"
    assert _cites(result) == ["Article 5(1)(c)"]


def test_emotion_recognition_at_work_is_prohibited_under_article_5_1_f():
    result = _screen(
        emotion_workplace_education="yes",
        annex_iii_areas=["1c"],
        exceptions=["none"],
        profiling="no",
        emotion_or_biometric_categorisation="yes",
    )
    assert result.value == "prohibited"
    assert _cites(result) == ["Article 5(1)(f)"]


def test_a_safety_component_needing_third_party_assessment_is_high_under_article_6_1():
    # Vision model that stops a press when a hand enters it: Machinery Regulation, Annex I.
    result = _screen(annex_i_product="yes", third_party_conformity="yes")
    assert result.value == "high"
    assert result.label.startswith("High risk — a product or safety component under Annex I")
    assert _cites(result) == ["Article 6(1)", "Article 6(1)(a) and (b), Annex I"]


def test_an_annex_i_product_without_third_party_assessment_is_not_high_under_article_6_1():
    result = _screen(annex_i_product="yes", third_party_conformity="no")
    assert result.value == "minimal"
    # The conformity question is hidden unless the product question is answered yes.
    hidden = _screen(annex_i_product="no", third_party_conformity="yes")
    assert hidden.value == "minimal"
    assert hidden.scores["product_safety"]["value"] == 0


OUTSIDE_THE_ACT = "Outside the AI Act — not an AI system, no link to the EU, or excluded by"
CV_SIFTING = {"annex_iii_areas": ["4a"], "exceptions": ["none"], "profiling": "no"}


def test_an_internal_spreadsheet_formula_helper_is_outside_the_act():
    # Fixed rules people wrote that shortlist applicants: Annex III point 4(a) would apply to an
    # AI system, but this is not one (Article 3(1)), so the Act does not apply at all.
    why = "A formula HR wrote; no inference. Checked by legal, 3 March."
    result = _screen(ai_system="no", out_of_scope_reason=why, **CV_SIFTING)
    assert result.value == "minimal"
    assert result.label.startswith(OUTSIDE_THE_ACT)
    assert _cites(result) == ["Article 3(1)"]
    assert result.reasons[0]["answer"] == "No, it only follows rules people wrote"
    assert {k for k, s in result.scores.items() if s["value"]} == {"out_of_scope"}


def test_out_of_scope_skips_the_rest_and_asks_why_instead():
    answers = _clean(SCREENING, {"ai_system": "no"})
    assert engine.visible_keys(SCREENING, answers) == {"ai_system", "out_of_scope_reason"}
    assert [q.key for q in engine.missing_required(SCREENING, answers)] == ["out_of_scope_reason"]
    answers["out_of_scope_reason"] = "Not an AI system."
    assert engine.missing_required(SCREENING, answers) == []  # nothing else blocks submitting
    assert engine.score(SCREENING, answers).value == "minimal"

    no_eu = _clean(SCREENING, {"ai_system": "yes", "role": "provider", "eu_link": "no"})
    shown = engine.visible_keys(SCREENING, no_eu)
    assert shown == {"ai_system", "role", "eu_link", "out_of_scope_reason"}
    assert [q.key for q in engine.missing_required(SCREENING, no_eu)] == ["out_of_scope_reason"]

    # In scope, only the follow-up questions of other answers are hidden.
    in_scope = engine.visible_keys(SCREENING, _clean(SCREENING, NOTHING_APPLIES))
    assert {q.key for q in engine.questions(SCREENING)} - in_scope == {
        "out_of_scope_reason",
        "third_party_conformity",
        "exceptions",
        "profiling",
        "not_high_risk_record",
        "gpai_systemic_risk",
    }


@pytest.mark.parametrize(
    ("changes", "cites"),
    [
        ({"exclusions": ["defence"]}, ["Article 2(3)"]),
        ({"exclusions": ["research"]}, ["Article 2(6)"]),
        ({"exclusions": ["personal"]}, ["Article 2(10)"]),
        ({"exclusions": ["defence", "research"]}, ["Article 2(3)", "Article 2(6)"]),
        ({"eu_link": "no"}, ["Article 2(1)"]),
    ],
)
def test_an_annex_iii_use_excluded_by_article_2_is_outside_the_act(changes, cites):
    # CV sifting, but the Act does not apply: the result cites the ground in Article 2.
    result = _screen(**CV_SIFTING, **changes, out_of_scope_reason="See the legal note.")
    assert result.value == "minimal"
    assert result.label.startswith(OUTSIDE_THE_ACT)
    assert _cites(result) == cites
    assert result.scores["annex_iii"]["value"] == 0


def test_out_of_scope_wins_over_article_5():
    # The Act does not apply at all to a system excluded by Article 2, bans included.
    result = _screen(
        exclusions=["defence"],
        realtime_rbi_law_enforcement="yes",
        out_of_scope_reason="Used only by the armed forces.",
    )
    assert (result.value, _cites(result)) == ("minimal", ["Article 2(3)"])
    assert result.scores["prohibited"]["value"] == 0


@pytest.mark.parametrize("ai_system", ["yes", "unsure"])
def test_in_scope_the_screening_behaves_as_before(ai_system):
    result = _screen(ai_system=ai_system, **CV_SIFTING)
    assert result.value == "high"
    assert _cites(result) == ["Article 6(2)", "Annex III point 4(a)"]
    assert result.scores["out_of_scope"]["value"] == 0
    assert _screen(ai_system=ai_system).value == "minimal"
    assert _cites(_screen(ai_system=ai_system)) == ["No ground in Articles 5, 6 or 50 applies"]


def test_an_open_source_system_outside_articles_5_6_and_50_is_outside_the_act():
    result = _screen(open_source="yes")
    assert result.value == "minimal"
    assert result.label.startswith("Outside the AI Act — released under a free and open-source")
    assert _cites(result) == ["Article 2(12)"]
    # Article 2(12) does not cover high-risk systems or those under Article 5 or 50.
    assert _screen(open_source="yes", **CV_SIFTING).value == "high"
    assert _screen(open_source="yes", generates_content="yes").value == "limited"
    assert _screen(open_source="yes", social_scoring="yes").value == "prohibited"


def test_screening_validity_is_shortest_for_the_riskiest_tiers():
    months = SCREENING["validity_months"]
    assert months == {"default": 24, "prohibited": 3, "high": 12, "limited": 24, "minimal": 36}


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
