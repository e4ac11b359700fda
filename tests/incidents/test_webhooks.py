"""Signed webhooks: Standard Webhooks signatures, retries with backoff, unit filtering, rights.

Signatures are verified with the reference ``standardwebhooks`` library, the way a receiver
would, against a real HTTP server on 127.0.0.1 (tests/incidents/servers.py).
"""

import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from incidents.models import Delivery, WebhookEndpoint
from incidents.services.killswitch import (
    kill_switch_answer,
    kill_switch_token_create,
    poll_state_for_raw,
)
from incidents.services.webhooks import (
    backoff,
    deliver,
    deliver_due,
    emit,
    endpoint_secret,
    sign,
    webhook_endpoint_create,
    webhook_endpoint_set_active,
)
from portal.models import OutboxMessage
from portal.records import next_number
from registry.services import use_case_set_kill_switch
from tests.factories import ProductionUseCaseFactory
from tests.incidents.servers import Receiver
from tests.monitoring.servers import closed_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.WEBHOOK_RETRY_SECONDS = 30
    settings.WEBHOOK_MAX_ATTEMPTS = 12
    settings.WEBHOOK_TIMEOUT_SECONDS = 5


def _endpoint(admin, url="http://127.0.0.1:9/hooks", **kwargs):
    return webhook_endpoint_create(actor=admin, name="On-call", url=url, **kwargs)


def _verify(secret: str, received) -> dict:
    return Webhook(secret).verify(received.body, received.headers)


def _pending_delivery(endpoint, **fields) -> Delivery:
    """A delivery as emit leaves it (due now), written without emit's relay after the commit:
    with tasks in-process that relay would send it at once, in the test's own thread, before
    the worker the test starts could."""
    return Delivery.objects.create(endpoint=endpoint, next_attempt_at=timezone.now(), **fields)


def _deliver_in_worker(delivery_id: int) -> threading.Thread:
    """deliver() in a thread of its own, as another worker would (its own connection); started."""

    def work() -> None:
        try:
            deliver(delivery_id)
        finally:
            connection.close()  # the thread's own connection

    worker = threading.Thread(target=work)
    worker.start()
    return worker


# Endpoints and secrets -----------------------------------------------------------------------
def test_endpoint_secret_is_whsec_base64_and_stored_encrypted(admin_user):
    endpoint, secret = _endpoint(admin_user)
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    endpoint.refresh_from_db()
    assert secret.removeprefix("whsec_") not in endpoint.secret_encrypted
    assert endpoint_secret(endpoint) == secret


def test_endpoint_url_must_be_http_or_https(admin_user):
    with pytest.raises(ValidationError):
        _endpoint(admin_user, url="ftp://example.com/hooks")


@pytest.mark.parametrize(
    "url", ["https://user:s3cret@example.com/hooks", "https://user@example.com:8443/hooks"]
)
def test_endpoint_url_may_not_carry_a_user_or_password(admin_user, url):
    with pytest.raises(ValidationError) as err:
        _endpoint(admin_user, url=url)
    assert "url" in err.value.message_dict
    assert not WebhookEndpoint.objects.exists()


def test_a_failure_names_the_host_and_port_only(admin_user):
    port = closed_port()
    endpoint, _ = _endpoint(admin_user)
    # As a row written before userinfo was refused would hold it.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        url=f"http://ops:s3cret@127.0.0.1:{port}/hooks?token=t0ken"
    )
    (delivery,) = emit(subject="incident:INC-0001", event="incident.opened", payload={})
    deliver(delivery.id)
    delivery.refresh_from_db()
    assert delivery.last_error.startswith(f"no HTTP answer from 127.0.0.1:{port} within")
    for leaked in ("ops", "s3cret", "t0ken", "/hooks"):
        assert leaked not in delivery.last_error


@pytest.mark.parametrize("persona", ["risk_officer", "product_owner", "dpo", "auditor"])
def test_only_admins_manage_webhooks(personas, persona):
    with pytest.raises(PermissionDenied):
        _endpoint(personas[persona])
    endpoint, _ = _endpoint(personas["admin"])
    with pytest.raises(PermissionDenied):
        webhook_endpoint_set_active(actor=personas[persona], endpoint=endpoint, active=False)


# Signatures ----------------------------------------------------------------------------------
def test_sign_agrees_with_the_reference_library():
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    body = '{"data":{"x":1},"type":"test"}'
    expected = Webhook(secret).sign(
        msg_id="msg_1", timestamp=datetime.fromtimestamp(1_700_000_000, tz=UTC), data=body
    )
    assert sign(secret, "msg_1", 1_700_000_000, body) == expected


@pytest.mark.slow
def test_delivery_verifies_with_the_standard_webhooks_library(admin_user, retail):
    with Receiver() as receiver:
        endpoint, secret = _endpoint(admin_user, url=receiver.url())
        (delivery,) = emit(
            subject="incident:INC-0001", event="incident.opened", payload={"incident": "INC-0001"}
        )
        assert delivery.message_id.startswith("msg_")
        deliver(delivery.id)

    (received,) = receiver.received
    assert received.path == "/hooks/steward"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-id"] == delivery.message_id
    assert received.headers["webhook-signature"].startswith("v1,")
    message = _verify(secret, received)
    assert message["type"] == "incident.opened"
    assert message["data"] == {"incident": "INC-0001"}
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None
    assert (delivery.attempts, delivery.last_status, delivery.next_attempt_at) == (1, 200, None)


@pytest.mark.slow
def test_a_tampered_body_fails_verification(admin_user):
    with Receiver() as receiver:
        _, secret = _endpoint(admin_user, url=receiver.url())
        (delivery,) = emit(
            subject="incident:INC-0001", event="incident.opened", payload={"severity": "sev3"}
        )
        deliver(delivery.id)
    (received,) = receiver.received
    tampered = received.body.replace(b"sev3", b"sev4")
    assert tampered != received.body
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, received.headers)
    # And another endpoint's secret does not verify it either.
    _, other_secret = _endpoint(admin_user)
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(received.body, received.headers)


# Retries ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_failed_delivery_is_retried_with_backoff_until_acknowledged(admin_user):
    with Receiver(statuses=[500, 500, 200]) as receiver:
        _, secret = _endpoint(admin_user, url=receiver.url())
        (delivery,) = emit(
            subject="incident:INC-0001", event="incident.opened", payload={"incident": "INC-0001"}
        )
        start = timezone.now()

        deliver(delivery.id, now=start)
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.last_status) == (1, 500)
        assert delivery.last_error.startswith("HTTP 500")
        assert delivery.next_attempt_at == start + timedelta(seconds=30)

        assert deliver_due(now=start + timedelta(seconds=29)) == 0  # not due yet
        second = start + timedelta(seconds=30)
        assert deliver_due(now=second) == 1
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.last_status) == (2, 500)
        assert delivery.next_attempt_at == second + timedelta(seconds=60)  # doubled

        assert deliver_due(now=second + timedelta(seconds=59)) == 0
        third = second + timedelta(seconds=60)
        assert deliver_due(now=third) == 1
        assert deliver_due(now=third + timedelta(hours=5)) == 0  # delivered: never again

    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status, delivery.last_error) == (3, 200, "")
    assert delivery.delivered_at == third
    assert len(receiver.received) == 3
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery.message_id}
    assert len({r.body for r in receiver.received}) == 1  # the same message each time
    for received in receiver.received:
        _verify(secret, received)


def test_backoff_doubles_and_is_capped_at_an_hour(settings):
    settings.WEBHOOK_RETRY_SECONDS = 30
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 7, 8, 12, 13, 100)] == [
        30,
        60,
        120,
        1920,
        3600,
        3600,
        3600,
        3600,
    ]


@pytest.mark.slow
def test_after_the_last_doubling_a_delivery_is_retried_hourly_until_acknowledged(
    admin_user, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    with Receiver(statuses=[503, 503, 503, 503, 200]) as receiver:
        _endpoint(admin_user, url=receiver.url())
        (delivery,) = emit(subject="incident:INC-0001", event="incident.opened", payload={})
        now = timezone.now()
        deliver(delivery.id, now=now)
        now += timedelta(seconds=30)
        assert deliver_due(now=now) == 1  # the max: from here on, hourly
        for _ in range(3):
            assert deliver_due(now=now + timedelta(minutes=59)) == 0
            now += timedelta(hours=1)
            assert deliver_due(now=now) == 1
        assert deliver_due(now=now + timedelta(days=30)) == 0  # acknowledged: never again
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status, delivery.last_error) == (5, 200, "")
    assert delivery.delivered_at == now
    assert len(receiver.received) == 5


@pytest.mark.slow
def test_timeout_is_recorded_and_retried(admin_user, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    with Receiver(delay=3) as receiver:
        _endpoint(admin_user, url=receiver.url())
        (delivery,) = emit(subject="incident:INC-0001", event="incident.opened", payload={})
        now = timezone.now()
        deliver(delivery.id, now=now)
    delivery.refresh_from_db()
    # The same words as a refused connection (portal/outbound.py: no port-scan oracle).
    assert delivery.last_error.startswith("no HTTP answer from 127.0.0.1:")
    assert delivery.last_error.endswith(" within 0.5 s (refused, closed, silent or not HTTP)")
    assert delivery.last_status is None
    assert delivery.delivered_at is None
    assert delivery.next_attempt_at == now + timedelta(seconds=30)


def test_unreachable_endpoint_is_recorded(admin_user):
    _endpoint(admin_user, url=f"http://127.0.0.1:{closed_port()}/hooks")
    (delivery,) = emit(subject="incident:INC-0001", event="incident.opened", payload={})
    deliver(delivery.id)
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery.last_error.startswith("no HTTP answer from 127.0.0.1:")


@pytest.mark.slow
def test_paused_endpoint_gets_nothing(admin_user):
    with Receiver() as receiver:
        endpoint, _ = _endpoint(admin_user, url=receiver.url())
        (delivery,) = emit(subject="incident:INC-0001", event="incident.opened", payload={})
        webhook_endpoint_set_active(actor=admin_user, endpoint=endpoint, active=False)
        assert deliver(delivery.id) is None  # queued before the pause: not sent
        assert emit(subject="incident:INC-0001", event="incident.opened", payload={}) == []
    assert receiver.received == []


@pytest.mark.slow
def test_a_paused_endpoint_keeps_its_deliveries_and_resuming_sends_them(admin_user):
    with Receiver(statuses=[500, 200]) as receiver:
        endpoint, _ = _endpoint(admin_user, url=receiver.url())
        failed, waiting = (
            emit(subject="incident:INC-0001", event="incident.opened", payload={}),
            emit(subject="incident:INC-0001", event="incident.updated", payload={}),
        )
        start = timezone.now()
        deliver(failed[0].id, now=start)  # a 500: a retry is due in 30 s
        webhook_endpoint_set_active(actor=admin_user, endpoint=endpoint, active=False)
        assert deliver(waiting[0].id, now=start) is None
        assert deliver_due(now=start + timedelta(days=2)) == 0  # paused: nothing is sent
        for delivery in (*failed, *waiting):
            delivery.refresh_from_db()
            assert delivery.delivered_at is None and delivery.next_attempt_at is not None

        webhook_endpoint_set_active(actor=admin_user, endpoint=endpoint, active=True)
        resumed = timezone.now()
        assert deliver_due(now=resumed) == 2  # due at once, without waiting for the backoff
    assert len(receiver.received) == 3
    assert Delivery.objects.filter(delivered_at__isnull=False).count() == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_never_send_one_delivery_at_once(admin_user):
    """While one worker is sending (its row locked), another's deliver skips it."""
    with Receiver(delay=1.0) as receiver:
        endpoint, _ = _endpoint(admin_user, url=receiver.url())
        delivery = _pending_delivery(
            endpoint,
            message_id="msg_once",
            event="incident.opened",
            subject="incident:INC-0001",
            sequence=1,
            payload={},
        )
        first = _deliver_in_worker(delivery.id)
        try:
            assert receiver.arrived.wait(5)
            assert deliver(delivery.id) is None  # the second worker
            assert deliver_due() == 0
        finally:
            first.join(10)
    assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.delivered_at is not None


# Emitting ------------------------------------------------------------------------------------
def test_events_go_to_endpoints_of_their_unit_and_to_firm_wide_ones(admin_user, retail, corporate):
    firm_wide, _ = _endpoint(admin_user)
    retail_only, _ = _endpoint(admin_user, business_unit=retail)
    corporate_only, _ = _endpoint(admin_user, business_unit=corporate)

    sent = emit(
        subject="incident:INC-0001", event="incident.opened", payload={}, business_unit=retail
    )
    assert {d.endpoint for d in sent} == {firm_wide, retail_only}
    sent = emit(
        subject="incident:INC-0001", event="incident.opened", payload={}, business_unit=corporate
    )
    assert {d.endpoint for d in sent} == {firm_wide, corporate_only}
    sent = emit(subject="incident:INC-0001", event="incident.opened", payload={})
    assert {d.endpoint for d in sent} == {firm_wide}
    assert len({d.message_id for d in Delivery.objects.all()}) == 5


def test_emit_writes_each_delivery_to_the_outbox_with_the_change(
    admin_user, django_capture_on_commit_callbacks
):
    _endpoint(admin_user)
    _endpoint(admin_user)
    with django_capture_on_commit_callbacks() as callbacks:
        deliveries = emit(
            subject="incident:INC-0001", event="incident.opened", payload={"at": timezone.now()}
        )
    # Written with the change, sent only once it commits (the callbacks have not run).
    queued = OutboxMessage.objects.filter(task="incidents.tasks.deliver_webhook")
    assert sorted(m.args[0] for m in queued) == sorted(d.id for d in deliveries)
    assert len(deliveries) == 2 and len(callbacks) == 2
    assert not Delivery.objects.filter(attempts__gt=0).exists()
    assert isinstance(deliveries[0].payload["at"], str)  # stored as it will be sent
    assert {d.sequence for d in deliveries} == {1}  # one event: one place in its subject's order


@pytest.mark.slow
def test_one_subjects_events_arrive_in_order_once_the_receiver_recovers(admin_user):
    # The receiver fails for a while; the later events are tried first (as a worker might).
    with Receiver(statuses=[500, 500, 500, 200]) as receiver:
        _endpoint(admin_user, url=receiver.url())
        events = ["incident.opened", "incident.severity_changed", "incident.severity_changed"]
        deliveries = [
            emit(subject="incident:INC-0001", event=event, payload={"n": n})[0]
            for n, event in enumerate(events)
        ]
        for delivery in reversed(deliveries):
            deliver(delivery.id)
        clock = timezone.now()
        for _ in range(20):
            if not Delivery.objects.filter(delivered_at__isnull=True).exists():
                break
            clock += timedelta(hours=1)
            deliver_due(now=clock)
    arrived = [json.loads(r.body) for r in receiver.received]
    sequences = [m["sequence"] for m in arrived]
    assert sequences == sorted(sequences), "a later event overtook an earlier one"
    acknowledged = [m["data"]["n"] for m in arrived[3:]]  # the first three were refused
    assert acknowledged == [0, 1, 2]
    assert [m["subject"] for m in arrived] == ["incident:INC-0001"] * len(arrived)
    assert not Delivery.objects.filter(delivered_at__isnull=True).exists()


def test_a_rolled_back_change_sends_nothing(admin_user):
    _endpoint(admin_user)
    with pytest.raises(RuntimeError), transaction.atomic():
        emit(subject="incident:INC-0001", event="incident.opened", payload={})
        raise RuntimeError("the change failed")
    assert not Delivery.objects.exists() and not OutboxMessage.objects.exists()


def test_kill_switch_change_emits_one_webhook_per_change(admin_user, product_owner, retail):
    endpoint, secret = _endpoint(admin_user, business_unit=retail)
    use_case = ProductionUseCaseFactory(business_unit=retail)

    use_case_set_kill_switch(actor=product_owner, use_case=use_case, engaged=True, reason="Drift")
    use_case_set_kill_switch(actor=product_owner, use_case=use_case, engaged=True, reason="Again")
    assert Delivery.objects.count() == 1  # nothing changed the second time: nothing sent
    use_case_set_kill_switch(actor=product_owner, use_case=use_case, engaged=False, reason="Fixed")

    off, on = Delivery.objects.order_by("pk")
    assert (off.event, on.event) == ("use_case.kill_switch", "use_case.kill_switch")
    assert off.endpoint == endpoint
    assert off.payload["use_case"] == use_case.reference
    assert (off.payload["kill_switch_engaged"], off.payload["enabled"]) == (True, False)
    assert (on.payload["kill_switch_engaged"], on.payload["enabled"]) == (False, True)
    assert off.payload["reason"] == "Drift"
    assert off.payload["by"] == product_owner.username


@pytest.mark.slow
def test_kill_switch_webhook_is_posted_once_the_change_commits(
    admin_user, product_owner, retail, django_capture_on_commit_callbacks, settings
):
    """The whole way: the service, the on-commit task (eager here), a signed POST."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    use_case = ProductionUseCaseFactory(business_unit=retail)
    with Receiver() as receiver:
        _, secret = _endpoint(admin_user, url=receiver.url())
        with django_capture_on_commit_callbacks(execute=True):
            use_case_set_kill_switch(
                actor=product_owner, use_case=use_case, engaged=True, reason="Drift"
            )
    (received,) = receiver.received
    message = _verify(secret, received)
    assert message["type"] == "use_case.kill_switch"
    assert message["data"]["use_case"] == use_case.reference
    assert json.loads(received.body) == message
    assert Delivery.objects.get().delivered_at is not None


def test_kill_switch_webhook_carries_the_polled_changed_at_and_a_growing_sequence(
    admin_user, product_owner, retail
):
    _endpoint(admin_user, business_unit=retail)
    use_case = ProductionUseCaseFactory(business_unit=retail)
    _token, raw = kill_switch_token_create(actor=product_owner, use_case=use_case, name="Bot")
    sequences = []
    for engaged in (True, False, True):
        use_case_set_kill_switch(
            actor=product_owner, use_case=use_case, engaged=engaged, reason="Drift"
        )
        payload = Delivery.objects.latest("pk").payload
        use_case.refresh_from_db()
        assert payload["changed_at"] == use_case.kill_switch_changed_at.isoformat()
        polled = kill_switch_answer(poll_state_for_raw(raw)).data  # as a poller sees it
        assert payload["changed_at"] == polled["changed_at"]
        sequences.append(payload["sequence"])
    assert sequences == sorted(set(sequences))  # strictly growing


@pytest.mark.slow
def test_a_newer_kill_switch_event_supersedes_an_undelivered_older_one(
    admin_user, product_owner, retail
):
    use_case = ProductionUseCaseFactory(business_unit=retail)
    other = ProductionUseCaseFactory(business_unit=retail)
    with Receiver(statuses=[503, 200]) as receiver:
        endpoint, _ = _endpoint(admin_user, url=receiver.url())
        elsewhere, _ = _endpoint(admin_user, url="http://127.0.0.1:9/other")
        use_case_set_kill_switch(actor=product_owner, use_case=use_case, engaged=True, reason="A")
        use_case_set_kill_switch(actor=product_owner, use_case=other, engaged=True, reason="B")
        off = Delivery.objects.get(endpoint=endpoint, payload__use_case=use_case.reference)
        now = timezone.now()
        assert deliver(off.id, now=now).last_status == 503  # "off" failed: a retry waits

        use_case_set_kill_switch(actor=product_owner, use_case=use_case, engaged=False, reason="C")
        on = Delivery.objects.filter(endpoint=endpoint).latest("pk")
        off.refresh_from_db()
        assert (off.next_attempt_at, off.delivered_at) == (None, None)
        assert off.last_error == f"superseded by {on.message_id}"
        # Each endpoint's own older one, by its own newer one.
        elsewhere_off, elsewhere_on = Delivery.objects.filter(
            endpoint=elsewhere, payload__use_case=use_case.reference
        ).order_by("pk")
        assert elsewhere_off.last_error == f"superseded by {elsewhere_on.message_id}"
        # Another use case's event is not touched.
        assert all(
            d.next_attempt_at is not None
            for d in Delivery.objects.filter(payload__use_case=other.reference)
        )

        deliver_due(now=now + timedelta(days=1))
    to_receiver = [json.loads(r.body)["data"] for r in receiver.received]
    mine = [d["enabled"] for d in to_receiver if d["use_case"] == use_case.reference]
    assert mine == [False, True]  # the superseded "off" was never sent again after "on"


@pytest.mark.slow
def test_a_retry_that_a_newer_kill_switch_event_overtook_is_not_sent(admin_user, retail):
    """The older one was being sent when the newer was emitted (locked, so not superseded
    then): its retry is superseded at send time instead."""
    with Receiver() as receiver:
        endpoint, _ = _endpoint(admin_user, url=receiver.url())
        (older,) = emit(
            subject="use_case:UC-1",
            event="use_case.kill_switch",
            payload={"use_case": "UC-1", "sequence": 1},
        )
        (newer,) = emit(
            subject="use_case:UC-1",
            event="use_case.kill_switch",
            payload={"use_case": "UC-1", "sequence": 2},
        )
        assert deliver(older.id) is None
        assert deliver(newer.id) is not None
    older.refresh_from_db()
    assert older.last_error == f"superseded by {newer.message_id}"
    assert older.next_attempt_at is None and older.attempts == 0
    assert [r.headers["webhook-id"] for r in receiver.received] == [newer.message_id]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_switch_moved_while_the_last_state_was_being_sent_is_sent_without_waiting(
    admin_user, settings
):
    """The switch moves again while its last state is being sent and that send fails: the
    newer state does not wait behind the older one's backoff (up to an hour), and the older
    one is not sent again."""
    # Each answer waits 5 s at the receiver (within the sender's time limit): time for emit
    # below to commit the newer one while the older one is being sent, even on a loaded machine.
    settings.WEBHOOK_TIMEOUT_SECONDS = 20
    with Receiver(statuses=[503, 200], delay=5.0) as receiver:
        endpoint, _ = _endpoint(admin_user, url=receiver.url())
        with transaction.atomic():  # the subject's counter is read under a lock
            older = _pending_delivery(
                endpoint,
                message_id="msg_older",
                event="use_case.kill_switch",
                subject="use_case:UC-1",
                sequence=next_number("webhook:use_case:UC-1"),
                payload={"use_case": "UC-1", "sequence": 1},
            )
        sending = _deliver_in_worker(older.id)
        try:
            assert receiver.arrived.wait(30), "the receiver got no request"
            # Emitted while the older one is locked: it cannot supersede it, so it waits.
            (newer,) = emit(
                subject="use_case:UC-1",
                event="use_case.kill_switch",
                payload={"use_case": "UC-1", "sequence": 2},
            )
        finally:
            sending.join(30)
        older.refresh_from_db()
        assert older.last_status == 503
        assert older.next_attempt_at is None
        assert older.last_error.endswith(f"superseded by {newer.message_id}")
        newer.refresh_from_db()
        # Released at once (the relay after the older one's outcome committed sends it; with
        # a broker, a worker would): delivered, or at least due now, not after a backoff.
        assert newer.delivered_at is not None or newer.next_attempt_at <= timezone.now()
        deliver_due()
    assert [r.headers["webhook-id"] for r in receiver.received] == [
        older.message_id,
        newer.message_id,
    ]


def test_endpoint_history_never_holds_the_secret(admin_user):
    endpoint, secret = _endpoint(admin_user)
    record = WebhookEndpoint.history.get(id=endpoint.pk)
    assert not hasattr(record, "secret_encrypted")
    assert record.history_change_reason == "Webhook endpoint created"


def test_an_endpoint_at_a_refused_address_is_refused_when_saved(admin_user, settings):
    settings.MONITORING_ALLOWED_NETWORKS = []
    with pytest.raises(ValidationError) as refused:
        webhook_endpoint_create(
            actor=admin_user, name="Metadata", url="http://169.254.169.254/latest/"
        )
    assert "url" in refused.value.message_dict
    assert not WebhookEndpoint.objects.exists()
