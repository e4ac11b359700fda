"""Idempotency keys for the API's create endpoints.

A client that sends ``Idempotency-Key: <any unique text>`` with a POST that creates a record
can send the same request again (after a timeout, a dropped connection, a 5xx from a proxy)
and gets the first answer back, with ``Idempotent-Replayed: true``, instead of a second
record. Keys are per person, kept OUTBOX_KEEP_DAYS days. The same key with a different body
or address is refused (422): it is a client's bug, not a retry. An answer that was an error is
not kept, so a corrected request may reuse its key.

The key is written in the transaction that creates the record: a second request with the key
waits for the first to commit and then replays its answer.
"""

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from portal.models import IdempotentRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def _fingerprint(request) -> str:
    try:
        text = json.dumps(request.data, sort_keys=True, cls=DjangoJSONEncoder, default=str)
    except (TypeError, ValueError):
        text = repr(request.data)
    return hashlib.sha256(f"{request.method} {request.path}\n{text}".encode()).hexdigest()


def _replay(record: IdempotentRequest) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if record.location:
        headers["Location"] = record.location
    return Response(record.body, status=record.status, headers=headers)


def idempotent(create):
    """Wrap a viewset's ``create`` so an Idempotency-Key makes a retry safe."""
    if getattr(create, "idempotent", False):
        return create

    @wraps(create)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        if not key or not request.user.is_authenticated:
            return create(self, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            return Response({HEADER: [f"Use at most {MAX_KEY_LENGTH} characters."]}, status=400)
        fingerprint = _fingerprint(request)
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotentRequest.objects.create(
                        user=request.user,
                        key=key,
                        method=request.method,
                        path=request.path[:500],
                        fingerprint=fingerprint,
                    )
            except IntegrityError:
                record = IdempotentRequest.objects.get(user=request.user, key=key)
                if record.fingerprint != fingerprint:
                    return Response(
                        {
                            HEADER: [
                                "This key was used for a different request; use a new key "
                                "for each new request."
                            ]
                        },
                        status=422,
                    )
                return _replay(record)
            response = create(self, request, *args, **kwargs)
            if not 200 <= response.status_code < 300:
                transaction.set_rollback(True)
                return response
            record.status = response.status_code
            record.body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
            record.location = response.get("Location", "")[:500]
            record.save(update_fields=["status", "body", "location"])
            return response

    wrapper.idempotent = True
    return wrapper


def prune(*, now=None) -> int:
    """Forget keys older than OUTBOX_KEEP_DAYS; how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.OUTBOX_KEEP_DAYS)
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted
