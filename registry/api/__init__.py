"""The register over REST: use_cases.py (use cases, data sources, units) and ai_models.py
(models, versions, deployments, approvals, the data policy and the go-live gate)."""

from registry.api import ai_models, use_cases


def register(router) -> None:
    use_cases.register(router)
    ai_models.register(router)
