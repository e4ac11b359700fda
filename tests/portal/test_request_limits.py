"""Request bodies the API cannot be made to choke on (issue 13, finding 5): JSON nested past
API_JSON_MAX_DEPTH, a template import whose body is a bare ``null``, ``true`` or ``1``, and a
body past DATA_UPLOAD_MAX_MEMORY_SIZE each answer 400 with a message, never 500."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monitoring.services.sources import source_create
from portal.parsers import depth, too_deep_message
from tests.monitoring.ui_helpers import retail_deployment

pytestmark = pytest.mark.django_db

NESTED = "[" * 1000 + "]" * 1000
TEMPLATE_IMPORT = "/api/v1/assessment-templates/import/"


def token_client(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def push_client(retail, product_owner):
    deployment = retail_deployment(retail, product_owner)
    _, raw = source_create(actor=product_owner, deployment=deployment, name="App", kind="push")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_depth_counts_arrays_and_objects_without_recursion():
    assert depth(1) == 0 and depth([]) == 1 and depth({"a": [1, {"b": []}]}) == 4
    deep: list = []
    for _ in range(100_000):  # far past Python's recursion limit
        deep = [deep]
    assert depth(deep) == 100_001


@pytest.mark.parametrize(
    "path", ["/api/v1/use-cases/", TEMPLATE_IMPORT, "/api/v1/incidents/", "/api/v1/rules/"]
)
def test_deeply_nested_json_is_a_400_saying_why(admin_user, path):
    response = token_client(admin_user).post(path, NESTED, content_type="application/json")
    assert response.status_code == 400
    assert "at most 64 levels deep" in response.json()["detail"]


def test_the_push_api_refuses_deeply_nested_json_with_400(push_client):
    response = push_client.post("/api/v1/push/samples/", NESTED, content_type="application/json")
    assert response.status_code == 400
    assert "at most 64 levels deep" in response.json()["detail"]


def test_nesting_within_the_limit_is_read_as_before(push_client, settings):
    settings.API_JSON_MAX_DEPTH = 3
    body = json.dumps({"samples": [{"labels": {"a": [1]}}]})  # depth 5
    response = push_client.post("/api/v1/push/samples/", body, content_type="application/json")
    # The push API checks its rows as it reads them, and names the row at fault.
    assert response.status_code == 400
    assert response.json() == {"samples": {"0": {"sample": [too_deep_message(3)]}}}
    body = json.dumps({"samples": [], "labels": {"a": [[1]]}})  # depth 4 outside the rows
    response = push_client.post("/api/v1/push/samples/", body, content_type="application/json")
    assert response.status_code == 400 and "at most 3 levels" in response.json()["detail"]
    body = json.dumps({"samples": []})
    response = push_client.post("/api/v1/push/samples/", body, content_type="application/json")
    assert response.status_code != 400 or "levels" not in str(response.json())


@pytest.mark.parametrize("body", ["null", "true", "1", '"text"', "[]"])
def test_a_template_import_of_a_bare_value_is_a_400_naming_what_to_send(admin_user, body):
    response = token_client(admin_user).post(TEMPLATE_IMPORT, body, content_type="application/json")
    assert response.status_code == 400
    assert "definition" in json.dumps(response.json())


def test_a_deeply_nested_template_file_is_a_field_error(admin_user):
    upload = SimpleUploadedFile("t.json", NESTED.encode(), content_type="application/json")
    response = token_client(admin_user).post(TEMPLATE_IMPORT, {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "at most 64 levels deep" in json.dumps(response.json()["file"])


def test_a_body_past_the_upload_limit_is_a_400(admin_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000})
    response = token_client(admin_user).post(
        "/api/v1/use-cases/", body, content_type="application/json"
    )
    assert response.status_code == 400


def test_a_nul_character_anywhere_in_a_json_body_is_a_400(admin_user):
    api = APIClient()
    api.force_authenticate(admin_user)
    answer = api.patch(
        f"/api/v1/people/{admin_user.pk}/",
        data='{"roles": ["admin\\u0000"], "reason": "x"}',
        content_type="application/json",
    )
    assert answer.status_code == 400 and "NUL" in answer.json()["detail"]
