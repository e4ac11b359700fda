"""Assessments for the demo firm (``manage.py seed_demo``): one in every interesting state.

Made through the services, as people would: a signed-off screening, a DPIA waiting for
leadership's signature, an impact assessment in review and a DPIA half filled in.
"""

from typing import Any

from assessments import services
from assessments.models import AssessmentTemplate
from registry.models import UseCase

NO_AI_ACT_GROUND = {
    "ai_system": "yes",
    "role": "deployer",
    "eu_link": "yes",
    "exclusions": ["none"],
    "deployer_sector": "private",
    "manipulation": "no",
    "exploits_vulnerabilities": "no",
    "social_scoring": "no",
    "predictive_policing": "no",
    "face_scraping": "no",
    "emotion_workplace_education": "no",
    "biometric_categorisation_sensitive": "no",
    "realtime_rbi_law_enforcement": "no",
    "annex_i_product": "no",
    "annex_iii_areas": ["none"],
    "interacts_with_people": "no",
    "generates_content": "no",
    "emotion_or_biometric_categorisation": "no",
    "deep_fake": "no",
    "public_interest_text": "no",
    "uses_gpai": "no",
    "provides_gpai": "no",
}
CHATBOT_SCREENING = {**NO_AI_ACT_GROUND, "interacts_with_people": "yes", "uses_gpai": "yes"}

CREDIT_DPIA: dict[str, Any] = {
    "project_aims": "Score small personal-loan applications to decide within minutes.",
    "high_risk_indicators": ["innovative_technology", "denial_of_service"],
    "why_dpia": "Automated decisions about access to credit using a new model.",
    "nature": "Application form and credit bureau data; decisions kept 6 years.",
    "scope": "About 40,000 applicants a year in the UK.",
    "special_category": "no",
    "context": "Applicants expect a credit check; some are in financial difficulty.",
    "children_or_vulnerable": "yes",
    "purposes": "Faster, more consistent lending decisions.",
    "automated_decisions": "no",
    "individuals_views": "Customer panel in March; complaints about declines reviewed.",
    "internal_consultation": "Credit risk, information security, legal.",
    "lawful_basis": "contract",
    "achieves_purpose": "Yes; manual underwriting alone cannot meet demand.",
    "minimisation": "Only the fields the scorecard uses; no social media data.",
    "information_and_rights": "Privacy notice updated; a person reviews any decline on request.",
    "international_transfers": "no",
    "risks": [
        {
            "risk": "Applicants under 25 declined more often without a good reason",
            "likelihood": "possible",
            "severity": "significant",
            "measures": "Monthly approval-rate review by age band; threshold alert",
            "effect": "reduced",
            "residual": "low",
            "approved": True,
        },
        {
            "risk": "A vulnerable applicant is declined without a human look",
            "likelihood": "probable",
            "severity": "significant",
            "measures": "Underwriter reviews every decline flagged as vulnerable",
            "effect": "reduced",
            "residual": "medium",
            "approved": True,
        },
    ],
    "measures_plan": "Review queue staffed before launch; owned by the product owner.",
    "measures_approved_by": "Head of Credit Risk",
    "residual_risks_approved_by": "Chief Risk Officer",
    "dpo_advice": "Proceed once the decline review queue is staffed.",
    "dpo_advice_followed": "yes",
    "consultation_reviewed_by": "Data protection officer",
    "kept_under_review_by": "Data protection officer",
}

CV_IMPACT = {
    "decision_description": "Ranks applicants' CVs; recruiters shortlist from the ranking.",
    "decision_role": "recommends",
    "decision_area": "essential",
    "vulnerable_people": "no",
    "scale": "under_1m",
    "reversibility": "likely_reversible",
    "impact_rights": "moderate",
    "impact_equality": "high",
    "impact_health": "little",
    "impact_economic": "high",
    "personal_data": "personal",
    "data_linking": "no",
    "opacity": "opaque",
    "changes_in_production": "no",
    "human_override": "always",
    "consulted_specialists": "yes",
    "consulted_affected": "no",
    "data_quality_checks": "yes",
    "bias_testing": "yes",
    "human_review": "yes",
    "explanation": "no",
    "recourse": "yes",
    "documentation": "yes",
    "monitoring": "yes",
    "fallback": "yes",
}


def _template(key: str) -> AssessmentTemplate:
    return AssessmentTemplate.objects.get(key=key, active=True)


def _fill(use_case, author, key, answers):
    a = services.assessment_start(actor=author, use_case=use_case, template=_template(key))
    return services.assessment_save_answers(
        actor=author, assessment=a, answers=answers, base_revision=a.revision
    )


def _move(a, actor, action, **kwargs):
    return services.assessment_transition(actor=actor, assessment=a, action=action, **kwargs)


def seed(people: dict, password: str) -> None:
    risk, dpo = people["risk"], people["dpo"]
    legal = people["legal.reviewer"]

    chatbot = UseCase.objects.get(title="Customer support chatbot")
    a = _move(
        _fill(chatbot, people["owner"], "eu-ai-act-screening", CHATBOT_SCREENING),
        people["owner"],
        "submit",
    )
    a = _move(a, risk, "start_review")
    for reviewer in (risk, dpo):
        if services.available_transitions(a, reviewer):
            a = _move(a, reviewer, "approve")
    _move(a, people["leader"], "sign_off", password=password, reason="Disclosure banner checked.")

    credit = UseCase.objects.get(title="Credit decisioning model")
    a = _move(_fill(credit, people["owner"], "ico-dpia", CREDIT_DPIA), people["owner"], "submit")
    a = _move(a, risk, "start_review")
    services.assessment_comment(
        actor=dpo,
        assessment=a,
        question_key="minimisation",
        body="Does the scorecard still use time at address? It was dropped last year.",
    )
    for reviewer in (risk, dpo, legal):
        a = _move(a, reviewer, "approve")  # now waiting for leader's signature

    cv = UseCase.objects.get(title="CV screening assistant")
    a = _move(
        _fill(cv, people["owner.ops"], "ai-impact-assessment", CV_IMPACT),
        people["owner.ops"],
        "submit",
    )
    _move(a, risk, "start_review")

    fraud = UseCase.objects.get(title="Card fraud scoring")
    _fill(
        fraud,
        risk,
        "ico-dpia",
        {
            "project_aims": "Stop fraudulent card payments before they settle.",
            "high_risk_indicators": ["innovative_technology"],
        },
    )
