"""Limits on guessing: sign-in (the portal's and the admin's), the sign-off's password,
password resets, and the API per token.

Without them a password falls to patience: twenty wrong guesses and then the right one used
to work. Each limit counts attempts per person (the user name typed, the email asked for, the
signer) in a window; once the count reaches the limit, every further attempt in that window
is refused with "Too many attempts; try again in N minutes." and the right password does not
help until the window ends. A success clears the count.

Each attempt is counted before it is tried, by one statement that adds it and reads the new
count (``AttemptCount``, an upsert): guesses sent in parallel each get a count of their own, so
no more than the limit are ever tried in a window, where reading the count and then writing it
back let every parallel guess read the same count and pass. The counts are rows in the
database, shared by the portal's web processes (a count kept in one process's memory would
let each be guessed at separately), and rows of windows long over are removed by the
outbox's daily prune. Counting by person rather than by address means a proxy in front of
the portal cannot make everyone share one count; the cost is that someone may lock a person
out for a window by guessing at their name, which the log shows (``steward.security``).

The API's own limit (requests per token, a 429 with ``Retry-After``) is DRF's throttling on
Django's default cache: ``portal.api.TokenRateThrottle``.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from portal.models import AttemptCount

log = logging.getLogger("steward.security")


class TooManyAttempts(Exception):
    """The limit is reached; ``str(error)`` is the message to show."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        minutes = max(1, math.ceil(seconds / 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(f"Too many attempts; try again in {minutes} {unit}.")


@dataclass(frozen=True)
class Limit:
    """At most ``attempts_setting`` attempts per person in ``minutes_setting`` minutes."""

    scope: str
    attempts_setting: str
    minutes_setting: str

    @property
    def attempts(self) -> int:
        return int(getattr(settings, self.attempts_setting))

    @property
    def window(self) -> float:
        return float(getattr(settings, self.minutes_setting)) * 60

    def _key(self, who: str) -> str:
        # Hashed: what people type is not a safe cache key (spaces, length), nor worth keeping.
        digest = hashlib.sha256(who.strip().lower().encode()).hexdigest()[:32]
        return f"throttle:{self.scope.replace(' ', '-')}:{digest}"

    def check(self, who: str) -> None:
        """Refuse (TooManyAttempts) while the person is over the limit; counts nothing."""
        row = AttemptCount.objects.filter(key=self._key(who)).values("started", "count").first()
        if row and row["count"] >= self.attempts:
            left = row["started"] + self.window - time.time()
            if left > 0:
                log.warning("%s refused for %r: over the limit", self.scope, who)
                raise TooManyAttempts(left)

    def attempt(self, who: str) -> int:
        """Count one attempt before it is tried; TooManyAttempts if it is past the limit (it
        must not be tried then), else its number in the window."""
        # Someone already locked out is refused by a read: hammering a locked account writes
        # nothing (on SQLite every write waits for the one write lock). The count below stays
        # the gate for attempts that race each other.
        self.check(who)
        count, started = self._add_one(self._key(who))
        if count > self.attempts:
            log.warning("%s refused for %r: over the limit", self.scope, who)
            raise TooManyAttempts(max(1.0, started + self.window - time.time()))
        return count

    def failed(self, who: str, count: int) -> None:
        """The attempt ``count`` (from ``attempt``) failed: log when it used up the limit."""
        if count == self.attempts:
            log.warning(
                "%s locked for %r after %d attempts in %g minutes",
                self.scope,
                who,
                count,
                self.window / 60,
            )

    def _add_one(self, key: str) -> tuple[int, float]:
        """Add an attempt to the window (a new window if the last one is over) and read the
        count back, in one statement: the row is locked from the write to the answer, so two
        attempts at once are counted one after the other."""
        now = time.time()
        table = connection.ops.quote_name(AttemptCount._meta.db_table)
        over = f"{table}.started + %s <= %s"
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO {table} ("key", started, count) VALUES (%s, %s, 1) '
                f'ON CONFLICT ("key") DO UPDATE SET '
                f"started = CASE WHEN {over} THEN %s ELSE {table}.started END, "
                f"count = CASE WHEN {over} THEN 1 ELSE {table}.count + 1 END "
                "RETURNING count, started",
                [key, now, self.window, now, now, self.window, now],
            )
            count, started = cursor.fetchone()
        return count, started

    def hit(self, who: str) -> None:
        """Count an attempt that is limited whether or not it succeeds (a reset email)."""
        self.failed(who, self.attempt(who))

    def clear(self, who: str) -> None:
        AttemptCount.objects.filter(key=self._key(who)).delete()


def prune(*, now: float | None = None) -> int:
    """Remove the counts of windows that are over (a count is only read within its window),
    and at least a day old; how many."""
    now = now or time.time()
    longest = max(limit.window for limit in (SIGN_IN, SIGN_OFF_PASSWORD, PASSWORD_RESET))
    deleted, _ = AttemptCount.objects.filter(started__lt=now - max(longest, 86_400)).delete()
    return deleted


SIGN_IN = Limit("sign-in", "SIGN_IN_MAX_FAILURES", "SIGN_IN_LOCKOUT_MINUTES")
# The sign-off re-entry counts apart from sign-in (a signed-in session guessing its own
# password), with the same numbers.
SIGN_OFF_PASSWORD = Limit("sign-off password", "SIGN_IN_MAX_FAILURES", "SIGN_IN_LOCKOUT_MINUTES")
PASSWORD_RESET = Limit(
    "password reset", "PASSWORD_RESET_MAX_REQUESTS", "PASSWORD_RESET_WINDOW_MINUTES"
)


def check_password(limit: Limit, user, password: str) -> bool:
    """``user.check_password`` under a limit: TooManyAttempts once over it."""
    who = str(user.pk)
    count = limit.attempt(who)
    if password and user.check_password(password):
        limit.clear(who)
        return True
    limit.failed(who, count)
    return False


def check_signer(user, password: str) -> None:
    """A signature's password re-entry (assessments, statements, board packs): ValidationError
    on the ``password`` field unless it is the signer's own, under the sign-off limit. Call it
    outside the signing transaction: a wrong password must count towards the limit even though
    the signature is refused (a rollback would undo the count)."""
    try:
        ok = check_password(SIGN_OFF_PASSWORD, user, password)
    except TooManyAttempts as exc:
        raise ValidationError({"password": str(exc)}) from None
    if not ok:
        raise ValidationError({"password": "Enter your own password to sign."})
