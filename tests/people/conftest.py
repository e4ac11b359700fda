"""Helpers for the people tests: the invitation link out of the email, as a person reads it."""

import re

import pytest
from django.core import mail
from django.db import connection

LINK = re.compile(r"https?://\S+/people/join/\S+/")


def link_in(message) -> str:
    found = LINK.findall(message.body)
    assert len(found) == 1, message.body
    return found[0]


@pytest.fixture
def sent(django_capture_on_commit_callbacks):
    """Run a change and its after-commit side effects; returns the emails it sent."""

    def run(action):
        before = len(mail.outbox)
        pending = len(connection.run_on_commit)
        with django_capture_on_commit_callbacks(execute=True):
            result = action()
        # Forget the callbacks just run, as a real commit does: the capture leaves them in
        # the list, and the outbox registers its relay only once per pending list.
        del connection.run_on_commit[pending:]
        return result, mail.outbox[before:]

    return run
