"""Limits on guessing: sign-in (the portal's and the admin's), the sign-off's password,
password resets, and the API per token.

Without them a password falls to patience: twenty wrong guesses and then the right one used
to work. Each limit counts attempts per person (the user name typed, the email asked for, the
signer) in a window; once the count reaches the limit, every further attempt in that window
is refused with "Too many attempts; try again in N minutes." and the right password does not
help until the window ends. A success clears the count.

The counts live in Django's default cache, which settings point at a database table
(``CACHE_URL``): the portal runs several web processes, and a count kept in one process's
memory would let each process be guessed at separately. Counting by person rather than by
address means a proxy in front of the portal cannot make everyone share one count; the cost is
that someone may lock a person out for a window by guessing at their name, which the log shows
(``steward.security``).

The API's own limit (requests per token, a 429 with ``Retry-After``) is DRF's throttling on the
same cache: ``portal.api.TokenRateThrottle``.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

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
        """Refuse (TooManyAttempts) while the person is over the limit."""
        state = cache.get(self._key(who))
        if state and state["count"] >= self.attempts:
            left = state["start"] + self.window - time.time()
            if left > 0:
                log.warning("%s refused for %r: over the limit", self.scope, who)
                raise TooManyAttempts(left)

    def count(self, who: str) -> None:
        """Record one attempt (a failed one, or any one for resets)."""
        key = self._key(who)
        now = time.time()
        state = cache.get(key)
        if not state or state["start"] + self.window <= now:
            state = {"start": now, "count": 0}
        state["count"] += 1
        cache.set(key, state, timeout=max(1, math.ceil(state["start"] + self.window - now)))
        if state["count"] == self.attempts:
            log.warning(
                "%s locked for %r after %d attempts in %g minutes",
                self.scope,
                who,
                state["count"],
                self.window / 60,
            )

    def hit(self, who: str) -> None:
        """Check, then count: for requests limited whether or not they succeed."""
        self.check(who)
        self.count(who)

    def clear(self, who: str) -> None:
        cache.delete(self._key(who))


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
    limit.check(who)
    if password and user.check_password(password):
        limit.clear(who)
        return True
    limit.count(who)
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
