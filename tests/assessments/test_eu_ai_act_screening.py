"""The built-in EU AI Act screening (issue 14): worked cases for each result and each
combination, every ground and duty listed beside the tier, the role changing the duties, each
defect the issue lists, and what sign-off writes to the use case.

The answers start from NOTHING_APPLIES (a private deployer, in scope, no ground) and change
what each case needs. Each case says which text of Regulation (EU) 2024/1689 decides it.
"""

import calendar
import io
import json
from datetime import date
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assessments import engine, services
from assessments.models import AssessmentTemplate, Status
from tests.assessments.builders import NOTHING_APPLIES, move, tiny_template, to_status

BUILTIN = Path(engine.__file__).resolve().parent / "builtin_templates"
SCREENING = json.loads((BUILTIN / "eu-ai-act-screening.json").read_text(encoding="utf-8"))
QUESTIONS = engine.question_map(SCREENING)


def _answers(**changes) -> dict:
    """Answers as the service stores them: cleaned, and answers to hidden questions dropped."""
    raw = {**NOTHING_APPLIES, **changes}
    cleaned = {k: engine.clean_answer(QUESTIONS[k], v) for k, v in raw.items()}
    shown = engine.visible_keys(SCREENING, cleaned)
    return {k: v for k, v in cleaned.items() if k in shown and v is not None}


def _screen(**changes) -> engine.Result:
    answers = _answers(**changes)
    assert [q.key for q in engine.missing_required(SCREENING, answers)] == []
    return engine.score(SCREENING, answers)


def _cites(result: engine.Result) -> list[str]:
    return [reason["cite"] for reason in result.reasons]


def _findings(result: engine.Result) -> dict[str, dict]:
    return {f["key"]: f for f in result.findings}


def _all_cites(result: engine.Result) -> list[str]:
    return engine.cited(result.as_dict())


RECORD = [{"url": "https://wiki.example.com/art-6-4", "title": "Article 6(4) note"}]
CV_SIFTING = {"annex_iii_areas": ["4a"], "exceptions": ["none"]}
CV_PARSING = {  # only turns CVs into structured fields: Article 6(3)(a)
    "annex_iii_areas": ["4a"],
    "exceptions": ["narrow_procedural"],
    "profiling": "no",
    "not_high_risk_record": RECORD,
}
OUTSIDE_THE_ACT = "Outside the AI Act — not an AI system, no link to the EU, or excluded by"
NO_GROUND = "No ground in Articles 5, 6 or 50 applies"


# The template ---------------------------------------------------------------------------------
def test_the_shipped_screening_follows_the_format_as_version_2():
    definition = engine.check_definition(SCREENING)
    assert (definition["key"], definition["version"]) == ("eu-ai-act-screening", 2)
    assert definition["validity_months"] == {
        "default": 24,
        "prohibited": 3,
        "high": 12,
        "limited": 24,
        "minimal": 36,
        "outside": 36,
    }


def test_every_screening_question_explains_itself_with_the_act():
    for q in engine.questions(SCREENING):
        assert "Article" in q.help or "Annex" in q.help, q.key


def test_screening_maxima():
    maxima = {k: v["max"] for k, v in engine.score(SCREENING, {}).scores.items()}
    assert maxima == {
        "out_of_scope": 7,  # Article 3(1), 2(1), 2(3), 2(4), 2(6), 2(8) and 2(10)
        "prohibited": 8,  # Article 5(1)(a) to (g), and (h) outside its three objectives
        "rbi_exception": 1,  # one of the objectives of Article 5(1)(h)(i) to (iii)
        "product_safety": 1,
        # points 1(a)-(c), 2, 3(a)-(d), 4(a)-(b), 5(a)-(d), 6(a)-(e), 7(a)-(d), 8(a)-(b)
        "annex_iii": 25,
        "exception": 4,  # Article 6(3)(a) to (d)
        "profiling": 1,
        "transparency": 5,  # Article 50(1), (2), (3) and both subparagraphs of (4)
        "gpai_use": 1,
        "gpai_provider": 1,
        "gpai_systemic": 1,
    }


def test_the_shipped_screening_is_the_one_offered(db):
    offered = AssessmentTemplate.objects.get(key="eu-ai-act-screening", active=True)
    assert offered.version == 2
    assert offered.definition == SCREENING


# Each result ----------------------------------------------------------------------------------
def test_cv_sifting_is_high_risk_under_annex_iii_point_4a():
    # Ranks applicants for a vacancy and filters out the weakest: Annex III point 4(a), and
    # none of the Article 6(3) conditions holds because it shapes who is shortlisted.
    result = _screen(**CV_SIFTING)
    assert result.value == "high"
    assert result.label.startswith("High risk — an Annex III use")
    assert _cites(result) == ["Article 6(2)", "Annex III point 4(a)"]
    assert (result.scores["annex_iii"]["value"], result.scores["exception"]["value"]) == (1, 0)
    assert list(_findings(result)) == ["high_annex_iii", "deployer_high", "ai_literacy"]
    assert _findings(result)["high_annex_iii"]["reasons"][0]["cite"] == "Annex III point 4(a)"


def test_a_safety_component_needing_third_party_assessment_is_high_under_article_6_1():
    # Vision model that stops a press when a hand enters it: Machinery Regulation, Annex I.
    result = _screen(annex_i_product="yes", third_party_conformity="yes")
    assert result.value == "high"
    assert result.label.startswith("High risk — a product, or the safety component of a product")
    assert _cites(result) == ["Article 6(1)", "Article 6(1)(a) and (b), Annex I"]
    assert "high_product" in _findings(result)


def test_an_annex_i_product_without_third_party_assessment_is_not_high_under_article_6_1():
    assert _screen(annex_i_product="yes", third_party_conformity="no").value == "minimal"
    # The conformity question is hidden unless the product question is answered yes.
    hidden = engine.score(
        SCREENING, {**_answers(annex_i_product="no"), "third_party_conformity": "yes"}
    )
    assert (hidden.value, hidden.scores["product_safety"]["value"]) == ("minimal", 0)


def test_a_product_that_is_also_an_annex_iii_use_lists_both_grounds():
    result = _screen(annex_i_product="yes", third_party_conformity="yes", **CV_SIFTING)
    assert result.value == "high"
    assert {"high_product", "high_annex_iii"} <= set(_findings(result))
    assert {"Article 6(1)", "Article 6(2)", "Annex III point 4(a)"} <= set(_all_cites(result))


def test_a_customer_chatbot_is_limited_risk_under_article_50():
    # A support chatbot on a third-party LLM: it talks to people and writes text.
    result = _screen(interacts_with_people="yes", generates_content="yes", uses_gpai="yes")
    assert result.value == "limited"
    assert _cites(result) == ["Article 50(1)", "Article 50(2)"]
    assert result.scores["transparency"] == {
        "label": "Transparency duties (Article 50)",
        "raw": 2,
        "value": 2,
        "max": 5,
        "share": 40,
    }
    # Using a general-purpose model is recorded, with the duty it puts on the model's provider,
    # but does not change the tier.
    assert list(_findings(result)) == [
        "transparency_50_1_deployer_check",
        "transparency_50_2_deployer_check",
        "gpai_downstream",
        "ai_literacy",
    ]
    assert _findings(result)["gpai_downstream"]["cite"] == "Article 53(1)(b)"


def test_nothing_applies_is_minimal_with_no_ground():
    result = _screen()
    assert result.value == "minimal"
    assert _cites(result) == [NO_GROUND]
    assert list(_findings(result)) == ["ai_literacy"]


def test_social_scoring_is_prohibited_under_article_5_1_c_and_lists_the_annex_iii_ground_too():
    # Rates customers on their social-media behaviour and refuses them unrelated services.
    result = _screen(social_scoring="yes", annex_iii_areas=["5b"], exceptions=["none"])
    assert result.value == "prohibited"
    assert _cites(result) == ["Article 5(1)(c)"]
    findings = _findings(result)
    assert findings["prohibited"]["reasons"][0]["cite"] == "Article 5(1)(c)"
    assert "high_annex_iii" in findings  # every ground that applies, not only the first


def test_an_internal_spreadsheet_formula_helper_is_outside_the_act():
    # Fixed rules people wrote that shortlist applicants: Annex III point 4(a) would apply to an
    # AI system, but this is not one (Article 3(1)), so the Act does not apply at all.
    why = "A formula HR wrote; no inference. Checked by legal, 3 March."
    result = _screen(ai_system="no", out_of_scope_reason=why, **CV_SIFTING)
    assert result.value == "outside"
    assert result.label.startswith(OUTSIDE_THE_ACT)
    assert _cites(result) == ["Article 3(1)"]
    assert result.reasons[0]["answer"] == "No, it only follows rules people wrote"
    assert {k for k, s in result.scores.items() if s["value"]} == {"out_of_scope"}
    assert result.findings == []  # no duties, not even AI literacy


@pytest.mark.parametrize(
    ("changes", "cites"),
    [
        ({"exclusions": ["defence"]}, ["Article 2(3)"]),
        ({"exclusions": ["third_country"]}, ["Article 2(4)"]),
        ({"exclusions": ["research"]}, ["Article 2(6)"]),
        ({"exclusions": ["pre_market"]}, ["Article 2(8)"]),
        ({"exclusions": ["personal"]}, ["Article 2(10)"]),
        ({"exclusions": ["defence", "research"]}, ["Article 2(3)", "Article 2(6)"]),
        ({"eu_link": "no"}, ["Article 2(1)"]),
    ],
)
def test_an_annex_iii_use_excluded_by_article_2_is_outside_the_act(changes, cites):
    # CV sifting, but the Act does not apply: the result cites the ground in Article 2.
    result = _screen(**CV_SIFTING, **changes, out_of_scope_reason="See the legal note.")
    assert result.value == "outside"
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
    assert (result.value, _cites(result)) == ("outside", ["Article 2(3)"])
    assert result.scores["prohibited"]["value"] == 0


def test_out_of_scope_skips_the_rest_and_asks_why_instead():
    answers = _answers(ai_system="no")
    assert engine.visible_keys(SCREENING, answers) == {"ai_system", "out_of_scope_reason"}
    assert [q.key for q in engine.missing_required(SCREENING, answers)] == ["out_of_scope_reason"]
    answers["out_of_scope_reason"] = "Not an AI system."
    assert engine.missing_required(SCREENING, answers) == []
    assert engine.score(SCREENING, answers).value == "outside"

    no_eu = _answers(eu_link="no")
    assert engine.visible_keys(SCREENING, no_eu) == {
        "ai_system",
        "role",
        "eu_link",
        "out_of_scope_reason",
    }
    # In scope, only the follow-up questions of other answers are hidden.
    in_scope = engine.visible_keys(SCREENING, _answers())
    assert {q.key for q in engine.questions(SCREENING)} - in_scope == {
        "out_of_scope_reason",
        "rbi_objective",
        "rbi_authorisation",
        "third_party_conformity",
        "exceptions",
        "profiling",
        "not_high_risk_record",
        "gpai_systemic_risk",
    }


@pytest.mark.parametrize("ai_system", ["yes", "unsure"])
def test_in_scope_an_unsure_answer_screens_as_an_ai_system(ai_system):
    result = _screen(ai_system=ai_system, **CV_SIFTING)
    assert result.value == "high"
    assert _cites(result) == ["Article 6(2)", "Annex III point 4(a)"]
    assert result.scores["out_of_scope"]["value"] == 0
    assert _cites(_screen(ai_system=ai_system)) == [NO_GROUND]


def test_an_open_source_system_outside_articles_5_6_and_50_is_outside_the_act():
    result = _screen(open_source="yes")
    assert result.value == "outside"
    assert result.label.startswith("Outside the AI Act — released under a free and open-source")
    assert _cites(result) == ["Article 2(12)"]
    assert result.findings == []
    # Article 2(12) does not cover high-risk systems or those under Article 5 or 50.
    assert _screen(open_source="yes", **CV_SIFTING).value == "high"
    assert _screen(open_source="yes", generates_content="yes").value == "limited"
    assert _screen(open_source="yes", social_scoring="yes").value == "prohibited"


# The Article 6(3) exception -------------------------------------------------------------------
def test_an_annex_iii_use_relying_on_an_exception_names_the_exception_not_no_ground():
    # Before, this fell through to "No ground in Articles 5, 6 or 50 applies".
    result = _screen(**CV_PARSING)
    assert result.value == "minimal"
    assert "Article 6(3) exception" in result.label
    assert _cites(result) == ["Article 6(3)", "Article 6(3)(a)", "Annex III point 4(a)"]
    assert NO_GROUND not in _all_cites(result)
    # A deployer keeps the provider's Article 6(4) record and checks its Article 49(2) entry.
    assert list(_findings(result)) == ["exception", "exception_deployer_check", "ai_literacy"]
    assert _findings(result)["exception_deployer_check"]["cite"] == "Articles 6(4) and 49(2)"


def test_a_provider_relying_on_an_exception_documents_it_and_registers_it():
    findings = _findings(_screen(**CV_PARSING, role="provider"))
    assert findings["exception_record"]["cite"] == "Article 6(4)"
    assert findings["exception_registration"]["cite"] == "Article 49(2)"
    assert "exception_deployer_check" not in findings


def test_profiling_keeps_an_annex_iii_system_high_risk_despite_an_exception():
    # Article 6(3), last subparagraph: profiling natural persons is always high risk.
    result = _screen(annex_iii_areas=["4a"], exceptions=["preparatory"], profiling="yes")
    assert result.value == "high"
    assert _cites(result) == ["Article 6(2)", "Annex III point 4(a)"]
    kept = _findings(result)["profiling_keeps_high"]
    assert kept["cite"] == "Article 6(3), last subparagraph"
    assert [r["cite"] for r in kept["reasons"]] == ["Article 6(3)(d)"]
    assert "exception" not in _findings(result)


def test_the_profiling_rule_is_cited_only_when_an_exception_was_claimed():
    # Before, "Article 6(3), last subparagraph" was cited on every Annex III result with
    # profiling, although no exception was claimed. Now profiling is asked only after one is.
    credit = _screen(annex_iii_areas=["5b"], exceptions=["none"])
    assert "profiling" not in engine.visible_keys(SCREENING, _answers(annex_iii_areas=["5b"]))
    assert "Article 6(3), last subparagraph" not in _all_cites(credit)
    stored = engine.score(
        SCREENING, {**_answers(annex_iii_areas=["5b"], exceptions=["none"]), "profiling": "yes"}
    )
    assert "Article 6(3), last subparagraph" not in engine.cited(stored.as_dict())


def test_the_exception_and_profiling_questions_show_only_when_they_matter():
    none = _answers(exceptions=["narrow_procedural"])  # no Annex III area: both hidden
    assert not {"exceptions", "profiling", "not_high_risk_record"} & set(none)
    assert engine.score(SCREENING, none).scores["exception"]["value"] == 0

    credit = _answers(annex_iii_areas=["5b"])
    assert [q.key for q in engine.missing_required(SCREENING, credit)] == ["exceptions"]
    relied_on = _answers(annex_iii_areas=["5b"], exceptions=["detects_patterns"])
    assert [q.key for q in engine.missing_required(SCREENING, relied_on)] == ["profiling"]
    not_profiling = _answers(
        annex_iii_areas=["5b"], exceptions=["detects_patterns"], profiling="no"
    )
    assert [q.key for q in engine.missing_required(SCREENING, not_profiling)] == [
        "not_high_risk_record"
    ]


def test_claiming_an_exception_requires_the_documented_assessment_of_article_6_4():
    claimed = {**CV_PARSING}
    del claimed["not_high_risk_record"]
    answers = _answers(**claimed)
    assert [q.key for q in engine.missing_required(SCREENING, answers)] == ["not_high_risk_record"]
    assert engine.missing_required(SCREENING, _answers(**CV_PARSING)) == []
    # No exception claimed, or profiling (high risk whatever the exception): no record asked.
    for change in ({"exceptions": ["none"]}, {"profiling": "yes"}):
        answers = _answers(**{**claimed, **change})
        assert "not_high_risk_record" not in engine.visible_keys(SCREENING, answers)
        assert engine.missing_required(SCREENING, answers) == []


@pytest.mark.parametrize(
    ("question", "chosen"),
    [
        ("exceptions", ["narrow_procedural", "none"]),
        ("annex_iii_areas", ["4a", "none"]),
        ("exclusions", ["research", "none"]),
    ],
)
def test_none_of_these_cannot_be_ticked_with_another_choice(question, chosen):
    q = QUESTIONS[question]
    with pytest.raises(ValueError) as exc:
        engine.clean_answer(q, chosen)
    assert str(exc.value) == "“None of these” cannot be combined with other choices."
    assert engine.clean_answer(q, ["none"]) == ["none"]


# Combinations ---------------------------------------------------------------------------------
def test_high_risk_plus_article_50_keeps_the_transparency_duties():
    # A recruiting chatbot that interviews candidates and scores them: Annex III point 4(a),
    # and it talks to people. Before, the Article 50 duty dropped out of the high result.
    result = _screen(**CV_SIFTING, interacts_with_people="yes")
    assert result.value == "high"
    findings = _findings(result)
    assert {"high_annex_iii", "transparency_50_1_deployer_check"} <= set(findings)
    assert findings["transparency_in_addition"]["cite"] == "Article 50(6)"
    assert {"Article 6(2)", "Article 50(1)", "Article 50(6)"} <= set(_all_cites(result))


def test_an_exception_plus_article_50_is_limited_and_still_names_the_exception():
    result = _screen(**CV_PARSING, generates_content="yes")
    assert result.value == "limited"
    assert _cites(result) == ["Article 50(2)"]
    findings = _findings(result)
    assert [r["cite"] for r in findings["exception"]["reasons"]] == [
        "Article 6(3)(a)",
        "Annex III point 4(a)",
    ]
    assert "transparency_50_2_deployer_check" in findings
    assert "transparency_in_addition" not in findings  # not high risk: nothing to add to


def test_prohibited_plus_article_50_lists_both():
    # Emotion recognition of staff on video calls: banned by Article 5(1)(f), and an emotion
    # recognition system whose deployer must inform the people exposed (Article 50(3)).
    result = _screen(
        emotion_workplace_education="yes",
        annex_iii_areas=["1c"],
        exceptions=["none"],
        emotion_or_biometric_categorisation="yes",
    )
    assert result.value == "prohibited"
    assert _cites(result) == ["Article 5(1)(f)"]
    findings = _findings(result)
    assert {"prohibited", "transparency_50_3_deployer", "transparency_in_addition"} <= set(findings)


def test_a_systemic_risk_gpai_provider_gets_the_duties_of_articles_51_to_55():
    # Before: "minimal, no ground", with Articles 51 to 55 nowhere in the result.
    result = _screen(role="provider", provides_gpai="yes", gpai_systemic_risk="yes")
    assert result.value == "minimal"
    assert "general-purpose AI model" in result.label
    assert _cites(result) == ["Articles 53 to 55", "Article 53", "Articles 51, 52 and 55"]
    assert NO_GROUND not in _all_cites(result)
    findings = _findings(result)
    assert findings["gpai_provider"]["cite"] == "Article 53"
    assert findings["gpai_systemic"]["cite"] == "Articles 51, 52 and 55"
    assert "Article 52(1)" in findings["gpai_systemic"]["label"]
    assert "Article 55" in findings["gpai_systemic"]["label"]


def test_a_gpai_provider_without_systemic_risk_has_article_53_duties_only():
    findings = _findings(_screen(role="provider", provides_gpai="yes", gpai_systemic_risk="no"))
    assert "gpai_provider" in findings and "gpai_systemic" not in findings


def test_a_high_risk_system_on_a_systemic_gpai_model_we_provide_lists_everything():
    result = _screen(**CV_SIFTING, role="both", provides_gpai="yes", gpai_systemic_risk="yes")
    assert result.value == "high"
    assert {"high_annex_iii", "provider_high", "deployer_high", "gpai_systemic"} <= set(
        _findings(result)
    )


# The role changes the duties ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        ("provider", {"provider_high", "provider_registration"}, {"deployer_high"}),
        ("deployer", {"deployer_high"}, {"provider_high", "provider_registration"}),
        ("both", {"provider_high", "provider_registration", "deployer_high"}, set()),
    ],
)
def test_the_role_changes_the_high_risk_duties(role, present, absent):
    changes = {"role": role, **CV_SIFTING}
    if role == "provider":
        changes["deployer_sector"] = None  # not asked of a provider
    findings = _findings(_screen(**changes))
    assert present <= set(findings)
    assert not absent & set(findings)
    if "provider_high" in findings:
        assert findings["provider_high"]["cite"] == "Articles 16 and 43"
        assert findings["provider_registration"]["cite"] == "Article 49(1)"
    if "deployer_high" in findings:
        assert findings["deployer_high"]["cite"] == "Article 26"


def test_the_sector_question_is_asked_of_deployers_only():
    assert "deployer_sector" in engine.visible_keys(SCREENING, _answers(role="deployer"))
    assert "deployer_sector" in engine.visible_keys(SCREENING, _answers(role="both"))
    assert "deployer_sector" not in engine.visible_keys(SCREENING, _answers(role="provider"))


def test_an_annex_i_product_is_not_registered_under_article_49_1():
    findings = _findings(
        _screen(role="provider", annex_i_product="yes", third_party_conformity="yes")
    )
    assert "provider_high" in findings and "provider_registration" not in findings


@pytest.mark.parametrize(
    ("role", "mine", "check"),
    [
        ("provider", "transparency_50_1_provider", "transparency_50_1_deployer_check"),
        ("deployer", "transparency_50_1_deployer_check", "transparency_50_1_provider"),
    ],
)
def test_article_50_1_is_the_providers_duty_and_a_deployers_check(role, mine, check):
    findings = _findings(_screen(role=role, interacts_with_people="yes"))
    assert mine in findings and check not in findings
    assert findings[mine]["label"].startswith(
        "As provider:" if role == "provider" else "The provider"
    )


@pytest.mark.parametrize(
    ("role", "key"),
    [("deployer", "transparency_50_4_deployer"), ("provider", "transparency_50_4_provider_check")],
)
def test_article_50_4_deep_fakes_are_the_deployers_duty(role, key):
    findings = _findings(_screen(role=role, deep_fake="yes"))
    assert key in findings
    assert findings[key]["cite"] == "Article 50(4), first subparagraph"


# Article 27: the fundamental rights impact assessment ----------------------------------------
@pytest.mark.parametrize(
    ("area", "sector", "fria", "registration"),
    [
        ("5b", "private", True, False),  # credit: always, whoever deploys it
        ("5c", "private", True, False),  # life and health insurance: always
        ("4a", "private", False, False),  # recruitment by a private firm: no
        ("4a", "public", True, True),  # by a public body: FRIA and Article 49(3)
        ("4a", "public_service", True, False),  # a private entity providing public services
        ("2", "public", False, False),  # critical infrastructure is left out of both
    ],
)
def test_article_27_applies_to_deployers_of_5b_and_5c_and_to_public_bodies(
    area, sector, fria, registration
):
    findings = _findings(
        _screen(annex_iii_areas=[area], exceptions=["none"], deployer_sector=sector)
    )
    assert ("fria" in findings) is fria
    assert ("deployer_registration" in findings) is registration
    if fria:
        assert findings["fria"]["cite"] == "Article 27(1)"
        assert "where it applies" not in findings["fria"]["label"]


def test_article_27_is_not_a_providers_duty_nor_for_an_excepted_system():
    provider = _findings(
        _screen(role="provider", deployer_sector=None, annex_iii_areas=["5b"], exceptions=["none"])
    )
    assert "fria" not in provider
    excepted = _findings(_screen(**{**CV_PARSING, "annex_iii_areas": ["5b"]}))
    assert "fria" not in excepted


# Article 5(1)(h) and its authorisation --------------------------------------------------------
def test_real_time_biometric_identification_without_an_objective_is_prohibited():
    result = _screen(realtime_rbi_law_enforcement="yes", rbi_objective="none")
    assert result.value == "prohibited"
    assert _cites(result) == ["Article 5(1)(h)"]


def test_an_article_5_1_h_objective_needs_the_authorisation_recorded_and_is_high_risk():
    asked = _answers(realtime_rbi_law_enforcement="yes", rbi_objective="victims")
    assert [q.key for q in engine.missing_required(SCREENING, asked)] == ["rbi_authorisation"]
    field = QUESTIONS["rbi_authorisation"]
    assert field.type == "long_text" and "authorisation" in field.label
    assert "Article 5(3)" in field.help
    result = _screen(
        realtime_rbi_law_enforcement="yes",
        rbi_objective="victims",
        rbi_authorisation="Tribunal judiciaire de Lyon, order 2026/114 of 2 March 2026.",
        annex_iii_areas=["1a"],
        exceptions=["none"],
        deployer_sector="public",
    )
    assert result.value == "high"
    findings = _findings(result)
    assert [r["cite"] for r in findings["rbi_exception"]["reasons"]] == ["Article 5(1)(h)(i)"]
    assert {"fria", "deployer_registration"} <= set(findings)


def test_the_authorisation_is_asked_only_for_an_objective():
    for objective in ("none", None):
        answers = _answers(realtime_rbi_law_enforcement="yes", rbi_objective=objective)
        assert "rbi_authorisation" not in engine.visible_keys(SCREENING, answers)


# The wording defects ----------------------------------------------------------------------------
def test_annex_iii_points_6_and_7_are_listed_in_full_not_as_examples():
    choices = {c["value"]: c for c in QUESTIONS["annex_iii_areas"].choices}
    six = [v for v in choices if v.startswith("6")]
    seven = [v for v in choices if v.startswith("7")]
    assert six == ["6a", "6b", "6c", "6d", "6e"]
    assert seven == ["7a", "7b", "7c", "7d"]
    for value in six + seven:
        assert "e.g." not in choices[value]["label"], value
        assert choices[value]["cite"] == f"Annex III point {value[0]}({value[1]})"
    assert "points 6 and 7 are complete" in QUESTIONS["annex_iii_areas"].help


def test_article_5_1_f_says_it_concerns_emotion_recognition_from_biometric_data():
    q = QUESTIONS["emotion_workplace_education"]
    assert "emotion recognition" in q.label and "biometric data" in q.label
    assert q.spec["cite"] == "Article 5(1)(f)"


def test_the_first_questions_help_reads_as_a_sentence():
    text = QUESTIONS["ai_system"].help
    assert "answer 'Not sure' and the rest of the screening." not in text
    assert text.endswith(
        "If you are unsure, answer 'Not sure', answer the rest of the screening, and have "
        "legal review the answer."
    )


def test_article_2_4_and_2_8_exclusions_are_offered():
    cites = {c.get("cite") for c in QUESTIONS["exclusions"].choices}
    assert {
        "Article 2(3)",
        "Article 2(4)",
        "Article 2(6)",
        "Article 2(8)",
        "Article 2(10)",
    } <= cites


def test_no_label_says_article_27_applies_where_it_applies():
    texts = json.dumps(SCREENING)
    assert "where it applies" not in texts
    assert '"e.g. assessing' not in texts


def test_outside_the_act_is_its_own_value_not_minimal():
    values = {o["value"] for o in SCREENING["scoring"]["result"]["outcomes"]}
    assert values == {"outside", "prohibited", "high", "limited", "minimal"}
    for outcome in SCREENING["scoring"]["result"]["outcomes"]:
        assert outcome["label"].startswith("Outside") == (outcome["value"] == "outside")


def test_starting_a_second_screening_says_an_not_a(use_case, product_owner):
    # "UC-0001 already has a AI risk screening (EU AI Act) in progress".
    template = AssessmentTemplate.objects.get(key="eu-ai-act-screening", active=True)
    services.assessment_start(actor=product_owner, use_case=use_case, template=template)
    with pytest.raises(ValidationError) as exc:
        services.assessment_start(actor=product_owner, use_case=use_case, template=template)
    message = exc.value.message_dict["template"][0]
    assert " a AI " not in message
    assert f"already has “{template.title}” in progress" in message


# Sign-off writes the tier and its whole basis -----------------------------------------------
@pytest.fixture
def sign(use_case, product_owner, risk_officer, dpo, legal_reviewer, leadership, password):
    def _sign(answers: dict):
        template = AssessmentTemplate.objects.get(key="eu-ai-act-screening", active=True)
        a = services.assessment_start(actor=product_owner, use_case=use_case, template=template)
        a = services.assessment_save_answers(
            actor=product_owner, assessment=a, answers=answers, base_revision=a.revision
        )
        a = move(a, product_owner, "submit")
        a = move(a, risk_officer, "start_review")
        for reviewer in (risk_officer, dpo, legal_reviewer):
            if any(
                action == "approve" for action, _ in services.available_transitions(a, reviewer)
            ):
                a = move(a, reviewer, "approve")
        a = move(a, leadership, "sign_off", password=password)
        assert a.status == Status.SIGNED_OFF
        use_case.refresh_from_db()
        return a, use_case

    return _sign


def test_sign_off_writes_the_exception_as_the_tier_basis(sign):
    _, use_case = sign({**NOTHING_APPLIES, **CV_PARSING})
    assert use_case.risk_tier == "minimal"
    assert "No ground in Articles 5, 6 or 50 applies" not in use_case.risk_tier_basis
    for cite in ("Article 6(3)(a)", "Annex III point 4(a)", "Articles 6(4) and 49(2)"):
        assert cite in use_case.risk_tier_basis, cite
    assert use_case.risk_tier_basis.startswith("Minimal risk — an Annex III use that is not high")


def test_sign_off_of_high_plus_article_50_writes_both(sign):
    _, use_case = sign({**NOTHING_APPLIES, **CV_SIFTING, "interacts_with_people": "yes"})
    assert use_case.risk_tier == "high"
    for cite in ("Article 6(2)", "Annex III point 4(a)", "Article 26", "Article 50(1)"):
        assert cite in use_case.risk_tier_basis, cite
    assert "Article 50(6)" in use_case.risk_tier_basis


def test_sign_off_of_an_excluded_system_records_outside_the_act(sign):
    a, use_case = sign(
        {**NOTHING_APPLIES, "exclusions": ["research"], "out_of_scope_reason": "Lab only."}
    )
    assert use_case.risk_tier == "outside"
    assert use_case.get_risk_tier_display() == "Outside the AI Act"
    assert "Article 2(6)" in use_case.risk_tier_basis
    assert a.result_value == "outside"


def test_the_assessment_page_lists_every_ground_and_duty(client, sign, risk_officer):
    a, _ = sign({**NOTHING_APPLIES, **CV_SIFTING, "interacts_with_people": "yes"})
    client.force_login(risk_officer)
    page = client.get(a.get_absolute_url()).content.decode()
    assert 'data-testid="findings"' in page
    for key in ("high_annex_iii", "deployer_high", "transparency_in_addition"):
        assert f'data-finding="{key}"' in page, key
    assert "<cite>Article 50(6)</cite>" in page


# A tier override leaves the use case's other assessments alone ------------------------------
def test_other_signed_off_assessments_keep_their_validity_after_a_tier_override(
    use_case, people, risk_officer
):
    dpia = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
    minimal = tiny_template(
        key="minimal-screening",
        kind="screening",
        title="Minimal screening",
        scoring={
            "scores": [{"key": "impact", "label": "Impact"}],
            "result": {"outcomes": [{"value": "minimal", "label": "Minimal risk"}]},
        },
        validity_months={},
    )
    screening = to_status(
        Status.SIGNED_OFF,
        use_case=use_case,
        author=people["author"],
        reviewers=people["reviewers"][:1],
        approver=people["approver"],
        template=minimal,
    )
    dpia.refresh_from_db()
    kept, versions = dpia.valid_until, dpia.history.count()
    services.assessment_override_tier(
        actor=risk_officer,
        assessment=screening,
        tier="high",
        justification="Credit decisions: Annex III point 5(b).",
    )
    dpia.refresh_from_db()
    screening.refresh_from_db()
    assert (dpia.status, dpia.valid_until, dpia.history.count()) == (
        Status.SIGNED_OFF,
        kept,
        versions,
    )
    signed_on = timezone.localdate(screening.sign_off_record.signed_at)
    # The screening's own date moves to the high tier's 12 months (36 before).
    month = signed_on.month - 1 + 12
    year, month = signed_on.year + month // 12, month % 12 + 1
    last = calendar.monthrange(year, month)[1]
    assert screening.valid_until == date(year, month, min(signed_on.day, last))


# The citations table -------------------------------------------------------------------------
CITATIONS = BUILTIN.parent.parent / "docs" / "regulatory" / "eu-ai-act-screening-citations.md"


def _section(text: str, heading: str) -> str:
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_the_citations_table_names_every_question_result_and_finding():
    table = CITATIONS.read_text(encoding="utf-8")
    result = SCREENING["scoring"]["result"]
    questions = _section(table, "Questions")
    for q in engine.questions(SCREENING):
        assert f"| `{q.key}` |" in questions, q.key
    # Every answer that is cited, with its citation, in the answers table.
    for q in engine.questions(SCREENING):
        if q.spec.get("cite"):
            assert f"| `{q.key}` | yes | {q.spec['cite']} |" in questions, q.key
        for c in q.choices:
            if c.get("cite"):
                assert f"| `{q.key}` | `{c['value']}` | {c['cite']} |" in questions, c["value"]
    # The tiers, in the order they are tried, each with its citation.
    tiers = _section(table, "Results: the tier")
    rows = [line for line in tiers.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [o["value"] for o in result["outcomes"]]
    for row, outcome in zip(rows, result["outcomes"], strict=True):
        assert outcome.get("cite", "") in row
        for score in outcome.get("cite_from", []):
            assert f"`{score}`" in row
    # Every finding the template can list, with its citation and its text.
    findings = _section(table, "Grounds and duties listed beside the tier")
    rows = [line for line in findings.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [f["key"] for f in result["findings"]]
    for row, finding in zip(rows, result["findings"], strict=True):
        assert f"| {finding['cite']} |" in row, finding["key"]
        assert finding["label"].replace("|", "\\|") in row, finding["key"]


def test_the_citations_table_is_linked_from_the_guides():
    docs = BUILTIN.parent.parent / "docs"
    link = "regulatory/eu-ai-act-screening-citations.md"
    assert link in (docs / "template-format.md").read_text(encoding="utf-8")
    assert f"../{link}" in (docs / "users" / "risk-officer.md").read_text(encoding="utf-8")


def test_the_api_gives_the_findings_with_the_result(sign, risk_officer):
    a, _ = sign({**NOTHING_APPLIES, **CV_PARSING, "generates_content": "yes"})
    token, _ = Token.objects.get_or_create(user=risk_officer)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api.get(f"/api/v1/assessments/{a.pk}/")
    assert response.status_code == 200, response.content
    result = response.json()["result"]
    assert result["value"] == "limited"
    findings = {f["key"]: f for f in result["findings"]}
    assert findings["exception"]["cite"] == "Article 6(3)"
    assert [r["cite"] for r in findings["exception"]["reasons"]] == [
        "Article 6(3)(a)",
        "Annex III point 4(a)",
    ]
    assert "transparency_50_2_deployer_check" in findings


def test_the_full_report_lists_every_ground_and_duty(client, sign, risk_officer):
    a, _ = sign({**NOTHING_APPLIES, **CV_SIFTING, "interacts_with_people": "yes"})
    client.force_login(risk_officer)
    response = client.get(reverse("assessments:pdf-full", args=[a.pk]))
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Every ground and duty that applies" in text
    assert "Article 50(6)" in text and "Article 26" in text
