"""Deterministic orchestration only: the incident entity and one workflow per lifecycle phase."""
