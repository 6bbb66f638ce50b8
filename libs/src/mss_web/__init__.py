"""HTTP plumbing shared by every service: envelope, errors, pagination, health, app factory."""
