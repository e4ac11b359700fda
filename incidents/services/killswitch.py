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
class UseCaseAnswer:
    """What every token of one use case is answered, made once per read of its state."""

    reference: str
    lifecycle: str
    kill_switch_engaged: bool
    changed_at: datetime  # when the switch last moved, or the use case's creation if never
    data: dict
    body: bytes  # the JSON, canonical: the ETag is its hash
    etag: str  # quoted, strong

    @classmethod
    def make(cls, reference, lifecycle, engaged, changed_at) -> "UseCaseAnswer":
        engaged = bool(engaged)
        data = {
            "use_case": reference,
            "enabled": not engaged and lifecycle in LIVE_LIFECYCLES,
            "kill_switch_engaged": engaged,
            "lifecycle": lifecycle,
            "changed_at": changed_at.isoformat(),
            "poll_seconds": settings.KILL_SWITCH_POLL_SECONDS,
        }
        body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        return cls(reference, lifecycle, engaged, changed_at, data, body, etag)


@dataclass(frozen=True, slots=True)
class PollState:
    """A live token, as a poll finds it: its id, when it was last polled, and its answer."""

    token_id: int
    last_polled_at: datetime | None
    answer: UseCaseAnswer

    @property
    def enabled(self) -> bool:
        return bool(self.answer.data["enabled"])


def _quoted():
    qn = connection.ops.quote_name
    t, u = KillSwitchToken._meta, UseCase._meta

    def tc(name: str) -> str:
        return "t." + qn(t.get_field(name).column)

    def uc(name: str) -> str:
        return "u." + qn(u.get_field(name).column)

    return qn, t, u, tc, uc


@lru_cache(maxsize=1)
def _poll_sql() -> str:
    """One live token by its hash (an indexed lookup), joined to its use case. Written in
    SQL rather than built by the ORM on every poll: building the query was most of a poll's
    cost."""
    qn, t, u, tc, uc = _quoted()
    columns = [tc("id"), tc("token_hash"), tc("last_polled_at"), tc("use_case")]
    columns += [uc(f) for f in ("reference", "lifecycle", "kill_switch_engaged")]
    columns += [uc("kill_switch_changed_at"), uc("created_at")]
    return (
        f"SELECT {', '.join(columns)} FROM {qn(t.db_table)} t "
        f"JOIN {qn(u.db_table)} u ON u.{qn(u.pk.column)} = {tc('use_case')} "
        f"WHERE {tc('revoked_at')} IS NULL AND {tc('token_hash')} = %s"
    )


@lru_cache(maxsize=1)
def _copy_sql() -> tuple[str, str, str]:
    """The copy's three reads: the token table's signature (any token made, revoked or
    deleted changes it), the live tokens, and the states of the use cases they poll."""
    qn, t, u, tc, uc = _quoted()
    tokens = qn(t.db_table) + " t"
    signature = (
        f"SELECT COUNT(*), MAX({tc('id')}), COUNT({tc('revoked_at')}), MAX({tc('revoked_at')}) "
        f"FROM {tokens}"
    )
    live = (
        f"SELECT {tc('token_hash')}, {tc('id')}, {tc('use_case')}, {tc('last_polled_at')} "
        f"FROM {tokens} WHERE {tc('revoked_at')} IS NULL"
    )
    columns = [uc("id"), uc("reference"), uc("lifecycle"), uc("kill_switch_engaged")]
    columns += [uc("kill_switch_changed_at"), uc("created_at")]
    states = (
        f"SELECT {', '.join(columns)} FROM {qn(u.db_table)} u WHERE {uc('id')} IN "
        f"(SELECT {tc('use_case')} FROM {tokens} WHERE {tc('revoked_at')} IS NULL)"
    )
    return signature, live, states


def _aware(value) -> datetime | None:
    """A timestamp as the ORM would give it: aware, in UTC (SQLite hands back naive ones)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value.astimezone(UTC)


def _answer(reference, lifecycle, engaged, changed, created) -> UseCaseAnswer:
    return UseCaseAnswer.make(reference, lifecycle, engaged, _aware(changed or created))


def _read_one(digest: str) -> tuple[PollState, int] | None:
    """The token with that hash, read alone, and its use case's id; None if not live."""
    with connection.cursor() as cursor:
        cursor.execute(_poll_sql(), [digest])
        row = cursor.fetchone()
    # The index found it by hash; compare in constant time all the same.
    if row is None or not hmac.compare_digest(row[1], digest):
        return None
    token_id, _, polled, use_case_id, *use_case = row
    return PollState(token_id, _aware(polled), _answer(*use_case)), use_case_id


class PollBook:
    """Each web process's copy of every live token and of the state of each use case polled.

    Read again when older than KILL_SWITCH_CACHE_SECONDS, so a poll costs no query at all.
    What that promises: an answer is never older than KILL_SWITCH_CACHE_SECONDS, counted
    from the start of the statements that read it, so a poll sent that long after a
    switch-off (or a revocation) committed says "off" (or 401), whichever process answers
    it. The setting must stay well under the poll interval (a system check says so); 0
    turns the copy off and every poll reads the database.

    A read costs little however many systems poll: the use cases' states (one answer each,
    shared by their tokens) are read every time, the tokens only when the token table's
    signature (count, newest id, revocations) moved. A change made in this process (a
    switch, any use-case save, a token made or revoked) empties the copy at once and again
    after its commit, so this process's own next poll reads it. A token the copy does not
    know (made since) is read on its own and added.
    """

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # token hash: (token id, use case id, last polled at)
        self._tokens: dict[str, tuple[int, int, datetime | None]] = {}
        self._signature: tuple | None = None
        self._answers: dict[int, UseCaseAnswer] = {}
        self._made: dict[int, tuple[tuple, UseCaseAnswer]] = {}  # use case id: (row, answer)
        self._loaded_at = -math.inf
        self._generation = 0  # moved by invalidate(); a read it overtook does not count

    def invalidate(self) -> None:
        self._generation += 1
        self._loaded_at = -math.inf

    def _read(self) -> None:
        signature_sql, live_sql, states_sql = _copy_sql()
        with connection.cursor() as cursor:
            cursor.execute(signature_sql)
            signature = tuple(cursor.fetchone())
            if signature != self._signature:
                cursor.execute(live_sql)
                self._tokens = {
                    digest: (token_id, use_case_id, _aware(polled))
                    for digest, token_id, use_case_id, polled in cursor.fetchall()
                }
                self._signature = signature
            cursor.execute(states_sql)
            rows = cursor.fetchall()
        # An answer whose use case did not move is kept, not made again (its JSON and hash):
        # with thousands of use cases polled, remaking them all was most of a read's time.
        made, self._made = self._made, {}
        answers = {}
        interval = settings.KILL_SWITCH_POLL_SECONDS  # in the answer too
        for row in rows:
            use_case_id, state = row[0], (interval, *row[1:])
            kept = made.get(use_case_id)
            answer = kept[1] if kept is not None and kept[0] == state else _answer(*row[1:])
            self._made[use_case_id] = (state, answer)
            answers[use_case_id] = answer
        self._answers = answers

    def known(self, digest: str) -> PollState | None:
        """The token's state if the copy is fresh and knows it, reading nothing; else None
        (then state() answers, reading what it must)."""
        ttl = settings.KILL_SWITCH_CACHE_SECONDS
        if ttl <= 0 or self._clock() - self._loaded_at >= ttl:
            return None
        token = self._tokens.get(digest)
        answer = self._answers.get(token[1]) if token else None
        if token is None or answer is None:
            return None
        return PollState(token[0], token[2], answer)

    def state(self, digest: str) -> PollState | None:
        ttl = settings.KILL_SWITCH_CACHE_SECONDS
        if ttl <= 0:
            found = _read_one(digest)
            return found[0] if found else None
        if self._clock() - self._loaded_at >= ttl:
            with self._lock:
                if self._clock() - self._loaded_at >= ttl:
                    generation, started = self._generation, self._clock()
                    self._read()
                    if generation == self._generation:
                        self._loaded_at = started
        token = self._tokens.get(digest)
        answer = self._answers.get(token[1]) if token else None
        if token is None or answer is None:
            found = _read_one(digest)
            if found is None:
                return None
            state, use_case_id = found
            self._tokens[digest] = (state.token_id, use_case_id, state.last_polled_at)
            self._answers.setdefault(use_case_id, state.answer)
            return state
        return PollState(token[0], token[2], answer)


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
        # What this process wrote: the time read with a token may be much older.
        self._written: dict[int, datetime] = {}

    def _recent(self, state: PollState, now: datetime) -> bool:
        """Whether the token's last poll time is recent enough to write nothing."""
        stale = now - timedelta(seconds=POLL_RECORD_SECONDS)
        last: datetime | None = self._written.get(state.token_id) or state.last_polled_at
        if state.last_polled_at is not None and (last is None or state.last_polled_at > last):
            last = state.last_polled_at
        # Another process may have written it since: the UPDATE's condition then skips it.
        return last is not None and last >= stale

    def queued(self, state: PollState, now: datetime) -> bool:
        """heard() without the write: True when nothing is to be written now (the time is
        recent, or it waits for a flush that is not due); False when heard() would write, which
        the caller must then call where a query may be made."""
        if self._recent(state, now):
            return True
        with self._lock:
            if time.monotonic() - self._flushed_at >= settings.KILL_SWITCH_POLL_FLUSH_SECONDS:
                return False
            self._pending.add(state.token_id)
            return True

    def heard(self, state: PollState, now: datetime) -> None:
        if self._recent(state, now):
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
        qn, t, _, _, _ = _quoted()
        column, pk = qn(t.get_field("last_polled_at").column), qn(t.pk.column)
        adapt = connection.ops.adapt_datetimefield_value
        # The condition makes processes that heard one token at once write it once.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {qn(t.db_table)} SET {column} = %s WHERE {pk} IN "
                f"({', '.join(['%s'] * len(ids))}) AND ({column} IS NULL OR {column} < %s) "
                f"RETURNING {pk}",
                [adapt(now), *sorted(ids), adapt(stale)],
            )
            written = [row[0] for row in cursor.fetchall()]
        self._written.update(dict.fromkeys(written, now))


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
    if if_none_match == etag:  # what a poller sends: its last ETag as it was given
        return True
    if if_none_match.strip() == "*":
        return True
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x".
    return etag in {tag.removeprefix("W/") for tag in parse_etags(if_none_match)}


def kill_switch_answer(
    state: PollState, if_none_match: str | None = None, *, now: datetime | None = None
) -> PollAnswer:
    """What a poll with this (already looked-up) token gets."""
    recorder.heard(state, now or timezone.now())
    answer = state.answer
    if _matches(if_none_match, answer.etag):
        return PollAnswer(304, b"", answer.etag, answer.data)
    return PollAnswer(200, answer.body, answer.etag, answer.data)


def known_poll_answer(raw: str, if_none_match: str | None) -> PollAnswer | None:
    """kill_switch_answer() for a raw token when it needs no query at all: this process's copy
    is fresh and knows the token, and its last poll time need not be written now.

    None otherwise (a stale copy, a token the copy does not know or not a token at all, a
    poll time due to be written): the caller then answers as usual, reading what it must."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    state = book.known(_digest(raw))
    if state is None or not recorder.queued(state, timezone.now()):
        return None
    answer = state.answer
    if _matches(if_none_match, answer.etag):
        return PollAnswer(304, b"", answer.etag, answer.data)
    return PollAnswer(200, answer.body, answer.etag, answer.data)
