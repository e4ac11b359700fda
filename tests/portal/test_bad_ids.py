"""Ids that are not ids answer 404 (in a path) or 400 with a field error (in a query), never
500 (issue 13, finding 5): ``¹`` passes ``str.isdigit()`` but not ``int()``, and a number
past a bigint overflowed the query, and a NUL character is refused by PostgreSQL in any query
(a reference looked up with one was a 500). The URLs and parameters are read from the URL registry
and the OpenAPI schema, so a new route or filter cannot escape."""

import pytest
from django.urls import NoReverseMatch, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from portal.params import MAX_ID, as_id, id_or_reference
from tests.assessments.builders import draft
from tests.factories import UseCaseFactory

pytestmark = pytest.mark.django_db

SUPERSCRIPT_ONE = "¹"
HUGE = "99999999999999999999"
NUL = "UC\x00-0001"
BAD_IDS = [SUPERSCRIPT_ONE, HUGE, NUL]


def test_an_id_is_ascii_digits_within_a_bigint():
    assert as_id("42") == 42 and as_id(" 42 ") == 42 and as_id(MAX_ID) == MAX_ID
    for bad in [SUPERSCRIPT_ONE, HUGE, str(MAX_ID + 1), "0", "-1", "4.2", "", "UC-0001", "٣"]:
        assert as_id(bad) is None, bad
    assert id_or_reference("¹") == {"reference__iexact": "¹"}


def named_routes(resolver=None, namespace: str = ""):
    """(name, parameter names) of every named URL pattern, namespaces included."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from named_routes(pattern, inner)
        elif pattern.name:
            yield f"{namespace}{pattern.name}", list(pattern.pattern.regex.groupindex)


def routes_with_bad_ids():
    """Every URL whose path parameters all accept ``bad`` (an <int:> refuses ``¹``)."""
    seen = set()
    for name, params in named_routes():
        if not params:
            continue
        for bad in BAD_IDS:
            try:
                url = reverse(name, kwargs=dict.fromkeys(params, bad))
            except NoReverseMatch:
                continue
            seen.add(url)
    return sorted(seen)


@pytest.fixture
def api(admin_user):
    token, _ = Token.objects.get_or_create(user=admin_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_every_route_answers_bad_ids_in_its_path_without_a_server_error(client, admin_user, api):
    urls = routes_with_bad_ids()
    assert any("/api/v1/budgets/" in u for u in urls)  # the route the fuzzer broke first
    client.force_login(admin_user)
    failures = []
    for url in urls:
        for who in (client, api) if url.startswith("/api/") else (client,):
            for method in ("get", "post"):
                response = getattr(who, method)(url)
                if response.status_code >= 500:
                    failures.append(f"{method.upper()} {url}: {response.status_code}")
    assert not failures, "\n".join(failures)


def query_parameters():
    """(path, parameter) of every query parameter of every GET operation in the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if not get or "{" in path:
            continue
        for param in get.get("parameters", []):
            if param["in"] == "query" and param["name"] != "format":
                yield path, param["name"]


def test_every_query_parameter_answers_a_bad_id_or_an_empty_value_with_at_most_400(api):
    params = list(query_parameters())
    assert ("/api/v1/metric-samples/", "deployment") in params
    failures = []
    for path, name in params:
        for value in [*BAD_IDS, ""]:
            response = api.get(path, {name: value})
            if response.status_code >= 500:
                failures.append(f"{path}?{name}={value}: {response.status_code}")
            elif response.status_code == 400:
                assert response.json(), f"{path}?{name}={value}: 400 without a message"
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "path", ["/api/v1/metric-samples/", "/api/v1/metric-sources/", "/api/v1/flags/"]
)
def test_a_huge_deployment_id_is_a_400_naming_the_parameter(api, path):
    response = api.get(path, {"deployment": HUGE})
    assert response.status_code == 400
    assert "deployment" in response.json()


def test_a_risk_row_numbered_with_a_superscript_is_ignored_not_a_server_error(
    client, product_owner, retail
):
    assessment = draft(UseCaseFactory(business_unit=retail, owner=product_owner), product_owner)
    client.force_login(product_owner)
    response = client.post(
        reverse("assessments:section", args=[assessment.pk, "risks"]),
        {
            "revision": assessment.revision,
            "q-risks-0-risk": "Wrong block",
            "q-risks-0-likelihood": "probable",
            "q-risks-0-severity": "significant",
            f"q-risks-{SUPERSCRIPT_ONE}-risk": "Ignored",
            f"q-risks-{HUGE}-risk": "Ignored too",
        },
    )
    assert response.status_code < 500
    assessment.refresh_from_db()
    assert [r["risk"] for r in assessment.answers["risks"]] == ["Wrong block"]
