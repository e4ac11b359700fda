"""Signing a Statement of Applicability, as assessments are signed: the signer enters their
password again (under the same limit on guessing), and what is kept is exactly what was
signed (the statement's rows, as the signer saw them) with its SHA-256.

A framework's statement covers what the signer sees; a use case's rests on its signed-off
screening, whose signature it names.
"""

import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assessments.models import canonical_json, sha256_of
from compliance.models import Framework, SignedStatement
from compliance.soa import Statement, framework_statement, use_case_statement
from portal import throttle
from portal.access import require
from portal.records import next_reference
from registry.models import UseCase


def statement_sign(
    *,
    actor,
    password: str,
    note: str = "",
    framework: Framework | None = None,
    use_case: UseCase | None = None,
) -> SignedStatement:
    """Sign the statement of ``framework`` or of ``use_case`` as it stands now."""
    if (framework is None) == (use_case is None):
        raise TypeError("Sign the statement of a framework or of a use case, not both.")
    subject = framework if framework is not None else use_case
    require(actor, "compliance.sign_soa", subject)
    if use_case is not None:
        require(actor, "compliance.view_applicability", use_case)
    # Outside the transaction: a wrong password must count towards the limit on guessing.
    throttle.check_signer(actor, password)
    note = (note or "").strip()
    if framework is not None:
        return _keep(actor, framework_statement(actor, framework), note, framework=framework)
    assert use_case is not None
    statement = use_case_statement(use_case)
    if statement.basis is None:
        raise ValidationError(
            {
                "__all__": f"{use_case.reference} has no signed-off screening: its obligations "
                "are not known yet, so there is no statement to sign."
            }
        )
    return _keep(actor, statement, note, use_case=use_case)


@transaction.atomic
def _keep(actor, statement: Statement, note: str, **subject) -> SignedStatement:
    now = timezone.now()
    frozen = statement.frozen()
    content = canonical_json(
        {
            **frozen,
            "signed_by": actor.get_username(),
            "signed_by_id": actor.pk,
            "signed_by_name": actor.get_full_name(),
            "signed_at": now.isoformat(),
            "note": note,
        }
    )
    signed = SignedStatement(
        reference=next_reference("SOA"),
        title=statement.title,
        subject=statement.subject,
        as_of=statement.as_of,
        rows=frozen["rows"],
        basis=frozen["basis"],
        signed_by=actor,
        signed_at=now,
        note=note,
        content=content,
        sha256=sha256_of(content),
        **subject,
    )
    signed.full_clean()
    signed.save()
    return signed


def verified(signed: SignedStatement) -> bool:
    """The stored content hashes right and still holds the rows shown."""
    if sha256_of(signed.content) != signed.sha256:
        return False
    return json.loads(signed.content).get("rows") == signed.rows
