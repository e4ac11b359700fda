"""A person's API tokens die with their password and their account.

A token is a password that never expires, so it must not outlive what it stood for: when a
person's password is set (changed, reset, set by an admin, in the shell) or their account is
deactivated, their personal API tokens (rest_framework.authtoken) are deleted. Done here, on
the user model's save, so that every path revokes them without calling anything: the password
change and reset pages, the admin, the people pages, ``manage.py changepassword``, the shell.

Not revoked: a rehash of the same password on sign-in (Django upgrading the hasher saves
``update_fields=["password"]`` after clearing ``_password``); and the tokens of deployed
systems (kill-switch tokens, push-source tokens), which belong to a use case or a metric source
rather than a person and would switch production off with the person who made them. Those are
revoked on their own pages.

A bulk ``QuerySet.update(is_active=False)`` sends no signal: deactivate people with ``save()``.
Deactivated people's tokens are refused anyway (TokenAuthentication checks ``is_active``);
revoking them means reactivating someone does not bring an old token back.
"""

import logging

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save
from rest_framework.authtoken.models import Token

log = logging.getLogger("steward.security")
_REASON = "_steward_revoke_tokens"
WATCHED = frozenset({"password", "is_active"})


def _note_revocation(sender, instance, update_fields=None, raw=False, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    if update_fields is not None and not WATCHED.intersection(update_fields):
        return  # e.g. last_login on each sign-in
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    reason = None
    rehash = update_fields is not None and set(update_fields) == {"password"}
    if getattr(instance, "_password", None) is not None:
        reason = "password changed"  # set_password() was called on this object
    elif before["password"] != instance.password and not rehash:
        reason = "password changed"
    if before["is_active"] and not instance.is_active:
        reason = "account deactivated"
    setattr(instance, _REASON, reason)


def _revoke(sender, instance, created=False, raw=False, **kwargs) -> None:
    reason = getattr(instance, _REASON, None)
    if created or raw or not reason:
        return
    setattr(instance, _REASON, None)
    deleted, _ = Token.objects.filter(user=instance).delete()
    if deleted:
        log.info("API token of %s revoked: %s", instance.get_username(), reason)


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(_note_revocation, sender=user_model, dispatch_uid="portal:revoke-note")
    post_save.connect(_revoke, sender=user_model, dispatch_uid="portal:revoke")
