"""Asking the go-live gate on the record: each answer is kept with who asked and from where,
passes and refusals alike (registry.models.GateCheck)."""

from registry import gate
from registry.models import GateCheck, UseCase


def gate_log(result: gate.GateResult, actor, source: str, deployment=None) -> GateCheck:
    return GateCheck.objects.create(
        use_case=result.use_case,
        deployment=deployment if deployment is not None and deployment.pk else None,
        asked_by=actor if actor is not None and actor.is_authenticated else None,
        source=source,
        passed=result.passed,
        checks=result.as_dict()["checks"],
    )


def gate_check(*, use_case: UseCase, actor, source: str, moving: bool = False) -> gate.GateResult:
    """The gate's answer for a use case, logged with who asked and from where."""
    result = gate.check_go_live(use_case, moving=moving)
    gate_log(result, actor, source)
    return result
