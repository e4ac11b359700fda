"""The register's pages: use_cases.py (use cases, data sources, units, import and export),
ai_models.py (models, versions, deployments, approvals and the data policy)."""
