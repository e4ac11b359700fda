"""The register's forms: use_cases.py and ai_models.py, as in views/."""
