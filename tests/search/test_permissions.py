"""Search never returns what the person may not see: every source, every persona, the page
and the API, held to the owning app's own rule for reading one record."""

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from portal import textsearch
from portal.access import can
from search import selectors
from search.sources import SOURCES
from tests.search.conftest import WORD

pytestmark = pytest.mark.django_db

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]


def _records(world, kind):
    return [records[kind] for records in world.values()]


def _found_by_api(user) -> dict[str, set[str]]:
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/search/", {"q": WORD})
    assert response.status_code == 200, response.content
    return {g["kind"]: {h["reference"] for h in g["results"]} for g in response.json()["groups"]}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.kind)
def test_search_finds_exactly_what_the_rule_lets_the_person_read(personas, world, persona, source):
    user = personas[persona]
    allowed = {r.reference for r in _records(world, source.kind) if can(user, source.rule, r)}
    found = {r.reference for r in selectors.matches(source, user, textsearch.parse(WORD))} & {
        r.reference for r in _records(world, source.kind)
    }
    assert found == allowed
    assert _found_by_api(user).get(source.kind, set()) == allowed


def test_the_outsider_finds_nothing_of_another_units_on_the_page(client, personas, world):
    client.force_login(personas["outsider"])
    page = client.get(reverse("search:results"), {"q": WORD}).content.decode()
    for source in SOURCES:
        retail = world["RETAIL"][source.kind]
        corporate = world["CORP"][source.kind]
        assert corporate.reference in page, source.kind
        if source.rule != "registry.view_aimodel":  # the model catalogue is the firm's
            assert retail.reference not in page, source.kind
            assert "Zephyr retail" not in page or source.kind == "ai_model"


def test_the_outsider_cannot_find_a_record_by_its_reference(personas, world):
    outsider = personas["outsider"]
    for source in SOURCES:
        if source.rule == "registry.view_aimodel":
            continue
        retail = world["RETAIL"][source.kind]
        terms = textsearch.parse(retail.reference)
        assert not selectors.matches(source, outsider, terms).filter(pk=retail.pk).exists()


def test_a_use_case_granted_one_by_one_is_found_with_what_follows_it(personas, world):
    outsider = personas["outsider"]
    use_case = world["RETAIL"]["use_case"]
    assign_perm("registry.view_usecase", outsider, use_case)
    found = _found_by_api(outsider)
    assert use_case.reference in found["use_case"]
    # Its incidents and assessments follow the use case, as on their own pages.
    assert world["RETAIL"]["incident"].reference in found["incident"]
    assert world["RETAIL"]["assessment"].reference in found["assessment"]
    assert world["RETAIL"]["data_source"].reference not in found["data_source"]


def test_anonymous_is_sent_to_sign_in_and_the_api_answers_401(client, world):
    response = client.get(reverse("search:results"), {"q": WORD})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert APIClient().get("/api/v1/search/", {"q": WORD}).status_code == 401
