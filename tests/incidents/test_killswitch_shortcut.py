"""The kill-switch poll answered before Django (incidents.killswitch_api.PollShortcut, the WSGI
wrapper portal/wsgi.py installs): the same answer as Django's, or Django's own.

Each test calls a fresh ``PollShortcut`` around a fresh Django WSGI handler, as gunicorn calls
portal.wsgi.application, and counts the requests that entered Django (its request_started
signal) to tell which of the two answered."""

import hashlib
import logging

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from incidents.killswitch_api import PollShortcut
from incidents.services.killswitch import (
    PollBook,
    kill_switch_token_create,
    kill_switch_token_revoke,
)
from registry.services import use_case_set_kill_switch
from tests.factories import ProductionUseCaseFactory
from tests.incidents.test_killswitch import FakeClock

pytestmark = pytest.mark.django_db

URL = "/api/v1/kill-switch/"


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status_code = int(status.split()[0])
        self.status = status
        self.headers = headers
        self.body = body

    def __getitem__(self, name: str) -> str:
        return next(v for n, v in self.headers if n.lower() == name.lower())

    def comparable(self) -> dict[str, str]:
        """The headers, less the request id (new for every request)."""
        return {n.lower(): v for n, v in self.headers if n.lower() != "x-request-id"}


class Server:
    """PollShortcut(Django), called as a WSGI server calls it."""

    def __init__(self) -> None:
        self.app = PollShortcut(WSGIHandler())
        self.entered_django = 0

    def get(self, path: str = URL, raw: str | None = None, etag: str | None = None, **extra):
        if raw is not None:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
        if etag is not None:
            extra["HTTP_IF_NONE_MATCH"] = etag
        environ = RequestFactory().get(path, **extra).environ
        return self.call(environ)

    def call(self, environ) -> Answer:
        seen: dict = {}

        def start_response(status, headers, exc_info=None):
            seen.update(status=status, headers=list(headers))

        def entered(**kwargs):
            self.entered_django += 1

        request_started.connect(entered)
        try:
            chunks = self.app(environ, start_response)
            body = b"".join(chunks)
            if hasattr(chunks, "close"):
                chunks.close()  # as a WSGI server does: Django's request_finished
        finally:
            request_started.disconnect(entered)
        return Answer(seen["status"], seen["headers"], body)


@pytest.fixture
def server():
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield Server()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def token(use_case, product_owner):
    return kill_switch_token_create(actor=product_owner, use_case=use_case, name="Loan scorer")


def test_a_poll_is_answered_before_django_exactly_as_django_answers_it(server, token):
    """The first 200 and the first 304 go through Django; from then on the shortcut answers
    them with the same status, body, ETag and headers (security headers, CSP...)."""
    _, raw = token
    by_django = server.get(raw=raw)
    assert by_django.status_code == 200 and server.entered_django == 1
    assert by_django["X-Content-Type-Options"] == "nosniff"  # the middleware's own
    assert by_django["Content-Security-Policy"]
    assert by_django["X-Frame-Options"] == "DENY"
    etag = by_django["ETag"]
    not_modified_by_django = server.get(raw=raw, etag=etag)
    assert not_modified_by_django.status_code == 304 and server.entered_django == 2

    shortcut = server.get(raw=raw)
    not_modified = server.get(raw=raw, etag=etag)
    assert server.entered_django == 2  # neither entered Django
    assert (shortcut.status, shortcut.body) == (by_django.status, by_django.body)
    assert shortcut.comparable() == by_django.comparable()
    assert (not_modified.status, not_modified.body) == ("304 Not Modified", b"")
    assert not_modified.comparable() == not_modified_by_django.comparable()
    assert shortcut["X-Request-ID"] != by_django["X-Request-ID"]  # made for each request
    # A weak form of the tag matches as it does in Django (RFC 9110); another does not.
    assert server.get(raw=raw, etag=f"W/{etag}").status_code == 304
    assert server.get(raw=raw, etag='"other"').status_code == 200
    assert server.entered_django == 2


def test_the_shortcut_logs_and_counts_the_poll_as_django_does(server, token, caplog):
    _, raw = token
    caplog.set_level(logging.INFO, logger="steward.access")
    server.get(raw=raw, HTTP_X_REQUEST_ID="proxy-1")
    server.get(raw=raw, HTTP_X_REQUEST_ID="proxy-2")
    assert server.entered_django == 1
    by_django, shortcut = (r for r in caplog.records if r.name == "steward.access")
    fields = ("method", "path", "status", "user", "view")
    assert [getattr(shortcut, f) for f in fields] == [getattr(by_django, f) for f in fields]
    assert (by_django.request_id, shortcut.request_id) == ("proxy-1", "proxy-2")
    assert shortcut.getMessage().startswith(f"GET {URL} 200 ")


def test_anything_but_a_known_live_token_is_answered_by_django(server, token, product_owner):
    record, raw = token
    server.get(raw=raw)  # the headers are known from here on
    for answer in (
        server.get(),  # no token
        server.get(raw=raw + "x"),
        server.get(raw="stw_not-a-kill-switch-token"),
        server.get(HTTP_AUTHORIZATION="Bearer"),
        server.get(HTTP_AUTHORIZATION=f"Token {raw}"),
    ):
        assert answer.status_code == 401
        assert answer["WWW-Authenticate"].startswith("Bearer")
    assert server.entered_django == 6
    # Another method, or a query string: Django's answers too.
    environ = RequestFactory().post(URL, HTTP_AUTHORIZATION=f"Bearer {raw}").environ
    assert server.call(environ).status_code == 405
    assert server.get(URL + "?x=1", raw=raw).status_code == 200
    assert server.entered_django == 8
    # Revoked in this process: refused at once (its copy is emptied), by Django.
    kill_switch_token_revoke(actor=product_owner, token=record)
    assert server.get(raw=raw).status_code == 401
    assert server.entered_django == 9


def test_a_switch_off_is_answered_at_once_in_the_process_that_made_it(
    server, token, use_case, product_owner
):
    _, raw = token
    first = server.get(raw=raw)
    assert server.get(raw=raw, etag=first["ETag"]).status_code == 304
    use_case_set_kill_switch(actor=product_owner, use_case=use_case, engaged=True, reason="Drift")
    after = server.get(raw=raw, etag=first["ETag"])
    assert after.status_code == 200 and b'"enabled":false' in after.body
    again = server.get(raw=raw, etag=after["ETag"])
    assert again.status_code == 304


def test_a_host_django_refuses_is_never_answered_before_it(server, token, settings):
    """The headers are learnt per scheme and host: a host outside ALLOWED_HOSTS gets Django's
    400, however many polls the shortcut answered for an allowed one."""
    _, raw = token
    server.get(raw=raw)
    assert server.get(raw=raw).status_code == 200
    assert server.entered_django == 1
    assert server.get(raw=raw, HTTP_HOST="evil.example").status_code == 400
    assert server.get(raw=raw, HTTP_HOST="evil.example").status_code == 400
    assert server.entered_django == 3


def test_over_https_the_answer_carries_hsts_as_django_gives_it(token, settings):
    """SecurityMiddleware adds HSTS to HTTPS answers and redirects plain HTTP: the shortcut
    repeats the first and never answers what Django redirects."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        server = Server()  # its middleware reads the settings above
        _, raw = token
        by_django = server.get(raw=raw, secure=True)
        shortcut = server.get(raw=raw, secure=True)
        assert server.entered_django == 1
        assert shortcut["Strict-Transport-Security"] == by_django["Strict-Transport-Security"]
        assert shortcut.comparable() == by_django.comparable()
        assert server.get(raw=raw).status_code == 301
        assert server.get(raw=raw).status_code == 301
        assert server.entered_django == 3
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_another_process_stops_answering_before_django_once_its_copy_is_old(
    product_owner, retail, settings
):
    """The shortcut answers only from a copy younger than KILL_SWITCH_CACHE_SECONDS: after
    that, Django's request reads it again, so a switch-off or a revocation made in another
    process is answered within that time, never later."""
    settings.KILL_SWITCH_CACHE_SECONDS = 2.0
    use_case = ProductionUseCaseFactory(business_unit=retail)
    record, raw = kill_switch_token_create(actor=product_owner, use_case=use_case, name="S")
    digest = hashlib.sha256(raw.encode()).hexdigest()
    clock = FakeClock()
    other = PollBook(clock=clock)  # no invalidation reaches it
    assert other.known(digest) is None  # never read: Django's request reads it
    assert other.state(digest).enabled is True
    assert other.known(digest).enabled is True
    use_case_set_kill_switch(actor=product_owner, use_case=use_case, engaged=True, reason="Drift")
    clock.now += 1.9
    assert other.known(digest).enabled is True  # within the promised time: allowed
    clock.now += 0.1
    assert other.known(digest) is None  # too old to answer without reading
    assert other.state(digest).enabled is False
    assert other.known(digest).enabled is False
    kill_switch_token_revoke(actor=product_owner, token=record)
    clock.now += 2.0
    assert other.known(digest) is None
    assert other.state(digest) is None
    assert other.known(digest) is None
    settings.KILL_SWITCH_CACHE_SECONDS = 0  # the copy off: nothing is answered from it
    assert other.known(digest) is None


urlpatterns: list = []  # a URL configuration without the API (the test below)


def test_without_the_poll_in_the_urls_every_request_is_djangos(server, token, settings):
    settings.ROOT_URLCONF = __name__
    _, raw = token
    # Not found (this bare URL configuration cannot even render the portal's 404 page).
    assert server.get(raw=raw).status_code not in (200, 304)
    assert server.get(raw=raw).status_code not in (200, 304)
    assert server.entered_django == 2
