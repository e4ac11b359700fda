"""The strict template validator (issue 14): every fault is refused with its place, by the
import page (a form error) and the API (400 with field errors), and none is a 500."""

import copy
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assessments import engine
from assessments.models import AssessmentTemplate
from assessments.services.templates import BUILTIN_DIR
from tests.assessments.builders import TINY

API_IMPORT = "/api/v1/assessment-templates/import/"


def _nested_not(levels: int) -> dict:
    cond: dict = {"question": "automated", "equals": "yes"}
    for _ in range(levels):
        cond = {"not": cond}
    return cond


def _set(path: list, value):
    def change(definition: dict) -> None:
        target = definition
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _many_questions(definition: dict) -> None:
    definition["sections"][0]["questions"].extend(
        {"key": f"q{n}", "type": "text", "label": f"Question {n}"} for n in range(2_000)
    )


def _no_default(definition: dict) -> None:
    definition["scoring"]["result"]["outcomes"][-1]["when"] = {
        "risk": "inherent",
        "at_least": "low",
    }


# (what to break, the place named, the start of what is said there)
FAULTS = [
    (_set(["colour"], "red"), "colour", "not part of the template format"),
    (
        _set(["sections", 0, "questions", 0, "requried"], True),
        "sections[0].questions[0].requried",
        "not part of the template format",
    ),
    (
        _set(["scoring", "scores", 0, "rounding"], "half_up"),
        "scoring.scores[0].rounding",
        "not part of the template format",
    ),
    (
        _set(["sections", 0, "questions", 2, "show_if"], {"question": "automated", "equals": "Y"}),
        "sections[0].questions[2].show_if.equals",
        "'Y' is not a choice of 'automated'",
    ),
    (
        _set(
            ["sections", 0, "questions", 2, "show_if"], {"question": "automated", "includes": "yes"}
        ),
        "sections[0].questions[2].show_if.includes",
        "'automated' is not a multiple choice",
    ),
    (
        _set(["scoring", "result", "outcomes", 0, "when"], {"score": "impact", "share_gte": 400}),
        "scoring.result.outcomes[0].when.share_gte",
        "a share is a percentage from 0 to 100",
    ),
    (
        _set(["sections", 0, "questions", 1, "weights"], {"impact": -3}),
        "sections[0].questions[1].weights.impact",
        "give a number from 0 to 1e9",
    ),
    (
        _set(["sections", 0, "questions", 1, "weights"], {"impact": 1e308}),
        "sections[0].questions[1].weights.impact",
        "give a number from 0 to 1e9",
    ),
    (
        _no_default,
        "scoring.result.outcomes[2]",
        "the last outcome is the default",
    ),
    (
        _set(["sections", 0, "questions", 2, "show_if"], _nested_not(13)),
        "sections[0].questions[2].show_if" + ".not" * 12,
        "conditions nest at most 12 levels deep",
    ),
    (
        _set(["sections", 0, "questions", 2, "show_if"], _nested_not(30)),
        "template",
        "nests 36 levels deep; a template nests at most 24",
    ),
    (_many_questions, "sections", "a template has at most 2000 questions"),
]
IDS = [place + " " + said for _, place, said in FAULTS]


def _broken(change) -> dict:
    definition = copy.deepcopy({**TINY, "key": "broken"})
    change(definition)
    return definition


@pytest.mark.parametrize(("change", "place", "said"), FAULTS, ids=IDS)
def test_the_validator_names_the_place_of_each_fault(change, place, said):
    with pytest.raises(engine.TemplateError) as exc:
        engine.check_definition(_broken(change))
    assert any(e.startswith(f"{place}: {said}") for e in exc.value.errors), exc.value.errors


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "place", "said"), FAULTS, ids=IDS)
def test_the_import_page_shows_each_fault_with_its_place(client, risk_officer, change, place, said):
    client.force_login(risk_officer)
    upload = SimpleUploadedFile("t.json", json.dumps(_broken(change)).encode())
    response = client.post(reverse("assessments:template-import"), {"file": upload})
    assert response.status_code == 200
    assert f"{place}: " in response.content.decode()
    assert not AssessmentTemplate.objects.filter(key="broken").exists()


def _api(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "place", "said"), FAULTS, ids=IDS)
def test_the_api_answers_400_with_each_fault_and_its_place(risk_officer, change, place, said):
    response = _api(risk_officer).post(API_IMPORT, {"definition": _broken(change)}, format="json")
    assert response.status_code == 400, response.content
    assert any(e.startswith(f"{place}: {said}") for e in response.json()["definition"])
    upload = SimpleUploadedFile("t.json", json.dumps(_broken(change)).encode())
    response = _api(risk_officer).post(API_IMPORT, {"file": upload}, format="multipart")
    assert response.status_code == 400, response.content
    assert any(e.startswith(f"{place}: {said}") for e in response.json()["file"])


@pytest.mark.django_db
def test_a_deeply_nested_definition_sent_as_a_form_field_is_a_400(risk_officer):
    text = "[" * 5_000 + "]" * 5_000
    response = _api(risk_officer).post(API_IMPORT, {"definition": text}, format="multipart")
    assert response.status_code == 400
    assert "at most 64 levels deep" in json.dumps(response.json()["definition"])


@pytest.mark.parametrize("path", sorted(BUILTIN_DIR.glob("*.json")), ids=lambda p: p.name)
def test_the_built_in_templates_pass_the_strict_validator(path):
    engine.check_definition(json.loads(path.read_text(encoding="utf-8")))
