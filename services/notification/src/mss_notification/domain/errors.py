"""What the notification service refuses, each with its HTTP status and API code."""

from __future__ import annotations

from mss_contracts.errors import ValidationFailed


class NotMailWorthy(ValidationFailed):
    """An event type this service sends no mail for: a binding mistake, so the consumer
    dead-letters the event rather than retrying it."""
