"""What the registry adds to the portal kernel at start-up (RegistryConfig.ready calls
``register_all``): its records in the history browser, and its own card on the use-case page
(models, deployments, the data policy and the gate), which the other apps' cards join."""

from portal import ledger
from portal.history import tracked as history
from registry.models import (
    AIModel,
    BusinessUnit,
    DataSource,
    Deployment,
    GateCheck,
    GoLiveRecord,
    ModelCard,
    ModelVersion,
    PeopleAffected,
    UseCase,
)
from registry.models.releases import (
    EvaluationFinding,
    EvaluationRecord,
    ModelToken,
    PromotionApproval,
    PromotionRequest,
    ReleasePolicy,
)
from registry.pages import use_case_panels
from registry.selectors import (
    ai_models_visible_to,
    business_units_visible_to,
    data_sources_visible_to,
    deployments_visible_to,
    evaluations_visible_to,
    findings_visible_to,
    model_cards_visible_to,
    model_tokens_visible_to,
    model_versions_visible_to,
    promotion_approvals_visible_to,
    promotions_visible_to,
    release_policies_visible_to,
    use_cases_for_history,
)
from registry.views.ai_models import use_case_models_context


def _models_card(user, use_case, context: dict) -> dict:
    return use_case_models_context(user, use_case)


def _gate_subject(check: GateCheck) -> tuple[str, int | None]:
    return f"registry.usecase:{check.use_case_id}", check.use_case_id


def _go_live_subject(record: GoLiveRecord) -> tuple[str, int | None]:
    return f"registry.usecase:{record.use_case_id}", record.use_case_id


def register_all() -> None:
    ledger.register(GateCheck, kind="gate", subject=_gate_subject, append_only=False)
    # The go-live record is what an auditor opens: the database refuses to change it.
    ledger.register(GoLiveRecord, kind="golive", subject=_go_live_subject)
    history.register(
        UseCase,
        rule="registry.view_usecase",
        selector=use_cases_for_history,
        value_labels={"people_affected": dict(PeopleAffected.choices)},
    )
    history.register(DataSource, rule="registry.view_datasource", selector=data_sources_visible_to)
    history.register(
        BusinessUnit, rule="registry.view_businessunit", selector=business_units_visible_to
    )
    history.register(AIModel, rule="registry.view_aimodel", selector=ai_models_visible_to)
    history.register(ModelVersion, rule="registry.view_aimodel", selector=model_versions_visible_to)
    history.register(ModelCard, rule="registry.view_aimodel", selector=model_cards_visible_to)
    history.register(Deployment, rule="registry.view_deployment", selector=deployments_visible_to)
    # Releases of versions: who asked, who approved, what was evaluated, the policy per tier.
    history.register(PromotionRequest, rule="registry.view_aimodel", selector=promotions_visible_to)
    history.register(
        PromotionApproval, rule="registry.view_aimodel", selector=promotion_approvals_visible_to
    )
    history.register(
        EvaluationRecord, rule="registry.view_aimodel", selector=evaluations_visible_to
    )
    history.register(EvaluationFinding, rule="registry.view_aimodel", selector=findings_visible_to)
    history.register(
        ReleasePolicy, rule="registry.view_releasepolicy", selector=release_policies_visible_to
    )
    history.register(ModelToken, rule="registry.view_modeltoken", selector=model_tokens_visible_to)
    use_case_panels.register("registry/models/_use_case_models.html", _models_card, order=20)
