"""The register over REST: use_cases.py (use cases, data sources, units) and ai_models.py
(models, versions, deployments, approvals, the data policy and the go-live gate) and
releases.py (promotions and their approvals, evaluations, model tokens, release policies)."""

from registry.api import ai_models, releases, use_cases


def register(router) -> None:
    use_cases.register(router)
    ai_models.register(router)
    releases.register(router)
