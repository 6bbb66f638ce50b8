"""What the audit service refuses, each with its HTTP status and API code."""

from __future__ import annotations

from mss_contracts.errors import NotFound, ValidationFailed


class BadCursor(ValidationFailed):
    """A page cursor this service did not hand out."""

    default_message = "Invalid cursor"


class OrganizationNotFound(NotFound):
    """An organization outside the caller's scope (or none at all)."""
