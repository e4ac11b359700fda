"""Who may do what in the register, written once.

Each rule is a named permission (``registry.change_usecase``) asked through
``portal.access.can`` by the views, the API permission class, the services and the tests
(see docs/adr/0001).
Grants come from roles (groups), membership of a business unit, and per-record grants
stored with django-guardian.
"""

import rules
from guardian.core import ObjectPermissionChecker

from portal.access import access_for, can
from portal.models import Role
from registry.release_policy import role_to_answer


def role(*names: str):
    @rules.predicate(name=f"has_role({','.join(names)})")
    def check(user) -> bool:
        return access_for(user).has_role(*names)

    return check


is_admin = rules.predicate(lambda user: access_for(user).is_admin, name="is_admin")
reads_everything = rules.predicate(
    lambda user: access_for(user).reads_everything, name="reads_everything"
)
is_auditor = role(Role.AUDITOR)
is_risk_officer = role(Role.RISK_OFFICER)
is_product_owner = role(Role.PRODUCT_OWNER)
is_dpo = role(Role.DPO)
is_authenticated = rules.is_authenticated


@rules.predicate
def has_a_unit(user) -> bool:
    return bool(access_for(user).unit_ids)


@rules.predicate
def in_unit(user, obj) -> bool:
    return obj is not None and obj.business_unit_id in access_for(user).unit_ids


@rules.predicate
def is_owner(user, obj) -> bool:
    return obj is not None and obj.owner_id == user.pk


def granted(codename: str):
    """A per-record grant made with django-guardian (e.g. a person outside the unit)."""

    @rules.predicate(name=f"granted({codename})")
    def check(user, obj) -> bool:
        if obj is None or not user.is_authenticated:
            return False
        return ObjectPermissionChecker(user).has_perm(codename, obj)

    return check


@rules.predicate
def is_retired(user, obj) -> bool:
    return obj is not None and getattr(obj, "lifecycle", None) == "retired"


# Use cases -----------------------------------------------------------------------------------
writer = is_admin | is_risk_officer | is_product_owner
can_view_use_case = (
    reads_everything | in_unit | is_owner | granted("view_usecase") | granted("change_usecase")
)
can_change_use_case = (
    ~is_auditor
    & ~is_retired
    & (
        is_admin
        | (is_risk_officer & in_unit)
        | (is_product_owner & (in_unit | is_owner))
        | granted("change_usecase")
    )
)
rules.add_perm("registry.view_usecase", can_view_use_case)
rules.add_perm("registry.add_usecase", ~is_auditor & (is_admin | (writer & has_a_unit)))
rules.add_perm("registry.change_usecase", can_change_use_case)
# Suspending is a safety action: risk officers and DPOs may do it as well as the editors.
rules.add_perm(
    "registry.suspend_usecase",
    can_change_use_case | (~is_auditor & is_dpo & in_unit),
)
rules.add_perm(
    "registry.flag_usecase",
    ~is_auditor & ~is_retired & (is_admin | ((is_risk_officer | is_dpo) & in_unit)),
)
rules.add_perm(
    "registry.kill_switch_usecase",
    ~is_auditor & ~is_retired & (is_admin | ((is_risk_officer | is_dpo) & in_unit))
    | can_change_use_case,
)
# Until the risk screening (assessments) sets it, a risk officer records the tier by hand.
rules.add_perm(
    "registry.set_tier_usecase",
    ~is_auditor & ~is_retired & (is_admin | (is_risk_officer & in_unit)),
)
rules.add_perm("registry.import_usecases", ~is_auditor & (is_admin | (writer & has_a_unit)))
rules.add_perm("registry.export_usecases", is_authenticated)

# Data sources --------------------------------------------------------------------------------
data_writer = is_admin | is_risk_officer | is_product_owner | is_dpo
rules.add_perm(
    "registry.view_datasource",
    reads_everything | in_unit | is_owner | granted("view_datasource"),
)
rules.add_perm("registry.add_datasource", ~is_auditor & (is_admin | (data_writer & has_a_unit)))
rules.add_perm(
    "registry.change_datasource",
    ~is_auditor
    & (is_admin | ((is_risk_officer | is_dpo | is_product_owner) & (in_unit | is_owner))),
)

# AI models, deployments and the data policy -----------------------------------------------
# The model catalogue is the firm's: everyone reads it, so any unit can see what is approved.
rules.add_perm("registry.view_aimodel", is_authenticated)
rules.add_perm("registry.add_aimodel", ~is_auditor & (is_admin | (writer & has_a_unit)))
rules.add_perm(
    "registry.change_aimodel",
    ~is_auditor
    & (is_admin | (is_risk_officer & in_unit) | (is_product_owner & (in_unit | is_owner))),
)
# Approving or banning a model is a risk decision for the whole firm.
rules.add_perm("registry.approve_aimodel", ~is_auditor & (is_admin | is_risk_officer))
rules.add_perm(
    "registry.approve_model_for_usecase",
    ~is_auditor & ~is_retired & (is_admin | (is_risk_officer & in_unit)),
)
rules.add_perm("registry.deploy_usecase", can_change_use_case)
# A deployment is read by whoever reads its use case.
rules.add_perm(
    "registry.view_deployment",
    rules.predicate(
        lambda user, deployment: (
            deployment is not None and can(user, "registry.view_usecase", deployment.use_case)
        )
    ),
)
rules.add_perm(
    "registry.approve_policy_exception",
    ~is_auditor & ~is_retired & (is_admin | ((is_dpo | is_risk_officer) & in_unit)),
)

# Releases of model versions ------------------------------------------------------------------
# Promoting, evaluating and the model's CI tokens are asked of the model, as editing it is.
can_change_model = ~is_auditor & (
    is_admin | (is_risk_officer & in_unit) | (is_product_owner & (in_unit | is_owner))
)
rules.add_perm("registry.promote_modelversion", can_change_model)
rules.add_perm("registry.evaluate_modelversion", can_change_model)
rules.add_perm("registry.manage_model_tokens", can_change_model)
rules.add_perm(
    "registry.view_modeltoken",
    reads_everything
    | rules.predicate(
        lambda user, token: (
            token is not None and can(user, "registry.manage_model_tokens", token.model)
        )
    ),
)


@rules.predicate
def may_answer_promotion(user, request) -> bool:
    """Four eyes: never the requester, once each, in a role the request still waits for."""
    return request is not None and role_to_answer(user, request) is not None


rules.add_perm("registry.decide_promotion", ~is_auditor & may_answer_promotion)
# The policy per tier is the firm's: its administrators set it.
rules.add_perm("registry.view_releasepolicy", is_authenticated)
rules.add_perm("registry.change_releasepolicy", ~is_auditor & is_admin)

# Business units ------------------------------------------------------------------------------
rules.add_perm("registry.view_businessunit", is_authenticated)
rules.add_perm("registry.add_businessunit", is_admin)
rules.add_perm("registry.change_businessunit", is_admin)

# The audit log across every record -----------------------------------------------------------
rules.add_perm("portal.view_audit_log", reads_everything)
rules.add_perm("portal.manage_people", is_admin)
