"""Every write to frameworks, applicability, controls, evidence and exceptions."""
