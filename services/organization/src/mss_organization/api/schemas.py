from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field, field_validator

from mss_contracts.access import (
    AccessLevel,
    GrantStatus,
    GrantTerms,
    ServiceName,
    TimeRestrictions,
)
from mss_contracts.api import ApiInput, ApiModel
from mss_contracts.permissions import OrganizationType
from mss_organization.domain.access import (
    RemoteAccessSession,
    SessionStatus,
    TechnicianAccess,
)
from mss_organization.domain.organization import Organization, OrganizationStatus
from mss_organization.domain.settings import OrganizationSettingsModel

Name = Field(min_length=1, max_length=255)
Domain = Field(default=None, max_length=255, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


class OrganizationCreate(ApiInput):
    name: str = Name
    # Only customer organizations are created through the API; the provider is bootstrapped.
    type: Literal[OrganizationType.CUSTOMER] = OrganizationType.CUSTOMER
    domain: str | None = Domain
    sso_enabled: bool = False
    settings: OrganizationSettingsModel = Field(default_factory=OrganizationSettingsModel)


class OrganizationUpdate(ApiInput):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    domain: str | None = Domain
    sso_enabled: bool | None = None


class SuspendBody(ApiInput):
    reason: str | None = Field(default=None, max_length=500)


class OrganizationRead(ApiModel):
    id: UUID
    name: str
    type: OrganizationType
    domain: str | None
    sso_enabled: bool
    status: OrganizationStatus
    settings: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: UUID | None

    @classmethod
    def of(cls, org: Organization) -> OrganizationRead:
        return cls(
            id=org.id,
            name=org.name,
            type=org.type,
            domain=org.domain,
            sso_enabled=org.sso_enabled,
            status=org.status,
            settings=org.settings,
            version=org.version,
            created_at=org.created_at,
            updated_at=org.updated_at,
            created_by=org.created_by,
        )


# --- technician access ------------------------------------------------------------------


class TechnicianAccessCreate(ApiInput, GrantTerms):
    """A grant request: the grant's terms (expiry, services, addresses, hours) and whom."""

    technician_id: UUID
    access_level: AccessLevel
    notes: str | None = Field(default=None, max_length=2000)

    @field_validator("expires_at", mode="after")
    @classmethod
    def _utc_when_naive(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class RevokeBody(ApiInput):
    reason: str = Field(min_length=1, max_length=255)


class TechnicianAccessRead(ApiModel):
    id: UUID
    organization_id: UUID
    technician_id: UUID
    access_level: AccessLevel
    granted_by: UUID
    granted_at: datetime
    expires_at: datetime
    allowed_services: list[str]
    ip_restrictions: list[str]
    time_restrictions: TimeRestrictions | None
    status: GrantStatus
    notes: str | None
    revoked_at: datetime | None
    revoked_by: UUID | None
    revoked_reason: str | None
    version: int

    @classmethod
    def of(cls, grant: TechnicianAccess, now: datetime) -> TechnicianAccessRead:
        """`status` as of `now`: an active grant past its expiry reads as expired."""
        return cls(
            id=grant.id,
            organization_id=grant.org_id,
            technician_id=grant.technician_id,
            access_level=grant.access_level,
            granted_by=grant.granted_by,
            granted_at=grant.granted_at,
            expires_at=grant.expires_at,
            allowed_services=list(grant.allowed_services),
            ip_restrictions=list(grant.ip_restrictions),
            time_restrictions=grant.time_restrictions,
            status=grant.effective_status(now),
            notes=grant.notes,
            revoked_at=grant.revoked_at,
            revoked_by=grant.revoked_by,
            revoked_reason=grant.revoked_reason,
            version=grant.version,
        )


# --- remote access sessions ---------------------------------------------------------------


class RemoteAccessSessionCreate(ApiInput):
    organization_id: UUID
    service: ServiceName
    justification: str = Field(min_length=1, max_length=2000)
    intervention_id: UUID | None = None


class EndSessionBody(ApiInput):
    reason: str | None = Field(default=None, max_length=255)


class RemoteAccessSessionRead(ApiModel):
    id: UUID
    organization_id: UUID
    technician_id: UUID
    grant_id: UUID
    service: str
    justification: str
    intervention_id: UUID | None
    client_ip: str | None
    status: SessionStatus
    started_at: datetime
    ended_at: datetime | None
    ended_by: UUID | None
    ended_reason: str | None
    version: int

    @classmethod
    def of(cls, session: RemoteAccessSession) -> RemoteAccessSessionRead:
        return cls(
            id=session.id,
            organization_id=session.org_id,
            technician_id=session.technician_id,
            grant_id=session.grant_id,
            service=session.service,
            justification=session.justification,
            intervention_id=session.intervention_id,
            client_ip=session.client_ip,
            status=session.status,
            started_at=session.started_at,
            ended_at=session.ended_at,
            ended_by=session.ended_by,
            ended_reason=session.ended_reason,
            version=session.version,
        )
