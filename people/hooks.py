"""What people adds at start-up (PeopleConfig.ready calls ``register_all``): a person's
history in the history browser and the audit log, and no version for a save that touches
only untracked fields (a sign-in). Invitations keep a history too (and the ledger chains it);
the person's page shows them."""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save

from people.models import UNTRACKED_USER_FIELDS
from people.selectors import people_visible_to
from portal.history import tracked as history


def _skip_untracked_save(sender, instance, update_fields=None, **kwargs) -> None:
    # A save of untracked fields only (last_login on each sign-in, a password rehashed on
    # sign-in) would write a version identical to the last: leave it out.
    if update_fields and set(update_fields) <= set(UNTRACKED_USER_FIELDS):
        instance.skip_history_when_saving = True
        instance._people_skipped = True


def _end_skip(sender, instance, **kwargs) -> None:
    if instance.__dict__.pop("_people_skipped", False):
        instance.__dict__.pop("skip_history_when_saving", None)


def register_all() -> None:
    User = get_user_model()
    # Connected after simple-history's own post_save (made when people.models registered the
    # user), so the skip is cleared only once the version it skipped would have been written.
    pre_save.connect(_skip_untracked_save, sender=User, dispatch_uid="people:skip-untracked")
    post_save.connect(_end_skip, sender=User, dispatch_uid="people:end-skip")
    history.register(
        User,
        key="user",
        rule="people.view_person",
        selector=people_visible_to,
        exclude=(*history.DEFAULT_EXCLUDE, "date_joined"),
    )
