"""Data for `manage.py bench`: a 150-question template and an assessment that answers it.

The form page is timed with every question answered, all question types present, and a
risk table with a dozen rows, since that is the page risk officers spend their day on.
"""

from typing import Any

from assessments import services
from assessments.models import Assessment, AssessmentTemplate

KEY = "bench-150-questions"
QUESTIONS = 150
SECTIONS = 1  # all 150 on one page: the worst case the form must stay fast for
TYPES = ["long_text", "single_choice", "yes_no", "text", "multi_choice", "number", "date"]


def definition() -> dict:
    questions = []
    for i in range(QUESTIONS - 2):
        kind = TYPES[i % len(TYPES)]
        q: dict[str, Any] = {"key": f"q{i:03d}", "type": kind, "label": f"Question {i + 1}: {kind}"}
        if kind in ("single_choice", "multi_choice"):
            q["choices"] = [
                {"value": f"c{j}", "label": f"Choice {j}", "weights": {"impact": j}}
                for j in range(5)
            ]
        if kind == "yes_no":
            q["weights"] = {"impact": 2}
        if i % 10 == 9:
            # Shown when the nearest yes/no question before it says yes (the import refuses a
            # condition that can never hold, or ``equals`` on a multiple choice).
            asked = i - 1 - (i - 1 - TYPES.index("yes_no")) % len(TYPES)
            q["show_if"] = {"question": f"q{asked:03d}", "equals": "yes"}
        questions.append(q)
    questions.append({"key": "risks", "type": "risk_table", "label": "Risks"})
    questions.append({"key": "evidence", "type": "evidence", "label": "Evidence"})
    per = len(questions) // SECTIONS
    return {
        "format": 1,
        "key": KEY,
        "version": 1,
        "kind": "other",
        "title": "Benchmark: 150 questions",
        "sections": [
            {"key": f"s{n}", "title": f"Section {n + 1}", "questions": questions[n * per :]}
            if n == SECTIONS - 1
            else {
                "key": f"s{n}",
                "title": f"Section {n + 1}",
                "questions": questions[n * per : (n + 1) * per],
            }
            for n in range(SECTIONS)
        ],
        "scoring": {
            "scores": [{"key": "impact", "label": "Impact"}],
            "result": {
                "outcomes": [
                    {"value": "high", "when": {"score": "impact", "share_gte": 50}},
                    {"value": "low"},
                ]
            },
        },
    }


def answers() -> dict:
    out: dict[str, Any] = {}
    for i in range(QUESTIONS - 2):
        kind = TYPES[i % len(TYPES)]
        out[f"q{i:03d}"] = {
            "long_text": "A considered answer that runs to a few sentences. " * 6,
            "single_choice": "c3",
            "yes_no": "yes",
            "text": "A short answer",
            "multi_choice": ["c1", "c4"],
            "number": "1200",
            "date": "2027-03-31",
        }[kind]
    out["risks"] = [
        {
            "risk": f"Risk {n}",
            "likelihood": "possible",
            "severity": "severe",
            "measures": "A person checks every outcome",
            "effect": "reduced",
            "residual": "medium",
            "approved": True,
        }
        for n in range(12)
    ]
    out["evidence"] = [{"title": "Test report", "url": "https://example.com/r", "expires": ""}]
    return out


def form_assessment(author, use_case) -> Assessment:
    """The benchmark's assessment, made once and reused."""
    existing = Assessment.objects.filter(template__key=KEY, use_case=use_case).first()
    if existing is not None:
        return existing
    template = AssessmentTemplate.objects.filter(key=KEY).first()
    if template is None:
        template, _ = services.template_import(actor=None, definition=definition())
    a = services.assessment_start(actor=author, use_case=use_case, template=template)
    return services.assessment_save_answers(
        actor=author, assessment=a, answers=answers(), base_revision=a.revision
    )
