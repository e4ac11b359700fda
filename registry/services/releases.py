"""Every write to releases: promotion requests and their approvals, evaluation records and
their findings, the model tokens a pipeline posts evaluations with, and the release policies.

A version's stage moves here and nowhere else (``model_version_set_stage`` is the internal
path seeding, imports and tests use; pages and API never reach it).
"""

import contextlib
import hashlib
import hmac
import math
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from portal import notify
from portal.access import require
from portal.records import assign_fields, save_with_history
from registry import release_policy
from registry.models import (
    SEVERITY_ORDER,
    AIModel,
    ApproverRole,
    Decision,
    Deployment,
    EvaluationFinding,
    EvaluationRecord,
    EvaluationSource,
    FindingKind,
    FindingStatus,
    ModelToken,
    ModelVersion,
    PromotionApproval,
    PromotionKind,
    PromotionRequest,
    PromotionStatus,
    ReleasePolicy,
    ReleaseStage,
    Severity,
)
from registry.signals import model_version_stage_changed

TOKEN_PREFIX = "stm_"


# Stages ------------------------------------------------------------------------------------
def model_version_set_stage(
    *, version: ModelVersion, stage: str, reason: str, actor=None, request=None
) -> ModelVersion:
    """Move the stage and say so. Internal: the promote action, seeding, the MLflow import
    and tests call it; nothing a person edits does."""
    if stage not in ReleaseStage.values:
        raise ValidationError({"to_stage": f"Choose one of: {', '.join(ReleaseStage.values)}."})
    old = version.stage
    if old == stage:
        return version
    version.stage = stage
    version.stage_changed_at = timezone.now()
    save_with_history(version, actor=actor, reason=reason)
    model_version_stage_changed.send(
        sender=ModelVersion, model_version=version, old_stage=old, new_stage=stage, actor=actor
    )
    return version


def _label(stage: str) -> str:
    return ReleaseStage(stage).label.lower()


def _check_move(version: ModelVersion, to_stage: str, policy: ReleasePolicy, traffic_share):
    """Refuse a move the stages, the minimum times, the canary cap or the evaluations forbid."""
    kind = release_policy.move_kind(version.stage, to_stage)
    if kind is None:
        allowed = ", ".join(release_policy.next_stages(version.stage)) or "none (it is retired)"
        raise ValidationError(
            {
                "to_stage": f"A version in {_label(version.stage)} cannot move to "
                f"{to_stage}. Allowed: {allowed}."
            }
        )
    if kind != PromotionKind.PROMOTE:
        return kind
    left = release_policy.time_left_in_stage(version, policy)
    if left:
        hours = math.ceil(left.total_seconds() / 3600)
        minimum = (
            policy.min_shadow_hours
            if version.stage == ReleaseStage.SHADOW
            else policy.min_canary_hours
        )
        raise ValidationError(
            {
                "to_stage": f"{policy.get_tier_display()} needs at least {minimum} h in "
                f"{_label(version.stage)}; {version} may move on in about {hours} h."
            }
        )
    if to_stage == ReleaseStage.CANARY:
        if traffic_share is None:
            raise ValidationError({"traffic_share": "Say what share of traffic the canary gets."})
        if traffic_share > policy.canary_max_traffic:
            raise ValidationError(
                {
                    "traffic_share": f"{policy.get_tier_display()} caps a canary at "
                    f"{policy.canary_max_traffic}% of traffic."
                }
            )
    if to_stage in release_policy.SERVING:
        problems = release_policy.evaluation_problems(version, policy)
        if problems:
            raise ValidationError({"to_stage": problems})
    return kind


def check_canary_traffic(deployment: Deployment) -> None:
    """A version in canary serves no more than its tier's cap (deployments call this)."""
    version = deployment.model_version
    if version.stage != ReleaseStage.CANARY:
        return
    policy = release_policy.policy_for(release_policy.version_tier(version))
    if deployment.traffic_share > policy.canary_max_traffic:
        raise ValidationError(
            {
                "traffic_share": f"{version} is a canary: {policy.get_tier_display()} caps it "
                f"at {policy.canary_max_traffic}% of traffic (promote it to go further)."
            }
        )


@transaction.atomic
def promotion_request(
    *,
    actor,
    version: ModelVersion,
    to_stage: str,
    reason: str,
    evidence: str = "",
    traffic_share: int | None = None,
) -> PromotionRequest:
    """Ask to move a version. A rollback or retirement happens at once (who and why are
    kept); a promotion waits for the approvals its tier asks for, unless it asks for none."""
    version = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
    require(actor, "registry.promote_modelversion", version.model)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the version moves."})
    if to_stage not in ReleaseStage.values:
        raise ValidationError({"to_stage": f"Choose one of: {', '.join(ReleaseStage.values)}."})
    if traffic_share is not None and not 0 <= traffic_share <= 100:
        raise ValidationError({"traffic_share": "A share is between 0 and 100 %."})
    if version.promotions.filter(status=PromotionStatus.PENDING).exists():
        raise ValidationError(
            {"to_stage": f"{version} already has a promotion waiting for approval."}
        )
    tier = release_policy.version_tier(version)
    policy = release_policy.policy_for(tier)
    kind = _check_move(version, to_stage, policy, traffic_share)
    required = list(policy.approvers) if kind == PromotionKind.PROMOTE else []
    request = PromotionRequest(
        model_version=version,
        kind=kind,
        from_stage=version.stage,
        to_stage=to_stage,
        traffic_share=traffic_share,
        reason=reason,
        evidence=(evidence or "").strip(),
        tier=tier,
        required_approvers=required,
        requested_by=actor,
    )
    request.full_clean()
    save_with_history(
        request,
        actor=actor,
        reason=f"Requested {_label(request.from_stage)} → {_label(to_stage)}: {reason}",
    )
    if not required:
        _complete(request, version, actor)
    else:
        _tell_approvers(request, actor)
    return request


def _link(obj) -> str:
    return settings.SITE_URL.rstrip("/") + obj.get_absolute_url()


def _tell_approvers(request: PromotionRequest, actor) -> None:
    """Email whoever may give an approval the request waits for, with the link to answer."""
    who = actor.get_full_name() or actor.get_username()
    notify.email(
        release_policy.approvers_to_tell(request),
        f"Approval asked: {request.model_version} {_label(request.from_stage)} → "
        f"{_label(request.to_stage)}",
        "\n".join(
            [
                f"{who} asks to move {request.model_version} from {_label(request.from_stage)} "
                f"to {_label(request.to_stage)}.",
                f"Why: {request.reason}",
                f"Evidence: {request.evidence or 'none given'}",
                "",
                "You may give one of the approvals it needs; whoever asked never approves.",
                _link(request),
            ]
        ),
        url=_link(request),
    )


def _tell_requester(request: PromotionRequest, actor, outcome: str) -> None:
    who = actor.get_full_name() or actor.get_username()
    notify.email(
        [request.requested_by],
        f"{outcome}: {request.model_version} {_label(request.from_stage)} → "
        f"{_label(request.to_stage)}",
        f"{outcome} by {who}.\n\n{_link(request)}",
        url=_link(request),
    )


def _complete(request: PromotionRequest, version: ModelVersion, actor) -> None:
    verb = PromotionKind(request.kind).label
    model_version_set_stage(
        version=version,
        stage=request.to_stage,
        actor=actor,
        reason=f"{verb} {_label(request.from_stage)} → {_label(request.to_stage)} "
        f"(request {request.pk}): {request.reason}",
    )
    request.status = PromotionStatus.DONE
    request.decided_at = timezone.now()
    save_with_history(request, actor=actor, reason=f"Done: now in {_label(request.to_stage)}")


@transaction.atomic
def promotion_decide(
    *, actor, request: PromotionRequest, decision: str, note: str = ""
) -> PromotionRequest:
    """An approver's answer. The last approval the tier needs moves the version; a
    rejection closes the request."""
    request = PromotionRequest.objects.select_for_update().get(pk=request.pk)
    if decision not in Decision.values:
        raise ValidationError({"decision": "Approve or reject."})
    if not request.is_pending:
        raise ValidationError({"decision": f"The request is {request.get_status_display()}."})
    if actor.pk == request.requested_by_id:
        raise PermissionDenied("Four eyes: you asked for this promotion, someone else approves.")
    require(actor, "registry.decide_promotion", request)
    role = release_policy.role_to_answer(actor, request)
    if role is None:  # the rule allowed it, so only a race can land here
        raise PermissionDenied("No approval open to you is left on this request.")
    note = (note or "").strip()
    if decision == Decision.REJECT and not note:
        raise ValidationError({"note": "Say why it is rejected."})
    approval = PromotionApproval(
        request=request, approver=actor, role=role, decision=decision, note=note
    )
    save_with_history(
        approval, actor=actor, reason=f"{approval.get_decision_display()} as {role}: {note}"
    )
    if decision == Decision.REJECT:
        request.status = PromotionStatus.REJECTED
        request.decided_at = timezone.now()
        save_with_history(request, actor=actor, reason=f"Rejected: {note}")
        _tell_requester(request, actor, f"Rejected ({note})")
        return request
    if not release_policy.outstanding_roles(request):
        version = ModelVersion.objects.select_for_update().get(pk=request.model_version_id)
        if version.stage != request.from_stage:
            raise ValidationError(
                {"decision": f"{version} moved to {_label(version.stage)} meanwhile."}
            )
        # What held when it was asked must still hold when it happens.
        policy = release_policy.policy_for(request.tier)
        _check_move(version, request.to_stage, policy, request.traffic_share)
        _complete(request, version, actor)
        _tell_requester(request, actor, f"Approved: now in {_label(request.to_stage)}")
    return request


@transaction.atomic
def promotion_withdraw(*, actor, request: PromotionRequest, reason: str) -> PromotionRequest:
    request = PromotionRequest.objects.select_for_update().get(pk=request.pk)
    if actor.pk != request.requested_by_id:
        require(actor, "registry.promote_modelversion", request.model_version.model)
    if not request.is_pending:
        raise ValidationError({"reason": f"The request is {request.get_status_display()}."})
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why it is withdrawn."})
    request.status = PromotionStatus.WITHDRAWN
    request.decided_at = timezone.now()
    save_with_history(request, actor=actor, reason=f"Withdrawn: {reason.strip()}")
    return request


# Release policies --------------------------------------------------------------------------
POLICY_FIELDS = (
    "approvers",
    "min_shadow_hours",
    "min_canary_hours",
    "canary_max_traffic",
    "require_evaluation",
    "require_fairness",
    "protected_groups",
    "blocking_severity",
)


@transaction.atomic
def release_policy_update(*, actor, policy: ReleasePolicy, data: dict) -> ReleasePolicy:
    require(actor, "registry.change_releasepolicy", policy)
    policy = ReleasePolicy.objects.select_for_update().get(pk=policy.pk)
    changed = assign_fields(policy, data, POLICY_FIELDS)
    if not changed:
        return policy
    unknown = set(policy.approvers) - set(ApproverRole.values)
    if unknown or len(set(policy.approvers)) != len(policy.approvers):
        raise ValidationError({"approvers": f"Each once, from: {', '.join(ApproverRole.values)}."})
    policy.protected_groups = [str(g).strip() for g in policy.protected_groups if str(g).strip()]
    policy.full_clean()
    save_with_history(policy, actor=actor, reason="Edited " + ", ".join(changed))
    return policy


# Evaluations -------------------------------------------------------------------------------
def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError({where: "Give a number."})
    return float(value)


def _metrics(rows) -> list[dict]:
    if not isinstance(rows, list):
        raise ValidationError({"metrics": "Give a list of metrics."})
    out = []
    for i, row in enumerate(rows):
        where = f"metrics[{i}]"
        if not isinstance(row, dict) or not str(row.get("name") or "").strip():
            raise ValidationError({"metrics": f"{where}: give a name and a value."})
        value = _number(row.get("value"), "metrics")
        direction = row.get("direction") or "min"
        if direction not in ("min", "max"):
            raise ValidationError({"metrics": f"{where}: direction is min or max."})
        threshold = row.get("threshold")
        passed = None
        if threshold is not None:
            threshold = _number(threshold, "metrics")
            passed = value >= threshold if direction == "min" else value <= threshold
        out.append(
            {
                "name": str(row["name"]).strip()[:120],
                "value": value,
                "threshold": threshold,
                "direction": direction,
                "passed": passed,
            }
        )
    return out


def _fairness(rows) -> list[dict]:
    if not isinstance(rows, list):
        raise ValidationError({"fairness": "Give a list of group results."})
    parsed: list[dict] = []
    for i, row in enumerate(rows):
        where = f"fairness[{i}]"
        if not isinstance(row, dict):
            raise ValidationError({"fairness": f"{where}: give attribute, group, metric, value."})
        for key in ("attribute", "group", "metric"):
            if not str(row.get(key) or "").strip():
                raise ValidationError({"fairness": f"{where}: {key} is missing."})
        if row.get("threshold") is None:
            raise ValidationError({"fairness": f"{where}: give the largest gap allowed."})
        parsed.append(
            {
                "attribute": str(row["attribute"]).strip()[:120],
                "group": str(row["group"]).strip()[:120],
                "metric": str(row["metric"]).strip()[:120],
                "value": _number(row.get("value"), "fairness"),
                "threshold": _number(row["threshold"], "fairness"),
                "gap": _number(row["gap"], "fairness") if row.get("gap") is not None else None,
            }
        )
    # A gap not given is the distance from the best group of the same attribute and metric.
    best: dict[tuple, float] = {}
    for row in parsed:
        group = (row["attribute"].lower(), row["metric"])
        best[group] = max(best.get(group, row["value"]), row["value"])
    for row in parsed:
        if row["gap"] is None:
            row["gap"] = round(best[(row["attribute"].lower(), row["metric"])] - row["value"], 6)
        row["passed"] = abs(row["gap"]) <= row["threshold"]
    return parsed


def _findings(rows) -> list[dict]:
    if not isinstance(rows, list):
        raise ValidationError({"findings": "Give a list of findings."})
    out = []
    for i, row in enumerate(rows):
        where = f"findings[{i}]"
        if not isinstance(row, dict) or not str(row.get("title") or "").strip():
            raise ValidationError({"findings": f"{where}: give a title."})
        kind = row.get("kind") or FindingKind.RED_TEAM
        severity = row.get("severity")
        status = row.get("status") or FindingStatus.OPEN
        if kind not in FindingKind.values:
            raise ValidationError({"findings": f"{where}: kind is one of {FindingKind.values}."})
        if severity not in Severity.values:
            raise ValidationError({"findings": f"{where}: severity is one of {SEVERITY_ORDER}."})
        if status not in FindingStatus.values:
            raise ValidationError(
                {"findings": f"{where}: status is one of {FindingStatus.values}."}
            )
        out.append(
            {
                "kind": kind,
                "title": str(row["title"]).strip()[:300],
                "severity": severity,
                "status": status,
                "detail": str(row.get("detail") or "").strip(),
            }
        )
    return out


@transaction.atomic
def evaluation_record(
    *,
    actor,
    version: ModelVersion,
    data: dict,
    token: ModelToken | None = None,
    source: str | None = None,
    external_ref: str = "",
) -> EvaluationRecord:
    """Record an evaluation of a version, posted by a person, by a pipeline holding the
    model's token (``token``, with no person), or imported from MLflow."""
    if token is not None:
        if token.model_id != version.model_id or not token.active:
            raise PermissionDenied("This token posts evaluations of its own model only.")
        source = source or EvaluationSource.CI
    else:
        require(actor, "registry.evaluate_modelversion", version.model)
        source = source or EvaluationSource.PERSON
    name = str(data.get("name") or "").strip()
    dataset = str(data.get("dataset") or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Name the evaluation (e.g. holdout 2026-Q4)."
    if not dataset:
        errors["dataset"] = "Say which data set it was evaluated on."
    if errors:
        raise ValidationError(errors)
    metrics = _metrics(data.get("metrics") or [])
    fairness = _fairness(data.get("fairness") or [])
    findings = _findings(data.get("findings") or [])
    record = EvaluationRecord(
        model_version=version,
        name=name[:200],
        dataset=dataset[:300],
        metrics=metrics,
        fairness=fairness,
        notes=str(data.get("notes") or "").strip(),
        source=source,
        ran_by=actor if token is None and actor is not None else None,
        ran_by_label=(f"token {token.name}" if token is not None else "")
        or ("MLflow" if source == EvaluationSource.MLFLOW else ""),
        ran_at=data.get("ran_at") or timezone.now(),
        external_ref=external_ref,
        passed=all(m["passed"] is not False for m in metrics)
        and all(f["passed"] for f in fairness),
    )
    record.full_clean()
    who = actor if token is None else None
    save_with_history(record, actor=who, reason=f"Evaluation recorded ({source})")
    for row in findings:
        finding = EvaluationFinding(evaluation=record, model_version=version, **row)
        finding.full_clean()
        save_with_history(finding, actor=who, reason="Found in " + record.name)
    if token is not None:
        ModelToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return record


@transaction.atomic
def finding_set_status(
    *, actor, finding: EvaluationFinding, status: str, note: str
) -> EvaluationFinding:
    finding = EvaluationFinding.objects.select_for_update().get(pk=finding.pk)
    require(actor, "registry.evaluate_modelversion", finding.model_version.model)
    if status not in FindingStatus.values:
        raise ValidationError({"status": f"Choose one of: {', '.join(FindingStatus.values)}."})
    if not (note or "").strip():
        raise ValidationError({"note": "Say why the status changes."})
    if finding.status == status:
        return finding
    before = finding.get_status_display()
    finding.status = status
    save_with_history(
        finding,
        actor=actor,
        reason=f"{before} → {finding.get_status_display()}: {note.strip()}",
    )
    return finding


def evaluation_import_run(
    *, actor, version: ModelVersion, run_id: str, metrics: dict, tags: dict
) -> EvaluationRecord | None:
    """An MLflow run's metrics as an evaluation record of the version, once per run (a run
    whose metrics changed since gets a new record). Thresholds come from the version's tags
    ``steward.threshold.<metric>`` (e.g. ``>=0.9`` or ``<=0.05``)."""
    if not run_id or not metrics:
        return None
    rows = []
    for name, value in sorted(metrics.items()):
        row: dict = {"name": name, "value": value}
        raw = str(tags.get(f"steward.threshold.{name}") or "").replace(" ", "")
        if raw:
            direction = "max" if raw.startswith("<") else "min"
            with contextlib.suppress(ValueError):
                row |= {"threshold": float(raw.lstrip("<>=")), "direction": direction}
        rows.append(row)
    ref = f"mlflow-run:{run_id}"
    latest = version.evaluations.filter(external_ref=ref).first()
    if latest is not None and {m["name"]: m["value"] for m in latest.metrics} == dict(metrics):
        return None
    return evaluation_record(
        actor=actor,
        version=version,
        data={
            "name": f"MLflow run {run_id[:12]}",
            "dataset": tags.get("dataset") or tags.get("steward.dataset") or "as logged in MLflow",
            "metrics": rows,
        },
        source=EvaluationSource.MLFLOW,
        external_ref=ref,
    )


# Model tokens ------------------------------------------------------------------------------
def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def model_token_create(*, actor, model: AIModel, name: str) -> tuple[ModelToken, str]:
    """A token that posts evaluations for this model's versions. Returned here, and only here."""
    require(actor, "registry.manage_model_tokens", model)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the token (e.g. the pipeline that holds it)."})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ModelToken(
        model=model,
        name=name[:120],
        token_prefix=raw[:8],
        token_hash=_digest(raw),
        created_by=actor,
    )
    save_with_history(token, actor=actor, reason=f"Token {token.name} made")
    return token, raw


@transaction.atomic
def model_token_revoke(*, actor, token: ModelToken) -> ModelToken:
    token = ModelToken.objects.select_for_update().get(pk=token.pk)
    require(actor, "registry.manage_model_tokens", token.model)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        save_with_history(token, actor=actor, reason=f"Token {token.name} revoked")
    return token


def model_token_for(raw: str | None) -> ModelToken | None:
    """The active model token this is, or None."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    digest = _digest(raw)
    token = (
        ModelToken.objects.filter(token_hash=digest, revoked_at__isnull=True)
        .select_related("model")
        .first()
    )
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    return token
