"""The search page and API: what is found, how it is shown, and bad input never a 500."""

import importlib

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from portal import textsearch
from search import selectors
from search.sources import SOURCES
from tests.factories import UseCaseFactory
from tests.search.conftest import WORD

pytestmark = pytest.mark.django_db
URL = "/search/"


@pytest.fixture
def signed_in(client, risk_officer):
    client.force_login(risk_officer)
    return client


def test_every_kind_is_listed_with_a_link_to_each_record(signed_in, world):
    page = signed_in.get(URL, {"q": WORD}).content.decode()
    for source in SOURCES:
        record = world["RETAIL"][source.kind]
        assert f'id="kind-{source.kind}"' in page
        assert f'href="{record.get_absolute_url()}"' in page


def test_a_word_typed_in_part_finds_the_words_it_starts(signed_in, world):
    found = signed_in.get("/api/v1/search/", {"q": "zeph scor"}).json()
    by_kind = {g["kind"]: [h["reference"] for h in g["results"]] for g in found["groups"]}
    assert by_kind["use_case"] == [world["RETAIL"]["use_case"].reference]
    # The assessment is found through its use case's words.
    assert by_kind["assessment"] == [world["RETAIL"]["assessment"].reference]
    assert by_kind["incident"] == []


def test_part_of_a_reference_finds_the_record_and_a_full_one_comes_first(signed_in, retail):
    wanted = UseCaseFactory(business_unit=retail, title="Anything")
    UseCaseFactory.create_batch(3, business_unit=retail, title="Other")
    digits = wanted.reference.split("-")[1]
    found = signed_in.get("/api/v1/search/", {"q": digits, "kind": "use_case"}).json()
    assert wanted.reference in [h["reference"] for h in found["groups"][0]["results"]]
    found = signed_in.get("/api/v1/search/", {"q": wanted.reference.lower()}).json()
    assert found["groups"][0]["results"][0]["reference"] == wanted.reference


def test_what_matched_is_marked_and_everything_else_escaped(signed_in, retail):
    UseCaseFactory(
        business_unit=retail,
        title="<script>alert(1)</script> Zephyr & co",
        purpose="Zephyr <b>bold</b> " + "filler words " * 30 + "zephyrs again",
    )
    page = signed_in.get(URL, {"q": "zephyr <b>"}).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>Zephyr</mark> &amp; co" in page
    assert "<b>bold</b>" not in page


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "Type a word to search for."),
        ("   ", "Type a word to search for."),
        ("a", "Type at least 2 letters or digits"),
        ("!!", "Type at least 2 letters or digits"),
        ("\x00\x00", "Type a word to search for."),
    ],
)
def test_an_empty_or_too_short_query_is_answered_with_what_to_do(signed_in, q, message):
    response = signed_in.get(URL, {"q": q})
    assert response.status_code == 200
    assert message in response.content.decode()
    api = signed_in.get("/api/v1/search/", {"q": q})
    assert api.status_code == 400
    assert message in api.json()["q"][0]


@pytest.mark.parametrize(
    "q",
    [
        "zephyr\x00retail",
        "zephyr " * 2000,  # 14,000 characters
        "Zéphyr ünïcode 日本語 🙂",
        "' OR 1=1 --",
        "zephyr:* & !retail | (",
        "%_\\",
        "\ud800" if False else "zephyr\u200b",
    ],
)
def test_odd_input_never_fails(signed_in, world, q):
    assert signed_in.get(URL, {"q": q}).status_code == 200
    assert signed_in.get("/api/v1/search/", {"q": q}).status_code == 200


def test_a_long_query_is_cut_and_the_person_told(signed_in, world):
    response = signed_in.get(URL, {"q": "zephyr " * 2000})
    assert "Only the first 200 characters were searched for." in response.content.decode()
    assert signed_in.get("/api/v1/search/", {"q": "zephyr " * 2000}).json()["shortened"]


@pytest.mark.parametrize(
    ("params", "field"), [({"kind": "users"}, "kind"), ({"page": "x"}, "page")]
)
def test_a_bad_kind_or_page_is_refused_with_the_field_named(signed_in, params, field):
    assert signed_in.get(URL, {"q": WORD, **params}).status_code == 400
    response = signed_in.get("/api/v1/search/", {"q": WORD, **params})
    assert response.status_code == 400
    assert field in response.json()


def test_more_hits_than_shown_link_to_that_kinds_own_pages(signed_in, retail):
    UseCaseFactory.create_batch(selectors.PER_KIND + 1, business_unit=retail, title="Quokka")
    page = signed_in.get(URL, {"q": "quokka"}).content.decode()
    assert page.count("<mark>Quokka</mark></a>") == selectors.PER_KIND
    assert "?q=quokka&amp;kind=use_case" in page
    one_kind = signed_in.get(URL, {"q": "quokka", "kind": "use_case"}).content.decode()
    assert one_kind.count("<mark>Quokka</mark></a>") == selectors.PER_KIND + 1
    assert "Next page" not in one_kind


def test_the_page_costs_one_query_per_kind(
    client, risk_officer, world, django_assert_max_num_queries
):
    client.force_login(risk_officer)
    client.get(URL, {"q": WORD})  # the session and the person are read once warmed
    # session, person, roles, units, then one query per kind (and nothing per hit).
    with django_assert_max_num_queries(4 + len(SOURCES) + 2):
        assert client.get(URL, {"q": WORD}).status_code == 200


def test_the_api_costs_one_query_per_kind(risk_officer, world, django_assert_max_num_queries):
    client = APIClient()
    client.force_authenticate(risk_officer)
    with django_assert_max_num_queries(2 + len(SOURCES)):
        assert client.get("/api/v1/search/", {"q": WORD}).status_code == 200


def test_the_nav_box_is_labelled_and_submits_to_the_search_page(signed_in):
    page = signed_in.get(reverse("dashboard")).content.decode()
    assert '<label for="nav-search"' in page
    assert f'action="{URL}"' in page


def test_the_migration_indexes_the_fields_the_sources_search():
    migration = importlib.import_module("search.migrations.0001_search_indexes")
    indexed = {model: fields for (_app, model), fields in migration.FIELDS.items()}
    for source in SOURCES:
        assert indexed[_model_name(source)] == source.fields, source.kind


def _model_name(source) -> str:
    return {
        "use_case": "UseCase",
        "ai_model": "AIModel",
        "assessment": "Assessment",
        "incident": "Incident",
        "data_source": "DataSource",
    }[source.kind]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the indexes are PostgreSQL's")
@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.kind)
def test_postgresql_answers_each_kind_from_the_search_indexes(auditor, world, source):
    qs = selectors.matches(source, auditor, textsearch.parse("zeph"))
    with connection.cursor() as cursor:
        # Tiny tables would be scanned otherwise, whole or along another index (which plan
        # wins then depends on the statistics earlier tests left): only a bitmap scan of an
        # index with a condition is left, so the plan shows whether the search index serves.
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_indexscan = off")
        try:
            plan = qs.explain()
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_indexscan")
    if source.fields:
        assert f"search_{_model_name(source).lower()}_doc" in plan, plan
    if source.through_use_case:
        assert "search_usecase_doc" in plan, plan
