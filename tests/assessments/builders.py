"""Assessments in each state, made through the services so every state is a real one, and the
answers the tests start from."""

from assessments import services
from assessments.models import Assessment, AssessmentTemplate, Status
from tests.factories import PASSWORD

# The EU AI Act screening (a built-in template): an AI system we deploy in the EU, with every
# ground answered "no".
NOTHING_APPLIES = {
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


# A small DPIA-like template: enough of every feature to drive the workflow in tests.
TINY = {
    "format": 1,
    "key": "tiny-dpia",
    "version": 1,
    "kind": "dpia",
    "title": "Tiny DPIA",
    "sections": [
        {
            "key": "need",
            "title": "The need",
            "questions": [
                {"key": "aims", "type": "long_text", "label": "What is it for?", "required": True},
                {
                    "key": "automated",
                    "type": "yes_no",
                    "label": "Does it decide automatically?",
                    "weights": {"impact": 3},
                    "cite": "Article 22",
                },
                {
                    "key": "why_automated",
                    "type": "text",
                    "label": "Why is that necessary?",
                    "required": True,
                    "show_if": {"question": "automated", "equals": "yes"},
                },
            ],
        },
        {
            "key": "risks",
            "title": "Risks",
            "questions": [
                {"key": "risks", "type": "risk_table", "label": "Risks to individuals"},
                {
                    "key": "scale",
                    "type": "single_choice",
                    "label": "How many people?",
                    "choices": [
                        {"value": "few", "label": "Under 1,000", "weights": {"impact": 1}},
                        {"value": "many", "label": "1,000 or more", "weights": {"impact": 2}},
                    ],
                },
            ],
        },
    ],
    "scoring": {
        "scores": [{"key": "impact", "label": "Impact"}],
        "result": {
            "label": "Residual risk",
            "outcomes": [
                {
                    "value": "high",
                    "label": "High residual risk",
                    "when": {"risk": "residual", "at_least": "high"},
                },
                {
                    "value": "medium",
                    "label": "Medium residual risk",
                    "when": {"risk": "residual", "at_least": "medium"},
                },
                {"value": "low", "label": "Low residual risk"},
            ],
        },
    },
    "validity_months": {"default": 24, "high": 6},
}

COMPLETE = {
    "aims": "Spot fraudulent card payments before they settle.",
    "automated": "no",
    "risks": [
        {
            "risk": "A customer is wrongly blocked",
            "likelihood": "possible",
            "severity": "significant",
            "measures": "Analyst confirms every block within an hour",
            "effect": "reduced",
            "residual": "low",
            "approved": True,
        }
    ],
    "scale": "many",
}


def tiny_template(**changes) -> AssessmentTemplate:
    definition = {**TINY, **changes}
    template, _ = services.template_import(actor=None, definition=definition)
    return template


def draft(use_case, author, template=None, answers=None) -> Assessment:
    assessment = services.assessment_start(
        actor=author, use_case=use_case, template=template or tiny_template()
    )
    if answers:
        assessment = services.assessment_save_answers(
            actor=author, assessment=assessment, answers=answers, base_revision=assessment.revision
        )
    return assessment


def move(assessment, actor, action, reason="", password=""):
    return services.assessment_transition(
        actor=actor, assessment=assessment, action=action, reason=reason, password=password
    )


def to_status(status: str, *, use_case, author, reviewers, approver, template=None) -> Assessment:
    """An assessment brought to ``status`` by the people the routing asks for.

    ``reviewers`` are everyone who must approve at the review stage (e.g. risk officer and DPO).
    """
    a = draft(use_case, author, template, answers=COMPLETE)
    if status == Status.DRAFT:
        return a
    a = move(a, author, "submit")
    if status == Status.SUBMITTED:
        return a
    a = move(a, reviewers[0], "start_review")
    if status == Status.IN_REVIEW:
        return a
    if status == Status.CHANGES_REQUESTED:
        return move(a, reviewers[0], "request_changes", reason="Say who reviews the blocks.")
    if status == Status.REJECTED:
        return move(a, reviewers[0], "reject", reason="Not needed.")
    for reviewer in reviewers:
        a = move(a, reviewer, "approve")
    if status == Status.APPROVED:
        return a
    a = move(a, approver, "sign_off", password=PASSWORD)
    assert a.status == Status.SIGNED_OFF
    return a
