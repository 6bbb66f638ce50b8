"""The security service (a skeleton from scripts/new-service: replace the items example)."""
