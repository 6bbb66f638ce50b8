"""What the notification service refuses, each with its HTTP status and API code."""

from __future__ import annotations

from mss_contracts.errors import NotFound, ValidationFailed


class NotMailWorthy(ValidationFailed):
    """An event type this service sends no mail for: a binding mistake, so the consumer
    dead-letters the event rather than retrying it."""


class BadCursor(ValidationFailed):
    """A page cursor this service did not hand out."""

    default_message = "Invalid cursor"

    def __init__(self) -> None:
        super().__init__(details={"cursor": "not a cursor this service handed out"})


class NotificationNotFound(NotFound):
    default_message = "Notification not found"


class WebhookNotFound(NotFound):
    default_message = "Webhook not found"


class WebhookUrlRefused(ValidationFailed):
    """A webhook URL that is not https, or whose host resolves to an address we never call
    (loopback, private, link-local, metadata): 422 naming `url`."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Webhook URL refused: {reason}", details={"url": reason})
