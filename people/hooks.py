"""What people adds at start-up (PeopleConfig.ready calls ``register_all``): a person's
history and the invitations' in the history browser and the audit log."""

from django.contrib.auth import get_user_model

from people.models import Invitation
from people.selectors import invitations_visible_to, people_visible_to
from portal.history import tracked as history


def register_all() -> None:
    history.register(
        get_user_model(),
        key="user",
        rule="people.view_person",
        selector=people_visible_to,
        exclude=(*history.DEFAULT_EXCLUDE, "date_joined"),
    )
    history.register(Invitation, rule="people.view_invitation", selector=invitations_visible_to)
