"""The kill switch as deployed systems poll it: tokens, the answer, ETags, cost, and speed."""

import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from incidents.models import Delivery, KillSwitchToken
from incidents.services.killswitch import (
    PollBook,
    PollRecorder,
    kill_switch_token_create,
    kill_switch_token_revoke,
    poll_state_for_raw,
)
from incidents.services.webhooks import webhook_endpoint_create
from registry.models import Lifecycle, UseCase
from registry.services import use_case_set_kill_switch, use_case_transition
from tests.factories import ProductionUseCaseFactory
from tests.readiness import wait_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/kill-switch/"


@pytest.fixture
def use_case(retail):
    return ProductionUseCaseFactory(business_unit=retail)


@pytest.fixture
def token(use_case, product_owner):
    return kill_switch_token_create(actor=product_owner, use_case=use_case, name="Loan scorer")


def _poll(client, raw, etag=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    if etag:
        headers["HTTP_IF_NONE_MATCH"] = etag
    return client.get(URL, **headers)


# Tokens --------------------------------------------------------------------------------------
def test_token_is_shown_once_and_stored_as_a_hash(token):
    record, raw = token
    assert raw.startswith("sks_") and len(raw) > 40
    record.refresh_from_db()
    assert record.token_prefix == raw[:8]
    assert record.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert not KillSwitchToken.objects.filter(token_hash=raw).exists()


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("admin", True),
        ("product_owner", True),
        ("risk_officer", True),
        ("dpo", False),
        ("leadership", False),
        ("auditor", False),
        ("outsider", False),
    ],
)
def test_editors_of_the_use_case_manage_its_tokens(personas, use_case, persona, allowed):
    """Editors of the use case create and revoke tokens; auditors and others nothing."""
    actor = personas[persona]
    existing, _ = kill_switch_token_create(
        actor=personas["product_owner"], use_case=use_case, name="Existing"
    )
    if allowed:
        kill_switch_token_create(actor=actor, use_case=use_case, name="Scorer")
        assert kill_switch_token_revoke(actor=actor, token=existing).revoked_at is not None
    else:
        with pytest.raises(PermissionDenied):
            kill_switch_token_create(actor=actor, use_case=use_case, name="Scorer")
        with pytest.raises(PermissionDenied):
            kill_switch_token_revoke(actor=actor, token=existing)


# The answer ------------------------------------------------------------------------------------
def test_poll_answers_its_use_case_state_with_an_etag(client, token, use_case, settings):
    settings.KILL_SWITCH_POLL_SECONDS = 30
    response = _poll(client, token[1])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-cache"
    assert response["ETag"].startswith('"') and not response["ETag"].startswith("W/")
    body = response.json()
    assert body == {
        "use_case": use_case.reference,
        "enabled": True,
        "kill_switch_engaged": False,
        "lifecycle": "production",
        "changed_at": body["changed_at"],
        "poll_seconds": 30,
    }
    # Never switched: the state has held since the use case was created.
    assert body["changed_at"] == use_case.created_at.isoformat()


def test_poll_with_the_current_etag_answers_304_without_a_body(client, token):
    first = _poll(client, token[1])
    again = _poll(client, token[1], etag=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == "no-cache"
    # A weak form of the same tag and a list that holds it match too (RFC 9110).
    assert _poll(client, token[1], etag=f'"x", W/{first["ETag"]}').status_code == 304
    assert _poll(client, token[1], etag='"something-else"').status_code == 200


def test_switching_off_changes_the_answer_and_its_etag(client, token, use_case, product_owner):
    before = _poll(client, token[1])
    use_case_set_kill_switch(actor=product_owner, use_case=use_case, engaged=True, reason="Drift")
    after = _poll(client, token[1], etag=before["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]
    body = after.json()
    assert (body["enabled"], body["kill_switch_engaged"]) == (False, True)
    use_case.refresh_from_db()
    assert body["changed_at"] == use_case.kill_switch_changed_at.isoformat()
    assert use_case.kill_switch_changed_at > use_case.created_at


@pytest.mark.parametrize(
    ("lifecycle", "enabled"),
    [
        (Lifecycle.PROPOSED, False),
        (Lifecycle.PILOT, True),
        (Lifecycle.PRODUCTION, True),
        (Lifecycle.SUSPENDED, False),
        (Lifecycle.RETIRED, False),
    ],
)
def test_ai_is_enabled_only_when_released_and_live(client, token, use_case, lifecycle, enabled):
    UseCase.objects.filter(pk=use_case.pk).update(lifecycle=lifecycle)
    assert _poll(client, token[1]).json()["enabled"] is enabled


def test_each_token_reads_its_own_use_case(client, product_owner, retail):
    first, second = ProductionUseCaseFactory.create_batch(2, business_unit=retail)
    _, raw_first = kill_switch_token_create(actor=product_owner, use_case=first, name="A")
    _, raw_second = kill_switch_token_create(actor=product_owner, use_case=second, name="B")
    assert _poll(client, raw_first).json()["use_case"] == first.reference
    assert _poll(client, raw_second).json()["use_case"] == second.reference


# Who may poll ----------------------------------------------------------------------------------
def test_no_token_a_wrong_one_or_a_revoked_one_answers_401(client, token, product_owner):
    record, raw = token
    assert client.get(URL).status_code == 401
    assert client.get(URL)["WWW-Authenticate"].startswith("Bearer")
    assert _poll(client, raw + "x").status_code == 401
    assert _poll(client, "stw_not-a-kill-switch-token").status_code == 401
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer").status_code == 401
    kill_switch_token_revoke(actor=product_owner, token=record)
    assert _poll(client, raw).status_code == 401


def test_a_signed_in_person_cannot_poll(client, product_owner, token):
    """Only a kill-switch token is accepted here: not a session, not a personal API token."""
    client.force_login(product_owner)
    assert client.get(URL).status_code == 401
    api_token = Token.objects.create(user=product_owner)
    assert client.get(URL, HTTP_AUTHORIZATION=f"Token {api_token.key}").status_code == 401


# Cost ------------------------------------------------------------------------------------------
def test_a_poll_costs_no_query_once_the_copy_is_read(
    client, token, settings, django_assert_max_num_queries, django_assert_num_queries
):
    settings.KILL_SWITCH_CACHE_SECONDS = 2.0
    record, raw = token
    with django_assert_max_num_queries(4):  # reading the copy (3); last_polled_at
        first = _poll(client, raw)
    with django_assert_num_queries(0):  # answered from the copy; polled a moment ago
        _poll(client, raw, etag=first["ETag"])
    with django_assert_num_queries(0):
        _poll(client, raw)


def test_last_polled_at_is_written_at_most_every_ten_seconds(client, token, settings):
    settings.KILL_SWITCH_POLL_FLUSH_SECONDS = 0  # every stale one at once (batching: below)
    record, raw = token
    assert record.last_polled_at is None
    _poll(client, raw)
    record.refresh_from_db()
    first = record.last_polled_at
    assert first is not None
    _poll(client, raw)
    record.refresh_from_db()
    assert record.last_polled_at == first  # within 10 s: not written again
    recorder, state = PollRecorder(), poll_state_for_raw(raw)
    recorder.heard(state, first + timedelta(seconds=9))
    record.refresh_from_db()
    assert record.last_polled_at == first
    recorder.heard(state, first + timedelta(seconds=11))
    record.refresh_from_db()
    assert record.last_polled_at == first + timedelta(seconds=11)


def test_poll_times_are_written_in_one_batch_per_process(
    product_owner, retail, settings, django_assert_num_queries
):
    """Many systems polling one process: the first stale poll writes, the rest wait for the
    next flush, which writes them all in one statement."""
    settings.KILL_SWITCH_POLL_FLUSH_SECONDS = 3600
    use_case = ProductionUseCaseFactory(business_unit=retail)
    made = [
        kill_switch_token_create(actor=product_owner, use_case=use_case, name=f"System {i}")
        for i in range(5)
    ]
    recorder = PollRecorder()
    now = timezone.now()
    states = [poll_state_for_raw(raw) for _, raw in made]
    with django_assert_num_queries(1):  # the first writes at once
        for state in states:
            recorder.heard(state, now)
    polled = dict(
        KillSwitchToken.objects.filter(use_case=use_case).values_list("pk", "last_polled_at")
    )
    assert polled[made[0][0].pk] == now
    assert [polled[token.pk] for token, _ in made[1:]] == [None] * 4
    with django_assert_num_queries(1):  # the other four, in one UPDATE
        recorder.flush(now)
    assert set(
        KillSwitchToken.objects.filter(use_case=use_case).values_list("last_polled_at", flat=True)
    ) == {now}
    settings.KILL_SWITCH_CACHE_SECONDS = 0  # states as they are now in the database
    fresh = [poll_state_for_raw(raw) for _, raw in made]
    settings.KILL_SWITCH_POLL_FLUSH_SECONDS = 0
    with django_assert_num_queries(0):  # each was polled a moment ago: nothing to write
        for state in fresh:
            recorder.heard(state, now + timedelta(seconds=5))


def test_in_this_process_a_poll_reads_a_change_made_just_before_it(client, token, product_owner):
    """The process that made a change (switch, revocation) answers from it at once."""
    record, raw = token
    assert json.loads(_poll(client, raw).content)["enabled"] is True
    use_case_set_kill_switch(
        actor=product_owner, use_case=record.use_case, engaged=True, reason="Drift"
    )
    assert json.loads(_poll(client, raw).content)["enabled"] is False
    kill_switch_token_revoke(actor=product_owner, token=record)
    assert _poll(client, raw).status_code == 401


class FakeClock:
    """A PollBook's clock that moves only when told (``clock.now += seconds``)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_another_process_copy_answers_a_switch_off_within_the_cache_time_and_never_later(
    product_owner, retail, settings
):
    """Another web process's copy, which hears of no change: until KILL_SWITCH_CACHE_SECONDS
    have passed since it read, it may still say "on"; from then on, never. Nor does it read
    the database for every poll in between."""
    settings.KILL_SWITCH_CACHE_SECONDS = 2.0
    use_case = ProductionUseCaseFactory(business_unit=retail)
    _, raw = kill_switch_token_create(actor=product_owner, use_case=use_case, name="Scorer")
    clock = FakeClock()
    other = PollBook(clock=clock)  # no invalidation reaches it
    digest = hashlib.sha256(raw.encode()).hexdigest()
    assert other.state(digest).enabled is True
    use_case_set_kill_switch(actor=product_owner, use_case=use_case, engaged=True, reason="Drift")
    clock.now += 1.9
    assert other.state(digest).enabled is True  # within the promised time: allowed, not required
    clock.now += 0.1
    assert other.state(digest).enabled is False
    kill_switch_token_revoke(actor=product_owner, token=KillSwitchToken.objects.get())
    clock.now += 2.0
    assert other.state(digest) is None


def test_the_copy_costs_no_query_between_reads_and_learns_new_tokens_at_once(
    product_owner, retail, settings, django_assert_num_queries
):
    settings.KILL_SWITCH_CACHE_SECONDS = 2.0
    use_case = ProductionUseCaseFactory(business_unit=retail)
    made = [
        kill_switch_token_create(actor=product_owner, use_case=use_case, name=f"System {i}")
        for i in range(3)
    ]
    digests = [hashlib.sha256(raw.encode()).hexdigest() for _, raw in made]
    clock = FakeClock()
    copy = PollBook(clock=clock)
    with django_assert_num_queries(3):  # the tokens' signature, the tokens, the use cases
        assert [copy.state(d).token_id for d in digests] == [t.pk for t, _ in made]
    with django_assert_num_queries(0):
        for d in digests:
            copy.state(d)
    clock.now += 2.0
    with django_assert_num_queries(2):  # no token changed: the signature and the use cases
        assert [copy.state(d).token_id for d in digests] == [t.pk for t, _ in made]
    _, newer = kill_switch_token_create(actor=product_owner, use_case=use_case, name="Newer")
    with django_assert_num_queries(1):  # unknown to the copy: read on its own, then kept
        assert copy.state(hashlib.sha256(newer.encode()).hexdigest()) is not None
    with django_assert_num_queries(1):  # an unknown hash is always asked for
        assert copy.state("0" * 64) is None
    with django_assert_num_queries(0):
        for d in digests:
            copy.state(d)
    settings.KILL_SWITCH_CACHE_SECONDS = 0  # the copy off: every poll reads
    with django_assert_num_queries(3):
        for d in digests:
            copy.state(d)


def test_a_cache_time_beyond_half_the_poll_interval_is_refused_at_start_up(settings):
    from portal.checks import kill_switch_cache  # noqa: PLC0415

    settings.KILL_SWITCH_POLL_SECONDS = 10
    settings.KILL_SWITCH_CACHE_SECONDS = 5
    assert kill_switch_cache() == []
    settings.KILL_SWITCH_CACHE_SECONDS = 6
    (error,) = kill_switch_cache()
    assert error.id == "steward.E011" and "half of KILL_SWITCH_POLL_SECONDS" in error.msg
    settings.KILL_SWITCH_CACHE_SECONDS = -1
    assert kill_switch_cache()


def test_the_endpoint_is_in_the_api_schema(admin_user, client):
    client.force_login(admin_user)
    response = client.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/kill-switch/"]["get"]
    assert {"killSwitchToken": []} in operation["security"]
    assert set(operation["responses"]) == {"200", "304", "401"}


# A deployed system polling a live server ----------------------------------------------------
class Poller(threading.Thread):
    """A deployed system: polls every `interval` seconds with urllib, sending its last ETag."""

    def __init__(self, url: str, raw: str, interval: float):
        super().__init__(daemon=True)
        self.url, self.raw, self.interval = url, raw, interval
        self.etag: str | None = None
        self.enabled: bool | None = None
        # (started, finished, status, enabled as known after this poll)
        self.polls: list[tuple[float, float, int, bool | None]] = []
        self.stop = threading.Event()

    def poll_once(self) -> None:
        request = urllib.request.Request(self.url, headers={"Authorization": f"Bearer {self.raw}"})
        if self.etag:
            request.add_header("If-None-Match", self.etag)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status = response.status
                self.etag = response.headers["ETag"]
                self.enabled = json.loads(response.read())["enabled"]
        except urllib.error.HTTPError as exc:  # urllib raises for a 304
            status = exc.code
            if status != 304:
                raise
        self.polls.append((started, time.monotonic(), status, self.enabled))

    def run(self) -> None:
        while not self.stop.is_set():
            self.poll_once()
            self.stop.wait(self.interval)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_deployed_system_sees_the_switch_within_one_poll_interval(
    live_server, product_owner, retail
):
    use_case = ProductionUseCaseFactory(business_unit=retail)
    _, raw = kill_switch_token_create(actor=product_owner, use_case=use_case, name="Scorer")
    interval = 0.2
    poller = Poller(live_server.url + URL, raw, interval)
    poller.start()

    def stopped() -> str | None:
        return None if poller.is_alive() else "the poller thread died; its error is above"

    try:
        wait_for(
            lambda: sum(p[2] == 304 for p in poller.polls) >= 3,
            what=f"three polls of {poller.url} answered 304 Not Modified",
            poll=0.05,
            exited=stopped,
        )
        switching = time.monotonic()
        use_case_set_kill_switch(
            actor=product_owner, use_case=use_case, engaged=True, reason="Drift"
        )
        # Committed, and the service's work after the commit done: a poll may see the switch
        # from the commit on, before the service returns.
        switched = time.monotonic()
        # Short pauses: when the poller saw the switch is what the test measures.
        wait_for(
            lambda: poller.enabled is False,
            what=f"a poll of {poller.url} answering that the AI is switched off",
            poll=0.02,
            exited=stopped,
        )
        seen = time.monotonic()
    finally:
        poller.stop.set()
        poller.join(5)

    # Answered before the switch began: nothing had changed, so no body, just revalidation.
    before = [p for p in poller.polls if p[1] < switching]
    assert before[0][2] == 200 and before[0][3] is True
    assert {p[2] for p in before[1:]} == {304}
    # A poll answered while the service ran revalidated the old state or read the new: a body
    # only to say the AI is off.
    during = [p for p in poller.polls if switching <= p[1] < switched]
    assert all(p[2] == 304 or p[3] is False for p in during)
    # The first poll that started after the switch saw it, within one interval (and the
    # time one request takes).
    after = [p for p in poller.polls if p[0] >= switched]
    # Off: read now, or read by a poll while the service ran and revalidated now.
    assert after[0][3] is False
    assert after[0][2] == 200 or any(p[2] == 200 and p[3] is False for p in during)
    assert after[0][0] - switched <= interval + 0.05
    assert seen - switched <= interval + 1.0


# Lifecycle moves are announced like the switch ---------------------------------------------
def test_suspending_announces_that_the_ai_is_off_and_returning_that_it_is_on(admin_user, use_case):
    webhook_endpoint_create(actor=admin_user, name="On-call", url="http://127.0.0.1:9/hooks")
    use_case_transition(
        actor=admin_user, use_case=use_case, action="suspend", reason="Wrong declines"
    )
    (suspended,) = Delivery.objects.all()
    assert suspended.event == "use_case.kill_switch"
    assert suspended.payload["use_case"] == use_case.reference
    assert (suspended.payload["enabled"], suspended.payload["kill_switch_engaged"]) == (
        False,
        False,
    )
    assert suspended.payload["lifecycle"] == "suspended"
    assert "Wrong declines" in suspended.payload["reason"]

    use_case_transition(
        actor=admin_user, use_case=use_case, action="return_to_pilot", reason="Fixed"
    )
    back = Delivery.objects.latest("pk")
    assert back.pk != suspended.pk
    assert (back.payload["enabled"], back.payload["lifecycle"]) == (True, "pilot")
    assert back.payload["sequence"] > suspended.payload["sequence"]
    suspended.refresh_from_db()
    assert suspended.last_error == f"superseded by {back.message_id}"


def test_a_move_that_leaves_the_ai_as_it_was_announces_nothing(admin_user, use_case):
    webhook_endpoint_create(actor=admin_user, name="On-call", url="http://127.0.0.1:9/hooks")
    use_case_set_kill_switch(actor=admin_user, use_case=use_case, engaged=True, reason="Drift")
    assert Delivery.objects.count() == 1
    # Switched off already: suspending it does not change whether the AI runs.
    use_case_transition(actor=admin_user, use_case=use_case, action="suspend", reason="Review")
    assert Delivery.objects.count() == 1
