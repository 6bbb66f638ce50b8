from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from mss_audit.adapters.repository import StoredLog
from mss_contracts.api import ApiModel


class AuditLogRead(ApiModel):
    id: UUID
    event_id: UUID
    organization_id: UUID | None
    user_id: UUID | None
    session_id: UUID | None
    action: str
    resource_type: str
    resource_id: UUID | None
    details: dict[str, Any]
    ip_address: str | None
    user_agent: str | None
    success: bool
    error_message: str | None
    timestamp: datetime
    seq: int
    hash: str

    @classmethod
    def of(cls, log: StoredLog) -> AuditLogRead:
        e = log.entry
        return cls(
            id=e.id,
            event_id=e.event_id,
            organization_id=e.org_id,
            user_id=e.user_id,
            session_id=e.session_id,
            action=e.action,
            resource_type=e.resource_type,
            resource_id=e.resource_id,
            details=e.details,
            ip_address=e.ip_address,
            user_agent=e.user_agent,
            success=e.success,
            error_message=e.error_message,
            timestamp=e.timestamp,
            seq=log.seq,
            hash=log.hash,
        )


class StoredEventRead(ApiModel):
    id: UUID
    type: str
    aggregate_id: UUID
    aggregate_type: str
    organization_id: UUID | None
    data: dict[str, Any]
    metadata: dict[str, Any]
    schema_version: int
    occurred_at: datetime
    received_at: datetime


class VerificationRead(ApiModel):
    valid: bool
    checked: int
    first_broken_id: UUID | None
