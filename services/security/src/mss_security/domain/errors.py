"""What the security service refuses, each with its HTTP status and API code."""

from __future__ import annotations

from mss_contracts.errors import NotFound


class OrganizationNotFound(NotFound):
    """An organization outside the caller's scope (or none at all)."""
