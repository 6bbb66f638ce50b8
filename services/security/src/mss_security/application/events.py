"""The example's event. It lives here until the service's real events join mss_contracts;
the audit service records every event type, known to contracts or not."""

from __future__ import annotations

from uuid import UUID

from mss_contracts.events import EventData, event


@event("security_item.created", aggregate="security_item")
class ItemCreated(EventData):
    name: str
    created_by: UUID | None
