"""Asking the go-live gate on the record: each answer is kept with who asked and from where,
passes and refusals alike (registry.models.GateCheck); and each move into production keeps
one go-live record with the answer that let it through (registry.models.GoLiveRecord)."""

from django.utils import timezone

from registry import gate
from registry.models import (
    Deployment,
    GateCheck,
    GoLiveKind,
    GoLiveRecord,
    ModelVersion,
    UseCase,
)


def _person(actor):
    return actor if actor is not None and actor.is_authenticated else None


def gate_log(result: gate.GateResult, actor, source: str, deployment=None) -> GateCheck:
    return GateCheck.objects.create(
        use_case=result.use_case,
        deployment=deployment if deployment is not None and deployment.pk else None,
        asked_by=_person(actor),
        source=source,
        passed=result.passed,
        checks=result.as_dict()["checks"],
    )


def gate_check(*, use_case: UseCase, actor, source: str, moving: bool = False) -> gate.GateResult:
    """The gate's answer for a use case, logged with who asked and from where."""
    result = gate.check_go_live(use_case, moving=moving)
    gate_log(result, actor, source)
    return result


def go_live_record(
    result: gate.GateResult,
    *,
    actor,
    action: str,
    logged: GateCheck | None,
    reason: str = "",
    lifecycle_from: str = "",
    lifecycle_to: str = "",
    deployment: Deployment | None = None,
    previous_version: ModelVersion | None = None,
) -> GoLiveRecord:
    """Keep the move into production whole, inside the move's transaction.

    ``result`` is the gate's answer at the move (the one asked under the lock); ``logged``
    the GateCheck it was logged as. The row is append-only: everything is set here, once.
    """
    return GoLiveRecord.objects.create(
        use_case=result.use_case,
        kind=GoLiveKind.DEPLOYMENT if deployment is not None else GoLiveKind.USE_CASE,
        action=action,
        moved_by=_person(actor),
        moved_at=timezone.now(),
        lifecycle_from=lifecycle_from,
        lifecycle_to=lifecycle_to,
        deployment=deployment,
        environment=deployment.environment if deployment is not None else "",
        model_version=deployment.model_version if deployment is not None else None,
        previous_version=previous_version,
        traffic_share=deployment.traffic_share if deployment is not None else None,
        gate_check=logged,
        passed=result.passed,
        checks=result.as_dict()["checks"],
        reason=reason.strip(),
    )
