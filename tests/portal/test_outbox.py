"""The transactional outbox (portal/outbox.py) and idempotency keys (portal/idempotency.py):
a saved change never answers 500 because the broker is down, its side effects wait in the
database and go out once it is back, and a retried create makes nothing twice."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from celery import Celery, current_app
from django.core import mail
from django.utils import timezone

from incidents.models import Delivery, Incident
from incidents.services.webhooks import webhook_endpoint_create
from portal import notify, outbox
from portal.models import OutboxMessage
from tests.factories import ProductionUseCaseFactory
from tests.incidents.servers import Receiver
from tests.monitoring.servers import closed_port
from tests.monitoring.ui_helpers import token_client


@contextmanager
def broker_down(settings):
    """Tasks go to a Redis that is not there, as when production's Redis is down."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    previous = current_app._get_current_object()
    down = Celery("broker-down")
    # The URL tasks are sent to (Celery prefers CELERY_BROKER_URL from the environment, which
    # the test run sets, to a broker_url given in code).
    down.conf.broker_write_url = f"redis://127.0.0.1:{closed_port()}/0"
    down.conf.broker_connection_timeout = 2
    down.set_current()
    try:
        yield
    finally:
        previous.set_current()
        settings.CELERY_TASK_ALWAYS_EAGER = True
        outbox._broker_refused_at = None  # the next test's commits relay at once


@pytest.fixture
def use_case(retail, product_owner):
    return ProductionUseCaseFactory(business_unit=retail, owner=product_owner)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_the_broker_down_a_kill_switch_answers_200_and_its_webhook_waits(
    settings, admin_user, product_owner, use_case
):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    api = token_client(product_owner)
    with Receiver() as receiver:
        webhook_endpoint_create(actor=admin_user, name="Ops", url=receiver.url())
        with broker_down(settings):
            answer = api.post(
                f"/api/v1/use-cases/{use_case.pk}/kill-switch/",
                {"engaged": True, "reason": "Drift"},
                format="json",
            )
            assert answer.status_code == 200, answer.content
            opened = api.post(
                "/api/v1/incidents/",
                {"use_case": use_case.pk, "title": "Drift", "severity": "sev3",
                 "detected_by": "monitoring"},
                format="json",
            )  # fmt: skip
            assert opened.status_code == 201, opened.content
        use_case.refresh_from_db()
        assert use_case.kill_switch_engaged  # the change is saved
        waiting = OutboxMessage.objects.filter(done_at__isnull=True)
        assert waiting.count() >= 2 and not receiver.received
        # The first commit's relay met the refusal; the next left theirs to beat's relay.
        assert all(m.dispatched_at is None for m in waiting)
        assert any("Not handed to the broker" in m.last_error for m in waiting)

        # The broker is back: the next relay (beat's, here in-process) sends them, in order.
        assert outbox.relay() >= 2
    assert not OutboxMessage.objects.filter(done_at__isnull=True).exists()
    kinds = [r.headers.get("webhook-id") for r in receiver.received]
    assert len(kinds) == len(set(kinds)) == Delivery.objects.count()
    assert Delivery.objects.filter(delivered_at__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_email_queued_while_the_broker_is_down_is_sent_once_it_is_back(settings, product_owner):
    with broker_down(settings):
        notify.email([product_owner], "Review due", "UC-0001 is due for review.")
    assert mail.outbox == []
    (message,) = OutboxMessage.objects.filter(task=notify.SEND_EMAIL)
    assert message.done_at is None and message.args[0] == [product_owner.email]
    outbox.relay()
    assert [m.to for m in mail.outbox] == [[product_owner.email]]
    outbox.relay()  # again: nothing is sent twice
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_after_the_broker_refused_commits_leave_the_outbox_to_beat_for_a_while(
    settings, product_owner, django_capture_on_commit_callbacks
):
    """Each refusal waits out the broker's connection timeout: a request whose commits queue
    many side effects must not wait for every one (gunicorn would kill it)."""
    with broker_down(settings):
        tries = []
        send_task = current_app.send_task

        def counted(*args, **kwargs):
            tries.append(args)
            return send_task(*args, **kwargs)

        current_app.send_task = counted
        with django_capture_on_commit_callbacks(execute=True):
            for n in range(4):
                notify.email([product_owner], f"Review {n}", "Body")
        assert len(tries) == 1
        assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 4
        assert outbox.relay() == 0  # beat's relay still tries the broker each time
        assert len(tries) == 2
    outbox.relay()  # the broker is back: all four go out
    assert len(mail.outbox) == 4


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failing_side_effect_is_recorded_and_tried_again_later(settings, product_owner):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    settings.EMAIL_TIMEOUT = 5
    notify.email([product_owner], "Review due", "UC-0001 is due for review.")
    (message,) = OutboxMessage.objects.all()
    assert message.done_at is None and message.failures == 1
    assert "ConnectionRefusedError" in message.last_error
    assert message.available_at > timezone.now()  # backing off, not hammering the server
    assert outbox.relay() == 0  # not due yet
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert outbox.relay(now=message.available_at + timedelta(seconds=1)) == 1
    message.refresh_from_db()
    assert message.done_at is not None and len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_message_handed_out_but_never_done_is_handed_out_again(settings, product_owner):
    with broker_down(settings):
        notify.email([product_owner], "Review due", "Body")
    message = OutboxMessage.objects.get()
    # As if a broker took it and then lost it (a Redis restart without persistence).
    OutboxMessage.objects.filter(pk=message.pk).update(dispatched_at=timezone.now(), last_error="")
    assert outbox.relay() == 0  # handed out a moment ago: give the worker its time
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_REDISPATCH_SECONDS + 1)
    assert outbox.relay(now=later) == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_the_backlog_counts_what_is_waiting_and_how_long(settings, product_owner):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    notify.email([product_owner], "A", "B")  # inside the test's transaction: not relayed
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(minutes=3))
    backlog = outbox.backlog()
    assert backlog["pending"] == 1 and backlog["oldest_age_seconds"] >= 180


# Idempotency keys -----------------------------------------------------------------------------
def _open(api, use_case, key, title="Leak"):
    return api.post(
        "/api/v1/incidents/",
        {"use_case": use_case.pk, "title": title, "severity": "sev2", "detected_by": "user_report"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.mark.django_db
def test_a_retried_incident_open_returns_the_first_and_makes_no_second(product_owner, use_case):
    api = token_client(product_owner)
    first = _open(api, use_case, "open-1")
    again = _open(api, use_case, "open-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Incident.objects.count() == 1
    assert _open(api, use_case, "open-2").status_code == 201  # a new key: a new incident
    assert Incident.objects.count() == 2


@pytest.mark.django_db
def test_a_key_reused_for_a_different_request_is_refused(product_owner, use_case):
    api = token_client(product_owner)
    assert _open(api, use_case, "k").status_code == 201
    refused = _open(api, use_case, "k", title="Another")
    assert refused.status_code == 422 and "Idempotency-Key" in refused.json()
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_a_refused_request_keeps_no_key_and_keys_are_per_person(
    product_owner, risk_officer, use_case
):
    api = token_client(product_owner)
    bad = api.post(
        "/api/v1/incidents/", {"use_case": use_case.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert bad.status_code == 400
    assert _open(api, use_case, "k").status_code == 201  # the corrected request may reuse it
    other = token_client(risk_officer)
    assert "Idempotent-Replayed" not in _open(other, use_case, "k")
    assert Incident.objects.count() == 2
