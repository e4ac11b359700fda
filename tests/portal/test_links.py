"""portal.links.link: the link to a record's page, reversed once per kind of page, is the one
``reverse`` gives, for every page of the URL configuration with one key in its path."""

import pytest
from django.test import override_settings
from django.urls import NoReverseMatch, clear_url_caches, reverse, set_script_prefix

from portal.links import link
from tests.portal.test_bad_ids import named_routes

KEYS = [7, 1234567, "UC-00042", "INC-0001", "a.b_c"]


def pages_with_one_key():
    """Every named URL with exactly one path parameter, walked from the URL configuration (not
    the API's ``.json`` suffixes, which name no record)."""
    seen = set()
    for name, params in named_routes():
        if len(params) == 1 and params != ["format"] and name not in seen:
            seen.add(name)
            yield name


def test_every_page_with_one_key_links_as_reverse_does():
    checked = 0
    for name in pages_with_one_key():
        for key in KEYS:
            try:
                expected = reverse(name, args=[key])
            except NoReverseMatch:
                # The page's pattern refuses such a key (an <int:> and a reference): so must
                # the link, on the first such key (reversed as before) and every one after.
                with pytest.raises(NoReverseMatch):
                    link(name, key)
                continue
            assert link(name, key) == expected, (name, key)
            checked += 1
    assert checked > 50  # the walk found the pages (assessments, incidents, use cases, ...)


def test_a_key_that_needs_quoting_is_reversed_and_quoted():
    key = "INC 1ä"
    assert link("incidents:incident-detail", key) == reverse(
        "incidents:incident-detail", args=[key]
    )
    assert "%20" in link("incidents:incident-detail", key)


def test_the_link_follows_the_script_prefix_of_the_request():
    assert link("assessments:detail", 5) == "/assessments/5/"
    try:
        set_script_prefix("/steward/")
        assert link("assessments:detail", 5) == "/steward/assessments/5/"
    finally:
        set_script_prefix("/")
    assert link("assessments:detail", 6) == "/assessments/6/"


@override_settings(ROOT_URLCONF="tests.portal.links_urls")
def test_another_url_configuration_has_its_own_links():
    clear_url_caches()
    try:
        assert link("assessments:detail", 5) == "/elsewhere/assessments/5/"
    finally:
        clear_url_caches()
