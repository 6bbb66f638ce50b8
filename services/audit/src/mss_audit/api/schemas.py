from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AliasChoices, Field

from mss_contracts.api import ApiModel

# The stored `org_id`, read as the API's `organizationId`.
FromOrgId = Field(validation_alias=AliasChoices("organizationId", "org_id"))


class AuditLogRead(ApiModel):
    """Read from a `StoredLog`: the entry and its link in its chain."""

    id: UUID
    event_id: UUID
    organization_id: UUID | None = FromOrgId
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


class StoredEventRead(ApiModel):
    """Read from a row of the event store."""

    id: UUID
    type: str
    aggregate_id: UUID
    aggregate_type: str
    organization_id: UUID | None = FromOrgId
    data: dict[str, Any]
    metadata: dict[str, Any]
    schema_version: int
    occurred_at: datetime
    received_at: datetime


class VerificationRead(ApiModel):
    valid: bool
    checked: int
    first_broken_id: UUID | None
