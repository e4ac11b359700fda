"""The register's serializers: use_cases.py and ai_models.py, as in api/."""
