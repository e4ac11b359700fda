"""Email to people about their records, sent by a Celery task once the change commits."""

from django.db import transaction

from portal.tasks import send_email


def email(recipients, subject: str, body: str) -> None:
    """Queue one email to each person with an address, after the current transaction commits.

    A rolled-back change sends nothing; the web request does not wait for the mail server.
    """
    addresses = sorted({u.email for u in recipients if u is not None and u.email})
    if not addresses:
        return

    transaction.on_commit(lambda: send_email.delay(addresses, subject, body))
