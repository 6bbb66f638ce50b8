"""The audit service: every domain event stored, and a hash-chained audit log per organization."""
