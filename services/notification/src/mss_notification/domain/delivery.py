"""The outcome of sending one mail, as the delivery log keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_ERROR_LENGTH = 500


class DeliveryStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """How sending went: `attempts` made, and the last error when it never got through."""

    attempts: int
    error: str | None = None

    @property
    def status(self) -> DeliveryStatus:
        return DeliveryStatus.SENT if self.error is None else DeliveryStatus.FAILED


def scrub(error: str, *, secrets: tuple[str, ...]) -> str:
    """An error text fit to store: no secret in it, bounded length."""
    for secret in secrets:
        if secret:
            error = error.replace(secret, "[REDACTED]")
    return error[:MAX_ERROR_LENGTH]
