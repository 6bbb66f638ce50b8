"""The example's event. It lives here until the service's real events join mss_contracts,
and it is not registered in `EVENT_TYPES` (so the contracts snapshot, which covers the
platform's published events, is untouched); the audit service records it all the same."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from mss_contracts.events import EventData


class ItemCreated(EventData):
    event_type: ClassVar[str] = "security_item.created"
    aggregate_type: ClassVar[str] = "security_item"

    name: str
    created_by: UUID | None
