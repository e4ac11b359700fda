"""Signed webhooks: incident and kill-switch events posted to endpoints an admin configured.

Messages follow Standard Webhooks (https://www.standardwebhooks.com/), so receivers can verify
them with any of its libraries:

- the body is ``{"type": event, "timestamp": ISO 8601, "subject": what it is about,
  "sequence": n, "data": payload}`` (JSON);
- ``webhook-id`` is the message's id (``msg_...``), the same on every retry, so a receiver
  can drop repeats;
- ``webhook-timestamp`` is the attempt's time in Unix seconds (receivers refuse old ones);
- ``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed
  with the base64-decoded part of the endpoint's secret after ``whsec_``.

``emit`` writes one Delivery per matching active endpoint and, through the outbox
(portal/outbox.py), its sending, in the transaction of the change (a rolled-back change sends
nothing; a broker that is down delays it and loses nothing).

Order. Each event has a ``subject`` ("incident:INC-0001", "use_case:UC-0001") and a
``sequence`` that grows by one per subject, in commit order. An endpoint gets one subject's
events in that order: a delivery waits while an earlier one of its subject to the same
endpoint is pending, and each acknowledged delivery makes the next one due at once. A receiver
that sees a sequence it already has drops the repeat. ``deliver`` posts one delivery;
a 2xx answer acknowledges it, anything else schedules a retry with exponential backoff
(``WEBHOOK_RETRY_SECONDS`` doubled per attempt, at most an hour apart; from
``WEBHOOK_MAX_ATTEMPTS`` on, hourly) until it is acknowledged. ``deliver_due`` (Celery beat)
sends the retries that are due. A delivery is abandoned only when a newer kill-switch event
for the same use case and endpoint supersedes it, or when its endpoint is deleted; a paused
endpoint's deliveries wait, and resuming it sends them.

Kill-switch events (``use_case.kill_switch``, see ``emit_kill_switch``) may still reach a
receiver out of order (a retry racing a newer event), so each carries ``changed_at`` (as the
poll answers it) and a ``sequence`` that only grows per use case: a receiver keeps the highest.

Every attempt goes through the one outbound guard (portal.outbound.post_trusted): the address
rule and allow-list of metric sources (MONITORING_ALLOWED_NETWORKS lists a receiver inside
the firm's network), a hard time limit, and at most a little of the answer read. An endpoint
whose URL is a refused address literal is refused when it is saved.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from incidents.models import Delivery, WebhookEndpoint
from portal import crypto, metrics, outbound, outbox
from portal.access import require
from portal.records import next_number, save_with_history

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
USER_AGENT = "Steward-webhooks/1"
MAX_BACKOFF_SECONDS = 3600
# Of an answer, only this much is read: enough for an error message.
MAX_RESPONSE_BYTES = 4096
# deliver_due sends at most this many per run; the rest wait for the next run.
DUE_BATCH = 100


# Endpoints ------------------------------------------------------------------------------------
def _new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def endpoint_secret(endpoint: WebhookEndpoint) -> str:
    """The endpoint's ``whsec_...`` secret, decrypted."""
    return crypto.decrypt(endpoint.secret_encrypted)["secret"]


def _check_url(url: str) -> str:
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"url": "Enter an http or https URL."}) from None
    # user:password@ would be kept in the endpoint's history and in error messages, and is
    # never sent (the POST carries no Authorization): receivers verify the signature instead.
    problem = outbound.check_literal(url)
    if problem:
        raise ValidationError({"url": problem})
    if "@" in urlsplit(url).netloc:
        raise ValidationError(
            {"url": "Leave out user and password: receivers verify the signature instead."}
        )
    return url


def _host(url: str) -> str:
    """host:port of a URL, for messages: never its user, password, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


@transaction.atomic
def webhook_endpoint_create(
    *, actor, name: str, url: str, business_unit=None
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret. The secret is returned here, and only here."""
    require(actor, "incidents.manage_webhooks")
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the endpoint."})
    secret = _new_secret()
    endpoint = WebhookEndpoint(
        name=name,
        url=_check_url(url),
        business_unit=business_unit,
        secret_encrypted=crypto.encrypt({"secret": secret}),
        created_by=actor,
    )
    save_with_history(endpoint, actor=actor, reason="Webhook endpoint created")
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_set_active(
    *, actor, endpoint: WebhookEndpoint, active: bool
) -> WebhookEndpoint:
    """Pause or resume an endpoint. A paused one gets no new events, and its pending
    deliveries wait: resuming it makes them due at once (deliver_due sends them)."""
    require(actor, "incidents.manage_webhooks")
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if endpoint.active != active:
        endpoint.active = active
        save_with_history(
            endpoint, actor=actor, reason=f"Webhook endpoint {'resumed' if active else 'paused'}"
        )
        if active:
            _pending(Delivery.objects.filter(endpoint=endpoint)).update(
                next_attempt_at=timezone.now()
            )
    return endpoint


# Signing --------------------------------------------------------------------------------------
def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """The ``webhook-signature`` header value for one message, per Standard Webhooks."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    if isinstance(body, bytes):
        body = body.decode()
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def message_body(delivery: Delivery) -> bytes:
    """The JSON posted: the same bytes on every attempt (the event's time, not the attempt's)."""
    message = {
        "type": delivery.event,
        "timestamp": delivery.created_at.isoformat(),
        "subject": delivery.subject,
        "sequence": delivery.sequence,
        "data": delivery.payload,
    }
    return json.dumps(message, separators=(",", ":"), sort_keys=True).encode()


# Emitting -------------------------------------------------------------------------------------
KILL_SWITCH_EVENT = "use_case.kill_switch"


def _pending(deliveries):
    """Not yet delivered and not abandoned (an abandoned one has no next attempt)."""
    return deliveries.filter(delivered_at__isnull=True, next_attempt_at__isnull=False)


DELIVER_TASK = "incidents.tasks.deliver_webhook"


@transaction.atomic
def emit(*, event: str, payload: dict, subject: str, business_unit=None) -> list[Delivery]:
    """One Delivery per active endpoint that takes this event, sent once the change commits.

    An endpoint of a business unit gets that unit's events only; one of no unit gets all.
    """
    matching = WebhookEndpoint.objects.filter(active=True)
    if business_unit is None:
        matching = matching.filter(business_unit__isnull=True)
    else:
        matching = matching.filter(Q(business_unit__isnull=True) | Q(business_unit=business_unit))
    endpoints = list(matching)
    if not endpoints:
        return []
    # Stored as JSON the way it will be sent (dates as ISO strings, decimals as strings).
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    # Locks the subject's counter until commit: its events take numbers in commit order.
    sequence = next_number(f"webhook:{subject}"[:40])
    now = timezone.now()
    deliveries = []
    for endpoint in endpoints:
        delivery = Delivery.objects.create(
            endpoint=endpoint,
            message_id="msg_" + uuid.uuid4().hex,
            event=event,
            subject=subject,
            sequence=sequence,
            payload=payload,
            next_attempt_at=now,
        )
        outbox.enqueue(DELIVER_TASK, delivery.id)
        deliveries.append(delivery)
    return deliveries


def _older_kill_switch_deliveries(delivery: Delivery):
    """The same endpoint's earlier kill-switch deliveries for the same use case."""
    return Delivery.objects.filter(
        endpoint_id=delivery.endpoint_id,
        event=KILL_SWITCH_EVENT,
        payload__use_case=delivery.payload["use_case"],
        pk__lt=delivery.pk,
    )


def _newer_kill_switch_delivery(delivery: Delivery) -> Delivery | None:
    """The newest kill-switch delivery for the same use case and endpoint after this one."""
    return (
        Delivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            event=KILL_SWITCH_EVENT,
            payload__use_case=delivery.payload.get("use_case"),
            pk__gt=delivery.pk,
        )
        .order_by("-pk")
        .first()
    )


def _supersede(deliveries, newer: Delivery) -> int:
    """Abandon these pending deliveries: the newer message says what they said, and more."""
    return _pending(deliveries).update(
        next_attempt_at=None, last_error=f"superseded by {newer.message_id}"
    )


@transaction.atomic
def emit_kill_switch(*, actor, use_case, reason: str) -> list[Delivery]:
    """Announce whether the use case's AI may run (its kill switch moved, or its lifecycle
    made it start or stop running), superseding the earlier announcements not yet delivered.

    ``changed_at`` is what the poll endpoint answers; ``sequence`` is the id of the use case's
    history record of this change, so it only grows per use case (changes are made under the
    use case's row lock, one after another). Call it after the change is saved.
    """
    sequence = use_case.history.order_by("-history_id").values_list("history_id", flat=True).first()
    deliveries = emit(
        event=KILL_SWITCH_EVENT,
        subject=f"use_case:{use_case.reference}",
        payload={
            "use_case": use_case.reference,
            "title": use_case.title,
            "business_unit": use_case.business_unit.code,
            "kill_switch_engaged": use_case.kill_switch_engaged,
            "enabled": use_case.ai_enabled,
            "lifecycle": use_case.lifecycle,
            "reason": reason,
            "by": actor.get_username() if actor is not None else None,
            # As the poll writes it (isoformat, to the microsecond), so the two compare equal.
            "changed_at": (use_case.kill_switch_changed_at or use_case.created_at).isoformat(),
            "sequence": sequence or 0,
        },
        business_unit=use_case.business_unit,
    )
    for delivery in deliveries:
        # One being sent right now is locked: skip it rather than wait for its answer (deliver
        # checks again before any retry of it, so it is never sent after this one).
        older = _pending(_older_kill_switch_deliveries(delivery)).select_for_update(
            skip_locked=True
        )
        _supersede(
            Delivery.objects.filter(pk__in=list(older.values_list("pk", flat=True))), delivery
        )
    return deliveries


# Delivering -----------------------------------------------------------------------------------
def _due(delivery: Delivery, now: datetime) -> bool:
    return (
        delivery.delivered_at is None
        and delivery.next_attempt_at is not None
        and delivery.next_attempt_at <= now
    )


def backoff(attempts: int) -> timedelta:
    """How long after its n-th failed attempt a delivery is tried again: doubling, at most an
    hour, and hourly from WEBHOOK_MAX_ATTEMPTS on (it is never given up for failing)."""
    if attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        return timedelta(seconds=MAX_BACKOFF_SECONDS)
    seconds = settings.WEBHOOK_RETRY_SECONDS * 2 ** (attempts - 1)
    return timedelta(seconds=min(seconds, MAX_BACKOFF_SECONDS))


def _earlier_pending(delivery: Delivery):
    """The same endpoint's pending deliveries of the same subject that come before it."""
    if not delivery.subject:
        return Delivery.objects.none()
    return _pending(
        Delivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            subject=delivery.subject,
            sequence__lt=delivery.sequence,
        )
    )


def _release_next(delivery: Delivery, now: datetime) -> None:
    """After an acknowledgement: the subject's next pending delivery is due now."""
    if not delivery.subject:
        return
    following = (
        _pending(
            Delivery.objects.filter(
                endpoint_id=delivery.endpoint_id,
                subject=delivery.subject,
                sequence__gt=delivery.sequence,
            )
        )
        .order_by("sequence")
        .first()
    )
    if following is not None:
        Delivery.objects.filter(pk=following.pk).update(next_attempt_at=now)
        outbox.enqueue(DELIVER_TASK, following.pk)


def deliver(delivery_id: int, *, now: datetime | None = None) -> Delivery | None:
    """Send one delivery if it is due and record the outcome; None when nothing was sent
    (not due, already delivered, abandoned, superseded by a newer kill-switch event, its
    endpoint paused, or another worker is sending it).

    The row stays locked (FOR UPDATE SKIP LOCKED) while it is sent, so two workers never send
    one delivery at once; a worker that dies mid-send releases it, and it is sent again
    (receivers drop repeats by webhook-id). ``now`` is the clock for scheduling (tests move
    it); the signed ``webhook-timestamp`` is always the real time of the attempt.
    """
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or not _due(delivery, now):
            return None
        endpoint = delivery.endpoint
        if not endpoint.active:
            # It waits (next_attempt_at kept): resuming the endpoint makes it due again.
            delivery.last_error = "Not sent: the endpoint is paused."
            delivery.save(update_fields=["last_error"])
            return None
        if delivery.event == KILL_SWITCH_EVENT:
            # A newer state of the same switch exists (emitted while this one waited to be
            # retried): sending this one now would undo it at the receiver.
            newer = _newer_kill_switch_delivery(delivery)
            if newer is not None:
                _supersede(Delivery.objects.filter(pk=delivery.pk), newer)
                return None
        earlier = _earlier_pending(delivery).order_by("sequence").first()
        if earlier is not None:
            # In order: this one waits until the earlier one is acknowledged (which makes
            # this one due at once), trying no sooner than the earlier one's next attempt.
            delivery.next_attempt_at = max(earlier.next_attempt_at, now)
            delivery.last_error = f"Waiting for {earlier.message_id} (sequence {earlier.sequence})."
            delivery.save(update_fields=["next_attempt_at", "last_error"])
            return None
        body = message_body(delivery)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                endpoint_secret(endpoint), delivery.message_id, timestamp, body
            ),
        }
        delivery.attempts += 1
        try:
            delivery.last_status = outbound.post_trusted(
                endpoint.url,
                headers=headers,
                body=body,
                timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS),
                max_bytes=MAX_RESPONSE_BYTES,
            )
        except outbound.PostFailed as exc:
            metrics.WEBHOOK_FAILURES.inc()
            delivery.last_status = exc.status
            delivery.last_error = exc.message
            delivery.next_attempt_at = now + backoff(delivery.attempts)
            newer = (
                _newer_kill_switch_delivery(delivery)
                if delivery.event == KILL_SWITCH_EVENT
                else None
            )
            if newer is not None:
                # The switch moved again while this one was being sent (it was locked, so the
                # newer one could not supersede it then, and waits behind it): no retry of
                # the older state, and the newer one is due now, not after this backoff.
                delivery.next_attempt_at = None
                delivery.last_error = f"{exc.message}; superseded by {newer.message_id}"
                _release_next(delivery, now)
            elif delivery.attempts == settings.WEBHOOK_MAX_ATTEMPTS:
                logger.warning(
                    "Webhook %s to %s failed %d times; retried hourly until acknowledged",
                    delivery.message_id,
                    endpoint,
                    delivery.attempts,
                )
        else:
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            delivery.last_error = ""
            _release_next(delivery, now)
        delivery.save(
            update_fields=[
                "attempts",
                "last_status",
                "last_error",
                "next_attempt_at",
                "delivered_at",
            ]
        )
    return delivery


def deliver_due(now: datetime | None = None) -> int:
    """Send the deliveries whose next attempt is due; how many were attempted.

    A paused endpoint's deliveries are left out, so they never take a batch's places.
    """
    now = now or timezone.now()
    due = list(
        Delivery.objects.filter(
            delivered_at__isnull=True,
            next_attempt_at__lte=now,
            endpoint__active=True,
        )
        .order_by("next_attempt_at", "sequence", "pk")
        .values_list("pk", flat=True)[:DUE_BATCH]
    )
    return sum(deliver(delivery_id, now=now) is not None for delivery_id in due)
