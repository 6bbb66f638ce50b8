"""What the internal read endpoints answer: the owner's current state of one entity.

A service fills a projection miss from these (`GET /internal/...` on the owning service,
service token only, never routed by the gateway). Each record carries the entity's
version, the same number its events carry, so the projection's version guard treats a
fetched record and an event alike: the newest wins, whichever arrives first.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from mss_contracts.access import GrantStatus, GrantTerms
from mss_contracts.api import ApiModel
from mss_contracts.events import InterventionSnapshot, OrganizationSnapshot
from mss_contracts.permissions import Role


class OrganizationRecord(OrganizationSnapshot):
    """`GET /internal/organizations/{id}` (organization): what organization.* events carry."""

    id: UUID
    version: int = Field(ge=1)


class UserRecord(ApiModel):
    """`GET /internal/users/{id}` (identity): what user.created / user.updated carry."""

    id: UUID
    organization_id: UUID
    email: str
    first_name: str
    last_name: str
    role: Role
    status: str
    version: int = Field(ge=1)


class GrantRecord(GrantTerms):
    """One technician access grant as the organization service holds it now.

    `status` is the stored one: an active grant past `expiresAt` reads active until the
    expiry sweep ends it, and every reader checks `expiresAt` itself.
    """

    id: UUID
    organization_id: UUID
    technician_id: UUID
    status: GrantStatus
    version: int = Field(ge=1)


class TechnicianGrants(ApiModel):
    """`GET /internal/technicians/{id}/grants` (organization): every grant, in any state."""

    technician_id: UUID
    grants: list[GrantRecord]


class InterventionRecord(InterventionSnapshot):
    """`GET /internal/interventions/{id}` (intervention): what intervention.* events carry,
    with its organization, version and times, plus the breaches recorded so far."""

    id: UUID
    organization_id: UUID
    response_breached: bool = False
    resolution_breached: bool = False
    created_at: datetime
    updated_at: datetime
    version: int = Field(ge=1)


INTERNAL_RECORDS: dict[str, type[ApiModel]] = {
    "organization": OrganizationRecord,
    "user": UserRecord,
    "technician-grants": TechnicianGrants,
    "intervention": InterventionRecord,
}
