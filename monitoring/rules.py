"""Who may do what with monitoring, written once (see registry/rules.py for the grants).

Everything here follows a use case: whoever reads the use case reads its deployments'
metrics, sources, flags and costs; whoever may change it may connect sources and set its
budget; resolving a flag is the same decision as clearing a re-assessment flag (risk officers
and DPOs of the unit, admins, even once the use case is retired). Rules themselves are the
risk function's: admins and risk officers write firm-wide rules, and a risk officer writes
rules for the use cases of their units.
"""

import rules

from portal.access import access_for, can
from registry.rules import is_admin, is_auditor, is_authenticated, is_dpo, is_risk_officer


def _use_case_of(obj):
    """The use case a monitoring record belongs to (a use case is its own)."""
    if obj is None:
        return None
    if hasattr(obj, "lifecycle"):  # a use case
        return obj
    if hasattr(obj, "use_case"):  # a deployment, flag or budget
        return obj.use_case
    return obj.deployment.use_case  # a source


def _follows(perm: str):
    @rules.predicate(name=f"follows({perm})")
    def check(user, obj) -> bool:
        use_case = _use_case_of(obj)
        return use_case is not None and can(user, perm, use_case)

    return check


@rules.predicate
def is_firm_wide(user, rule) -> bool:
    return rule is not None and rule.use_case_id is None


@rules.predicate
def rule_in_unit(user, rule) -> bool:
    """A firm-wide rule is nobody's unit's; a use case's rule is its unit's."""
    return (
        rule is not None
        and rule.use_case_id is not None
        and rule.use_case.business_unit_id in access_for(user).unit_ids
    )


# Sources, samples and charts: a deployment's or a source's use case decides.
rules.add_perm("monitoring.view_metrics", _follows("registry.view_usecase"))
rules.add_perm("monitoring.manage_source", _follows("registry.change_usecase"))


@rules.predicate
def no_record(user, obj) -> bool:
    return obj is None


# Rules: anyone signed in reads the list (firm-wide rules and their own use cases' rules, as
# rules_visible_to selects); a use case's rule is read by whoever reads the use case.
rules.add_perm(
    "monitoring.view_rule",
    is_authenticated & (no_record | is_firm_wide | _follows("registry.view_usecase")),
)
rules.add_perm("monitoring.add_rule", ~is_auditor & (is_admin | is_risk_officer))
rules.add_perm(
    "monitoring.change_rule",
    ~is_auditor & (is_admin | (is_risk_officer & (is_firm_wide | rule_in_unit))),
)

# Flags.
rules.add_perm("monitoring.view_flag", _follows("registry.view_usecase"))


# The same people as clear a re-assessment flag, and on a retired use case too: its last
# flags must still be closable.
@rules.predicate
def in_flag_unit(user, flag) -> bool:
    return flag is not None and flag.use_case.business_unit_id in access_for(user).unit_ids


rules.add_perm(
    "monitoring.resolve_flag",
    ~is_auditor & (is_admin | ((is_risk_officer | is_dpo) & in_flag_unit)),
)

# Costs and budgets.
rules.add_perm("monitoring.view_costs", _follows("registry.view_usecase"))
rules.add_perm("monitoring.set_budget", _follows("registry.change_usecase"))

# Material-change rules are the firm's, like firm-wide metric rules: anyone signed in reads
# them (they say what triggers a re-assessment); admins and risk officers write them.
rules.add_perm("monitoring.view_material_rule", is_authenticated)
rules.add_perm("monitoring.change_material_rule", ~is_auditor & (is_admin | is_risk_officer))

# A template's new version: risk officers (and admins) see the sign-offs on older versions
# and flag them in one action (each use case still needs registry.flag_usecase); auditors read.
rules.add_perm("monitoring.view_template_changes", is_admin | is_risk_officer | is_auditor)
rules.add_perm("monitoring.flag_template_change", ~is_auditor & (is_admin | is_risk_officer))
