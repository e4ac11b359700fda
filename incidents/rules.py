"""Who may do what with runbooks and incidents, written once (grants: see registry/rules.py).

Everything follows the use case. Whoever reads a use case reads its runbook and its incidents.
A runbook is written by the use case's editors and by the risk officers and DPOs of its unit:
they are the people who answer for what happens when the AI misbehaves. An incident is opened
by the same people; it is worked by its owner as well, and a risk officer, DPO or admin can still
work it once the use case is retired (its last incident must still be closable). Auditors
read everything and change nothing.
"""

import rules

from portal.access import access_for, can
from registry.rules import is_admin, is_auditor, is_dpo, is_retired, is_risk_officer


def _use_case_of(obj):
    """The use case a record belongs to: a use case is its own; a runbook's or incident's."""
    if obj is None:
        return None
    if hasattr(obj, "lifecycle"):
        return obj
    return obj.use_case


@rules.predicate
def edits_use_case(user, obj) -> bool:
    use_case = _use_case_of(obj)
    return use_case is not None and can(user, "registry.change_usecase", use_case)


@rules.predicate
def sees_use_case(user, obj) -> bool:
    use_case = _use_case_of(obj)
    return use_case is not None and can(user, "registry.view_usecase", use_case)


@rules.predicate
def in_use_case_unit(user, obj) -> bool:
    use_case = _use_case_of(obj)
    return use_case is not None and use_case.business_unit_id in access_for(user).unit_ids


@rules.predicate
def owns_incident(user, incident) -> bool:
    return incident is not None and incident.owner_id is not None and incident.owner_id == user.pk


@rules.predicate
def of_retired_use_case(user, obj) -> bool:
    use_case = _use_case_of(obj)
    return use_case is not None and is_retired(user, use_case)


# The risk function of the unit: they answer for incidents whoever edits the use case.
risk_function = is_admin | ((is_risk_officer | is_dpo) & in_use_case_unit)

# Runbooks (obj: the use case, or its runbook).
rules.add_perm("incidents.view_runbook", sees_use_case)
rules.add_perm(
    "incidents.change_runbook",
    ~is_auditor & ~of_retired_use_case & (edits_use_case | risk_function),
)

# Incidents. view_incident and change_incident take an incident; open_incident a use case.
rules.add_perm("incidents.view_incident", sees_use_case)
rules.add_perm(
    "incidents.open_incident",
    ~is_auditor & ~of_retired_use_case & (edits_use_case | risk_function),
)
rules.add_perm(
    "incidents.change_incident",
    ~is_auditor & (owns_incident | edits_use_case | risk_function),
)

# The tokens deployed systems poll the kill switch with (obj: the use case): its editors.
rules.add_perm("incidents.manage_kill_switch_tokens", ~is_auditor & edits_use_case)

# Webhook endpoints carry every unit's events: the firm's admins configure them.
rules.add_perm("incidents.manage_webhooks", ~is_auditor & is_admin)
