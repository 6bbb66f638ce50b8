"""Intervention rules, free of frameworks and storage."""
