"""The kill switch as deployed systems see it: their tokens, and the answer to a poll.

A deployed system holds a token of its own (``sks_...``) that reads one use case's kill switch
and nothing else. It polls ``GET /api/v1/kill-switch/`` every ``KILL_SWITCH_POLL_SECONDS``;
the answer carries a strong ETag, so a poll while nothing changed is a 304 with no body.

A poll must stay cheap however many systems poll: one query reads the token with its use
case (and the time of the last kill-switch change, as a subquery), and ``last_polled_at`` is
written at most once per ``POLL_RECORD_SECONDS`` per token, by a conditional UPDATE, so most
polls write nothing.

The AI is *enabled* when the kill switch is released and the use case is live (pilot or
production): a suspended or retired use case must not run even with the switch released, and
a proposed one has not been allowed to go live yet.
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.http import parse_etags

from incidents.models import KillSwitchToken
from portal.access import require
from registry.models import UseCase

TOKEN_PREFIX = "sks_"
# last_polled_at is "within this many seconds": a poll writes only when it is older.
POLL_RECORD_SECONDS = 10


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def kill_switch_token_create(*, actor, use_case: UseCase, name: str) -> tuple[KillSwitchToken, str]:
    """A token for one deployed system. The raw token is returned here, and only here."""
    require(actor, "incidents.manage_kill_switch_tokens", use_case)
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the deployed system that will poll."})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = KillSwitchToken.objects.create(
        use_case=use_case,
        name=name,
        token_prefix=raw[:8],
        token_hash=_digest(raw),
        created_by=actor,
    )
    return token, raw


@transaction.atomic
def kill_switch_token_revoke(*, actor, token: KillSwitchToken) -> KillSwitchToken:
    """The token stops working at once. Revoking twice keeps the first time."""
    token = KillSwitchToken.objects.select_for_update().select_related("use_case").get(pk=token.pk)
    require(actor, "incidents.manage_kill_switch_tokens", token.use_case)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_for_raw(raw: str | None) -> KillSwitchToken | None:
    """The live token a raw value belongs to, with what a poll needs of its use case; one query.

    ``token.kill_switch_changed_at`` is when the switch last moved (set by
    use_case_set_kill_switch), or when the use case was created if it never moved.
    """
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    digest = _digest(raw)
    token = (
        KillSwitchToken.objects.filter(token_hash=digest, revoked_at__isnull=True)
        .select_related("use_case")
        .only(
            "id",
            "token_hash",
            "last_polled_at",
            "use_case__reference",
            "use_case__lifecycle",
            "use_case__kill_switch_engaged",
            "use_case__kill_switch_changed_at",
            "use_case__created_at",
        )
        .first()
    )
    if token is not None:
        use_case = token.use_case
        # Set here for the poll's answer; not a field of the token.
        token.kill_switch_changed_at = (  # type: ignore[attr-defined]
            use_case.kill_switch_changed_at or use_case.created_at
        )
    # The index found it by hash; compare in constant time all the same.
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    return token


def _record_poll(token: KillSwitchToken, now: datetime) -> None:
    """Set last_polled_at, unless it was set in the last POLL_RECORD_SECONDS.

    The value read with the token decides whether to write at all; the WHERE clause makes
    pollers that race on one token write once between them.
    """
    stale = now - timedelta(seconds=POLL_RECORD_SECONDS)
    if token.last_polled_at is not None and token.last_polled_at >= stale:
        return
    KillSwitchToken.objects.filter(pk=token.pk).filter(
        Q(last_polled_at__isnull=True) | Q(last_polled_at__lt=stale)
    ).update(last_polled_at=now)


@dataclass(frozen=True)
class PollAnswer:
    status: int  # 200, or 304 when the client's ETag still holds
    body: bytes  # the JSON (empty for a 304)
    etag: str  # quoted, strong
    data: dict


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x".
    return etag in {tag.removeprefix("W/") for tag in parse_etags(if_none_match)}


def kill_switch_answer(
    token: KillSwitchToken, if_none_match: str | None = None, *, now: datetime | None = None
) -> PollAnswer:
    """What a poll with this (already looked-up) token gets."""
    now = now or timezone.now()
    _record_poll(token, now)
    use_case = token.use_case
    engaged = use_case.kill_switch_engaged
    data = {
        "use_case": use_case.reference,
        "enabled": use_case.ai_enabled,
        "kill_switch_engaged": engaged,
        "lifecycle": use_case.lifecycle,
        "changed_at": token.kill_switch_changed_at.isoformat(),  # type: ignore[attr-defined]
        "poll_seconds": settings.KILL_SWITCH_POLL_SECONDS,
    }
    body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    if _matches(if_none_match, etag):
        return PollAnswer(304, b"", etag, data)
    return PollAnswer(200, body, etag, data)
