"""The API's schema and its docs page are for signed-in people and API tokens only."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def test_anonymous_gets_neither_the_schema_nor_the_docs(client):
    schema = client.get(reverse("api-schema"), {"format": "json"})
    assert schema.status_code == 401
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 302
    assert docs.url.startswith(reverse("login"))


def test_a_signed_in_person_and_a_token_read_the_schema(client, product_owner):
    token = Token.objects.create(user=product_owner)
    by_token = client.get(
        reverse("api-schema"), {"format": "json"}, HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert by_token.status_code == 200 and "/api/v1/use-cases/" in by_token.json()["paths"]
    client.force_login(product_owner)
    assert client.get(reverse("api-docs")).status_code == 200
