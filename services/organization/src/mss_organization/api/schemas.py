from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AliasChoices, Field, ValidationInfo, field_validator

from mss_contracts.access import (
    AccessLevel,
    GrantStatus,
    GrantTerms,
    ServiceName,
    TimeRestrictions,
)
from mss_contracts.api import ApiInput, ApiModel
from mss_contracts.permissions import OrganizationType
from mss_contracts.settings import OrgSettings
from mss_organization.domain.access import SessionStatus, effective_status
from mss_organization.domain.organization import OrganizationStatus

Name = Field(min_length=1, max_length=255)
# The domain's `org_id`, read as the API's `organizationId`.
FromOrgId = Field(validation_alias=AliasChoices("organizationId", "org_id"))
Domain = Field(default=None, max_length=255, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


class OrganizationCreate(ApiInput):
    name: str = Name
    # Only customer organizations are created through the API; the provider is bootstrapped.
    # A plain value, not the enum member: a refusal then names `customer`, not a Python repr.
    type: Literal["customer"] = "customer"
    domain: str | None = Domain
    sso_enabled: bool = False
    settings: OrgSettings = Field(default_factory=OrgSettings)


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
    """Read from a `TechnicianAccess`; `status` is the effective one (see `_as_of_now`)."""

    id: UUID
    organization_id: UUID = FromOrgId
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

    @field_validator("status", mode="after")
    @classmethod
    def _as_of_now(cls, status: GrantStatus, info: ValidationInfo) -> GrantStatus:
        """An active grant past its expiry reads as expired, as of the context's `now`
        (one instant for a whole page) or else this moment."""
        expires_at = info.data.get("expires_at")
        if expires_at is None:
            return status  # expiresAt itself was invalid: that error is reported
        now = (info.context or {}).get("now") or datetime.now(UTC)
        return effective_status(status, expires_at=expires_at, now=now)


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
    organization_id: UUID = FromOrgId
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
