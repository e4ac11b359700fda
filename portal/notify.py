"""Email to people about their records, sent through the outbox once the change commits."""

from portal import outbox

SEND_EMAIL = "portal.tasks.send_email"


def name(user) -> str:
    """How an email names a person: their full name, else their user name."""
    return (user.get_full_name() or user.get_username()) if user is not None else "Someone"


def email(recipients, subject: str, body: str) -> None:
    """Send one email to each person with an address, after the current transaction commits.

    Each address is one outbox message written with the change: a rolled-back change sends
    nothing, a broker that is down delays the mail and loses none of it, and the web request
    does not wait for the mail server.
    """
    addresses = sorted({u.email for u in recipients if u is not None and u.email})
    for address in addresses:
        outbox.enqueue(SEND_EMAIL, [address], subject, body)
