"""Every write to AI models, versions, deployments, model cards and data-policy exceptions."""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal.access import require
from portal.records import assign_fields, delete_with_history, next_reference, save_with_history
from registry import changes as material
from registry import gate
from registry.models import (
    DEFAULT_DESTINATION,
    MODEL_CARD_SECTIONS,
    AIModel,
    ApprovalStatus,
    DataPolicyException,
    DataSource,
    Deployment,
    Environment,
    ModelApproval,
    ModelCard,
    ModelVersion,
    ReleaseStage,
    UseCase,
)
from registry.release_policy import STAGE_EDIT_REFUSED
from registry.services.gate_log import gate_log, go_live_record
from registry.services.releases import check_canary_traffic
from registry.services.use_cases import check_unit, use_case_flag_for_reassessment

MODEL_FIELDS = (
    "name",
    "provider",
    "hosting_pattern",
    "data_destination",
    "vendor",
    "licence",
    "description",
    "business_unit",
    "owner",
    "risk_tier",
    "external_ref",
)
# The stage is not among them: it moves only through the promote action (services/releases.py).
VERSION_FIELDS = ("version", "artefact", "training_data", "evaluation", "external_ref")


def _refuse_stage_edit(data: dict, current: str) -> None:
    if "stage" in data and data["stage"] != current:
        raise ValidationError({"stage": STAGE_EDIT_REFUSED})


# Models ------------------------------------------------------------------------------------
@transaction.atomic
def model_create(*, actor, data: dict) -> AIModel:
    require(actor, "registry.add_aimodel")
    model = AIModel()
    assign_fields(model, data, MODEL_FIELDS)
    if not model.data_destination and model.hosting_pattern:
        model.data_destination = DEFAULT_DESTINATION[model.hosting_pattern]
    if actor is not None and model.business_unit_id:
        check_unit(actor, model.business_unit)
    model.reference = "AI-0000"
    model.full_clean()
    model.reference = next_reference("AI")
    save_with_history(model, actor=actor, reason="Registered")
    return model


@transaction.atomic
def model_update(*, actor, model: AIModel, data: dict) -> AIModel:
    model = AIModel.objects.select_for_update().get(pk=model.pk)
    require(actor, "registry.change_aimodel", model)
    old_unit = model.business_unit_id
    before = {"provider": model.provider, "data_destination": model.data_destination}
    changed = assign_fields(model, data, MODEL_FIELDS)
    if not changed:
        return model
    if "hosting_pattern" in changed and "data_destination" not in data:
        model.data_destination = DEFAULT_DESTINATION[model.hosting_pattern]
        changed.append("data_destination")
    if model.business_unit_id != old_unit:
        check_unit(actor, model.business_unit)
    model.full_clean()
    save_with_history(
        model, actor=actor, reason="Edited " + ", ".join(f.replace("_", " ") for f in changed)
    )
    if "data_destination" in changed or "hosting_pattern" in changed:
        _flag_served(
            model, f"{model.name} now sends data to {model.get_data_destination_display()}"
        )
    model.flags_raised = material.announce(  # type: ignore[attr-defined]
        actor=actor, changes=material.model_changes(model, before)
    )
    return model


def _flag_served(model: AIModel, reason: str) -> None:
    """Flag every use case the model serves: what was checked at go-live no longer holds."""
    served = UseCase.objects.filter(
        deployments__model_version__model=model, deployments__active=True
    ).distinct()
    for use_case in served:
        use_case_flag_for_reassessment(actor=None, use_case=use_case, reason=reason)


@transaction.atomic
def model_set_approval(*, actor, model: AIModel, status: str, note: str) -> AIModel:
    """Approve, ban or send back to evaluation. Banning flags every use case it serves."""
    model = AIModel.objects.select_for_update().get(pk=model.pk)
    require(actor, "registry.approve_aimodel", model)
    if status not in ApprovalStatus.values:
        raise ValidationError({"status": f"Choose one of: {', '.join(ApprovalStatus.values)}."})
    note = note.strip()
    if not note:
        raise ValidationError({"note": "Say why (it is kept with the decision)."})
    if model.approval_status == status:
        return model
    before = model.get_approval_status_display()
    model.approval_status = status
    model.approved_by = actor
    model.approved_at = timezone.now()
    model.approval_note = note
    save_with_history(
        model, actor=actor, reason=f"{before} → {model.get_approval_status_display()}: {note}"
    )
    if status != ApprovalStatus.APPROVED:
        verb = "was banned" if status == ApprovalStatus.BANNED else "went back to evaluation"
        _flag_served(model, f"{model.name} {verb}: {note}")
    return model


@transaction.atomic
def model_version_create(
    *,
    actor,
    model: AIModel,
    data: dict,
    initial_stage: str = "",
    stage_why: str = "the stage its source gave",
) -> ModelVersion:
    """A new version starts as a candidate; ``initial_stage`` is for seeding and imports
    (MLflow's stages), never for what a person types."""
    require(actor, "registry.change_aimodel", model)
    _refuse_stage_edit(data, ReleaseStage.CANDIDATE)
    version = ModelVersion(model=model)
    assign_fields(version, data, VERSION_FIELDS)
    reason = "Registered"
    if initial_stage and initial_stage != ReleaseStage.CANDIDATE:
        version.stage, version.stage_changed_at = initial_stage, timezone.now()
        reason = f"Registered in {stage_why}"
    version.full_clean()
    save_with_history(version, actor=actor, reason=reason)
    return version


@transaction.atomic
def model_version_update(*, actor, version: ModelVersion, data: dict) -> ModelVersion:
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    require(actor, "registry.change_aimodel", version.model)
    _refuse_stage_edit(data, version.stage)
    changed = assign_fields(version, data, VERSION_FIELDS)
    if changed:
        version.full_clean()
        save_with_history(version, actor=actor, reason="Edited " + ", ".join(changed))
    return version


@transaction.atomic
def model_card_update(*, actor, version: ModelVersion, sections: dict) -> ModelCard:
    require(actor, "registry.change_aimodel", version.model)
    known = {key for key, _, _ in MODEL_CARD_SECTIONS}
    unknown = set(sections) - known
    if unknown:
        raise ValidationError({"sections": f"Unknown sections: {', '.join(sorted(unknown))}."})
    card, _ = ModelCard.objects.get_or_create(model_version=version)
    card = ModelCard.objects.select_for_update().get(pk=card.pk)
    merged = {**card.sections, **{k: str(v or "").strip() for k, v in sections.items()}}
    if merged == card.sections:
        return card
    changed = sorted(k for k in merged if merged[k] != card.sections.get(k))
    card.sections = merged
    save_with_history(card, actor=actor, reason="Card edited: " + ", ".join(changed))
    return card


# Approval of a model for a use case --------------------------------------------------------
@transaction.atomic
def model_approval_grant(
    *, actor, use_case: UseCase, model: AIModel, note: str = ""
) -> ModelApproval:
    require(actor, "registry.approve_model_for_usecase", use_case)
    if model.approval_status != ApprovalStatus.APPROVED:
        raise ValidationError(
            {
                "model": f"{model.name} is {model.get_approval_status_display().lower()}: "
                "only an approved model can be approved for a use case."
            }
        )
    approval, created = ModelApproval.objects.get_or_create(
        use_case=use_case, model=model, defaults={"approved_by": actor, "note": note.strip()}
    )
    return approval


@transaction.atomic
def model_approval_revoke(*, actor, approval: ModelApproval, reason: str) -> None:
    require(actor, "registry.approve_model_for_usecase", approval.use_case)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the model is no longer approved here."})
    if approval.use_case.deployments.filter(
        active=True, model_version__model=approval.model
    ).exists():
        raise ValidationError(
            {"reason": f"{approval.model.name} is deployed here: retire or replace it first."}
        )
    delete_with_history(approval, actor=actor, reason=f"Approval revoked: {reason.strip()}")


# Deployments -------------------------------------------------------------------------------
def _check_deployable(use_case: UseCase, version: ModelVersion) -> None:
    model = version.model
    if model.approval_status == ApprovalStatus.BANNED:
        raise ValidationError({"model_version": f"{model.name} is banned."})
    if model.approval_status != ApprovalStatus.APPROVED:
        raise ValidationError(
            {
                "model_version": f"{model.name} is {model.get_approval_status_display().lower()}: "
                "only an approved model is deployed."
            }
        )
    if not ModelApproval.objects.filter(use_case=use_case, model=model).exists():
        raise ValidationError(
            {"model_version": f"{model.name} is not approved for {use_case.reference}."}
        )


class GateRefused(Exception):
    """The gate said no; raised inside the transaction so the change rolls back."""

    def __init__(self, result: gate.GateResult):
        super().__init__("The go-live gate is not met.")
        self.result = result


# The gate checks a rollback does not have to pass (see _gate_for_production).
ROLLBACK_FORGIVES = frozenset({"in_service", "runbook"})


def _gate_for_production(
    actor,
    deployment: Deployment,
    *,
    action: str,
    moved: bool = True,
    previous: ModelVersion | None = None,
    reason: str = "",
) -> None:
    """Ask the gate for a deployment serving production, log its answer, and keep a go-live
    record when a version moved into production (``moved``: created there, moved there from
    another environment, or serving another version; a change of traffic share is not)."""
    if deployment.environment != Environment.PRODUCTION or not deployment.active:
        return
    result = gate.check_go_live(deployment.use_case)
    # A rollback is what a firm does while the AI is switched off or suspended in an
    # incident: being out of service, or a runbook lapsed or never written, must not stop it
    # going back to the version that served before. Data policy, banned models and approvals
    # still hold: the version gone back to must still be one the firm allows.
    forgiven = ROLLBACK_FORGIVES if action == "rollback" else frozenset()
    blocking = [c for c in result.missing if c.key not in forgiven]
    if blocking:
        raise GateRefused(result)
    logged = gate_log(result, actor, "deployment", deployment)
    if moved:
        go_live_record(
            result,
            actor=actor,
            action=action,
            logged=logged,
            reason=reason,
            deployment=deployment,
            previous_version=previous,
        )


def _refused(result: gate.GateResult, actor, source: str, field: str) -> ValidationError:
    """Log the refusal (after the rollback, so the log stays) and say why, field by field."""
    gate_log(result, actor, source)
    reasons = result.as_dict()["reasons"]
    return ValidationError({field: [f"The go-live gate is not met. {r}" for r in reasons]})


def deployment_create(*, actor, use_case: UseCase, data: dict) -> Deployment:
    try:
        return _deployment_create(actor=actor, use_case=use_case, data=data)
    except GateRefused as refused:
        raise _refused(refused.result, actor, "deployment", "environment") from None


@transaction.atomic
def _deployment_create(*, actor, use_case: UseCase, data: dict) -> Deployment:
    require(actor, "registry.deploy_usecase", use_case)
    deployment = Deployment(use_case=use_case)
    assign_fields(deployment, data, ("model_version", "environment", "traffic_share"))
    deployment.full_clean()
    _check_deployable(use_case, deployment.model_version)
    check_canary_traffic(deployment)
    save_with_history(deployment, actor=actor, reason=f"Deployed {deployment.model_version}")
    _gate_for_production(actor, deployment, action="deploy")
    deployment.flags_raised = material.announce(  # type: ignore[attr-defined]
        actor=actor, changes=material.serving_model_change(deployment)
    )
    return deployment


def deployment_update(*, actor, deployment: Deployment, data: dict, reason: str = "") -> Deployment:
    try:
        return _deployment_update(actor=actor, deployment=deployment, data=data, reason=reason)
    except GateRefused as refused:
        raise _refused(refused.result, actor, "deployment", "environment") from None


@transaction.atomic
def _deployment_update(*, actor, deployment: Deployment, data: dict, reason: str) -> Deployment:
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    require(actor, "registry.deploy_usecase", deployment.use_case)
    before = deployment.model_version
    was_in_production = deployment.environment == Environment.PRODUCTION
    changed = assign_fields(deployment, data, ("model_version", "environment", "traffic_share"))
    if not changed:
        return deployment
    deployment.full_clean()
    if "model_version" in changed:
        _check_deployable(deployment.use_case, deployment.model_version)
        deployment.previous_version = before
    check_canary_traffic(deployment)
    summary = (
        f"{before.version} → {deployment.model_version.version}"
        if "model_version" in changed
        else "Edited " + ", ".join(changed)
    )
    save_with_history(deployment, actor=actor, reason=f"{summary}. {reason}".strip().rstrip("."))
    arrived = not was_in_production
    _gate_for_production(
        actor,
        deployment,
        action="deploy" if arrived else "change",
        moved=arrived or "model_version" in changed,
        previous=before if "model_version" in changed else None,
        reason=reason,
    )
    if "model_version" in changed:
        deployment.flags_raised = material.announce(  # type: ignore[attr-defined]
            actor=actor, changes=material.serving_model_change(deployment)
        )
    return deployment


def deployment_rollback(*, actor, deployment: Deployment, reason: str) -> Deployment:
    """Back to the version it served before, in one step, with who and why."""
    try:
        return _deployment_rollback(actor=actor, deployment=deployment, reason=reason)
    except GateRefused as refused:
        raise _refused(refused.result, actor, "deployment", "reason") from None


@transaction.atomic
def _deployment_rollback(*, actor, deployment: Deployment, reason: str) -> Deployment:
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    require(actor, "registry.deploy_usecase", deployment.use_case)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why it is rolled back."})
    if deployment.previous_version is None:
        raise ValidationError({"reason": "There is no earlier version to go back to."})
    current, target = deployment.model_version, deployment.previous_version
    if target.model.approval_status == ApprovalStatus.BANNED:
        raise ValidationError({"reason": f"{target.model.name} is banned: roll forward instead."})
    try:
        _check_deployable(deployment.use_case, target)
    except ValidationError as exc:
        raise ValidationError({"reason": exc.message_dict["model_version"]}) from None
    deployment.model_version, deployment.previous_version = target, current
    save_with_history(
        deployment,
        actor=actor,
        reason=f"Rolled back {current.version} → {target.version}: {reason}",
    )
    _gate_for_production(actor, deployment, action="rollback", previous=current, reason=reason)
    return deployment


@transaction.atomic
def deployment_retire(*, actor, deployment: Deployment, reason: str) -> Deployment:
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    require(actor, "registry.deploy_usecase", deployment.use_case)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the deployment ends."})
    deployment.active = False
    save_with_history(deployment, actor=actor, reason=f"Retired: {reason.strip()}")
    return deployment


# Data policy and the gate ------------------------------------------------------------------
@transaction.atomic
def policy_exception_record(
    *,
    actor,
    use_case: UseCase,
    data_source: DataSource,
    model: AIModel,
    justification: str,
    expires_on: date,
) -> DataPolicyException:
    require(actor, "registry.approve_policy_exception", use_case)
    if not justification.strip():
        raise ValidationError({"justification": "Record why this data may go to this model."})
    if expires_on <= timezone.localdate():
        raise ValidationError({"expires_on": "An exception must end in the future."})
    if not gate.policy_problem(data_source, model):
        raise ValidationError({"model": "No exception is needed: the policy allows this."})
    exception = DataPolicyException(
        use_case=use_case,
        data_source=data_source,
        model=model,
        justification=justification.strip(),
        approved_by=actor,
        expires_on=expires_on,
    )
    exception.full_clean()
    save_with_history(
        exception, actor=actor, reason=f"Exception recorded until {expires_on.isoformat()}"
    )
    return exception
