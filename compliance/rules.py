"""Who may do what with frameworks, controls, evidence and applicability, written once.

Frameworks, controls and the crosswalk are the firm's: everyone signed in reads them. The risk
function (admins, risk officers, DPOs) runs the controls; admins and risk officers import
framework files. Evidence scoped to use cases is read by whoever reads one of them. A use
case's applicability follows the use case. Only a risk officer of the use case's unit accepts
an exception to an obligation: the gate asks for a named risk officer. Auditors read
everything and change nothing.
"""

import rules

from portal.access import access_for, can
from registry.rules import (
    has_a_unit,
    is_admin,
    is_auditor,
    is_authenticated,
    is_dpo,
    is_product_owner,
    is_retired,
    is_risk_officer,
    reads_everything,
)


def _use_case_of(obj):
    if obj is None:
        return None
    if hasattr(obj, "lifecycle"):
        return obj
    if hasattr(obj, "applicability_id"):  # an exception
        return obj.applicability.use_case
    return getattr(obj, "use_case", None)


@rules.predicate
def sees_use_case(user, obj) -> bool:
    use_case = _use_case_of(obj)
    return use_case is not None and can(user, "registry.view_usecase", use_case)


@rules.predicate
def in_use_case_unit(user, obj) -> bool:
    use_case = _use_case_of(obj)
    return use_case is not None and use_case.business_unit_id in access_for(user).unit_ids


@rules.predicate
def of_a_use_case(user, obj) -> bool:
    return _use_case_of(obj) is not None


@rules.predicate
def of_retired_use_case(user, obj) -> bool:
    use_case = _use_case_of(obj)
    return use_case is not None and is_retired(user, use_case)


@rules.predicate
def evidence_unscoped_or_visible(user, evidence) -> bool:
    if evidence is None:
        return False
    scoped = list(evidence.use_cases.all())
    return not scoped or any(can(user, "registry.view_usecase", u) for u in scoped)


@rules.predicate
def uploaded_it(user, evidence) -> bool:
    return evidence is not None and evidence.uploaded_by_id == user.pk


risk_function = is_admin | is_risk_officer | is_dpo

# Frameworks and the crosswalk.
rules.add_perm("compliance.view_framework", is_authenticated)
rules.add_perm("compliance.manage_frameworks", ~is_auditor & (is_admin | is_risk_officer))

# Controls: the firm's, run by the risk function.
rules.add_perm("compliance.view_control", is_authenticated)
rules.add_perm("compliance.manage_controls", ~is_auditor & risk_function)

# Evidence: added by the risk function and product owners; changed by the risk function or
# the person who added it.
rules.add_perm(
    "compliance.view_evidence", reads_everything | (is_authenticated & evidence_unscoped_or_visible)
)
rules.add_perm(
    "compliance.add_evidence", ~is_auditor & (risk_function | (is_product_owner & has_a_unit))
)
rules.add_perm("compliance.change_evidence", ~is_auditor & (risk_function | uploaded_it))

# A use case's obligations (obj: the use case, or one of its applicability rows).
rules.add_perm("compliance.view_applicability", sees_use_case)
rules.add_perm(
    "compliance.recompute_applicability",
    ~is_auditor
    & ~of_retired_use_case
    & sees_use_case
    & (is_admin | ((is_risk_officer | is_dpo) & in_use_case_unit)),
)
rules.add_perm(
    "compliance.accept_exception",
    ~is_auditor & ~of_retired_use_case & is_risk_officer & in_use_case_unit,
)

# Coverage and Statements of Applicability: read by everyone, over what they may see.
rules.add_perm("compliance.view_coverage", is_authenticated)
# A framework's statement (obj: the framework, or none) covers what the signer sees; a use
# case's is signed by an admin or a risk officer of its unit.
rules.add_perm(
    "compliance.sign_soa",
    ~is_auditor & (is_admin | (is_risk_officer & (~of_a_use_case | in_use_case_unit))),
)
