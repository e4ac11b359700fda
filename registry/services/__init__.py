"""Every write to the register. Pages, API, imports, tasks and commands call these.

usecases.py holds use cases, data sources and units; models.py AI models, versions,
deployments, model cards and the data-policy exceptions.
"""

from registry.services.ai_models import (
    deployment_create,
    deployment_retire,
    deployment_rollback,
    deployment_update,
    model_approval_grant,
    model_approval_revoke,
    model_card_update,
    model_create,
    model_set_approval,
    model_update,
    model_version_create,
    model_version_update,
    policy_exception_record,
)
from registry.services.gate_log import gate_check
from registry.services.mlflow_import import models_import_mlflow
from registry.services.use_cases import (
    available_transitions,
    business_unit_create,
    business_unit_update,
    data_source_create,
    data_source_update,
    flag_use_cases_past_review,
    use_case_apply_screening,
    use_case_clear_reassessment,
    use_case_flag_for_reassessment,
    use_case_record_risk_tier,
    use_case_register,
    use_case_set_kill_switch,
    use_case_transition,
    use_case_update,
)

__all__ = [
    "available_transitions",
    "business_unit_create",
    "business_unit_update",
    "data_source_create",
    "data_source_update",
    "deployment_create",
    "deployment_retire",
    "deployment_rollback",
    "deployment_update",
    "flag_use_cases_past_review",
    "gate_check",
    "model_approval_grant",
    "model_approval_revoke",
    "model_card_update",
    "model_create",
    "model_set_approval",
    "model_update",
    "model_version_create",
    "model_version_update",
    "models_import_mlflow",
    "policy_exception_record",
    "use_case_apply_screening",
    "use_case_clear_reassessment",
    "use_case_flag_for_reassessment",
    "use_case_record_risk_tier",
    "use_case_register",
    "use_case_set_kill_switch",
    "use_case_transition",
    "use_case_update",
]
