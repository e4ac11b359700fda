"""The kill switch as deployed systems see it: their tokens, and the answer to a poll.

A deployed system holds a token of its own (``sks_...``) that reads one use case's kill switch
and nothing else. It polls ``GET /api/v1/kill-switch/`` every ``KILL_SWITCH_POLL_SECONDS``;
the answer carries a strong ETag, so a poll while nothing changed is a 304 with no body.

A poll must stay cheap however many systems poll: each web process keeps every live token
with its use case's state (PollBook), read whole in one statement at most every
``KILL_SWITCH_CACHE_SECONDS`` (so a switch-off reaches every poller within that time plus
one poll interval), and ``last_polled_at`` is written at most once per ``POLL_RECORD_SECONDS``
per token, batched per web process (PollRecorder), so most polls read and write nothing.

The AI is *enabled* when the kill switch is released and the use case is live (pilot or
production): a suspended or retired use case must not run even with the switch released, and
a proposed one has not been allowed to go live yet.
"""

import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.http import parse_etags

from incidents.models import KillSwitchToken
from portal.access import require
from registry.models import UseCase
from registry.models.usecases import LIVE_LIFECYCLES

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
    forget_poll_states()
    return token, raw


@transaction.atomic
def kill_switch_token_revoke(*, actor, token: KillSwitchToken) -> KillSwitchToken:
    """The token stops working at once. Revoking twice keeps the first time."""
    token = KillSwitchToken.objects.select_for_update().select_related("use_case").get(pk=token.pk)
    require(actor, "incidents.manage_kill_switch_tokens", token.use_case)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        forget_poll_states()
    return token


@dataclass(frozen=True, slots=True)
class PollState:
    """What a poll needs of a live token and its use case, read in one statement."""

    token_id: int
    last_polled_at: datetime | None
    reference: str
    lifecycle: str
    kill_switch_engaged: bool
    changed_at: datetime  # when the switch last moved, or the use case's creation if never

    @property
    def enabled(self) -> bool:
        return not self.kill_switch_engaged and self.lifecycle in LIVE_LIFECYCLES


@lru_cache(maxsize=2)
def _poll_sql(by_hash: bool = True) -> str:
    """Live tokens joined to their use cases: one, by the token's hash (an indexed lookup),
    or all of them. Written in SQL rather than built by the ORM on every poll: building the
    query was most of a poll's cost."""
    qn = connection.ops.quote_name
    t, u = KillSwitchToken._meta, UseCase._meta

    def tc(name: str) -> str:
        return "t." + qn(t.get_field(name).column)

    def uc(name: str) -> str:
        return "u." + qn(u.get_field(name).column)

    columns = [
        tc("id"),
        tc("token_hash"),
        tc("last_polled_at"),
        uc("reference"),
        uc("lifecycle"),
        uc("kill_switch_engaged"),
        uc("kill_switch_changed_at"),
        uc("created_at"),
    ]
    return (
        f"SELECT {', '.join(columns)} FROM {qn(t.db_table)} t "
        f"JOIN {qn(u.db_table)} u ON u.{qn(u.pk.column)} = {tc('use_case')} "
        f"WHERE {tc('revoked_at')} IS NULL" + (f" AND {tc('token_hash')} = %s" if by_hash else "")
    )


def _aware(value) -> datetime | None:
    """A timestamp as the ORM would give it: aware, in UTC (SQLite hands back naive ones)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value.astimezone(UTC)


def _state(row) -> PollState:
    token_id, _, polled, reference, lifecycle, engaged, changed, created = row
    return PollState(
        token_id=token_id,
        last_polled_at=_aware(polled),
        reference=reference,
        lifecycle=lifecycle,
        kill_switch_engaged=bool(engaged),
        changed_at=_aware(changed or created),  # type: ignore[arg-type]
    )


def _read_one(digest: str) -> PollState | None:
    with connection.cursor() as cursor:
        cursor.execute(_poll_sql(), [digest])
        row = cursor.fetchone()
    # The index found it by hash; compare in constant time all the same.
    if row is None or not hmac.compare_digest(row[1], digest):
        return None
    return _state(row)


def _read_all() -> dict[str, PollState]:
    with connection.cursor() as cursor:
        cursor.execute(_poll_sql(by_hash=False))
        return {row[1]: _state(row) for row in cursor.fetchall()}


class PollBook:
    """Each web process's copy of every live token with its use case's state.

    Read whole, in one statement, when it is older than KILL_SWITCH_CACHE_SECONDS, so a poll
    costs no query at all. What that promises: an answer is never older than
    KILL_SWITCH_CACHE_SECONDS, counted from the start of the statement that read it, so a
    poll sent that long after a switch-off (or a revocation) committed says "off" (or 401),
    whichever process answers it. The setting must stay well under the poll interval (a
    system check says so); 0 turns the copy off and every poll reads the database.

    A change made in this process (a switch, any use-case save, a token made or revoked)
    empties the copy at once and again after its commit, so this process's own next poll
    reads it. A token the copy does not know (made since) is read on its own and added.
    """

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, PollState] = {}
        self._loaded_at = -math.inf
        self._generation = 0  # moved by invalidate(); a reload it overtook does not count

    def invalidate(self) -> None:
        self._generation += 1
        self._loaded_at = -math.inf

    def state(self, digest: str) -> PollState | None:
        ttl = settings.KILL_SWITCH_CACHE_SECONDS
        if ttl <= 0:
            return _read_one(digest)
        if self._clock() - self._loaded_at >= ttl:
            with self._lock:
                if self._clock() - self._loaded_at >= ttl:
                    generation, started = self._generation, self._clock()
                    self._states = _read_all()
                    if generation == self._generation:
                        self._loaded_at = started
        state = self._states.get(digest)
        if state is None:
            state = _read_one(digest)
            if state is not None:
                self._states[digest] = state
        return state


book = PollBook()


def poll_state_for_raw(raw: str | None) -> PollState | None:
    """The live token a raw value belongs to, with what a poll needs of its use case (from
    this process's PollBook: usually no query at all).

    None for anything that is not a live token (unknown, revoked, malformed)."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    return book.state(_digest(raw))


def forget_poll_states() -> None:
    """A change a poll answers from was made in this process: read it on the next poll, and
    again after the commit (a poll in between could have read the state before it)."""
    book.invalidate()
    transaction.on_commit(book.invalidate)


class PollRecorder:
    """Writes ``last_polled_at`` for the tokens this process heard from, in one statement.

    A token's time is written only when the one read with it is older than
    POLL_RECORD_SECONDS, and then at most KILL_SWITCH_POLL_FLUSH_SECONDS late: the first such
    poll after a quiet spell writes at once; later ones wait for the next flush, which the
    first poll after that time does for all of them. With 20,000 systems polling every 10 s,
    that is about one UPDATE a second per web process instead of two thousand.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: set[int] = set()
        self._flushed_at = -math.inf

    def heard(self, state: PollState, now: datetime) -> None:
        stale = now - timedelta(seconds=POLL_RECORD_SECONDS)
        # The time read with the state may be as old as the state (KILL_SWITCH_CACHE_SECONDS):
        # a token asked for twice in that time is written once, by the UPDATE's condition.
        if state.last_polled_at is not None and state.last_polled_at >= stale:
            return
        with self._lock:
            self._pending.add(state.token_id)
            if time.monotonic() - self._flushed_at < settings.KILL_SWITCH_POLL_FLUSH_SECONDS:
                return
            ids, self._pending = self._pending, set()
            self._flushed_at = time.monotonic()
        self._write(ids, now)

    def flush(self, now: datetime | None = None) -> None:
        """Write whatever is waiting (tests, and a process that is stopping)."""
        with self._lock:
            ids, self._pending = self._pending, set()
            self._flushed_at = time.monotonic()
        self._write(ids, now or timezone.now())

    def _write(self, ids: set[int], now: datetime) -> None:
        if not ids:
            return
        stale = now - timedelta(seconds=POLL_RECORD_SECONDS)
        # The WHERE clause makes processes that heard one token at once write it once.
        KillSwitchToken.objects.filter(pk__in=sorted(ids)).filter(
            Q(last_polled_at__isnull=True) | Q(last_polled_at__lt=stale)
        ).update(last_polled_at=now)


recorder = PollRecorder()


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
    state: PollState, if_none_match: str | None = None, *, now: datetime | None = None
) -> PollAnswer:
    """What a poll with this (already looked-up) token gets."""
    now = now or timezone.now()
    recorder.heard(state, now)
    data = {
        "use_case": state.reference,
        "enabled": state.enabled,
        "kill_switch_engaged": state.kill_switch_engaged,
        "lifecycle": state.lifecycle,
        "changed_at": state.changed_at.isoformat(),
        "poll_seconds": settings.KILL_SWITCH_POLL_SECONDS,
    }
    body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    if _matches(if_none_match, etag):
        return PollAnswer(304, b"", etag, data)
    return PollAnswer(200, body, etag, data)
