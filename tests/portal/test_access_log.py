"""The access log never keeps a secret that a URL carries (issue 20, logs)."""

import logging

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def access_lines():
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(level=logging.INFO)
    logger = logging.getLogger("steward.access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.parametrize(
    "url",
    [
        "/people/join/SECRET-invitation-token/",
        "/accounts/reset/MQ/SECRET-reset-token/",
        "/healthz?token=SECRET-in-query&page=2",
    ],
)
def test_tokens_in_the_path_or_query_are_not_logged(client, access_lines, url):
    client.get(url)
    assert access_lines, "no access line"
    line = access_lines[-1]
    assert "SECRET" not in line.getMessage()
    assert "SECRET" not in line.path
    assert "[redacted]" in line.getMessage()


def test_an_ordinary_path_is_logged_as_it_is(client, access_lines):
    client.get("/healthz?verbose=1")
    assert access_lines[-1].getMessage().startswith("GET /healthz?verbose=1 200")


def test_a_newline_in_the_path_does_not_split_the_line(client, access_lines):
    client.get("/people/join/a%0AGET%20/forged/")
    assert "\n" not in access_lines[-1].getMessage()
