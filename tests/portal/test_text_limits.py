"""Free text past its limit gets a clear field error that keeps what was typed: on the pages,
in the API, in the CSV import and in assessment answers (issue 13, "bounded work")."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assessments import engine
from portal.limits import LONG_TEXT, keep_last
from registry.csvio import IMPORT_OPTIONAL, IMPORT_REQUIRED
from registry.models import UseCase


def test_keep_last_keeps_the_newest_lines():
    text = "\n".join(f"line {n}" for n in range(5000))
    kept = keep_last(text, 100)
    assert len(kept) <= 100 and kept.endswith("line 4999") and kept.startswith("line ")


TOO_LONG = "Purpose. " * (LONG_TEXT // 9 + 10)


@pytest.mark.django_db
def test_an_over_long_purpose_is_a_field_error_and_the_form_keeps_it(client, product_owner, retail):
    client.force_login(product_owner)
    response = client.post(
        reverse("registry:use-case-create"),
        {
            "title": "Contract review",
            "purpose": TOO_LONG,
            "business_unit": retail.pk,
            "owner": product_owner.pk,
            "people_affected": ["staff"],
            "decision_impact": "assists",
            "human_oversight": "before_action",
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert f"at most {LONG_TEXT} characters" in " ".join(form.errors["purpose"])
    assert TOO_LONG.strip() in response.content.decode()  # what was typed, kept
    assert response.context["form"]["title"].value() == "Contract review"
    assert not UseCase.objects.exists()


@pytest.mark.django_db
def test_an_over_long_text_in_the_api_is_a_400_naming_the_field(product_owner, retail):
    token, _ = Token.objects.get_or_create(user=product_owner)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api.post(
        "/api/v1/use-cases/",
        {
            "title": "Contract review",
            "purpose": TOO_LONG,
            "business_unit": retail.pk,
            "owner": product_owner.pk,
            "people_affected": ["staff"],
            "decision_impact": "assists",
            "human_oversight": "before_action",
        },
        format="json",
    )
    assert response.status_code == 400
    assert f"no more than {LONG_TEXT} characters" in response.json()["purpose"][0]


@pytest.mark.django_db
def test_an_over_long_purpose_in_a_csv_import_is_a_row_error(client, product_owner):
    client.force_login(product_owner)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=IMPORT_REQUIRED + IMPORT_OPTIONAL)
    writer.writeheader()
    writer.writerow(
        {
            "title": "Invoice reading",
            "purpose": TOO_LONG,
            "business_unit": "RETAIL",
            "owner": product_owner.username,
            "decision_impact": "Assists a person who decides",
            "human_oversight": "sampled",
            "people_affected": "staff",
        }
    )
    upload = SimpleUploadedFile("r.csv", out.getvalue().encode(), content_type="text/csv")
    response = client.post(reverse("registry:import-upload"), {"file": upload})
    report = client.get(response.url).context["report"]
    errors = " ".join(report.rows[0].errors)
    assert "purpose" in errors and str(LONG_TEXT) in errors


def question(**spec) -> engine.Question:
    spec = {"key": "q", "label": "Q", **spec}
    return engine.Question(key="q", type=spec["type"], label="Q", section="s", spec=spec)


def test_answers_in_json_are_bounded_with_a_message():
    with pytest.raises(ValueError, match="under 20000 characters"):
        engine.clean_answer(question(type="long_text", max_length=10**9), "x" * 20_001)
    risk = {"risk": "r" * 2_001, "likelihood": "remote", "severity": "minimal"}
    with pytest.raises(ValueError, match="keep the risk under 2000"):
        engine.clean_answer(question(type="risk_table"), [risk])
    with pytest.raises(ValueError, match="at most 200 risks"):
        engine.clean_answer(question(type="risk_table"), [{"risk": "r"}] * 201)
    with pytest.raises(ValueError, match="Evidence 1: keep the link under"):
        engine.clean_answer(question(type="evidence"), [{"url": "https://x/" + "a" * 2_000}])


def test_a_template_with_over_long_texts_or_limits_is_refused_naming_each():
    definition = {
        "key": "t",
        "version": 1,
        "kind": "other",
        "title": "T" * (LONG_TEXT + 1),
        "sections": [
            {
                "key": "s",
                "title": "S",
                "questions": [{"key": "q", "type": "long_text", "label": "Q", "max_length": 10**9}],
            }
        ],
    }
    with pytest.raises(engine.TemplateError) as caught:
        engine.check_definition(definition)
    errors = " ".join(caught.value.errors)
    assert "title: keep this under 10000 characters" in errors
    assert "sections[0].questions[0].max_length" in errors
